"""RFC 3161 time-stamp client for the signature-time-stamp of online documents (reference §1.3).

The stamp covers the signature value (SignerInfo.signature's contents, r ‖ s), so it is fetched
after signing: ``DstuSigner.sign(data, time_stamper=client.stamp)``.

Failures split the box's usual way.  A TSP that cannot be reached, times out or answers 5xx is a
RetryLater (the document is not lost: it can be made offline, where no stamp is needed).  A TSP that
refuses, or whose token does not hold, is a TimeStampError (NeedsPerson): asking again would get
the same answer, and a document with a bad stamp would be refused by the tax service anyway.

The token's ДСТУ 4145 signature is verified against the certificate inside it; the chain up to a
trusted root is not (the tax service does that, and the box holds no trust anchors).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar

import httpx
from asn1crypto import cms, core, tsp, x509

from agent.secr.errors import ServerTimeout, ServerUnavailable, ServerUnreachable, SignerError

from .dstu.cades import GOST34311_OID, SIGNING_CERTIFICATE_V2_OID, CadesError, _check_signing_certificate
from .dstu.certificate import CertificateError, DstuCertificate, parse_certificate
from .dstu.curve import DSTU4145_LE_OID
from .dstu.dstu4145 import Signature, verify_digest
from .dstu.gost89 import gost34311

__all__ = [
    "ID_AD_TIME_STAMPING",
    "ID_CT_TST_INFO",
    "SUBJECT_INFO_ACCESS_OID",
    "TIME_STAMP_QUERY",
    "TIME_STAMP_REPLY",
    "TimeStamp",
    "TimeStampClient",
    "TimeStampError",
    "TimeStampResp",
    "build_request",
    "parse_response",
    "tsp_url_from_certificate",
    "verify_time_stamp_token",
]

ID_CT_TST_INFO = "1.2.840.113549.1.9.16.1.4"
SUBJECT_INFO_ACCESS_OID = "1.3.6.1.5.5.7.1.11"
ID_AD_TIME_STAMPING = "1.3.6.1.5.5.7.48.3"
TIME_STAMP_QUERY = "application/timestamp-query"
TIME_STAMP_REPLY = "application/timestamp-reply"
_SIGNING_CERTIFICATE_OID = "1.2.840.113549.1.9.16.2.12"
_CONTENT_TYPE_OID = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST_OID = "1.2.840.113549.1.9.4"
_RETRY = "the box retries; the document is kept (an online one may be made offline, without a stamp)"


class TimeStampResp(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    # asn1crypto's own makes the token mandatory, so it can neither build nor read a refusal.
    _fields: ClassVar[list[Any]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TimeStampError(SignerError):
    """The TSP refused to stamp, or its token does not hold; ``message`` names the problem."""

    code = "time_stamp_error"


@dataclass(frozen=True)
class TimeStamp:
    token: bytes  # the TimeStampToken (ContentInfo) DER, as it goes into the unsigned attribute
    gen_time: datetime
    serial_number: int
    policy: str
    nonce: int | None
    certificate: DstuCertificate | None  # the TSA's, when the token carries it and it is ДСТУ 4145
    signature_verified: bool  # False only for a TSA that does not sign with ДСТУ 4145


def build_request(data: bytes, nonce: int) -> bytes:
    """A TimeStampReq for ГОСТ 34.311 of ``data``, asking for the TSA's certificate."""
    return bytes(
        tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": GOST34311_OID},
                    "hashed_message": gost34311(data),
                },
                "nonce": nonce,
                # Without its certificate the token could not be checked here.
                "cert_req": True,
            }
        ).dump()
    )


def parse_response(response_der: bytes, *, imprint: bytes, nonce: int | None) -> TimeStamp:
    """Check a TimeStampResp: granted, and a token over ``imprint`` with ``nonce``; raise TimeStampError."""
    try:
        resp = TimeStampResp.load(response_der, strict=True)
        info = resp["status"]
        status = info["status"].native
    except Exception as exc:  # asn1crypto raises many types on malformed input
        raise TimeStampError(f"the TSP's reply is not a TimeStampResp: {exc}") from exc
    if status not in ("granted", "granted_with_mods"):
        raise TimeStampError(_refusal(info), what_to_do="check the TSP address and the signer's certificate")
    token = resp["time_stamp_token"]
    # Not .native: that would parse the TSA certificate's key, which asn1crypto cannot.
    if isinstance(token, core.Void):
        raise TimeStampError(f"the TSP answered {status} without a time-stamp token")
    return verify_time_stamp_token(bytes(token.dump()), imprint=imprint, nonce=nonce)


