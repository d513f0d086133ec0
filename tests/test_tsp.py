"""RFC 3161 signature-time-stamps (§1.3): the client, the emulator's TSA, CAdES-T, and jkurwa's view of them."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import cms, tsp, x509

from agent.emulator import Emulator
from agent.emulator.tsa import DEFAULT_POLICY, TimeStampAuthority, authority_from_file, with_extensions
from agent.secr.errors import NeedsPerson, RetryLater, ServerTimeout, ServerUnavailable, ServerUnreachable
from agent.secr.signing.dstu.cades import (
    GOST34311_OID,
    SIGNATURE_TIME_STAMP_OID,
    DstuSigner,
    sign_cades,
    verify_cades,
)
from agent.secr.signing.dstu.certificate import make_self_signed
from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.gost89 import gost34311
from agent.secr.signing.tsp import (
    ID_CT_TST_INFO,
    TimeStampClient,
    TimeStampError,
    TimeStampResp,
    build_request,
    parse_response,
    tsp_url_from_certificate,
    verify_time_stamp_token,
)

JS_DIR = Path(__file__).parent / "js"
JK_DATA = JS_DIR / "node_modules" / "jkurwa" / "test" / "data"
C257 = curve_by_m(257)
RNG = random.Random(3161)
D = RNG.randrange(1, C257.n)
NOW = datetime.now(UTC).replace(microsecond=0)
SIGNATURE_VALUE = bytes(RNG.randrange(256) for _ in range(64))


@pytest.fixture(scope="module")
def cert_der() -> bytes:
    return make_self_signed(
        C257,
        D,
        common_name="Тестовий Касир",
        serial_number=0x3161,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=365),
    )


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TimeStampAuthority:
    return authority_from_file(tmp_path_factory.mktemp("tsa") / "tsa-dstu.json")


@pytest.fixture()
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "emulator") as emu:
        yield emu


class Recording(httpx.BaseTransport):
    """Real HTTP, keeping what went out and what came back."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[bytes] = []
        self.replies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.read())
        response = self.inner.handle_request(request)
        body = response.read()
        self.replies.append(body)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def _answering(answer: Callable[[bytes], bytes], status: int = 200) -> TimeStampClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=answer(request.read()))

    return TimeStampClient("http://tsa.test/", transport=httpx.MockTransport(handler))


def _tst(token: bytes) -> tsp.TSTInfo:
    encap = cms.ContentInfo.load(token)["content"]["encap_content_info"]
    assert encap["content_type"].dotted == ID_CT_TST_INFO
    return tsp.TSTInfo.load(bytes(encap["content"]))


def _fault(emu: Emulator, **fault: Any) -> None:
    httpx.post(f"{emu.url}/emulator/fault", json=fault).raise_for_status()


# --- over HTTP with the emulator ---------------------------------------------------------------------


def test_stamp_over_http(emulator: Emulator) -> None:
    recording = Recording()
    with TimeStampClient(emulator.tsa_url, transport=recording) as client:
        stamp = client.request(SIGNATURE_VALUE)
    (sent,) = recording.requests
    req = tsp.TimeStampReq.load(sent)
    assert req["version"].native == "v1" and req["cert_req"].native is True
    assert req["message_imprint"]["hash_algorithm"]["algorithm"].dotted == GOST34311_OID
    assert req["message_imprint"]["hashed_message"].native == gost34311(SIGNATURE_VALUE)
    tst = _tst(stamp.token)
    assert tst["message_imprint"]["hashed_message"].native == gost34311(SIGNATURE_VALUE)
    assert tst["nonce"].native == req["nonce"].native == stamp.nonce
    assert tst["policy"].dotted == DEFAULT_POLICY == stamp.policy
    assert stamp.signature_verified and stamp.certificate is not None
    assert abs(stamp.gen_time - datetime.now(UTC)) < timedelta(minutes=1)
    # The token is exactly what the reply carried, ready for the unsigned attribute.
    assert TimeStampResp.load(recording.replies[0])["time_stamp_token"].dump() == stamp.token
    # A fresh nonce each time: an old answer cannot be replayed for a new request.
    with TimeStampClient(emulator.tsa_url) as client:
        assert client.request(SIGNATURE_VALUE).nonce != stamp.nonce


