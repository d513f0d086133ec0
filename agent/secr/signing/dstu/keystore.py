"""ДСТУ 4145 key containers: unencrypted PKCS#8, password-protected PBES2 and IIT ``Key-6.dat``.

Formats follow jkurwa 1.21 (lib/models/Priv.js, lib/spec/keystore.js, lib/spec/pbes.js) and
gost89 (lib/compat.js, lib/util.js), which read what the Ukrainian CAs hand out:

* PKCS#8 ``PrivateKeyInfo`` with algorithm 1.2.804.2.1.1.1.1.3.1.1 and parameters
  ``SEQUENCE { curve (named OID | explicit), dke OCTET STRING }``; the private key d is an
  OCTET STRING in *little-endian* byte order.  IIT puts a second key (the key-agreement key)
  into the ``[0]`` attributes: 1.3.6.1.4.1.19398.1.1.2.3 holds a BIT STRING whose bits are d
  in reverse bit order, 1.3.6.1.4.1.19398.1.1.2.2 the curve parameters of that key.
* PBES2 (``ENCRYPTED PRIVATE KEY``): PBKDF2 with HMAC-ГОСТ 34.311 and ГОСТ 28147 in CFB mode.
* IIT ``Key-6.dat``: ``SEQUENCE { SEQUENCE { 1.3.6.1.4.1.19398.1.1.1.2, SEQUENCE { mac, pad } },
  data }``; key = ГОСТ 34.311 of the password, re-hashed 9999 times; ECB over data ‖ pad; the
  4-byte MAC is the ГОСТ 28147 імітовставка of the decrypted data (jkurwa ignores it; the
  check follows the open Cryptonite/UAPKI code, ``RET_STORAGE_MAC_VERIFY_ERROR``).

A private key d ≥ n is taken modulo n (jkurwa's KeyE54B.cer stores one; jkurwa computes with it
as is, which is the same key).  A PEM key file may also carry the certificate (a bundle).

* PKCS#12 (.pfx/.p12, jkurwa lib/spec/pfx.js): PFX version 3 with a ``data`` authSafe whose
  AuthenticatedSafe holds ``data`` SafeContents (PKCS8ShroudedKeyBag with the PBES2 above, KeyBag,
  CertBag) and ``encryptedData`` (same PBES2) SafeContents.  MacData is checked as UAPKI and
  OpenSSL do (RFC 7292 appendix B key, ID 3, from the BMPString password with the MAC's hash —
  ГОСТ 34.311 or SHA-1/2 — then HMAC over the AuthenticatedSafe; jkurwa ignores the MAC) and a
  mismatch is a wrong password; a MAC with another digest (Kupyna) is not checked, the decrypted
  key's parse still catches a wrong password.  Certificates in cert bags are returned by :func:`load_container`.
* Java KeyStore ``.jks`` as PrivatBank issues it (jkurwa lib/util/load.js with jksreader):
  magic 0xFEEDFEED, versions 1 and 2, SHA-1 integrity digest over password (UTF-16BE) ‖
  "Mighty Aphrodite" ‖ store, private-key entries protected with Sun's key protector
  (1.3.6.1.4.1.42.2.17.1.1: SHA-1 keystream, SHA-1 check), the protected key a ДСТУ 4145
  PKCS#8 (or, tolerated, a Key-6.dat or PBES2 container); chain and trusted certificates are
  returned.  A store that starts with 0x51 and 6 junk bytes is read as jkurwa does.

jkurwa 1.21 ships no .pfx or .jks test file: tests/test_keystore_pfx_jks.py builds them and has
jkurwa and jksreader read them back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from asn1crypto import core, parser

from .cades import DstuSigner
from .certificate import (
    CertificateError,
    DstuCertificate,
    _CurveChoice,
    _DstuParams,
    _EcBinary,
    _explicit_curve,
    key_identifier,
    parse_certificate,
)
from .curve import CURVES_BY_OID, DSTU4145_LE_OID, Curve
from .dstu4145 import public_key
from .gost89 import DKE1_SBOX, Gost28147, Gost34311, gost34311

__all__ = [
    "BadCertificate",
    "CertificateNotValid",
    "KeyContainerError",
    "KeyMismatch",
    "MalformedContainer",
    "PasswordRequired",
    "PrivateKey",
    "UnsupportedContainer",
    "WrongPassword",
    "certificate_days_left",
    "decrypt_iit",
    "decrypt_pbes2",
    "encode_pkcs8",
    "hmac_gost34311",
    "iit_kdf",
    "jks_unprotect",
    "load_container",
    "load_keys",
    "load_signer",
    "parse_pkcs8",
    "pbkdf2_gost34311",
    "pkcs12_kdf",
]

IIT_STORE_OID = "1.3.6.1.4.1.19398.1.1.1.2"
PBES2_OID = "1.2.840.113549.1.5.13"
PBKDF2_OID = "1.2.840.113549.1.5.12"
HMAC_GOST34311_OID = "1.2.804.2.1.1.1.1.1.2"
GOST28147_CFB_OID = "1.2.804.2.1.1.1.1.1.1.3"
PKCS7_DATA_OID = "1.2.840.113549.1.7.1"
IIT_KEY_BITS_OID = "1.3.6.1.4.1.19398.1.1.2.3"
IIT_KEY_CURVE_OID = "1.3.6.1.4.1.19398.1.1.2.2"
PKCS7_SIGNED_DATA_OID = "1.2.840.113549.1.7.2"
PKCS7_ENCRYPTED_DATA_OID = "1.2.840.113549.1.7.6"
PKCS12_KEY_BAG_OID = "1.2.840.113549.1.12.10.1.1"
PKCS12_SHROUDED_KEY_BAG_OID = "1.2.840.113549.1.12.10.1.2"
PKCS12_CERT_BAG_OID = "1.2.840.113549.1.12.10.1.3"
X509_CERT_OID = "1.2.840.113549.1.9.22.1"
GOST34311_OID = "1.2.804.2.1.1.1.1.2.1"
JKS_KEY_PROTECTOR_OID = "1.3.6.1.4.1.42.2.17.1.1"
_JKS_MAGIC = b"\xfe\xed\xfe\xed"
_IIT_KDF_ROUNDS = 10000


# --- errors ---------------------------------------------------------------------------------------


class KeyContainerError(Exception):
    """The key container or its certificate cannot be used; the message says what to fix."""


class UnsupportedContainer(KeyContainerError):
    pass


class MalformedContainer(KeyContainerError):
    pass


class PasswordRequired(KeyContainerError):
    pass


class WrongPassword(KeyContainerError):
    pass


class BadCertificate(KeyContainerError):
    pass


class KeyMismatch(KeyContainerError):
    pass


class CertificateNotValid(KeyContainerError):
    pass


# --- keys -----------------------------------------------------------------------------------------


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


# --- ASN.1 ----------------------------------------------------------------------------------------


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


class _IitParams(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("mac", core.OctetString), ("pad", core.OctetString, {"optional": True})]


class _IitAlgorithm(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", _IitParams)]


class _IitStore(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", _IitAlgorithm), ("data", core.OctetString)]


class _HashAlgorithm(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _Pbkdf2Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("salt", core.OctetString),
        ("iterations", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
        ("prf", _HashAlgorithm),
    ]


class _Kdf(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", _Pbkdf2Params)]


class _Gost28147Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("iv", core.OctetString), ("dke", core.OctetString, {"optional": True})]


class _Cipher(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", _Gost28147Params)]


class _Pbes2Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("kdf", _Kdf), ("cipher", _Cipher)]


class _Pbes2Algorithm(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", _Pbes2Params)]


class _EncryptedPrivateKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", _Pbes2Algorithm), ("data", core.OctetString)]


# --- PEM ------------------------------------------------------------------------------------------

_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


def _pem_blocks(data: bytes) -> Iterator[tuple[str, bytes]]:
    for match in _PEM_RE.finditer(data):
        try:
            body = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except binascii.Error as exc:
            raise MalformedContainer(
                f"PEM block {match.group(1).decode()} is not valid base64: {exc}"
            ) from exc
        yield match.group(1).decode(), body


def _is_pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN ")


def _pem(der: bytes, label: str) -> bytes:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    body = "\n".join(lines)
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


# --- PKCS#8 ---------------------------------------------------------------------------------------


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


# --- encrypted containers -------------------------------------------------------------------------


def _password_candidates(password: str | bytes) -> list[bytes]:
    if isinstance(password, bytes):
        return [password]
    # IIT's Windows software hashes the password in windows-1251; try UTF-8 first, then that.
    out = [password.encode("utf-8")]
    try:
        cp1251 = password.encode("cp1251")
    except UnicodeEncodeError:
        return out
    if cp1251 != out[0]:
        out.append(cp1251)
    return out


def iit_kdf(password: bytes) -> bytes:
    """gost89 ``dumb_kdf(password, 10000)``: ГОСТ 34.311 of the password, then of the hash 9999 times."""
    h = gost34311(password)
    for _ in range(_IIT_KDF_ROUNDS - 1):
        h = gost34311(h)
    return h


def pbkdf2_gost34311(password: bytes, salt: bytes, iterations: int) -> bytes:
    """gost89 ``pbkdf``: PBKDF2 with HMAC-ГОСТ 34.311, one 32-byte block.

    gost89 XORs the password into 32-byte pads and drops bytes beyond 32 instead of hashing
    a long password first as RFC 2104 would; doing the same keeps its containers readable.
    """
    pw = password[:32]
    inner = Gost34311(bytes(b ^ 0x36 for b in pw.ljust(32, b"\0")))
    outer = Gost34311(bytes(b ^ 0x5C for b in pw.ljust(32, b"\0")))

    def hmac(msg: bytes) -> bytes:
        i = inner.copy()
        i.update(msg)
        o = outer.copy()
        o.update(i.digest())
        return o.digest()

    u = hmac(salt + b"\0\0\0\1")
    acc = int.from_bytes(u, "big")
    for _ in range(iterations - 1):
        u = hmac(u)
        acc ^= int.from_bytes(u, "big")
    return acc.to_bytes(32, "big")


def _keys_or_wrong_password(plain: bytes, what: str) -> list[PrivateKey]:
    # Without a MAC, a wrong password shows only as bytes that are not DER; a key that parses but
    # is unusable (another algorithm, d out of range) is reported as what it is.
    try:
        return _parse_pkcs8_der(plain)
    except KeyContainerError:
        raise
    except Exception as exc:
        raise WrongPassword(
            f"wrong password for the {what} (the decrypted key is not a ДСТУ 4145 key)"
        ) from exc


def decrypt_iit(data: bytes, password: str | bytes) -> bytes:
    """The PKCS#8 inside an IIT ``Key-6.dat``; ``WrongPassword`` when the MAC does not match."""
    try:
        store = _IitStore.load(data, strict=True)
        oid = store["algorithm"]["algorithm"].dotted
        mac = store["algorithm"]["parameters"]["mac"].native
        pad = store["algorithm"]["parameters"]["pad"].native or b""
        body = store["data"].native
    except Exception as exc:
        raise MalformedContainer(f"not an IIT Key-6.dat container: {exc}") from exc
    if oid != IIT_STORE_OID:
        raise MalformedContainer(f"not an IIT Key-6.dat container (type {oid})")
    if len(mac) != 4 or (len(body) + len(pad)) % 8 or not body:
        raise MalformedContainer("damaged IIT Key-6.dat: bad MAC or padding length")
    for candidate in _password_candidates(password):
        cipher = Gost28147(iit_kdf(candidate))
        plain = cipher.decrypt_ecb(body + pad)[: len(body)]
        if cipher.mac(plain, 4) == mac:
            return plain
    raise WrongPassword("wrong password for the Key-6.dat key container (MAC mismatch)")