def _refusal(info: tsp.PKIStatusInfo) -> str:
    try:
        status = info["status"].native
        fail = sorted(str(bit) for bit in info["fail_info"].native or ()) if info["fail_info"].native else []
        text = "; ".join(str(t) for t in info["status_string"].native or ())
    except Exception:  # a refusal that cannot even be decoded is still a refusal
        return "the TSP refused to stamp (its status could not be decoded)"
    message = f"the TSP refused to stamp: PKIStatus {status}"
    if fail:
        message += f", failInfo {', '.join(fail)}"
    if text:
        message += f" ({text})"
    return message


def verify_time_stamp_token(token_der: bytes, *, imprint: bytes, nonce: int | None) -> TimeStamp:
    """The token is a SignedData over a TSTInfo for ``imprint`` (and ``nonce``), signed by the TSA it carries."""
    try:
        return _verify_token(token_der, imprint, nonce)
    except TimeStampError:
        raise
    except (CadesError, CertificateError) as exc:
        raise TimeStampError(f"the time-stamp token is invalid: {exc}") from exc
    except Exception as exc:  # asn1crypto raises many types on malformed input
        raise TimeStampError(f"the time-stamp token is malformed: {exc}") from exc


def _bad(problem: str) -> TimeStampError:
    return TimeStampError(f"the time-stamp token is invalid: {problem}")


def _verify_token(token_der: bytes, imprint: bytes, nonce: int | None) -> TimeStamp:
    # RFC 3161 §2.4.2: a SignedData over a TSTInfo, checked against the request (§2.4.2 fields), then
    # the signer as RFC 5652 (§5.3, §11 attributes, §5.4/§5.6 signature) with the signing-certificate
    # of RFC 3161 §2.4.1 (ESSCertID) or RFC 5816 (ESSCertIDv2).
    signed, tst_der = _tst_info_content(token_der)
    tst = _check_tst_info(tsp.TSTInfo.load(tst_der, strict=True), imprint, nonce)
    gen_time: datetime = tst["gen_time"].native
    signer, tsa_cert = _tsa_signer(signed)
    attrs = _token_attributes(signer)
    if signer["signature_algorithm"]["algorithm"].dotted != DSTU4145_LE_OID:
        # A foreign algorithm cannot be checked here; the tax service checks the stamp in any case.
        return _time_stamp(token_der, tst, None)
    cert = parse_certificate(bytes(tsa_cert.dump()))
    _check_dstu_signer(signer, attrs, tst_der, cert, gen_time)
    return _time_stamp(token_der, tst, cert)