def test_emulator_tsa_identity_persists(tmp_path: Path) -> None:
    with Emulator(tmp_path / "emu") as emu, TimeStampClient(emu.tsa_url) as client:
        first = client.request(b"a").certificate
    path = tmp_path / "emu" / "tsa-dstu.json"
    assert path.stat().st_mode & 0o777 == 0o600
    with Emulator(tmp_path / "emu") as emu, TimeStampClient(emu.tsa_url) as client:
        second = client.request(b"b").certificate
    assert first is not None and second is not None and first.der == second.der


def test_emulator_tsa_refuses_other_content_types_and_methods(emulator: Emulator) -> None:
    body = build_request(b"x", 1)
    assert (
        httpx.post(emulator.tsa_url, content=body, headers={"Content-Type": "text/plain"}).status_code == 415
    )
    assert httpx.get(emulator.tsa_url).status_code == 405
    reply = httpx.post(
        emulator.tsa_url, content=body, headers={"Content-Type": "application/timestamp-query"}
    )
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/timestamp-reply"


def test_cades_with_time_stamper(emulator: Emulator, cert_der: bytes) -> None:
    signer = DstuSigner(C257, D, cert_der)
    with TimeStampClient(emulator.tsa_url) as client:
        der = signer.sign(b"<CHECK/>", time_stamper=client.stamp)
        der2 = sign_cades(
            b"doc", curve=C257, d=D, certificate_der=cert_der, signing_time=NOW, time_stamper=client.stamp
        )
    for signed, content in ((der, b"<CHECK/>"), (der2, b"doc")):
        verified = verify_cades(signed)
        assert verified.content == content and verified.time_stamp_token is not None
        si = cms.ContentInfo.load(signed)["content"]["signer_infos"][0]
        (attr,) = si["unsigned_attrs"]
        assert attr["type"].dotted == SIGNATURE_TIME_STAMP_OID
        assert "1.2.840.113549.1.9.16.2.20" not in [a["type"].dotted for a in si["signed_attrs"]]
        signature_value = si["signature"].native
        tst = _tst(verified.time_stamp_token)
        assert tst["message_imprint"]["hashed_message"].native == gost34311(signature_value)
        verify_time_stamp_token(verified.time_stamp_token, imprint=gost34311(signature_value), nonce=None)


def test_time_stamper_sees_the_signature_and_its_failure_propagates(cert_der: bytes) -> None:
    seen: list[bytes] = []

    def stamper(value: bytes) -> bytes:
        seen.append(value)
        raise ServerUnreachable("the time-stamp server (TSP) is unreachable")

    with pytest.raises(RetryLater):
        DstuSigner(C257, D, cert_der).sign(b"x", time_stamper=stamper)
    assert len(seen) == 1 and len(seen[0]) == 2 * C257.n_byte_len
    with pytest.raises(ValueError, match="either"):
        sign_cades(
            b"x",
            curve=C257,
            d=D,
            certificate_der=cert_der,
            signing_time=NOW,
            time_stamp_token=b"0",
            time_stamper=stamper,
        )


# --- the TSP out of reach is "retry later" -----------------------------------------------------------


@pytest.mark.parametrize(("mode", "kind"), [("down", ServerUnreachable), ("error500", ServerUnavailable)])
def test_tsa_fault_is_retry_later(emulator: Emulator, mode: str, kind: type[RetryLater]) -> None:
    _fault(emulator, mode=mode, count=1)
    with TimeStampClient(emulator.tsa_url) as client, pytest.raises(kind) as caught:
        client.stamp(SIGNATURE_VALUE)
    assert "TSP" in caught.value.message and caught.value.request_sent is False
    # The count belongs to /fs requests: stamping did not use it up.
    assert emulator.fault() == {"mode": mode, "delay_s": None, "count": 1}


def test_tsa_slow_is_a_timeout(emulator: Emulator) -> None:
    _fault(emulator, mode="slow", delay_s=5)
    with TimeStampClient(emulator.tsa_url, timeout_s=0.3) as client, pytest.raises(ServerTimeout) as caught:
        client.stamp(SIGNATURE_VALUE)
    assert "TSP" in caught.value.message


