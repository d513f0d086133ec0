"""ДСТУ 4145 keys and their unencrypted PKCS#8 form, with IIT's second (key-agreement) key in the attributes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from asn1crypto import core

from ..certificate import (
    DstuCertificate,
    _CurveChoice,
    _DstuParams,
    _EcBinary,
    _explicit_curve,
    key_identifier,
)
from ..curve import CURVES_BY_OID, DSTU4145_LE_OID, Curve
from ..dstu4145 import public_key
from ..gost89 import DKE1_SBOX
from .errors import KeyContainerError, MalformedContainer, UnsupportedContainer
from .pem import _is_pem, _pem, _pem_blocks

IIT_KEY_BITS_OID = "1.3.6.1.4.1.19398.1.1.2.3"
IIT_KEY_CURVE_OID = "1.3.6.1.4.1.19398.1.1.2.2"


@dataclass(frozen=True, eq=False)
class PrivateKey:
    curve: Curve
    d: int

    def __repr__(self) -> str:
        # Never show d.
        return f"PrivateKey(curve={self.curve.name!r}, key_id={self.key_id.hex()!r})"

    @cached_property
    def public_key(self) -> tuple[int, int]:
        return public_key(self.curve, self.d)

    @property
    def key_id(self) -> bytes:
        """The subjectKeyIdentifier a certificate for this key carries (jkurwa ``Pub.keyid``)."""
        return key_identifier(self.curve, self.public_key)

    def matches(self, cert: DstuCertificate) -> bool:
        return _same_curve(self.curve, cert.curve) and self.public_key == cert.public_key


def _same_curve(a: Curve, b: Curve) -> bool:
    # Explicit parameters yield a fresh Curve object, so compare the domain, not identity.
    return (a.field.modulus, a.a, a.b, a.n, a.base) == (b.field.modulus, b.a, b.b, b.n, b.base)


class _AnySet(core.SetOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = core.Any


class _KeyAttribute(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("type", core.ObjectIdentifier), ("values", _AnySet)]


class _KeyAttributes(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _KeyAttribute


class _KeyAlgorithm(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any)]


class _PrivateKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("version", core.Integer),
        ("algorithm", _KeyAlgorithm),
        ("private_key", core.OctetString),
        ("attributes", _KeyAttributes, {"implicit": 0, "optional": True}),
    ]


def _curve_from_params(params_der: bytes) -> Curve:
    params = _DstuParams.load(params_der)
    choice = params["curve"]
    if choice.name == "named":
        oid = choice.chosen.dotted
        if oid not in CURVES_BY_OID:
            raise MalformedContainer(f"unknown ДСТУ 4145 curve {oid} in the key container")
        return CURVES_BY_OID[oid]
    return _explicit_curve(choice.chosen)


def _check_d(curve: Curve, d: int, what: str) -> PrivateKey:
    # Containers may hold d ≥ n (jkurwa's KeyE54B.cer does); jkurwa uses it as is, which is the
    # same key as d mod n for both Q = −d·P and s = (e + d·r) mod n.
    d %= curve.n
    if d == 0:
        raise MalformedContainer(f"{what}: private key out of range for curve {curve.name}")
    return PrivateKey(curve, d)


def _reverse_bits(data: bytes) -> int:
    # jkurwa's BIG_INVERT: the BIT STRING read from its last bit to its first.
    return int(format(int.from_bytes(data, "big"), f"0{8 * len(data)}b")[::-1], 2) if data else 0


def _attribute_key(attrs: Any) -> PrivateKey | None:
    values: dict[str, core.Asn1Value] = {}
    for attr in attrs:
        if len(attr["values"]):
            values[attr["type"].dotted] = attr["values"][0]
    if IIT_KEY_BITS_OID not in values or IIT_KEY_CURVE_OID not in values:
        return None
    bits = core.BitString.load(values[IIT_KEY_BITS_OID].dump())
    raw = bytes(bits.contents[1:])  # first content byte counts unused bits; jkurwa ignores them
    if not raw:
        return None
    curve = _curve_from_params(values[IIT_KEY_CURVE_OID].dump())
    return _check_d(curve, _reverse_bits(raw), "second (key-agreement) key")


def _parse_pkcs8_der(der: bytes) -> list[PrivateKey]:
    info = _PrivateKeyInfo.load(der, strict=True)
    algorithm = info["algorithm"]["algorithm"].dotted
    if algorithm != DSTU4145_LE_OID:
        raise UnsupportedContainer(
            f"the key is {algorithm}, not ДСТУ 4145 ({DSTU4145_LE_OID}): the tax service needs a qualified"
            " ДСТУ 4145 key"
        )
    curve = _curve_from_params(info["algorithm"]["parameters"].dump())
    d = int.from_bytes(info["private_key"].native, "little")
    keys = [_check_d(curve, d, "signing key")]
    if info["attributes"].native is not None:
        second = _attribute_key(info["attributes"])
        if second is not None:
            keys.append(second)
    return keys


def parse_pkcs8(data: bytes) -> list[PrivateKey]:
    """All ДСТУ 4145 keys of an unencrypted PKCS#8 key (DER or ``PRIVATE KEY`` PEM), signing key first."""
    if _is_pem(data):
        blocks = [body for label, body in _pem_blocks(data) if label == "PRIVATE KEY"]
        if not blocks:
            raise MalformedContainer("the PEM file holds no PRIVATE KEY block")
        data = blocks[0]
    try:
        return _parse_pkcs8_der(data)
    except KeyContainerError:
        raise
    except Exception as exc:  # asn1crypto and point decompression raise many types on bad input
        raise MalformedContainer(f"not a valid ДСТУ 4145 PKCS#8 private key: {exc}") from exc


def _explicit_params(curve: Curve) -> _EcBinary:
    # jkurwa writes the pentanomial's exponents in ascending order.
    ks = sorted(curve.ks)
    poly = {"trinomial": ks[0]} if len(ks) == 1 else {"pentanomial": {"k": ks[0], "j": ks[1], "l": ks[2]}}
    return _EcBinary(
        {
            "f": {"m": curve.m, "poly": poly},
            "a": curve.a,
            "b": curve.b.to_bytes(curve.byte_len, "little"),
            "n": curve.n,
            "bp": curve.compress(curve.base).to_bytes(curve.byte_len, "little"),
        }
    )


def encode_pkcs8(key: PrivateKey, *, pem: bool = False) -> bytes:
    """The key as jkurwa's ``Priv.to_asn1``/``to_pem`` writes it (explicit curve, ДКЕ №1 S-box)."""
    params = _DstuParams({"curve": _CurveChoice({"explicit": _explicit_params(key.curve)}), "dke": DKE1_SBOX})
    # jkurwa pads d to whole 32-bit words of a field element.
    d_len = 4 * ((key.curve.m + 31) // 32)
    info = _PrivateKeyInfo(
        {
            "version": 0,
            "algorithm": {"algorithm": DSTU4145_LE_OID, "parameters": core.Any.load(params.dump())},
            "private_key": key.d.to_bytes(d_len, "little"),
            "attributes": [],
        }
    )
    der = bytes(info.dump())
    return _pem(der, "PRIVATE KEY") if pem else der
