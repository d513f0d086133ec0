"""X.509 certificates with ДСТУ 4145 public keys: parse them, and make self-signed ones for tests.

asn1crypto knows neither the ДСТУ 4145 key algorithm nor its parameters (its ``PublicKeyInfo``
raises on the OID), so the subjectPublicKeyInfo is re-parsed with the small structures below;
everything else in the certificate goes through asn1crypto's ordinary X.509 classes.

Encodings follow the Ukrainian profile as jkurwa 1.21 reads and writes it
(lib/models/Certificate.js, lib/spec/keystore.js):

* algorithm 1.2.804.2.1.1.1.1.3.1.1 (little-endian ДСТУ 4145), parameters
  ``SEQUENCE { curve CHOICE { named OID, explicit ECBinary }, dke OCTET STRING OPTIONAL }``;
* the key is a BIT STRING wrapping an OCTET STRING with the compressed point, little-endian;
* the certificate's own signature is a BIT STRING wrapping an OCTET STRING with r ‖ s (LE);
* subjectKeyIdentifier = ГОСТ 34.311 of that OCTET STRING (jkurwa ``Pub.keyid``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from asn1crypto import core, x509

from .curve import CURVES_BY_OID, DSTU4145_LE_OID, Curve, curve_by_m
from .dstu4145 import (
    Signature,
    decode_public_key,
    der_octet_string,
    encode_public_key,
    parse_der_octet_string,
    public_key,
    sign_digest,
    verify_digest,
)
from .gost89 import DKE1_SBOX, gost34311

__all__ = [
    "CertificateError",
    "DstuCertificate",
    "key_identifier",
    "make_self_signed",
    "parse_certificate",
    "verify_self_signed",
]


class CertificateError(ValueError):
    """The bytes are not a certificate with a usable ДСТУ 4145 public key."""


# --- ДСТУ 4145 parameters (ДСТУ 4145-2002 annex, as jkurwa lib/spec/keystore.js) ----------------


class _Pentanomial(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("k", core.Integer), ("j", core.Integer), ("l", core.Integer)]


class _Polynomial(core.Choice):  # type: ignore[misc]  # asn1crypto is untyped
    _alternatives: ClassVar[list[Any]] = [("trinomial", core.Integer), ("pentanomial", _Pentanomial)]


class _BinaryField(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("m", core.Integer), ("poly", _Polynomial)]


class _EcBinary(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("version", core.Integer, {"explicit": 0, "default": 0}),
        ("f", _BinaryField),
        ("a", core.Integer),
        ("b", core.OctetString),
        ("n", core.Integer),
        ("bp", core.OctetString),
    ]


class _CurveChoice(core.Choice):  # type: ignore[misc]  # asn1crypto is untyped
    _alternatives: ClassVar[list[Any]] = [("named", core.ObjectIdentifier), ("explicit", _EcBinary)]


class _DstuParams(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("curve", _CurveChoice), ("dke", core.OctetString, {"optional": True})]


class _AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _PublicKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", _AlgorithmIdentifier), ("public_key", core.OctetBitString)]


class _TbsCertificate(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    # x509.TbsCertificate with the key info swapped for one that tolerates ДСТУ 4145.
    _fields: ClassVar[list[Any]] = [
        ("version", x509.Version, {"explicit": 0, "default": "v1"}),
        ("serial_number", core.Integer),
        ("signature", _AlgorithmIdentifier),
        ("issuer", x509.Name),
        ("validity", x509.Validity),
        ("subject", x509.Name),
        ("subject_public_key_info", _PublicKeyInfo),
        ("extensions", x509.Extensions, {"explicit": 3, "optional": True}),
    ]


class _Certificate(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("tbs_certificate", _TbsCertificate),
        ("signature_algorithm", _AlgorithmIdentifier),
        ("signature_value", core.OctetBitString),
    ]


# --- parsing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DstuCertificate:
    der: bytes
    curve: Curve
    public_key: tuple[int, int]
    subject_key_id: bytes  # from the extension; computed from the key when the extension is absent
    common_name: str
    serial_number: int
    not_before: datetime
    not_after: datetime
    x509: x509.Certificate


def key_identifier(curve: Curve, q: tuple[int, int]) -> bytes:
    """ГОСТ 34.311 of the key's OCTET STRING, as jkurwa and the Ukrainian CAs compute it."""
    return gost34311(der_octet_string(encode_public_key(curve, q)))


def _explicit_curve(params: _EcBinary) -> Curve:
    m = params["f"]["m"].native
    poly = params["f"]["poly"]
    ks: tuple[int, ...]
    if poly.name == "trinomial":
        ks = (poly.native,)
    else:
        ks = (poly.chosen["k"].native, poly.chosen["j"].native, poly.chosen["l"].native)
    a = params["a"].native
    b = int.from_bytes(params["b"].native, "little")
    n = params["n"].native
    bp = int.from_bytes(params["bp"].native, "little")
    # A certificate that spells out a standard curve should share its precomputed tables.
    try:
        named = curve_by_m(m)
    except KeyError:
        named = None
    modulus = (1 << m) | 1 | sum(1 << k for k in ks)
    if named is not None and (named.field.modulus, named.a, named.b, named.n, named.compress(named.base)) == (
        modulus,
        a,
        b,
        n,
        bp,
    ):
        return named
    # The cofactor is not in the encoding; #E = h·n lies within 2^m ± 2^(m/2+1) (Hasse).
    cofactor = round((1 << m) / n)
    probe = Curve(name=f"explicit_{m}", m=m, ks=ks, a=a, b=b, base=(1, 0), n=n, cofactor=cofactor)
    base = probe.decompress(bp)
    return Curve(name=f"explicit_{m}", m=m, ks=ks, a=a, b=b, base=base, n=n, cofactor=cofactor)