def decrypt_pbes2(data: bytes, password: str | bytes) -> bytes:
    """The PKCS#8 inside a PBES2 ``ENCRYPTED PRIVATE KEY`` (PBKDF2-HMAC-ГОСТ 34.311, ГОСТ 28147 CFB).

    PBES2 has no integrity check: the caller learns of a wrong password when the result does
    not parse, as :func:`load_keys` does.
    """
    if _is_pem(data):
        blocks = [body for label, body in _pem_blocks(data) if label == "ENCRYPTED PRIVATE KEY"]
        if not blocks:
            raise MalformedContainer("the PEM file holds no ENCRYPTED PRIVATE KEY block")
        data = blocks[0]
    try:
        store = _EncryptedPrivateKeyInfo.load(data, strict=True)
        scheme = store["algorithm"]["algorithm"].dotted
        params = store["algorithm"]["parameters"]
        kdf, prf = params["kdf"]["algorithm"].dotted, params["kdf"]["parameters"]["prf"]["algorithm"].dotted
        cipher_oid = params["cipher"]["algorithm"].dotted
        salt = params["kdf"]["parameters"]["salt"].native
        iterations = params["kdf"]["parameters"]["iterations"].native
        iv = params["cipher"]["parameters"]["iv"].native
        # jkurwa always decrypts with ДКЕ №1 and ignores this field; every container it writes or
        # reads carries ДКЕ №1 here anyway, and a store with another S-box needs that S-box.
        sbox = params["cipher"]["parameters"]["dke"].native or DKE1_SBOX
        body = store["data"].native
    except Exception as exc:
        raise MalformedContainer(f"not a PBES2 encrypted private key: {exc}") from exc
    if (scheme, kdf, prf, cipher_oid) != (PBES2_OID, PBKDF2_OID, HMAC_GOST34311_OID, GOST28147_CFB_OID):
        raise UnsupportedContainer(
            f"encrypted key uses {scheme}/{kdf}/{prf}/{cipher_oid}; only PBES2 with PBKDF2-HMAC-ГОСТ 34.311"
            " and ГОСТ 28147 CFB (Ukrainian key containers) is supported"
        )
    if len(iv) != 8 or len(sbox) != 64 or not 0 < iterations <= 10_000_000:
        raise MalformedContainer("damaged PBES2 parameters (IV, S-box or iteration count)")
    # Only one password candidate here: without a MAC a second guess could only be told apart by
    # parsing, which the caller does; load_keys tries the candidates itself.
    return Gost28147(pbkdf2_gost34311(_password_candidates(password)[0], salt, iterations), sbox).decrypt_cfb(
        iv, body
    )


