"""A small RFC 3161 time-stamp authority for tests and the demo (POST /tsa on the emulator).

It stamps the way the Ukrainian qualified TSPs do, closely enough for the box and jkurwa to check:
ГОСТ 34.311 imprints only, a SignedData over id-ct-TSTInfo with one ДСТУ 4145 signer, signed
attributes content-type, message-digest and signing-certificate-v2, and the TSA's certificate
(self-signed, extendedKeyUsage timeStamping) when the request asks for it.  It trusts nothing and
keeps no log of what it stamped.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import cms, tsp, x509

from agent.secr.signing.dstu.cades import GOST34311_OID
from agent.secr.signing.dstu.certificate import _Certificate, make_self_signed, parse_certificate
from agent.secr.signing.dstu.curve import DSTU4145_LE_OID, Curve
from agent.secr.signing.dstu.dstu4145 import sign_digest
from agent.secr.signing.dstu.gost89 import gost34311
from agent.secr.signing.dstu.identity import identity_from_file
from agent.secr.signing.tsp import TimeStampResp

__all__ = ["DEFAULT_POLICY", "TimeStampAuthority", "authority_from_file", "with_extensions"]

#: The policy OID of the Ukrainian qualified time-stamp (ДСТУ 4145 / ГОСТ 34.311 profile).
DEFAULT_POLICY = "1.2.804.2.1.1.1.2.3.1"
_ID_KP_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"


def with_extensions(curve: Curve, d: int, certificate_der: bytes, extensions: list[dict[str, Any]]) -> bytes:
    """``certificate_der`` (self-signed with ``d``) with ``extensions`` appended and signed again.

    make_self_signed issues a signer's certificate; a TSA's needs extendedKeyUsage, and tests need
    certificates with a subjectInfoAccess, so both start from it rather than duplicate it.
    """
    cert = _Certificate.load(certificate_der)
    tbs = cert["tbs_certificate"].copy()
    tbs["extensions"] = x509.Extensions([*tbs["extensions"], *[x509.Extension(e) for e in extensions]])
    sig = sign_digest(curve, d, gost34311(tbs.dump(force=True)))
    resigned = _Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": cert["signature_algorithm"],
            "signature_value": sig.to_octet_string(curve),
        }
    )
    return bytes(resigned.dump(force=True))


def _tsa_certificate(curve: Curve, d: int, common_name: str) -> bytes:
    now = datetime.now(UTC)
    base = make_self_signed(
        curve,
        d,
        common_name=common_name,
        organization="Емулятор",
        serial_number=secrets.randbits(63),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=3650),
    )
    # RFC 3161 §2.3: a TSA's certificate has exactly one, critical, extendedKeyUsage: timeStamping.
    eku = {"extn_id": "extended_key_usage", "critical": True, "extn_value": [_ID_KP_TIME_STAMPING]}
    return with_extensions(curve, d, base, [eku])


class TimeStampAuthority:
    def __init__(
        self,
        curve: Curve,
        d: int,
        certificate_der: bytes,
        *,
        policy: str = DEFAULT_POLICY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._curve = curve
        self._d = d
        self._cert = parse_certificate(certificate_der)
        self._policy = policy
        self._clock = clock
        tbs = self._cert.x509["tbs_certificate"]
        self._sid = cms.SignerIdentifier(
            {"issuer_and_serial_number": {"issuer": tbs["issuer"], "serial_number": self._cert.serial_number}}
        )
        ess_cert_id = {
            "hash_algorithm": {"algorithm": GOST34311_OID},
            "cert_hash": gost34311(self._cert.der),
            "issuer_serial": {
                "issuer": [x509.GeneralName({"directory_name": tbs["issuer"]})],
                "serial_number": self._cert.serial_number,
            },
        }
        self._signing_certificate = {"type": "signing_certificate_v2", "values": [{"certs": [ess_cert_id]}]}
        curve.precompute()

    @property
    def certificate_der(self) -> bytes:
        return self._cert.der

    def respond(self, request_der: bytes) -> bytes:
        """A TimeStampResp (DER): granted with a token, or a rejection naming what is wrong."""
        try:
            req = tsp.TimeStampReq.load(request_der, strict=True)
            version = req["version"].native
            imprint = req["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].dotted
            hashed = imprint["hashed_message"].native
            policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            has_extensions = req["extensions"].native is not None
        except Exception as exc:  # asn1crypto raises many types on malformed input
            return _rejection("bad_request", f"not a TimeStampReq: {exc}")
        if version != "v1":
            return _rejection("bad_request", f"version must be 1, not {version}")
        if algorithm != GOST34311_OID:
            return _rejection("bad_alg", f"only ГОСТ 34.311 ({GOST34311_OID}) imprints, not {algorithm}")
        if len(hashed) != 32:
            return _rejection("bad_data_format", f"a ГОСТ 34.311 imprint is 32 bytes, not {len(hashed)}")
        if policy is not None and policy != self._policy:
            return _rejection("unaccepted_policy", f"this TSA stamps under {self._policy} only")
        if has_extensions:
            return _rejection("unaccepted_extensions", "no request extensions are supported")
        token = self._token(imprint, nonce, cert_req)
        return bytes(TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump())

    def _token(self, imprint: tsp.MessageImprint, nonce: int | None, cert_req: bool) -> cms.ContentInfo:
        tst: dict[str, Any] = {
            "version": "v1",
            "policy": self._policy,
            "message_imprint": imprint,
            # Random rather than counted: unique without state that would have to survive restarts.
            "serial_number": secrets.randbits(63),
            "gen_time": self._clock().astimezone(UTC).replace(microsecond=0),
            "accuracy": {"seconds": 1},
        }
        if nonce is not None:
            tst["nonce"] = nonce
        tst_info = tsp.TSTInfo(tst)
        tst_der = tst_info.dump()
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [gost34311(tst_der)]},
                self._signing_certificate,
            ]
        )
        # The signature covers the attributes as a SET, not as their [0] IMPLICIT form in SignerInfo.
        signature = sign_digest(self._curve, self._d, gost34311(b"\x31" + signed_attrs.dump()[1:]))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": self._sid,
                "digest_algorithm": {"algorithm": GOST34311_OID},
                "signed_attrs": signed_attrs,
                "signature_algorithm": {"algorithm": DSTU4145_LE_OID},
                "signature": signature.to_bytes(self._curve),
            }
        )
        signed_data: dict[str, Any] = {
            # RFC 5652 §5.1: version 3 whenever the encapsulated content is not id-data.
            "version": "v3",
            "digest_algorithms": [{"algorithm": GOST34311_OID}],
            "encap_content_info": {"content_type": "tst_info", "content": tst_info},
            "signer_infos": [signer],
        }
        if cert_req:
            signed_data["certificates"] = [cms.CertificateChoices({"certificate": self._cert.x509})]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


def _rejection(fail_info: str, text: str) -> bytes:
    status = {"status": "rejection", "status_string": [text], "fail_info": {fail_info}}
    return bytes(TimeStampResp({"status": status}).dump())


_CACHE: dict[Path, TimeStampAuthority] = {}
_CACHE_LOCK = threading.Lock()


def authority_from_file(
    path: str | os.PathLike[str], common_name: str = "Емулятор TSP", *, m: int = 257
) -> TimeStampAuthority:
    """The TSA whose key and certificate live in ``path`` (mode 0600, created on first use).

    Kept as identity.identity_from_file keeps keys.  Loaded once per path: curve tables and
    certificate parsing are not repeated for every stamp, and two first requests cannot race.
    """
    path = Path(path).resolve()
    with _CACHE_LOCK:
        cached = _CACHE.get(path)
        if cached is not None:
            return cached
        authority = TimeStampAuthority(
            *identity_from_file(path, common_name, m=m, make_certificate=_tsa_certificate)
        )
        if len(_CACHE) > 32:  # one per emulator state dir; tests make many
            _CACHE.clear()
        _CACHE[path] = authority
        return authority