def _subject_key_id(tbs: x509.TbsCertificate) -> bytes | None:
    # Only this one extension is parsed: asn1crypto's Certificate.key_identifier parses them all,
    # and jkurwa-made certificates carry an authorityKeyIdentifier that is a bare OCTET STRING.
    for ext in tbs["extensions"] or []:
        if ext["extn_id"].dotted == "2.5.29.14":
            value: bytes = ext["extn_value"].parsed.native
            return value
    return None


def _curve_and_key(spki_der: bytes) -> tuple[Curve, tuple[int, int]]:
    spki = _PublicKeyInfo.load(spki_der)
    oid = spki["algorithm"]["algorithm"].dotted
    if oid != DSTU4145_LE_OID:
        raise CertificateError(f"not a ДСТУ 4145 (little-endian) public key: algorithm {oid}")
    raw_params = spki["algorithm"]["parameters"]
    if raw_params.native is None:
        raise CertificateError("ДСТУ 4145 key without curve parameters")
    params = _DstuParams.load(raw_params.dump())
    choice = params["curve"]
    if choice.name == "named":
        curve_oid = choice.chosen.dotted
        if curve_oid not in CURVES_BY_OID:
            raise CertificateError(f"unknown ДСТУ 4145 curve {curve_oid}")
        curve = CURVES_BY_OID[curve_oid]
    else:
        curve = _explicit_curve(choice.chosen)
    q = decode_public_key(curve, parse_der_octet_string(spki["public_key"].native))
    return curve, q


def parse_certificate(der: bytes) -> DstuCertificate:
    """Parse a DER certificate whose key is ДСТУ 4145; raise CertificateError otherwise."""
    try:
        cert = x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        curve, q = _curve_and_key(tbs["subject_public_key_info"].dump())
        ski = _subject_key_id(tbs)
        common_name = ""
        for rdn in tbs["subject"].chosen:
            for attr in rdn:
                if attr["type"].native == "common_name":
                    common_name = attr["value"].native
        validity = tbs["validity"]
        return DstuCertificate(
            der=der,
            curve=curve,
            public_key=q,
            subject_key_id=ski if ski is not None else key_identifier(curve, q),
            common_name=common_name,
            serial_number=tbs["serial_number"].native,
            not_before=validity["not_before"].native,
            not_after=validity["not_after"].native,
            x509=cert,
        )
    except CertificateError:
        raise
    except Exception as exc:  # asn1crypto and decompression raise many types on bad input
        raise CertificateError(f"malformed ДСТУ 4145 certificate: {exc}") from exc


def verify_self_signed(cert: DstuCertificate) -> bool:
    """Whether the certificate's signature verifies with its own key (root CAs and test certificates)."""
    raw = _Certificate.load(cert.der)
    if raw["signature_algorithm"]["algorithm"].dotted != DSTU4145_LE_OID:
        return False
    try:
        sig = Signature.from_octet_string(raw["signature_value"].native)
    except ValueError:
        return False
    digest = gost34311(raw["tbs_certificate"].dump())
    return verify_digest(cert.curve, cert.public_key, digest, sig)


# --- creation (tests and the emulator) ----------------------------------------------------------


def make_self_signed(
    curve: Curve,
    d: int,
    *,
    common_name: str,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
    organization: str | None = None,
) -> bytes:
    """A self-signed ДСТУ 4145 certificate (DER) in the shape Ukrainian CAs issue.

    The curve is named by OID and the ДКЕ №1 S-box is carried in ``dke``, as in
    qualified certificates; key usage is digitalSignature + nonRepudiation (a КЕП key).
    """
    if curve.oid is None:
        raise ValueError("only named curves can be put into a certificate")
    q = public_key(curve, d)
    name_fields: dict[str, str] = {}
    if organization:
        name_fields["organization_name"] = organization
    name_fields["common_name"] = common_name
    name = x509.Name.build(name_fields, use_printable=False)
    algorithm = _AlgorithmIdentifier({"algorithm": DSTU4145_LE_OID})
    tbs = _TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial_number,
            "signature": algorithm,
            "issuer": name,
            "validity": {
                "not_before": x509.Time({"utc_time": not_before}),
                "not_after": x509.Time({"utc_time": not_after}),
            },
            "subject": name,
            "subject_public_key_info": _named_curve_key_info(curve, curve.oid, q),
            "extensions": _signing_key_extensions(key_identifier(curve, q)),
        }
    )
    sig = sign_digest(curve, d, gost34311(tbs.dump()))
    cert = _Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": algorithm,
            "signature_value": sig.to_octet_string(curve),
        }
    )
    return bytes(cert.dump())


def _named_curve_key_info(curve: Curve, oid: str, q: tuple[int, int]) -> _PublicKeyInfo:
    params = _DstuParams({"curve": _CurveChoice({"named": oid}), "dke": DKE1_SBOX})
    return _PublicKeyInfo(
        {
            "algorithm": {"algorithm": DSTU4145_LE_OID, "parameters": core.Any.load(params.dump())},
            "public_key": der_octet_string(encode_public_key(curve, q)),
        }
    )


def _signing_key_extensions(ski: bytes) -> x509.Extensions:
    # A КЕП key: digitalSignature + nonRepudiation; self-signed, so the authority key id is its own.
    return x509.Extensions(
        [
            {
                "extn_id": "key_usage",
                "critical": True,
                "extn_value": {"digital_signature", "non_repudiation"},
            },
            {"extn_id": "key_identifier", "critical": False, "extn_value": ski},
            {"extn_id": "authority_key_identifier", "critical": False, "extn_value": {"key_identifier": ski}},
        ]
    )