# --- PKCS#12 (.pfx / .p12) ------------------------------------------------------------------------


class _ContentInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("content_type", core.ObjectIdentifier),
        ("content", core.Any, {"optional": True}),  # [0] EXPLICIT: see _explicit0
    ]


class _AuthenticatedSafe(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _ContentInfo


class _MacDigestInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", _HashAlgorithm), ("digest", core.OctetString)]


class _MacData(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("mac", _MacDigestInfo),
        ("salt", core.OctetString),
        ("iterations", core.Integer, {"default": 1}),
    ]


class _Pfx(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("version", core.Integer),
        ("auth_safe", _ContentInfo),
        ("mac_data", _MacData, {"optional": True}),
    ]


class _BagAttributes(core.SetOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _KeyAttribute


class _SafeBag(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("bag_id", core.ObjectIdentifier),
        ("bag_value", core.Any),  # [0] EXPLICIT: see _explicit0
        ("bag_attributes", _BagAttributes, {"optional": True}),
    ]


class _SafeContents(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _SafeBag


class _CertBag(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("cert_id", core.ObjectIdentifier),
        ("cert_value", core.OctetString, {"explicit": 0}),
    ]


class _EncryptedContentInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("content_type", core.ObjectIdentifier),
        ("algorithm", core.Any),
        ("content", core.OctetString, {"implicit": 0, "optional": True}),
    ]


class _EncryptedData(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("version", core.Integer),
        ("encrypted_content_info", _EncryptedContentInfo),
    ]


def _explicit0(value: Any) -> bytes:
    """The DER inside a ``[0] EXPLICIT`` element held as ``Any`` (asn1crypto cannot re-parse a tagged Any)."""
    # An Any loaded as a field keeps its tag only in the raw header.
    if bytes(value._header[:1]) != b"\xa0":
        raise ValueError("expected a [0] EXPLICIT element")
    return bytes(value.contents)


def hmac_gost34311(key: bytes, message: bytes) -> bytes:
    """HMAC-ГОСТ 34.311 with gost89's key handling (a key longer than 32 bytes is cut, as in PBKDF2)."""
    k = key[:32].ljust(32, b"\0")
    inner = Gost34311(bytes(b ^ 0x36 for b in k))
    inner.update(message)
    return gost34311(bytes(b ^ 0x5C for b in k) + inner.digest())


# MacData digest → hash name for pkcs12_kdf / _hmac (what UAPKI's hash_from_OID knows, minus Kupyna,
# whose MAC UAPKI computes with Kupyna's own keyed mode).
_MAC_HASHES = {
    GOST34311_OID: "gost34311",
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


def _digest(hash_name: str, data: bytes) -> bytes:
    return gost34311(data) if hash_name == "gost34311" else hashlib.new(hash_name, data).digest()


def _hmac(hash_name: str, key: bytes, message: bytes) -> bytes:
    if hash_name == "gost34311":
        return hmac_gost34311(key, message)
    return hmac.new(key, message, hash_name).digest()


def pkcs12_kdf(hash_name: str, password: bytes, salt: bytes, iterations: int, purpose: int = 3) -> bytes:
    """RFC 7292 appendix B key derivation (UAPKI ``pbkdf1``), one hash-sized key; ``purpose`` 3 = MAC key.

    ``password`` is the BMPString form: UTF-16BE with the two-byte terminator.  ГОСТ 34.311 has
    32-byte blocks and output, as UAPKI's ``hash_get_block_size`` gives it.
    """
    v = 32 if hash_name == "gost34311" else hashlib.new(hash_name).block_size

    def stretch(data: bytes) -> bytes:
        return bytes(data[i % len(data)] for i in range(v * -(-len(data) // v))) if data else b""

    a = _digest(hash_name, bytes([purpose]) * v + stretch(salt) + stretch(password))
    for _ in range(iterations - 1):
        a = _digest(hash_name, a)
    return a


def _bmp_password(password: bytes) -> bytes:
    # UAPKI converts the (UTF-8) password to UTF-16BE including the terminating NUL; a password
    # candidate in windows-1251 is the same text.
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        text = password.decode("cp1251")
    return text.encode("utf-16-be") + b"\0\0"


def _pfx_mac_ok(mac_data: Any, auth_safe: bytes, password: bytes) -> bool | None:
    """Whether the PKCS#12 MAC matches; ``None`` when its digest is not one read here.

    As UAPKI (cm-pkcs12 ``pkcs12_get_data_and_calc_mac``) and OpenSSL compute it: the MAC key is the
    RFC 7292 appendix B derivation (ID 3) of the BMPString password with the MAC's hash, the MAC
    the HMAC with that hash over the AuthenticatedSafe.  jkurwa does not check the MAC.
    """
    hash_name = _MAC_HASHES.get(mac_data["mac"]["algorithm"]["algorithm"].dotted)
    if hash_name is None:
        return None
    iterations = mac_data["iterations"].native
    if not 0 < iterations <= 10_000_000:
        raise MalformedContainer("damaged PKCS#12 MAC parameters (iteration count)")
    key = pkcs12_kdf(hash_name, _bmp_password(password), mac_data["salt"].native, iterations)
    return hmac.compare_digest(_hmac(hash_name, key, auth_safe), mac_data["mac"]["digest"].native)


def _pbes2_open(algorithm_der: bytes, body: bytes, password: bytes) -> bytes:
    epki = _EncryptedPrivateKeyInfo({"algorithm": _Pbes2Algorithm.load(algorithm_der), "data": body})
    return decrypt_pbes2(bytes(epki.dump()), password)


def _require_pbes2(oid: str) -> None:
    if oid != PBES2_OID:
        raise UnsupportedContainer(
            f"PKCS#12 content encrypted with {oid}: only PBES2 with PBKDF2-HMAC-ГОСТ 34.311 and ГОСТ 28147"
            " (Ukrainian key containers) is supported"
        )


def _safe_bags(contents_der: bytes, password: bytes, keys: list[PrivateKey], certs: list[bytes]) -> None:
    for bag in _SafeContents.load(contents_der):
        bag_id = bag["bag_id"].dotted
        value = _explicit0(bag["bag_value"])
        if bag_id == PKCS12_SHROUDED_KEY_BAG_OID:
            _require_pbes2(_ProtectedKey.load(value)["algorithm"]["algorithm"].dotted)
            keys.extend(_keys_or_wrong_password(decrypt_pbes2(value, password), "PKCS#12 key"))
        elif bag_id == PKCS12_KEY_BAG_OID:
            keys.extend(_parse_pkcs8_der(value))
        elif bag_id == PKCS12_CERT_BAG_OID:
            cert_bag = _CertBag.load(value)
            if cert_bag["cert_id"].dotted == X509_CERT_OID:
                certs.append(cert_bag["cert_value"].native)
        # CRL, secret and nested bags carry nothing a signer needs.


def _read_pfx(data: bytes, password: bytes | None) -> tuple[list[PrivateKey], list[bytes]]:
    try:
        pfx = _Pfx.load(data, strict=True)
        version = pfx["version"].native
        content_type = pfx["auth_safe"]["content_type"].dotted
        content = pfx["auth_safe"]["content"]
        auth_safe = (
            None if isinstance(content, core.Void) else core.OctetString.load(_explicit0(content)).native
        )
        mac_data = pfx["mac_data"] if pfx["mac_data"].native is not None else None
    except Exception as exc:
        raise MalformedContainer(f"not a valid PKCS#12 (.pfx) container: {exc}") from exc
    if version != 3 or content_type != PKCS7_DATA_OID or not auth_safe:
        raise UnsupportedContainer(
            f"PKCS#12 (.pfx/.p12) version {version} with authSafe {content_type} and no password-protected"
            " content is not supported: only password-integrity PKCS#12 as the Ukrainian CAs issue it"
        )
    if password is None:
        raise PasswordRequired("the PKCS#12 (.pfx) container is password-protected: pass its password")
    if mac_data is not None:
        verdict = _pfx_mac_ok(mac_data, auth_safe, password)
        if verdict is False:
            raise WrongPassword("wrong password for the PKCS#12 (.pfx) container (MAC mismatch)")
    keys: list[PrivateKey] = []
    certs: list[bytes] = []
    try:
        for info in _AuthenticatedSafe.load(auth_safe):
            kind = info["content_type"].dotted
            if kind == PKCS7_DATA_OID:
                _safe_bags(core.OctetString.load(_explicit0(info["content"])).native, password, keys, certs)
            elif kind == PKCS7_ENCRYPTED_DATA_OID:
                enc = _EncryptedData.load(_explicit0(info["content"]))["encrypted_content_info"]
                _require_pbes2(_HashAlgorithm.load(enc["algorithm"].dump())["algorithm"].dotted)
                plain = _pbes2_open(enc["algorithm"].dump(), enc["content"].native or b"", password)
                try:
                    for bag in _SafeContents.load(plain, strict=True):  # parse it all now
                        bag["bag_id"].dotted  # noqa: B018
                        _explicit0(bag["bag_value"])
                except Exception as exc:
                    raise WrongPassword(
                        "wrong password for the PKCS#12 (.pfx) container (encrypted bags do not decrypt)"
                    ) from exc
                _safe_bags(plain, password, keys, certs)
            # envelopedData (public-key privacy mode) holds nothing readable with a password.
    except KeyContainerError:
        raise
    except Exception as exc:
        raise MalformedContainer(f"damaged PKCS#12 (.pfx) container: {exc}") from exc
    if not keys:
        raise UnsupportedContainer("the PKCS#12 (.pfx) container holds no private key")
    return keys, certs


def _load_pfx(data: bytes, password: str | bytes | None) -> tuple[list[PrivateKey], list[bytes]]:
    if password is None:
        return _read_pfx(data, None)
    last: KeyContainerError | None = None
    for candidate in _password_candidates(password):
        try:
            return _read_pfx(data, candidate)
        except WrongPassword as exc:
            last = exc
    assert last is not None
    raise last


# --- Java KeyStore (.jks, PrivatBank) -------------------------------------------------------------


class _JksReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise MalformedContainer("damaged .jks key store: truncated")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def utf(self) -> str:
        # Java's modified UTF-8; aliases and certificate types are plain ASCII in practice.
        return self.take(self.u16()).decode("utf-8", errors="replace")


class _ProtectedKey(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", _HashAlgorithm), ("data", core.OctetString)]


def _jks_password(password: str | bytes) -> bytes:
    if isinstance(password, bytes):
        try:
            password = password.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Java key stores take the password as characters; pass it as text.
            raise WrongPassword("wrong password for the .jks key store (not UTF-8 text)") from exc
    # Java chars: UTF-16 code units, big-endian, no BOM (jksreader's encode_utf16).
    return password.encode("utf-16-be")


def jks_unprotect(protected: bytes, password: str | bytes) -> bytes:
    """Sun's JKS key protection (1.3.6.1.4.1.42.2.17.1.1): salt ‖ data ⊕ SHA-1 keystream ‖ SHA-1 check.

    ``WrongPassword`` when the check does not match.
    """
    if len(protected) < 40:
        raise MalformedContainer("damaged .jks key entry: protected key too short")
    pw = _jks_password(password)
    cur, body, check = protected[:20], protected[20:-20], protected[-20:]
    stream = bytearray()
    while len(stream) < len(body):
        cur = hashlib.sha1(pw + cur).digest()
        stream += cur
    plain = bytes(a ^ b for a, b in zip(body, stream, strict=False))
    if not hmac.compare_digest(hashlib.sha1(pw + plain).digest(), check):
        raise WrongPassword("wrong password for the .jks key entry (key check mismatch)")
    return plain


def _jks_keys(plain: bytes, password: str | bytes) -> list[PrivateKey]:
    """The keys of a decrypted JKS key entry: PKCS#8 (jkurwa), else an IIT or PBES2 container in it."""
    try:
        return _parse_pkcs8_der(plain)
    except KeyContainerError:
        raise
    except Exception as exc:
        try:
            _, oid, _ = _der_shape(plain)
        except Exception:
            oid = None
        if oid == IIT_STORE_OID:
            return parse_pkcs8(decrypt_iit(plain, password))
        if oid == PBES2_OID:
            return _load_pbes2(plain, password)
        raise MalformedContainer(f"the .jks key entry does not hold a ДСТУ 4145 key: {exc}") from exc


def _load_jks(data: bytes, password: str | bytes | None) -> tuple[list[PrivateKey], list[bytes]]:
    if data[:1] == b"\x51" and data[6:10] == _JKS_MAGIC:
        data = data[6:]  # jkurwa's util/load.js: some PrivatBank files carry 6 bytes of junk first
    if len(data) < 32:
        raise MalformedContainer("damaged .jks key store: truncated")
    body, digest = data[:-20], data[-20:]
    reader = _JksReader(body)
    reader.take(4)
    version = reader.u32()
    if version not in (1, 2):
        raise UnsupportedContainer(
            f"unsupported .jks key store version {version} (JKS versions 1 and 2 are read)"
        )
    password = _require(password, ".jks key store")
    pw = _jks_password(password)
    if not hmac.compare_digest(hashlib.sha1(pw + b"Mighty Aphrodite" + body).digest(), digest):
        raise WrongPassword("wrong password for the .jks key store (integrity digest mismatch)")

    def cert() -> bytes | None:
        kind = reader.utf() if version == 2 else "X.509"
        der = reader.take(reader.u32())
        return der if kind == "X.509" else None

    keys: list[PrivateKey] = []
    certs: list[bytes] = []
    for _ in range(reader.u32()):
        tag = reader.u32()
        reader.utf()  # alias
        reader.take(8)  # creation time
        if tag == 1:
            protected = reader.take(reader.u32())
            chain = [cert() for _ in range(reader.u32())]
            try:
                epki = _ProtectedKey.load(protected, strict=True)
                oid = epki["algorithm"]["algorithm"].dotted
                blob = epki["data"].native
            except Exception as exc:
                raise MalformedContainer(f"damaged .jks key entry: {exc}") from exc
            if oid != JKS_KEY_PROTECTOR_OID:
                raise UnsupportedContainer(
                    f".jks key entry protected with {oid}, not Sun's JKS key protector"
                )
            keys.extend(_jks_keys(jks_unprotect(blob, password), password))
            certs.extend(c for c in chain if c is not None)
        elif tag == 2:
            trusted = cert()
            if trusted is not None:
                certs.append(trusted)
        else:
            raise MalformedContainer(f"damaged .jks key store: unknown entry tag {tag}")
    if reader.pos != len(body):
        raise MalformedContainer("damaged .jks key store: trailing data")
    if not keys:
        raise UnsupportedContainer("the .jks key store holds no private key")
    return keys, certs


# --- detection and loading ------------------------------------------------------------------------


def _elements(contents: bytes) -> list[tuple[Any, ...]]:
    out = []
    off = 0
    while off < len(contents):
        size = parser.peek(contents[off:])
        out.append(parser.parse(contents[off : off + size], strict=True))
        off += size
    return out


def _opening_oid(element: tuple[Any, ...]) -> str | None:
    """The OID that opens a SEQUENCE element (an AlgorithmIdentifier or ContentInfo), if any."""
    if element[0:3] != (0, 1, 16) or not element[4]:
        return None
    inner = _elements(element[4])[0]
    if inner[0:3] != (0, 0, 6):
        return None
    return str(core.ObjectIdentifier.load(inner[3] + inner[4]).dotted)


def _der_shape(der: bytes) -> tuple[int, str | None, str | None]:
    """Tag of an outer SEQUENCE's first element and the OIDs opening its first two elements."""
    outer = parser.parse(der, strict=True)
    if outer[0:3] != (0, 1, 16):
        raise ValueError("not a DER SEQUENCE")
    items = _elements(outer[4])
    if not items:
        raise ValueError("empty SEQUENCE")
    second = _opening_oid(items[1]) if len(items) > 1 else None
    return items[0][2], _opening_oid(items[0]), second


def _require(password: str | bytes | None, what: str) -> str | bytes:
    if password is None:
        raise PasswordRequired(f"the {what} is password-protected: pass its password")
    return password


def load_keys(data: bytes, password: str | bytes | None = None) -> list[PrivateKey]:
    """All ДСТУ 4145 keys in a container, format detected from the content, signing key first."""
    return load_container(data, password)[0]


def load_container(data: bytes, password: str | bytes | None = None) -> tuple[list[PrivateKey], list[bytes]]:
    """The keys (signing key first) and the DER certificates a key container holds.

    Certificates come from PKCS#12 cert bags, .jks certificate chains and trusted entries, and the
    CERTIFICATE blocks of a PEM bundle; the other formats carry none.
    """
    if data[:4] == _JKS_MAGIC or (data[:1] == b"\x51" and data[6:10] == _JKS_MAGIC):
        return _load_jks(data, password)
    if _is_pem(data):
        keys = _load_key_container(data, password)
        return keys, [body for label, body in _pem_blocks(data) if label == "CERTIFICATE"]
    if _is_pfx(data):
        return _load_pfx(data, password)
    return _load_key_container(data, password), []


def _is_pfx(data: bytes) -> bool:
    # PFX: SEQUENCE { INTEGER version, ContentInfo { data, ... }, ... }; PKCS#8 also opens with an
    # INTEGER but follows it with an AlgorithmIdentifier.
    try:
        first_tag, _, second_oid = _der_shape(data)
    except Exception:
        return False
    return first_tag == 2 and second_oid in (PKCS7_DATA_OID, PKCS7_SIGNED_DATA_OID)


def _load_key_container(data: bytes, password: str | bytes | None) -> list[PrivateKey]:
    if _is_pem(data):
        labels = [label for label, _ in _pem_blocks(data)]
        if "PRIVATE KEY" in labels:
            return parse_pkcs8(data)
        if "ENCRYPTED PRIVATE KEY" in labels:
            return _load_pbes2(data, _require(password, "PBES2 key"))
        raise UnsupportedContainer(
            f"the PEM file holds no private key (blocks: {', '.join(labels) or 'none'})"
        )
    try:
        first_tag, oid, _ = _der_shape(data)
    except Exception as exc:
        raise UnsupportedContainer(
            "not a key container this box reads (PKCS#8 DER/PEM, PBES2, IIT Key-6.dat)"
        ) from exc
    if oid == IIT_STORE_OID:
        # The MAC has vouched for the password, so a key that does not parse is a damaged one.
        return parse_pkcs8(decrypt_iit(data, _require(password, "Key-6.dat key")))
    if oid == PBES2_OID:
        return _load_pbes2(data, _require(password, "PBES2 key"))
    if first_tag == 2:  # INTEGER: PKCS#8 version (PKCS#12 was taken by load_container)
        return parse_pkcs8(data)
    raise UnsupportedContainer("not a key container this box reads (PKCS#8 DER/PEM, PBES2, IIT Key-6.dat)")


def _load_pbes2(data: bytes, password: str | bytes) -> list[PrivateKey]:
    last: WrongPassword | None = None
    for candidate in _password_candidates(password):
        try:
            return _keys_or_wrong_password(decrypt_pbes2(data, candidate), "PBES2 key")
        except WrongPassword as exc:
            last = exc
    assert last is not None
    raise last


# --- signer ---------------------------------------------------------------------------------------


def _certificates(data: bytes, source: str) -> list[DstuCertificate]:
    """Every certificate in a DER file or PEM file (a PEM bundle may hold several)."""
    if not _is_pem(data):
        try:
            return [parse_certificate(data)]
        except CertificateError as exc:
            raise BadCertificate(f"{source} is not a usable ДСТУ 4145 certificate: {exc}") from exc
    certs = []
    for label, body in _pem_blocks(data):
        if label == "CERTIFICATE":
            try:
                certs.append(parse_certificate(body))
            except CertificateError as exc:
                raise BadCertificate(f"{source} holds a certificate that is not usable: {exc}") from exc
    return certs


def _container_certificates(ders: list[bytes], source: str) -> list[DstuCertificate]:
    # A PKCS#12 or .jks may also hold the CA chain; certificates that are not ДСТУ 4145 are skipped,
    # as they cannot belong to a key loaded here.
    certs = []
    for der in ders:
        try:
            certs.append(parse_certificate(der))
        except CertificateError:
            continue
    return certs


def _utc(moment: datetime) -> datetime:
    # A naive clock reading is taken as UTC rather than failing on the comparison with the
    # certificate's aware dates.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_validity(cert: DstuCertificate, now: datetime) -> None:
    now = _utc(now)
    if cert.not_before <= now <= cert.not_after:
        return
    state = "expired" if now > cert.not_after else "not yet valid"
    raise CertificateNotValid(
        f"certificate {cert.common_name!r} (key id {cert.subject_key_id.hex()}) is {state}: valid from"
        f" {cert.not_before:%Y-%m-%d %H:%M:%S} UTC to {cert.not_after:%Y-%m-%d %H:%M:%S} UTC, now is"
        f" {now:%Y-%m-%d %H:%M:%S} UTC; get a current certificate from the CA"
    )


def certificate_days_left(cert: DstuCertificate, now: datetime) -> int:
    """Whole days until the certificate expires: 0 on its last day, negative once it has."""
    return (cert.not_after - _utc(now)).days


def load_signer(
    key_file: str | Path,
    *,
    password: str | bytes | None = None,
    certificate_file: str | Path | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DstuSigner:
    """A signer from a key container and the certificate of its signing key.

    The certificate comes from ``certificate_file`` (DER or PEM) or, when that is not given, from
    CERTIFICATE blocks in a PEM key file or the certificates of a PKCS#12 / .jks container (those
    that are not ДСТУ 4145, e.g. CA certificates of another kind, are skipped); the key whose public
    key a certificate carries signs.  ``clock``
    decides certificate validity and goes on to the signer for signing times.
    """
    try:
        data = Path(key_file).read_bytes()
    except OSError as exc:
        raise KeyContainerError(f"cannot read key container {key_file}: {exc.strerror}") from exc
    keys, container_certs = load_container(data, password)
    if certificate_file is None:
        # PEM bundles, PKCS#12 and .jks carry certificates; PKCS#8, PBES2 and Key-6.dat do not.
        certs = (
            _certificates(data, str(key_file))
            if _is_pem(data)
            else _container_certificates(container_certs, str(key_file))
        )
        source = str(key_file)
        if not certs:
            raise BadCertificate(
                f"{key_file} holds no certificate: pass the signing certificate (certificate_file, DER or PEM)"
            )
    else:
        try:
            cert_data = Path(certificate_file).read_bytes()
        except OSError as exc:
            raise BadCertificate(f"cannot read certificate {certificate_file}: {exc.strerror}") from exc
        certs = _certificates(cert_data, str(certificate_file))
        source = str(certificate_file)
        if not certs:
            raise BadCertificate(f"{certificate_file} holds no CERTIFICATE PEM block")
    # A mismatched pair is reported before the dates: a new certificate would not fix it.
    pair = next(((k, c) for c in certs for k in keys if k.matches(c)), None)
    if pair is None:
        key_ids = ", ".join(k.key_id.hex() for k in keys)
        cert_ids = ", ".join(c.subject_key_id.hex() for c in certs)
        raise KeyMismatch(
            f"no key in {key_file} (key ids {key_ids}) belongs to the certificate in {source}"
            f" (key id {cert_ids}): pass the certificate issued for this key"
        )
    key, cert = pair
    _check_validity(cert, clock())
    return DstuSigner(cert.curve, key.d, cert.der, clock=clock)
