"""The hand-assembled CAdES envelope is byte for byte what asn1crypto builds from the same parts.

The reference builder below is the one the signer used before its encoding was done by hand (for speed);
the signature itself is pinned so both runs sign the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asn1crypto import cms, tsp, x509

import agent.secr.signing.dstu.cades as cades
from agent.secr.signing.dstu.cades import GOST34311_OID, SIGNATURE_TIME_STAMP_OID
from agent.secr.signing.dstu.certificate import DstuCertificate, parse_certificate
from agent.secr.signing.dstu.curve import DSTU4145_LE_OID, Curve, curve_by_m
from agent.secr.signing.dstu.dstu4145 import Signature
from agent.secr.signing.dstu.gost89 import gost34311
from agent.secr.signing.dstu.identity import self_signed_identity

assert tsp  # registers signing-certificate-v2 with asn1crypto

PINNED = Signature(r=0x1234567890ABCDEF, s=0xFEDCBA0987654321)


def reference(
    content: bytes, curve: Curve, cert: DstuCertificate, when: datetime, token: bytes | None
) -> bytes:
    tbs = cert.x509["tbs_certificate"]
    ess_cert_id = {
        "hash_algorithm": {"algorithm": GOST34311_OID},
        "cert_hash": gost34311(cert.der),
        "issuer_serial": {
            "issuer": [x509.GeneralName({"directory_name": tbs["issuer"]})],
            "serial_number": cert.serial_number,
        },
    }
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["data"]},
            {"type": "message_digest", "values": [gost34311(content)]},
            {"type": "signing_time", "values": [cms.Time({"utc_time": when})]},
            {"type": "signing_certificate_v2", "values": [{"certs": [ess_cert_id]}]},
        ]
    )
    signer: dict[str, object] = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            {"issuer_and_serial_number": {"issuer": tbs["issuer"], "serial_number": cert.serial_number}}
        ),
        "digest_algorithm": {"algorithm": GOST34311_OID},
        "signed_attrs": attrs,
        "signature_algorithm": {"algorithm": DSTU4145_LE_OID},
        "signature": PINNED.to_bytes(curve),
    }
    if token is not None:
        signer["unsigned_attrs"] = [
            {"type": SIGNATURE_TIME_STAMP_OID, "values": [cms.ContentInfo.load(token, strict=True)]}
        ]
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": GOST34311_OID}],
            "encap_content_info": {"content_type": "data", "content": content},
            "certificates": [cms.CertificateChoices({"certificate": cert.x509})],
            "signer_infos": [cms.SignerInfo(signer)],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


@pytest.mark.parametrize("size", [0, 3, 5245, 70_000])
@pytest.mark.parametrize("with_token", [False, True])
def test_same_bytes_as_asn1crypto(monkeypatch: pytest.MonkeyPatch, size: int, with_token: bool) -> None:
    monkeypatch.setattr(cades, "sign_digest", lambda curve, d, digest, e=None: PINNED)
    curve = curve_by_m(257)
    d, cert_der = self_signed_identity("Тест")
    cert = parse_certificate(cert_der)
    when = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    token = (
        cms.ContentInfo({"content_type": "data", "content": b"a time-stamp token"}).dump()
        if with_token
        else None
    )
    ours = cades.sign_cades(
        content, curve=curve, d=d, certificate_der=cert_der, signing_time=when, time_stamp_token=token
    )
    assert ours == reference(content, curve, cert, when, token)
