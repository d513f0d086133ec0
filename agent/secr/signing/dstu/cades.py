"""CAdES-BES attached SignedData with ДСТУ 4145 / ГОСТ 34.311, as the tax service expects (§1.3).

One signer identified by issuerAndSerialNumber, the signer's certificate and no other inside,
signed attributes content-type, message-digest, signing-time and signing-certificate-v2.  The
encodings are those of jkurwa 1.21 (lib/models/Message.js), which the tests cross-check:

* digest algorithm 1.2.804.2.1.1.1.1.2.1 and signature algorithm 1.2.804.2.1.1.1.1.3.1.1, both
  without parameters;
* SignerInfo.signature is the OCTET STRING whose contents are r ‖ s, little-endian — unlike the
  certificate's signature, there is no inner OCTET STRING;
* ESSCertIDv2 names GOST 34.311 explicitly (the DEFAULT is SHA-256) and carries issuerSerial.

A signature-time-stamp token (CAdES-T) may be attached as an unsigned attribute: given ready-made,
or fetched by a ``time_stamper`` once the signature exists, since the stamp covers the signature value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

# Importing tsp is what teaches asn1crypto the signing-certificate-v2 attribute (it registers the OID).
from asn1crypto import cms, core, tsp, x509

from ..cms import CmsError
from .certificate import CertificateError, DstuCertificate, parse_certificate
from .curve import DSTU4145_LE_OID, Curve
from .dstu4145 import Signature, public_key, sign_digest, verify_digest
from .gost89 import gost34311

__all__ = [
    "CONTENT_TIME_STAMP_OID",
    "GOST34311_OID",
    "SIGNATURE_TIME_STAMP_OID",
    "SIGNING_CERTIFICATE_V2_OID",
    "CadesError",
    "DstuSigner",
    "TimeStamper",
    "VerifiedDstu",
    "sign_cades",
    "verify_cades",
]

GOST34311_OID = "1.2.804.2.1.1.1.1.2.1"
SIGNING_CERTIFICATE_V2_OID = "1.2.840.113549.1.9.16.2.47"
SIGNATURE_TIME_STAMP_OID = "1.2.840.113549.1.9.16.2.14"
CONTENT_TIME_STAMP_OID = "1.2.840.113549.1.9.16.2.20"


#: Receives SignerInfo.signature's contents (r ‖ s) and returns a TimeStampToken (DER) over them.
TimeStamper = Callable[[bytes], bytes]


class CadesError(CmsError):
    """The bytes are not a valid ДСТУ 4145 CAdES attached signature with one good signer."""


@dataclass(frozen=True)
class VerifiedDstu:
    content: bytes
    certificate: DstuCertificate
    subject_key_id: str  # lowercase hex, as Signer.subject_key_id
    signing_time: datetime
    time_stamp_token: bytes | None = None  # the signature-time-stamp's DER, unverified


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if not 1950 <= moment.year < 2050:
        raise ValueError("signing_time must fit UTCTime (1950–2049)")
    return moment


def sign_cades(
    content: bytes,
    *,
    curve: Curve,
    d: int,
    certificate_der: bytes,
    signing_time: datetime,
    time_stamp_token: bytes | None = None,
    time_stamper: TimeStamper | None = None,
) -> bytes:
    """Attached CAdES-BES SignedData (DER); with ``time_stamp_token`` (a TimeStampToken's DER) CAdES-T.

    ``time_stamper`` is the alternative to ``time_stamp_token`` when the token is still to be fetched:
    it is called with the signature value and whatever it raises propagates, so a stamp that cannot
    be had yields no document rather than one without its stamp.

    Raises ValueError when the key does not belong to the certificate: a signature nobody
    could verify is better refused here than at the tax service.
    """
    if time_stamp_token is not None and time_stamper is not None:
        raise ValueError("give either time_stamp_token or time_stamper, not both")
    cert = parse_certificate(certificate_der)
    _check_key(curve, d, cert)
    return _sign(content, curve, d, cert, signing_time, time_stamp_token, time_stamper)


def _check_key(curve: Curve, d: int, cert: DstuCertificate) -> None:
    if (curve.field.modulus, curve.a, curve.b, curve.base, curve.n) != (
        cert.curve.field.modulus,
        cert.curve.a,
        cert.curve.b,
        cert.curve.base,
        cert.curve.n,
    ):
        raise ValueError(f"the certificate's key is on {cert.curve.name}, not on {curve.name}")
    if public_key(curve, d) != cert.public_key:
        raise ValueError("the private key does not match the certificate's public key")


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


_SEQUENCE, _SET, _OCTET_STRING, _UTC_TIME = 0x30, 0x31, 0x04, 0x17
_CONTENT_TYPE_ATTR = cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump()
_MESSAGE_DIGEST_OID = core.ObjectIdentifier("1.2.840.113549.1.9.4").dump()
_SIGNING_TIME_OID = core.ObjectIdentifier("1.2.840.113549.1.9.5").dump()
_SIGNATURE_TIME_STAMP_OID = core.ObjectIdentifier(SIGNATURE_TIME_STAMP_OID).dump()
_DATA_OID = core.ObjectIdentifier("1.2.840.113549.1.7.1").dump()
_SIGNED_DATA_OID = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_DIGEST_ALGORITHM = cms.DigestAlgorithm({"algorithm": GOST34311_OID}).dump()
_SIGNATURE_ALGORITHM = cms.SignedDigestAlgorithm({"algorithm": DSTU4145_LE_OID}).dump()
_VERSION_1 = core.Integer(1).dump()


@dataclass(frozen=True)
class _CertificateParts:
    """What every envelope of one signer repeats, encoded once (re-encoding it dominated signing time)."""

    certificate: bytes
    signer_id: bytes  # IssuerAndSerialNumber
    signing_certificate_attr: bytes  # the signing-certificate-v2 attribute


_PARTS_CACHE: dict[bytes, _CertificateParts] = {}


def _parts(cert: DstuCertificate) -> _CertificateParts:
    cached = _PARTS_CACHE.get(cert.der)
    if cached is None:
        tbs = cert.x509["tbs_certificate"]
        ess_cert_id = {
            "hash_algorithm": {"algorithm": GOST34311_OID},
            "cert_hash": gost34311(cert.der),
            "issuer_serial": {
                "issuer": [x509.GeneralName({"directory_name": tbs["issuer"]})],
                "serial_number": cert.serial_number,
            },
        }
        cached = _CertificateParts(
            certificate=cert.der,
            signer_id=cms.IssuerAndSerialNumber(
                {"issuer": tbs["issuer"], "serial_number": cert.serial_number}
            ).dump(),
            signing_certificate_attr=cms.CMSAttribute(
                {"type": "signing_certificate_v2", "values": [{"certs": [ess_cert_id]}]}
            ).dump(),
        )
        if len(_PARTS_CACHE) > 16:  # a box has one or two signers; never let this grow
            _PARTS_CACHE.clear()
        _PARTS_CACHE[cert.der] = cached
    return cached


def _sign(
    content: bytes,
    curve: Curve,
    d: int,
    cert: DstuCertificate,
    signing_time: datetime,
    time_stamp_token: bytes | None,
    time_stamper: TimeStamper | None = None,
) -> bytes:
    parts = _parts(cert)
    when = _utc(signing_time).strftime("%y%m%d%H%M%SZ").encode("ascii")
    attributes = [
        _CONTENT_TYPE_ATTR,
        _tlv(_SEQUENCE, _MESSAGE_DIGEST_OID + _tlv(_SET, _tlv(_OCTET_STRING, gost34311(content)))),
        _tlv(_SEQUENCE, _SIGNING_TIME_OID + _tlv(_SET, _tlv(_UTC_TIME, when))),
        parts.signing_certificate_attr,
    ]
    # DER orders a SET OF by the encodings of its elements.
    signed_attrs = b"".join(sorted(attributes))
    signature = sign_digest(curve, d, gost34311(_tlv(_SET, signed_attrs))).to_bytes(curve)
    if time_stamper is not None:
        time_stamp_token = time_stamper(signature)
    signer_info = (
        _VERSION_1
        + parts.signer_id
        + _DIGEST_ALGORITHM
        + _tlv(0xA0, signed_attrs)
        + _SIGNATURE_ALGORITHM
        + _tlv(_OCTET_STRING, signature)
    )
    if time_stamp_token is not None:
        token = cms.ContentInfo.load(time_stamp_token, strict=True).dump()
        signer_info += _tlv(0xA1, _tlv(_SEQUENCE, _SIGNATURE_TIME_STAMP_OID + _tlv(_SET, token)))
    signed_data = (
        _VERSION_1
        + _tlv(_SET, _DIGEST_ALGORITHM)
        + _tlv(_SEQUENCE, _DATA_OID + _tlv(0xA0, _tlv(_OCTET_STRING, content)))
        + _tlv(0xA0, parts.certificate)
        + _tlv(_SET, _tlv(_SEQUENCE, signer_info))
    )
    return _tlv(_SEQUENCE, _SIGNED_DATA_OID + _tlv(0xA0, _tlv(_SEQUENCE, signed_data)))


def _one_value(attrs: dict[str, list[core.Asn1Value]], oid: str, what: str) -> core.Asn1Value:
    values = attrs.get(oid)
    if values is None:
        raise CadesError(f"signed attribute {what} is missing")
    if len(values) != 1:
        raise CadesError(f"signed attribute {what} must occur once with one value")
    return values[0]


def _check_signing_certificate(value: core.Asn1Value, cert: DstuCertificate) -> None:
    # Re-parsed from bytes: the hash algorithm is not one asn1crypto knows, and its DEFAULT (SHA-256)
    # must not be silently assumed for a ГОСТ certificate hash.
    parsed = tsp.SigningCertificateV2.load(value.dump())
    certs = parsed["certs"]
    if len(certs) == 0:
        raise CadesError("signing-certificate-v2 names no certificate")
    first = certs[0]
    if first["hash_algorithm"]["algorithm"].dotted != GOST34311_OID:
        raise CadesError("signing-certificate-v2 must hash the certificate with ГОСТ 34.311")
    if first["cert_hash"].native != gost34311(cert.der):
        raise CadesError("signing-certificate-v2 does not match the signer's certificate")
    issuer_serial = first["issuer_serial"]
    if issuer_serial.native is not None:
        tbs = cert.x509["tbs_certificate"]
        names = [n.chosen for n in issuer_serial["issuer"] if n.name == "directory_name"]
        if issuer_serial["serial_number"].native != cert.serial_number or not any(
            n == tbs["issuer"] for n in names
        ):
            raise CadesError("signing-certificate-v2 issuerSerial does not match the signer's certificate")


def verify_cades(der: bytes) -> VerifiedDstu:
    """Parse and verify; raise CadesError naming what is wrong.

    Checks the envelope rules of §1.3 (attached id-data content, one signer, exactly one
    certificate and it is the signer's, no CRLs, no content-time-stamp), the four signed
    attributes, that signing-time lies within the certificate's validity (as jkurwa does), and
    the signature.  Does not build or check a certificate chain, revocation, or the time-stamp
    token: those need trust anchors this module has none of, so a self-signed certificate
    verifies here — callers decide whom to trust by ``subject_key_id``.
    """
    try:
        return _verify(der)
    except CadesError:
        raise
    except CertificateError as exc:
        raise CadesError(f"the signer's certificate is unusable: {exc}") from exc
    except Exception as exc:  # asn1crypto raises a zoo of types on malformed input
        raise CadesError(f"malformed CMS: {exc}") from exc


def _verify(der: bytes) -> VerifiedDstu:
    # The steps in the order of RFC 5652 (§3 ContentInfo, §5.1 SignedData, §5.2 the content, §5.3
    # SignerInfo, §11 the signed attributes, §5.4/§5.6 the signature), with the tax service's profile
    # (§1.3) and the CAdES-BES attributes of ETSI EN 319 122-1 on the way.
    signed = _signed_data(der)
    signer = _one_signer(signed)
    content = _data_content(signed)
    cert = _signer_certificate(signed, signer)
    _check_algorithms(signer)
    by_type = _signed_attributes(signer)
    signing_time = _check_attributes(by_type, content, cert)
    _check_signature(signer, cert)
    return VerifiedDstu(
        content=content,
        certificate=cert,
        subject_key_id=cert.subject_key_id.hex(),
        signing_time=signing_time,
        time_stamp_token=_signature_time_stamp(signer),
    )


def _signed_data(der: bytes) -> cms.SignedData:
    # RFC 5652 §3
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise CadesError("not a CMS SignedData")
    return info["content"]


def _one_signer(signed: cms.SignedData) -> cms.SignerInfo:
    # RFC 5652 §5.1, one signer by the profile
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise CadesError(f"exactly one signer required, found {len(signers)}")
    return signers[0]


def _data_content(signed: cms.SignedData) -> bytes:
    # RFC 5652 §5.2: the profile signs id-data, attached.
    encap = signed["encap_content_info"]
    if encap["content_type"].native != "data":
        raise CadesError(f"signed content type must be id-data, not {encap['content_type'].dotted}")
    content: bytes | None = encap["content"].native
    if content is None:
        raise CadesError("detached signature: the signed content must be inside the envelope")
    return content


def _signer_certificate(signed: cms.SignedData, signer: cms.SignerInfo) -> DstuCertificate:
    """The envelope's one certificate, which must be the signer's (RFC 5652 §5.1 certificates, §5.3 sid)."""
    certs = [c.chosen for c in signed["certificates"] or [] if c.name == "certificate"]
    if not certs:
        raise CadesError("the signer's certificate is not inside the envelope")
    if len(signed["certificates"]) != 1:
        raise CadesError("the envelope must carry the signer's certificate and no other")
    if signed["crls"].native:
        raise CadesError("the envelope must not carry CRLs or OCSP responses")
    cert = parse_certificate(certs[0].dump())
    sid = signer["sid"]
    if sid.name == "issuer_and_serial_number":
        tbs = cert.x509["tbs_certificate"]
        matches = (
            sid.chosen["serial_number"].native == cert.serial_number and sid.chosen["issuer"] == tbs["issuer"]
        )
    else:
        matches = sid.chosen.native == cert.subject_key_id
    if not matches:
        raise CadesError("the certificate in the envelope is not the signer's")
    return cert


def _check_algorithms(signer: cms.SignerInfo) -> None:
    # RFC 5652 §5.3 digestAlgorithm and signatureAlgorithm, as the profile names them.
    if signer["digest_algorithm"]["algorithm"].dotted != GOST34311_OID:
        raise CadesError(
            f"digest algorithm must be ГОСТ 34.311, not {signer['digest_algorithm']['algorithm'].dotted}"
        )
    if signer["signature_algorithm"]["algorithm"].dotted != DSTU4145_LE_OID:
        raise CadesError(
            f"signature algorithm must be ДСТУ 4145 LE, not {signer['signature_algorithm']['algorithm'].dotted}"
        )


def _signed_attributes(signer: cms.SignerInfo) -> dict[str, list[core.Asn1Value]]:
    """The signed attributes by type (RFC 5652 §5.3); CAdES requires them, and a type given twice is refused."""
    signed_attrs = signer["signed_attrs"]
    if not len(signed_attrs):
        raise CadesError("CAdES requires signed attributes")
    by_type: dict[str, list[core.Asn1Value]] = {}
    for attr in signed_attrs:
        oid = attr["type"].dotted
        if oid in by_type:
            raise CadesError(f"signed attribute {oid} occurs twice")
        by_type[oid] = list(attr["values"])
    return by_type


def _check_attributes(
    by_type: dict[str, list[core.Asn1Value]], content: bytes, cert: DstuCertificate
) -> datetime:
    """The four attributes of CAdES-BES (RFC 5652 §11.1-11.3, RFC 5035); returns the signing time."""
    if CONTENT_TIME_STAMP_OID in by_type:
        raise CadesError("a content-time-stamp is forbidden by the tax service's profile")
    content_type = _one_value(by_type, "1.2.840.113549.1.9.3", "content-type")
    if content_type.native != "data":
        raise CadesError("signed content-type attribute must be id-data")
    digest = _one_value(by_type, "1.2.840.113549.1.9.4", "message-digest").native
    if digest != gost34311(content):
        raise CadesError("message digest does not match the content")
    signing_time: datetime = _one_value(by_type, "1.2.840.113549.1.9.5", "signing-time").native
    _check_signing_certificate(
        _one_value(by_type, SIGNING_CERTIFICATE_V2_OID, "signing-certificate-v2"), cert
    )
    if not cert.not_before <= signing_time <= cert.not_after:
        raise CadesError("signing time is outside the certificate's validity")
    return signing_time


def _check_signature(signer: cms.SignerInfo, cert: DstuCertificate) -> None:
    # RFC 5652 §5.4/§5.6: the signature covers the attributes as they were sent, re-tagged from
    # [0] IMPLICIT to SET.
    raw_sig = signer["signature"].native
    if len(raw_sig) != 2 * cert.curve.n_byte_len:
        raise CadesError(
            f"ДСТУ 4145 signature must be {2 * cert.curve.n_byte_len} bytes, found {len(raw_sig)}"
        )
    to_verify = b"\x31" + signer["signed_attrs"].dump()[1:]
    if not verify_digest(cert.curve, cert.public_key, gost34311(to_verify), Signature.from_bytes(raw_sig)):
        raise CadesError("the signature does not verify")


def _signature_time_stamp(signer: cms.SignerInfo) -> bytes | None:
    # CAdES-T: the signature-time-stamp is an unsigned attribute, passed on unverified (see verify_cades).
    token = None
    for attr in signer["unsigned_attrs"] or []:
        if attr["type"].dotted == SIGNATURE_TIME_STAMP_OID:
            token = bytes(attr["values"][0].dump())
    return token


class DstuSigner:
    """The Signer protocol over a raw ДСТУ 4145 key and its certificate (no key container handling)."""

    def __init__(
        self,
        curve: Curve,
        d: int,
        certificate_der: bytes,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        cert = parse_certificate(certificate_der)
        _check_key(curve, d, cert)
        self._curve = curve
        self._d = d
        self._cert = cert
        self._clock = clock
        curve.precompute()

    def __repr__(self) -> str:
        # Never show d.
        return f"DstuSigner(subject_key_id={self.subject_key_id!r}, subject_name={self.subject_name!r})"

    @property
    def subject_key_id(self) -> str:
        return self._cert.subject_key_id.hex()

    @property
    def subject_name(self) -> str:
        return self._cert.common_name

    @property
    def certificate(self) -> DstuCertificate:
        return self._cert

    def sign(self, data: bytes, *, time_stamper: TimeStamper | None = None) -> bytes:
        # The key was checked against the certificate once, in __init__.
        return _sign(data, self._curve, self._d, self._cert, self._clock(), None, time_stamper)
