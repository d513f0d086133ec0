"""ДСТУ 4145 CAdES-BES signatures (§1.3): certificates, envelope structure, tampering, jkurwa interop.

jkurwa test data used (tests/js/node_modules/jkurwa/test/data, jkurwa 1.21):

* ``message.p7`` — attached SignedData of b"123" made by jkurwa's test/test-sign.js
  ("should serialize to asn1 buffer") with key PRIV1.cer and certificate SELF_SIGNED1.cer,
  signing time 1540236305;
* ``message_detached.p7`` — the same signature without the content (must be refused);
* ``SELF_SIGNED1.cer`` (m = 257, self-signed by jkurwa), ``CZOROOT.cer`` (the Central Certification
  Authority's real root, m = 431), ``CA-Justice.cer`` and ``SFS_1.cer`` (real CA certificates).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import cms, core, tsp, x509

from agent.secr.signing.base import Signer
from agent.secr.signing.cms import CmsError
from agent.secr.signing.dstu import certificate as dstu_cert
from agent.secr.signing.dstu.cades import (
    GOST34311_OID,
    SIGNATURE_TIME_STAMP_OID,
    SIGNING_CERTIFICATE_V2_OID,
    CadesError,
    DstuSigner,
    sign_cades,
    verify_cades,
)
from agent.secr.signing.dstu.certificate import (
    CertificateError,
    key_identifier,
    make_self_signed,
    parse_certificate,
    verify_self_signed,
)
from agent.secr.signing.dstu.curve import DSTU4145_LE_OID, Curve, curve_by_m
from agent.secr.signing.dstu.dstu4145 import public_key, sign_digest
from agent.secr.signing.dstu.gost89 import gost34311
from tests.node_peer import JS_DIR, run_peer

JK_DATA = JS_DIR / "node_modules" / "jkurwa" / "test" / "data"
C257 = curve_by_m(257)
RNG = random.Random(34311)
D = RNG.randrange(1, C257.n)
NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2030, 1, 1, tzinfo=UTC)
WHEN = datetime(2026, 11, 25, 12, 30, 15, tzinfo=UTC)
CONTENT = "<CHECK><CHECKHEAD><DOCTYPE>0</DOCTYPE></CHECKHEAD></CHECK>".encode("cp1251") * 3


@pytest.fixture(scope="module")
def cert_der() -> bytes:
    return make_self_signed(
        C257,
        D,
        common_name="Тестовий Касир Іваненко",
        organization="ФОП Тест",
        serial_number=0x1234567890ABCDEF,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )


@pytest.fixture(scope="module")
def signed(cert_der: bytes) -> bytes:
    return sign_cades(CONTENT, curve=C257, d=D, certificate_der=cert_der, signing_time=WHEN)


def _jk_file(name: str) -> bytes:
    path = JK_DATA / name
    if not path.exists():
        pytest.skip(f"jkurwa test data {name} not installed (tests/js/node_modules/jkurwa)")
    return path.read_bytes()


# --- certificates ------------------------------------------------------------------------------


def test_self_signed_certificate_parses_back(cert_der: bytes) -> None:
    cert = parse_certificate(cert_der)
    assert cert.curve is C257
    assert cert.public_key == public_key(C257, D)
    assert cert.common_name == "Тестовий Касир Іваненко"
    assert cert.subject_key_id == key_identifier(C257, cert.public_key)
    assert cert.serial_number == 0x1234567890ABCDEF
    assert (cert.not_before, cert.not_after) == (NOT_BEFORE, NOT_AFTER)
    assert verify_self_signed(cert)


def test_self_signed_certificate_structure(cert_der: bytes) -> None:
    cert = x509.Certificate.load(cert_der)
    assert cert["signature_algorithm"]["algorithm"].dotted == DSTU4145_LE_OID
    assert cert["tbs_certificate"]["signature"]["algorithm"].dotted == DSTU4145_LE_OID
    spki = cert["tbs_certificate"]["subject_public_key_info"].dump()
    params = core.Sequence.load(spki)[0][1]
    assert params[0].dotted == "1.2.804.2.1.1.1.1.3.1.1.2.6"  # DSTU_PB_257 by name
    assert cert.key_identifier == parse_certificate(cert_der).subject_key_id
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    # The certificate's own signature is an OCTET STRING of r ‖ s inside the BIT STRING.
    assert cert["signature_value"].contents[1:3] == b"\x04\x40"


def test_certificate_signature_breaks_when_tbs_changes(cert_der: bytes) -> None:
    ours = make_self_signed(
        C257, D, common_name="Інший", serial_number=1, not_before=NOT_BEFORE, not_after=NOT_AFTER
    )
    # Splice the other certificate's signature onto ours: the key is the same, the TBS is not.
    mixed = cert_der[: -(64 + 2 + 3)] + ours[-(64 + 2 + 3) :]
    assert mixed != cert_der
    assert not verify_self_signed(parse_certificate(mixed))


@pytest.mark.parametrize(
    ("name", "m", "self_signed", "cn"),
    [
        ("SELF_SIGNED1.cer", 257, True, ""),
        ("CZOROOT.cer", 431, True, "Центральний засвідчувальний орган"),
        ("CA-Justice.cer", 257, False, "АЦСК органів юстиції України"),
        ("SFS_1.cer", 257, False, "Державна фіскальна служба України.  ОТРИМАНО"),
    ],
)
def test_jkurwa_and_real_certificates(name: str, m: int, self_signed: bool, cn: str) -> None:
    cert = parse_certificate(_jk_file(name))
    assert cert.curve.m == m
    assert cert.common_name == cn
    # Real CAs compute the key identifier the same way jkurwa does; this pins our key encoding.
    assert cert.subject_key_id == key_identifier(cert.curve, cert.public_key)
    assert verify_self_signed(cert) is self_signed


def test_explicit_curve_parameters() -> None:
    # A domain spelled out instead of named; with a non-standard base point it is a curve of its own.
    base2 = C257.mul(2, C257.base)
    assert base2 is not None
    d = RNG.randrange(1, C257.n)
    alt = Curve(name="alt", m=257, ks=(12,), a=0, b=C257.b, base=base2, n=C257.n, cofactor=4)
    q = public_key(alt, d)
    pub = dstu_cert.der_octet_string(dstu_cert.encode_public_key(alt, q))

    def spki(base: tuple[int, int]) -> bytes:
        explicit = dstu_cert._EcBinary(
            {
                "f": {"m": 257, "poly": dstu_cert._Polynomial({"trinomial": 12})},
                "a": 0,
                "b": C257.b.to_bytes(33, "little"),
                "n": C257.n,
                "bp": C257.compress(base).to_bytes(33, "little"),
            }
        )
        params = dstu_cert._DstuParams({"curve": dstu_cert._CurveChoice({"explicit": explicit})})
        return bytes(
            dstu_cert._PublicKeyInfo(
                {
                    "algorithm": {"algorithm": DSTU4145_LE_OID, "parameters": core.Any.load(params.dump())},
                    "public_key": pub,
                }
            ).dump()
        )

    curve, point = dstu_cert._curve_and_key(spki(base2))
    assert curve.base == base2 and curve.n == C257.n and curve.cofactor == 4
    assert point == q
    named, _ = dstu_cert._curve_and_key(spki(C257.base))
    assert named is C257  # the standard curve spelled out maps back to the named one


def test_not_a_certificate_is_refused() -> None:
    with pytest.raises(CertificateError):
        parse_certificate(b"\x30\x03\x02\x01\x00")


# --- CAdES round trip and structure ------------------------------------------------------------


def test_round_trip(signed: bytes, cert_der: bytes) -> None:
    v = verify_cades(signed)
    assert v.content == CONTENT
    assert v.certificate.der == cert_der
    assert v.subject_key_id == parse_certificate(cert_der).subject_key_id.hex()
    assert v.signing_time == WHEN
    assert v.time_stamp_token is None


@pytest.mark.parametrize("content", [b"", b"x", bytes(range(256)) * 20])
def test_round_trip_sizes(content: bytes, cert_der: bytes) -> None:
    der = sign_cades(content, curve=C257, d=D, certificate_der=cert_der, signing_time=WHEN)
    assert verify_cades(der).content == content


def test_exact_attributes_and_oids(signed: bytes, cert_der: bytes) -> None:
    info = cms.ContentInfo.load(signed, strict=True)
    assert info["content_type"].dotted == "1.2.840.113549.1.7.2"
    sd = info["content"]
    assert sd["version"].native == "v1"
    assert [a["algorithm"].dotted for a in sd["digest_algorithms"]] == [GOST34311_OID]
    assert sd["encap_content_info"]["content_type"].dotted == "1.2.840.113549.1.7.1"
    assert sd["encap_content_info"]["content"].native == CONTENT
    assert len(sd["certificates"]) == 1
    assert sd["certificates"][0].chosen.dump() == cert_der
    assert sd["crls"].native is None
    (si,) = sd["signer_infos"]
    assert si["version"].native == "v1"
    assert si["sid"].name == "issuer_and_serial_number"
    assert si["sid"].chosen["serial_number"].native == 0x1234567890ABCDEF
    assert si["digest_algorithm"].dump() == bytes.fromhex("300c060a2a862402010101010201")  # no parameters
    assert si["signature_algorithm"].dump() == bytes.fromhex("300d060b2a86240201010101030101")
    assert len(si["signature"].native) == 64  # r ‖ s, no inner OCTET STRING
    assert si["unsigned_attrs"].native is None
    attrs = {a["type"].dotted: a["values"] for a in si["signed_attrs"]}
    assert set(attrs) == {
        "1.2.840.113549.1.9.3",
        "1.2.840.113549.1.9.4",
        "1.2.840.113549.1.9.5",
        SIGNING_CERTIFICATE_V2_OID,
    }
    assert all(len(v) == 1 for v in attrs.values())
    assert attrs["1.2.840.113549.1.9.3"][0].dotted == "1.2.840.113549.1.7.1"
    assert attrs["1.2.840.113549.1.9.4"][0].native == gost34311(CONTENT)
    time_value = attrs["1.2.840.113549.1.9.5"][0]
    assert time_value.name == "utc_time" and time_value.chosen.dump()[0] == 0x17
    assert time_value.native == WHEN
    ess = tsp.SigningCertificateV2.load(attrs[SIGNING_CERTIFICATE_V2_OID][0].dump())
    (cert_id,) = ess["certs"]
    assert cert_id["hash_algorithm"]["algorithm"].dotted == GOST34311_OID
    assert cert_id["cert_hash"].native == gost34311(cert_der)
    issuer = x509.Certificate.load(cert_der).issuer
    assert cert_id["issuer_serial"]["issuer"][0].chosen == issuer
    assert cert_id["issuer_serial"]["serial_number"].native == 0x1234567890ABCDEF
    # DER: the SET OF attributes is sorted by encoding (jkurwa re-encodes in the order it reads).
    encoded = [a.dump() for a in si["signed_attrs"]]
    assert encoded == sorted(encoded)


def test_signer_protocol(cert_der: bytes) -> None:
    signer: Signer = DstuSigner(C257, D, cert_der, clock=lambda: WHEN)
    assert signer.subject_name == "Тестовий Касир Іваненко"
    assert signer.subject_key_id == parse_certificate(cert_der).subject_key_id.hex()
    v = verify_cades(signer.sign(b"document"))
    assert (v.content, v.subject_key_id, v.signing_time) == (b"document", signer.subject_key_id, WHEN)
    assert str(D) not in repr(signer) and format(D, "x") not in repr(signer)


def test_wrong_key_is_refused(cert_der: bytes) -> None:
    with pytest.raises(ValueError, match="does not match"):
        DstuSigner(C257, D + 1, cert_der)
    with pytest.raises(ValueError, match="does not match"):
        sign_cades(b"x", curve=C257, d=D + 1, certificate_der=cert_der, signing_time=WHEN)
    with pytest.raises(ValueError):
        sign_cades(b"x", curve=curve_by_m(431), d=D, certificate_der=cert_der, signing_time=WHEN)
    with pytest.raises(ValueError, match="timezone"):
        sign_cades(b"x", curve=C257, d=D, certificate_der=cert_der, signing_time=datetime(2026, 1, 1))


def test_time_stamp_token_passthrough(cert_der: bytes) -> None:
    # Any ContentInfo stands in for a TimeStampToken: this module only carries it.
    token = _jk_file("message.p7")
    der = sign_cades(
        CONTENT, curve=C257, d=D, certificate_der=cert_der, signing_time=WHEN, time_stamp_token=token
    )
    si = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    (attr,) = si["unsigned_attrs"]
    assert attr["type"].dotted == SIGNATURE_TIME_STAMP_OID
    v = verify_cades(der)
    assert v.time_stamp_token == token and v.content == CONTENT


# --- tampering -----------------------------------------------------------------------------------


def _flip_positions(der: bytes, part: bytes, count: int) -> list[int]:
    start = der.index(part)
    bits = range(8 * start, 8 * (start + len(part)))
    return sorted(random.Random(len(part)).sample(bits, min(count, len(bits))))


@pytest.mark.parametrize("region", ["content", "signature", "certificate", "signed attributes"])
def test_flipped_bit_is_rejected(region: str, signed: bytes, cert_der: bytes) -> None:
    si = cms.ContentInfo.load(signed)["content"]["signer_infos"][0]
    part = {
        "content": CONTENT,
        "signature": si["signature"].native,
        "certificate": cert_der,
        "signed attributes": si["signed_attrs"].contents,
    }[region]
    assert signed.count(part) == 1
    for bit in _flip_positions(signed, part, 40):
        tampered = bytearray(signed)
        tampered[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(CadesError):
            verify_cades(bytes(tampered))


def _rebuild(der: bytes, mutate: Callable[[Any, Any], None], *, resign: bool = True) -> bytes:
    """Change the parsed envelope, then (by default) sign the signed attributes again with D."""
    info = cms.ContentInfo.load(der)
    sd = info["content"]
    si = sd["signer_infos"][0]
    mutate(sd, si)
    if resign:
        attrs = cms.CMSAttributes.load(b"\x31" + si["signed_attrs"].dump()[1:])
        si["signature"] = sign_digest(C257, D, gost34311(attrs.dump())).to_bytes(C257)
    return bytes(info.dump())


def _set_attr(si: Any, oid: str, value: Any) -> None:
    attrs = [a for a in si["signed_attrs"] if a["type"].dotted != oid]
    if value is not None:
        attrs.append(cms.CMSAttribute({"type": oid, "values": [value]}))
    si["signed_attrs"] = cms.CMSAttributes(attrs)


def _ess(hash_alg: str, cert_hash: bytes) -> Any:
    return tsp.SigningCertificateV2(
        {"certs": [{"hash_algorithm": {"algorithm": hash_alg}, "cert_hash": cert_hash}]}
    )


def test_rebuild_helper_keeps_valid_envelopes_valid(signed: bytes) -> None:
    assert verify_cades(_rebuild(signed, lambda sd, si: None)).content == CONTENT


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda sd, si: si.__setitem__("signature", bytes(64)), "signature does not verify"),
        (lambda sd, si: si.__setitem__("signature", bytes(66)), "64 bytes"),
        (lambda sd, si: sd["encap_content_info"].__setitem__("content", None), "detached"),
        (lambda sd, si: sd.__setitem__("certificates", None), "certificate is not inside"),
        (lambda sd, si: sd.__setitem__("signer_infos", [si, si]), "exactly one signer"),
        (lambda sd, si: si["digest_algorithm"].__setitem__("algorithm", "sha256"), "ГОСТ 34.311"),
        (
            lambda sd, si: si["signature_algorithm"].__setitem__("algorithm", "1.2.804.2.1.1.1.1.3.1.1.1.1"),
            "LE",
        ),
    ],
)
def test_structural_faults_without_resigning(
    mutate: Callable[[Any, Any], None], message: str, signed: bytes
) -> None:
    with pytest.raises(CadesError, match=message):
        verify_cades(_rebuild(signed, mutate, resign=False))


def test_extra_certificate_is_refused(signed: bytes) -> None:
    other = make_self_signed(
        C257, D, common_name="CA", serial_number=7, not_before=NOT_BEFORE, not_after=NOT_AFTER
    )

    def add(sd: Any, si: Any) -> None:
        sd["certificates"] = [
            sd["certificates"][0],
            cms.CertificateChoices({"certificate": x509.Certificate.load(other)}),
        ]

    with pytest.raises(CadesError, match="no other"):
        verify_cades(_rebuild(signed, add, resign=False))


@pytest.mark.parametrize(
    ("oid", "value", "message"),
    [
        ("1.2.840.113549.1.9.4", core.OctetString(bytes(32)), "message digest does not match"),
        ("1.2.840.113549.1.9.4", None, "message-digest is missing"),
        ("1.2.840.113549.1.9.5", None, "signing-time is missing"),
        ("1.2.840.113549.1.9.5", cms.Time({"utc_time": datetime(2031, 1, 1, tzinfo=UTC)}), "validity"),
        ("1.2.840.113549.1.9.3", None, "content-type is missing"),
        (SIGNING_CERTIFICATE_V2_OID, None, "signing-certificate-v2 is missing"),
        (SIGNING_CERTIFICATE_V2_OID, _ess(GOST34311_OID, bytes(32)), "does not match the signer"),
        (SIGNING_CERTIFICATE_V2_OID, "sha256", "ГОСТ 34.311"),
        ("1.2.840.113549.1.9.16.2.20", core.OctetString(b"token"), "content-time-stamp is forbidden"),
    ],
)
def test_bad_signed_attributes_even_when_signed(
    oid: str, value: Any, message: str, signed: bytes, cert_der: bytes
) -> None:
    if value == "sha256":
        value = _ess("sha256", gost34311(cert_der))  # right hash, wrong (default) algorithm name
    with pytest.raises(CadesError, match=message):
        verify_cades(_rebuild(signed, lambda sd, si: _set_attr(si, oid, value)))


def test_other_signers_certificate_is_refused(signed: bytes) -> None:
    # The whole certificate swapped for another key's: the sid, the hash and the key all disagree.
    other = make_self_signed(
        C257, D + 1, common_name="Тестовий Касир Іваненко", serial_number=0x1234567890ABCDEF,
        not_before=NOT_BEFORE, not_after=NOT_AFTER, organization="ФОП Тест",
    )  # fmt: skip

    def swap(sd: Any, si: Any) -> None:
        sd["certificates"] = [cms.CertificateChoices({"certificate": x509.Certificate.load(other)})]

    with pytest.raises(CadesError, match="signing-certificate-v2"):
        verify_cades(_rebuild(signed, swap, resign=False))


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30\x00",
        bytes(cms.ContentInfo({"content_type": "data", "content": b"hi"}).dump()),
    ],
)
def test_not_signed_data(der: bytes) -> None:
    with pytest.raises(CadesError):
        verify_cades(der)


def test_trailing_garbage_is_refused(signed: bytes) -> None:
    with pytest.raises(CadesError):
        verify_cades(signed + b"\x00")


def test_errors_are_cms_errors() -> None:
    assert issubclass(CadesError, CmsError)


# --- jkurwa test data -------------------------------------------------------------------------------


def test_verifies_jkurwa_message_p7() -> None:
    v = verify_cades(_jk_file("message.p7"))
    assert v.content == b"123"
    assert v.signing_time == datetime.fromtimestamp(1540236305, UTC)
    assert v.certificate.der == _jk_file("SELF_SIGNED1.cer")


def test_refuses_jkurwa_detached_message() -> None:
    with pytest.raises(CadesError, match="detached"):
        verify_cades(_jk_file("message_detached.p7"))


# --- cross-verification with jkurwa under Node -------------------------------------------------------


def _peer(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return run_peer("cades_peer.js", requests)


def test_jkurwa_verifies_ours(cert_der: bytes) -> None:
    contents = [b"", b"123", CONTENT, bytes(range(256)) * 20]
    messages = [sign_cades(c, curve=C257, d=D, certificate_der=cert_der, signing_time=WHEN) for c in contents]
    tampered = bytearray(messages[2])
    tampered[tampered.index(CONTENT) + 5] ^= 1
    answers = _peer([{"op": "verify", "cms": m.hex()} for m in [*messages, bytes(tampered)]])
    for content, answer in zip(contents, answers, strict=False):
        assert answer["ok"] is True, answer
        assert bytes.fromhex(answer["content"]) == content
        assert answer["signing_time"] == int(WHEN.timestamp())
    assert answers[-1]["ok"] is False


@pytest.mark.parametrize("region", ["content", "signature", "certificate's key", "signed attributes"])
def test_jkurwa_rejects_a_flipped_bit_too(region: str, signed: bytes, cert_der: bytes) -> None:
    """The same tampering the test above gives our verifier, given to jkurwa (10 flips per region).

    Elsewhere in the certificate jkurwa accepts a flipped bit: it does not bind the certificate through
    signing-certificate-v2 (see the next test); ours refuses every one of them (above)."""
    si = cms.ContentInfo.load(signed)["content"]["signer_infos"][0]
    cert = parse_certificate(cert_der)
    part = {
        "content": CONTENT,
        "signature": si["signature"].native,
        "certificate's key": dstu_cert.encode_public_key(cert.curve, cert.public_key),
        "signed attributes": si["signed_attrs"].contents,
    }[region]
    tampered = []
    for bit in _flip_positions(signed, part, 10):
        copy = bytearray(signed)
        copy[bit // 8] ^= 0x80 >> (bit % 8)
        tampered.append(bytes(copy))
    answers = _peer([{"op": "verify", "cms": m.hex()} for m in [signed, *tampered]])
    assert answers[0]["ok"] is True, answers[0]
    assert [a["ok"] for a in answers[1:]] == [False] * len(tampered), answers


def test_jkurwa_does_not_check_the_certificate_hash(signed: bytes, cert_der: bytes) -> None:
    """A known limit of the peer, recorded so a change in it shows: a flipped bit in the certificate's
    subject name passes jkurwa, while our verifier refuses it (signing-certificate-v2 mismatch)."""
    name = "Тестовий Касир Іваненко".encode()
    tampered = bytearray(signed)
    tampered[signed.index(name) + 2] ^= 1
    with pytest.raises(CadesError):
        verify_cades(bytes(tampered))
    assert _peer([{"op": "verify", "cms": bytes(tampered).hex()}])[0]["ok"] is True


def test_jkurwa_verifies_our_signer_with_time_stamp(cert_der: bytes) -> None:
    signer = DstuSigner(C257, D, cert_der, clock=lambda: WHEN)
    with_token = sign_cades(
        b"t",
        curve=C257,
        d=D,
        certificate_der=cert_der,
        signing_time=WHEN,
        time_stamp_token=_jk_file("message.p7"),
    )
    answers = _peer(
        [{"op": "verify", "cms": signer.sign(b"doc").hex()}, {"op": "verify", "cms": with_token.hex()}]
    )
    assert [a["ok"] for a in answers] == [True, True]


def test_we_verify_jkurwa_signed_with_our_key_and_certificate(cert_der: bytes) -> None:
    when = int((WHEN + timedelta(days=1)).timestamp())
    contents = [b"123", CONTENT, bytes(range(256)) * 20]
    answers = _peer(
        [
            {
                "op": "sign",
                "curve": "DSTU_PB_257",
                "d": format(D, "x"),
                "cert": cert_der.hex(),
                "data": c.hex(),
                "time": when,
            }
            for c in contents
        ]
    )
    for content, answer in zip(contents, answers, strict=True):
        v = verify_cades(bytes.fromhex(answer["cms"]))
        assert v.content == content
        assert v.certificate.der == cert_der
        assert v.signing_time == datetime.fromtimestamp(when, UTC)


def test_jkurwa_accepts_our_certificate(cert_der: bytes) -> None:
    (answer,) = _peer([{"op": "cert", "cert": cert_der.hex(), "time": int(WHEN.timestamp())}])
    cert = parse_certificate(cert_der)
    assert answer["self_signed_ok"] is True
    assert bytes.fromhex(answer["ski"]) == cert.subject_key_id == bytes.fromhex(answer["keyid"])
    assert bytes.fromhex(answer["pub"]) == dstu_cert.encode_public_key(C257, cert.public_key)