def test_nothing_listening_is_retry_later() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        TimeStampClient(f"http://127.0.0.1:{port}/tsa") as client,
        pytest.raises(ServerUnreachable) as caught,
    ):
        client.stamp(SIGNATURE_VALUE)
    assert "unreachable" in caught.value.message


# --- refusals and bad tokens need a person -----------------------------------------------------------


def _rewrite_nonce(authority: TimeStampAuthority) -> Callable[[bytes], bytes]:
    def answer(request: bytes) -> bytes:
        req = tsp.TimeStampReq.load(request)
        data_imprint = req["message_imprint"]["hashed_message"].native
        other = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": GOST34311_OID},
                    "hashed_message": data_imprint,
                },
                "nonce": req["nonce"].native + 1,
                "cert_req": True,
            }
        )
        return authority.respond(other.dump())

    return answer


def test_wrong_nonce_is_refused(authority: TimeStampAuthority) -> None:
    with _answering(_rewrite_nonce(authority)) as client, pytest.raises(TimeStampError, match="nonce"):
        client.stamp(SIGNATURE_VALUE)


def test_stamp_of_something_else_is_refused(authority: TimeStampAuthority) -> None:
    def answer(request: bytes) -> bytes:
        nonce = tsp.TimeStampReq.load(request)["nonce"].native
        return authority.respond(build_request(b"something else", nonce))

    with _answering(answer) as client, pytest.raises(TimeStampError, match="imprint"):
        client.stamp(SIGNATURE_VALUE)


def _flip_positions(der: bytes, part: bytes, count: int) -> list[int]:
    start = der.index(part)
    bits = range(8 * start, 8 * (start + len(part)))
    return sorted(random.Random(len(part)).sample(bits, min(count, len(bits))))


@pytest.mark.parametrize("region", ["tst info", "signature", "signed attributes", "certificate"])
def test_tampered_token_is_refused(authority: TimeStampAuthority, region: str) -> None:
    nonce = 0x1234
    reply = authority.respond(build_request(SIGNATURE_VALUE, nonce))
    token = TimeStampResp.load(reply)["time_stamp_token"]
    si = token["content"]["signer_infos"][0]
    part = {
        "tst info": bytes(token["content"]["encap_content_info"]["content"]),
        "signature": si["signature"].native,
        "signed attributes": si["signed_attrs"].contents,
        "certificate": authority.certificate_der,
    }[region]
    assert reply.count(part) == 1
    parse_response(reply, imprint=gost34311(SIGNATURE_VALUE), nonce=nonce)
    for bit in _flip_positions(reply, part, 24):
        tampered = bytearray(reply)
        tampered[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(TimeStampError) as caught:
            parse_response(bytes(tampered), imprint=gost34311(SIGNATURE_VALUE), nonce=nonce)
        assert isinstance(caught.value, NeedsPerson)


def test_tampered_token_over_the_wire(authority: TimeStampAuthority) -> None:
    def answer(request: bytes) -> bytes:
        reply = bytearray(authority.respond(request))
        reply[-5] ^= 0x01  # inside the certificate's signature, the last thing in the token
        return bytes(reply)

    with _answering(answer) as client, pytest.raises(TimeStampError):
        client.stamp(SIGNATURE_VALUE)


def test_refusal_names_status_and_fail_info(authority: TimeStampAuthority) -> None:
    with (
        _answering(lambda request: authority.respond(request[:-3])) as client,
        pytest.raises(TimeStampError, match=r"rejection.*bad_request"),
    ):
        client.stamp(SIGNATURE_VALUE)
    sha256_req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": bytes(32)},
        }
    ).dump()
    with pytest.raises(TimeStampError, match="bad_alg"):
        parse_response(authority.respond(sha256_req), imprint=bytes(32), nonce=None)


@pytest.mark.parametrize(("status", "body"), [(404, b"no"), (200, b"not DER"), (200, b"")])
def test_nonsense_replies_are_refused(status: int, body: bytes) -> None:
    with _answering(lambda request: body, status=status) as client, pytest.raises(TimeStampError):
        client.stamp(SIGNATURE_VALUE)


# --- where the TSP is --------------------------------------------------------------------------------