def _tst_info_content(token_der: bytes) -> tuple[cms.SignedData, bytes]:
    """The token's SignedData and the DER of the TSTInfo it encapsulates (RFC 3161 §2.4.2)."""
    info = cms.ContentInfo.load(token_der, strict=True)
    if info["content_type"].native != "signed_data":
        raise _bad("not a CMS SignedData")
    signed = info["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].dotted != ID_CT_TST_INFO:
        raise _bad(f"content type must be id-ct-TSTInfo, not {encap['content_type'].dotted}")
    if isinstance(encap["content"], core.Void):
        raise _bad("the TSTInfo is missing")
    return signed, bytes(encap["content"])


def _check_tst_info(tst: tsp.TSTInfo, imprint: bytes, nonce: int | None) -> tsp.TSTInfo:
    # RFC 3161 §2.4.2: version 1, the imprint of what was sent, the nonce of the request.
    if tst["version"].native != "v1":
        raise _bad(f"TSTInfo version must be 1, not {tst['version'].native}")
    mi = tst["message_imprint"]
    if mi["hash_algorithm"]["algorithm"].dotted != GOST34311_OID:
        raise _bad(f"message imprint must use ГОСТ 34.311, not {mi['hash_algorithm']['algorithm'].dotted}")
    if mi["hashed_message"].native != imprint:
        raise _bad("the message imprint is not the hash of what was sent")
    token_nonce = tst["nonce"].native
    if nonce is not None and token_nonce != nonce:
        # A replayed or misrouted answer: it stamps something, but not our request.
        raise _bad("the nonce is not the one sent")
    return tst


def _tsa_signer(signed: cms.SignedData) -> tuple[cms.SignerInfo, x509.Certificate]:
    """The one signer and its certificate, which the token must carry (we ask for it: certReq)."""
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise _bad(f"exactly one signer required, found {len(signers)}")
    signer = signers[0]
    certs = [c.chosen for c in signed["certificates"] or [] if c.name == "certificate"]
    tsa_cert = _signer_certificate(signer["sid"], certs)
    if tsa_cert is None:
        raise _bad("the TSA's certificate is not inside the token")
    return signer, tsa_cert


def _token_attributes(signer: cms.SignerInfo) -> dict[str, list[core.Asn1Value]]:
    """The signed attributes by type, with the content-type and message-digest RFC 5652 §11 requires."""
    attrs: dict[str, list[core.Asn1Value]] = {}
    for attr in signer["signed_attrs"]:
        oid = attr["type"].dotted
        if oid in attrs:
            raise _bad(f"signed attribute {oid} occurs twice")
        attrs[oid] = list(attr["values"])
    if not attrs:
        raise _bad("the signer has no signed attributes")
    content_type = attrs.get(_CONTENT_TYPE_OID)
    if content_type is None or len(content_type) != 1 or content_type[0].dotted != ID_CT_TST_INFO:
        raise _bad("signed content-type attribute must be id-ct-TSTInfo")
    digest = attrs.get(_MESSAGE_DIGEST_OID)
    if digest is None or len(digest) != 1:
        raise _bad("signed message-digest attribute is missing")
    return attrs


def _check_dstu_signer(
    signer: cms.SignerInfo,
    attrs: dict[str, list[core.Asn1Value]],
    tst_der: bytes,
    cert: DstuCertificate,
    gen_time: datetime,
) -> None:
    if signer["digest_algorithm"]["algorithm"].dotted != GOST34311_OID:
        raise _bad("a ДСТУ 4145 signer must digest with ГОСТ 34.311")
    if attrs[_MESSAGE_DIGEST_OID][0].native != gost34311(tst_der):
        raise _bad("message digest does not match the TSTInfo")
    _check_tsa_certificate_attribute(attrs, cert)
    if not cert.not_before <= gen_time <= cert.not_after:
        raise _bad("genTime is outside the TSA certificate's validity")
    raw_sig = signer["signature"].native
    if len(raw_sig) != 2 * cert.curve.n_byte_len:
        raise _bad(f"ДСТУ 4145 signature must be {2 * cert.curve.n_byte_len} bytes, found {len(raw_sig)}")
    # As in cades: the signature covers the attributes as sent, re-tagged from [0] IMPLICIT to SET.
    to_verify = b"\x31" + signer["signed_attrs"].dump()[1:]
    if not verify_digest(cert.curve, cert.public_key, gost34311(to_verify), Signature.from_bytes(raw_sig)):
        raise _bad("the TSA's signature does not verify")


def _check_tsa_certificate_attribute(attrs: dict[str, list[core.Asn1Value]], cert: DstuCertificate) -> None:
    # RFC 5816 signing-certificate-v2 when present, else RFC 3161 §2.4.1's SHA-1 ESSCertID.
    if SIGNING_CERTIFICATE_V2_OID in attrs:
        _check_signing_certificate(attrs[SIGNING_CERTIFICATE_V2_OID][0], cert)
    elif _SIGNING_CERTIFICATE_OID in attrs:
        first = tsp.SigningCertificate.load(attrs[_SIGNING_CERTIFICATE_OID][0].dump())["certs"][0]
        if first["cert_hash"].native != hashlib.sha1(cert.der).digest():
            raise _bad("signing-certificate does not match the TSA's certificate")


def _time_stamp(token_der: bytes, tst: tsp.TSTInfo, cert: DstuCertificate | None) -> TimeStamp:
    return TimeStamp(
        token=token_der,
        gen_time=tst["gen_time"].native,
        serial_number=tst["serial_number"].native,
        policy=tst["policy"].dotted,
        nonce=tst["nonce"].native,
        certificate=cert,
        signature_verified=cert is not None,
    )


def _signer_certificate(sid: cms.SignerIdentifier, certs: list[x509.Certificate]) -> x509.Certificate | None:
    for cert in certs:
        tbs = cert["tbs_certificate"]
        if sid.name == "issuer_and_serial_number":
            if (
                sid.chosen["serial_number"].native == tbs["serial_number"].native
                and sid.chosen["issuer"] == tbs["issuer"]
            ):
                return cert
        else:
            for ext in tbs["extensions"] or []:
                # Only this extension is parsed: see certificate._subject_key_id.
                if (
                    ext["extn_id"].dotted == "2.5.29.14"
                    and ext["extn_value"].parsed.native == sid.chosen.native
                ):
                    return cert
    return None


class TimeStampClient:
    """Fetches signature-time-stamps from one TSP over HTTP; ``stamp`` fits ``DstuSigner.sign(time_stamper=…)``."""

    def __init__(
        self, url: str, *, timeout_s: float = 10, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout_s, transport=transport)

    def __repr__(self) -> str:
        return f"TimeStampClient({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TimeStampClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def stamp(self, signature_value: bytes) -> bytes:
        """The TimeStampToken DER over ГОСТ 34.311 of ``signature_value``."""
        return self.request(signature_value).token

    def request(self, data: bytes) -> TimeStamp:
        # 63 bits keep the INTEGER positive in eight bytes; any TSA echoes that back intact.
        nonce = secrets.randbits(63) | 1
        body = build_request(data, nonce)
        try:
            response = self._http.post(self.url, content=body, headers={"Content-Type": TIME_STAMP_QUERY})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            unreachable = ServerUnreachable(
                f"the time-stamp server (TSP) is unreachable at {self.url}: {exc or type(exc).__name__}",
                what_to_do=_RETRY,
            )
            unreachable.request_sent = False
            raise unreachable from exc
        except httpx.TimeoutException as exc:
            timeout = ServerTimeout(
                f"the time-stamp server (TSP) at {self.url} did not answer in time ({type(exc).__name__})",
                what_to_do=_RETRY,
            )
            # Only the TSP saw the request; the fiscal server has seen nothing of this document.
            timeout.request_sent = False
            raise timeout from exc
        except (httpx.TransportError, OSError) as exc:
            lost = ServerUnreachable(
                f"the time-stamp server (TSP) is unreachable at {self.url}: {exc or type(exc).__name__}",
                what_to_do=_RETRY,
            )
            lost.request_sent = False
            raise lost from exc
        if response.status_code >= 500:
            unavailable = ServerUnavailable(
                f"the time-stamp server (TSP) at {self.url} is unavailable: HTTP {response.status_code}",
                http_status=response.status_code,
                what_to_do=_RETRY,
            )
            unavailable.request_sent = False
            raise unavailable
        if response.status_code != 200:
            raise TimeStampError(
                f"the time-stamp server (TSP) at {self.url} refused the request: HTTP {response.status_code}",
                what_to_do="check the TSP address",
            )
        return parse_response(response.content, imprint=gost34311(data), nonce=nonce)


def tsp_url_from_certificate(cert_der: bytes) -> str | None:
    """The TSP address a Ukrainian qualified certificate names (subjectInfoAccess, id-ad-timeStamping).

    None when the certificate names none; ValueError when the bytes are not a certificate.
    """
    try:
        cert = x509.Certificate.load(cert_der)
        extensions = list(cert["tbs_certificate"]["extensions"] or [])
    except Exception as exc:  # asn1crypto raises many types on malformed input
        raise ValueError(f"not an X.509 certificate: {exc}") from exc
    for ext in extensions:
        if ext["extn_id"].dotted != SUBJECT_INFO_ACCESS_OID:
            continue
        try:
            descriptions = list(ext["extn_value"].parsed)
        except Exception:  # a malformed extension names no usable address
            return None
        for description in descriptions:
            location = description["access_location"]
            if description["access_method"].dotted == ID_AD_TIME_STAMPING and (
                location.name == "uniform_resource_identifier"
            ):
                url = str(location.native)
                if url.lower().startswith(("http://", "https://")):
                    return url
    return None