def test_tsp_url_from_certificate(cert_der: bytes) -> None:
    sia = {
        "extn_id": "subject_information_access",
        "critical": False,
        "extn_value": [
            {
                "access_method": "ca_repository",
                "access_location": {"uniform_resource_identifier": "http://ca/"},
            },
            {
                "access_method": "time_stamping",
                "access_location": {"uniform_resource_identifier": "http://acsk.example/services/tsp/"},
            },
        ],
    }
    with_sia = with_extensions(C257, D, cert_der, [sia])
    assert tsp_url_from_certificate(with_sia) == "http://acsk.example/services/tsp/"
    assert tsp_url_from_certificate(cert_der) is None
    with pytest.raises(ValueError):
        tsp_url_from_certificate(b"not a certificate")


@pytest.mark.parametrize(
    ("name", "url"),
    [("SFS_1.cer", "http://acskidd.gov.ua/services/tsp/"), ("CZOROOT.cer", None), ("CA-Justice.cer", None)],
)
def test_tsp_url_from_real_certificates(name: str, url: str | None) -> None:
    path = JK_DATA / name
    if not path.exists():
        pytest.skip(f"jkurwa test data {name} not installed (tests/js/node_modules/jkurwa)")
    assert tsp_url_from_certificate(path.read_bytes()) == url


def test_tsa_certificate_is_for_time_stamping(authority: TimeStampAuthority) -> None:
    cert = x509.Certificate.load(authority.certificate_der)
    (eku,) = [e for e in cert["tbs_certificate"]["extensions"] if e["extn_id"].native == "extended_key_usage"]
    assert eku["critical"].native is True and eku["extn_value"].parsed.native == ["time_stamping"]


# --- jkurwa under Node -------------------------------------------------------------------------------

_JKURWA_VERIFY = r"""
const gost89 = require("gost89");
const Message = require("jkurwa/lib/models/Message");
const Certificate = require("jkurwa/lib/models/Certificate");
const algo = gost89.compat.algos();
const req = JSON.parse(require("fs").readFileSync(0, "utf8"));
const msg = new Message(Buffer.from(req.cms, "hex"));
const tsa = Certificate.from_asn1(Buffer.from(req.tsa, "hex"));
tsa.trusted = true;
const out = { plain: msg.verify(algo.hash) };
try {
  out.with_tsp = msg.verify(algo.hash, () => null, () => tsa, { tsp: "signature" });
  out.token_time = Math.floor(Number(msg.tokenTime) / 1000);
} catch (e) {
  out.error = String(e && e.stack || e);
}
process.stdout.write(JSON.stringify(out));
"""


def test_jkurwa_verifies_cades_with_our_time_stamp(emulator: Emulator, cert_der: bytes) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: jkurwa cross-checks need Node.js")
    if not (JS_DIR / "node_modules" / "jkurwa").is_dir() or not (JS_DIR / "node_modules" / "gost89").is_dir():
        pytest.skip("jkurwa/gost89 not installed: run `npm ci` in tests/js")
    with TimeStampClient(emulator.tsa_url) as client:
        stamp: list[Any] = []

        def stamper(value: bytes) -> bytes:
            stamp.append(client.request(value))
            return bytes(stamp[0].token)

        der = DstuSigner(C257, D, cert_der).sign(b"<CHECK/>", time_stamper=stamper)
    tsa_der = stamp[0].certificate.der

    def run(cms_der: bytes) -> dict[str, Any]:
        proc = subprocess.run(
            [node, "-e", _JKURWA_VERIFY],
            input=json.dumps({"cms": cms_der.hex(), "tsa": tsa_der.hex()}),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd=JS_DIR,
            env={**os.environ, "NODE_PATH": str(JS_DIR / "node_modules")},
        )
        answer: dict[str, Any] = json.loads(proc.stdout)
        return answer

    answer = run(der)
    assert answer["plain"] is True and answer.get("with_tsp") is True, answer
    assert answer["token_time"] == int(stamp[0].gen_time.timestamp())
    # jkurwa checks the imprint against the signature: a token for another signature fails there.
    with TimeStampClient(emulator.tsa_url) as client:
        other = DstuSigner(C257, D, cert_der).sign(
            b"<CHECK/>", time_stamper=lambda value: client.stamp(value[::-1])
        )
    answer = run(other)
    assert answer["plain"] is True and answer.get("with_tsp") is False, answer
