"""ДСТУ 4145 key containers (agent/secr/signing/dstu/keystore.py) against jkurwa's test data and jkurwa itself.

jkurwa test data used (tests/js/node_modules/jkurwa/test/data, jkurwa 1.21):

* unencrypted PKCS#8 keys with the certificates jkurwa's test/test-box.js and test-sign.js pair
  them with: ``Key40A0.cer`` (DER, m = 257) ↔ ``SELF_SIGNED_ENC_40A0.cer``, ``Key40A0.pem`` (its
  PEM), ``Key6929.cer`` ↔ ``SELF_SIGNED_ENC_6929.cer``, ``KeyE54B.cer`` (m = 431, d ≥ n as
  stored) ↔ ``SELF_SIGNED_ENC_E54B.cer``, ``PRIV1.cer`` ↔ ``SELF_SIGNED1.cer``.  The ".cer"
  names are jkurwa's; the files are private keys.  The certificates are valid 2017-07-14 …
  2023-11-14, so signers built from them get a clock inside that window;
* PBES2 containers ``STORE_A040.dat`` and ``STORE_A040.pem``, password "password" (test/test-store.js,
  "should decrypt raw key from PBES2"), holding the Key40A0 key.

jkurwa ships no IIT ``Key-6.dat``, PKCS#12 or .jks: the Key-6.dat tests build one the way IIT
does (KDF vector from gost89's test/test-util.js, "123123") and check that jkurwa reads it.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.secr.signing.dstu import keystore as ks
from agent.secr.signing.dstu.cades import verify_cades
from agent.secr.signing.dstu.certificate import _CurveChoice, _DstuParams, make_self_signed, parse_certificate
from agent.secr.signing.dstu.curve import Curve, curve_by_m
from agent.secr.signing.dstu.gost89 import DKE1_SBOX, Gost28147
from tests.node_peer import JS_DIR, run_peer

JK_DATA = JS_DIR / "node_modules" / "jkurwa" / "test" / "data"
C257 = curve_by_m(257)
C431 = curve_by_m(431)
RNG = random.Random(28147)
IN_JKURWA_VALIDITY = datetime(2020, 6, 1, 12, 0, tzinfo=UTC)
PAIRS = [
    ("Key40A0.cer", "SELF_SIGNED_ENC_40A0.cer"),
    ("Key40A0.pem", "SELF_SIGNED_ENC_40A0.cer"),
    ("Key6929.cer", "SELF_SIGNED_ENC_6929.cer"),
    ("KeyE54B.cer", "SELF_SIGNED_ENC_E54B.cer"),
    ("PRIV1.cer", "SELF_SIGNED1.cer"),
]


@pytest.fixture(autouse=True, scope="module")
def _memoized_kdfs() -> Iterator[None]:
    # Each password → key derivation costs 1–2.5 s in pure Python; the tests reuse a few passwords
    # and salts many times, and only the first derivation of each tells anything new.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ks, "iit_kdf", functools.cache(ks.iit_kdf))
        mp.setattr(ks, "pbkdf2_gost34311", functools.cache(ks.pbkdf2_gost34311))
        yield


def _jk_path(name: str) -> Path:
    path = JK_DATA / name
    if not path.exists():
        pytest.skip(f"jkurwa test data {name} not installed (run `npm ci` in tests/js)")
    return path


def _jk_file(name: str) -> bytes:
    return _jk_path(name).read_bytes()


def _at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _jkurwa_read(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return run_peer("keystore_peer.js", requests)


def _iit_store(plain: bytes, password: bytes, *, mac: bytes | None = None) -> bytes:
    """A Key-6.dat as IIT writes it: ECB over the zero-padded key, the padding's ciphertext kept apart."""
    cipher = Gost28147(ks.iit_kdf(password))
    padded = plain + bytes(-len(plain) % 8)
    ct = cipher.encrypt_ecb(padded)
    store = ks._IitStore(
        {
            "algorithm": {
                "algorithm": ks.IIT_STORE_OID,
                "parameters": {
                    "mac": mac if mac is not None else cipher.mac(plain, 4),
                    "pad": ct[len(plain) :],
                },
            },
            "data": ct[: len(plain)],
        }
    )
    return bytes(store.dump())


def _with_second_key(first: ks.PrivateKey, second: ks.PrivateKey) -> bytes:
    """PKCS#8 of ``first`` carrying ``second`` in IIT's key-agreement attributes."""
    info = ks._PrivateKeyInfo.load(ks.encode_pkcs8(first))
    curve = second.curve
    assert curve.oid is not None
    params = _DstuParams({"curve": _CurveChoice({"named": curve.oid}), "dke": DKE1_SBOX})
    d_be = second.d.to_bytes(curve.byte_len, "big")
    # jkurwa's BIG_INVERT, inverted: the bit string is d with its bits in reverse order.
    bits = ks._reverse_bits(d_be).to_bytes(len(d_be), "big")
    info["attributes"] = [
        {"type": ks.IIT_KEY_BITS_OID, "values": [core.Any.load(core.OctetBitString(bits).dump())]},
        {"type": ks.IIT_KEY_CURVE_OID, "values": [core.Any.load(params.dump())]},
    ]
    return bytes(info.dump(force=True))


def _generated(curve: Curve) -> ks.PrivateKey:
    return ks.PrivateKey(curve, RNG.randrange(1, curve.n))


# --- PKCS#8 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key_name", "cert_name"), PAIRS)
def test_jkurwa_pkcs8_keys_match_their_certificates(key_name: str, cert_name: str) -> None:
    keys = ks.load_keys(_jk_file(key_name))
    cert = parse_certificate(_jk_file(cert_name))
    assert len(keys) == 1
    assert keys[0].key_id == cert.subject_key_id
    assert keys[0].matches(cert)


def test_jkurwa_pkcs8_keys_match_what_jkurwa_computes() -> None:
    names = [key for key, _ in PAIRS]
    answers = _jkurwa_read([{"op": "read", "data": _jk_file(n).hex()} for n in names])
    for name, answer in zip(names, answers, strict=True):
        assert answer == {"keyids": [k.key_id.hex() for k in ks.load_keys(_jk_file(name))]}, name


def test_encode_pkcs8_is_byte_exact_with_jkurwa() -> None:
    for name in ("Key40A0.cer", "Key6929.cer", "PRIV1.cer"):
        der = _jk_file(name)
        assert ks.encode_pkcs8(ks.parse_pkcs8(der)[0]) == der, name
    pem = ks.encode_pkcs8(ks.parse_pkcs8(_jk_file("Key40A0.pem"))[0], pem=True)
    assert pem.strip() == _jk_file("Key40A0.pem").strip()


@pytest.mark.parametrize("curve", [C257, C431], ids=lambda c: c.name)
def test_generated_key_round_trips(curve: Curve) -> None:
    key = _generated(curve)
    der = ks.encode_pkcs8(key)
    pem = ks.encode_pkcs8(key, pem=True)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    for blob in (der, pem):
        (back,) = ks.load_keys(blob)
        assert (back.curve, back.d) == (curve, key.d)


def _named_curve_pkcs8(key: ks.PrivateKey) -> bytes:
    info = ks._PrivateKeyInfo.load(ks.encode_pkcs8(key))
    assert C257.oid is not None
    named = _DstuParams({"curve": _CurveChoice({"named": C257.oid}), "dke": DKE1_SBOX})
    info["algorithm"] = {
        "algorithm": info["algorithm"]["algorithm"].dotted,
        "parameters": core.Any.load(named.dump()),
    }
    return bytes(info.dump(force=True))


def test_named_curve_pkcs8() -> None:
    key = _generated(C257)
    (back,) = ks.parse_pkcs8(_named_curve_pkcs8(key))
    assert back.curve is C257 and back.d == key.d


def test_second_key_in_attributes_is_returned_too() -> None:
    sign_key, dh_key = _generated(C257), _generated(C431)
    der = _with_second_key(sign_key, dh_key)
    keys = ks.parse_pkcs8(der)
    assert [(k.curve, k.d) for k in keys] == [(C257, sign_key.d), (C431, dh_key.d)]


def test_jkurwa_reads_the_keys_we_write() -> None:
    k257, k431, sign_key, dh_key = (_generated(c) for c in (C257, C431, C257, C431))
    blobs = [
        (ks.encode_pkcs8(k257), [k257]),
        (ks.encode_pkcs8(k431, pem=True), [k431]),
        (_named_curve_pkcs8(k257), [k257]),
        (_with_second_key(sign_key, dh_key), [sign_key, dh_key]),
    ]
    answers = _jkurwa_read([{"op": "read", "data": blob.hex()} for blob, _ in blobs])
    assert answers == [{"keyids": [k.key_id.hex() for k in keys]} for _, keys in blobs]


def test_private_key_repr_hides_d() -> None:
    key = _generated(C257)
    assert str(key.d) not in repr(key) and f"{key.d:x}" not in repr(key)
    assert key.key_id.hex() in repr(key)


# --- PBES2 --------------------------------------------------------------------------------------------


def test_pbkdf2_gost34311_matches_gost89_vectors() -> None:
    # gost89 test/test-util.js, "pbkdf() should expand password into key" (10000 rounds: via STORE_A040).
    salt = bytes.fromhex("31a58dc1462981189cf6c701e276c7553a5ab5f6e36d8418e4aa40c930cf3876")
    assert ks.pbkdf2_gost34311(b"password", salt, 1).hex() == (
        "b1d0fba9e976971b3f0eb3db1d574f972a862d68f67eadaa7ca9161b76f368da"
    )
    assert ks.pbkdf2_gost34311(b"password", salt, 2).hex() == (
        "4616a2cbfd39ab3e10ca60dbe194b311226461a964d69a536262924642c776ea"
    )


@pytest.mark.parametrize("name", ["STORE_A040.dat", "STORE_A040.pem"])
def test_jkurwa_pbes2_store(name: str) -> None:
    (key,) = ks.load_keys(_jk_file(name), "password")
    (plain,) = ks.load_keys(_jk_file("Key40A0.cer"))
    assert (key.curve, key.d) == (plain.curve, plain.d)


def test_pbes2_wrong_and_missing_password() -> None:
    data = _jk_file("STORE_A040.dat")
    with pytest.raises(ks.PasswordRequired, match="password"):
        ks.load_keys(data)
    with pytest.raises(ks.WrongPassword, match="wrong password"):
        ks.load_keys(data, "passw0rd")


# --- IIT Key-6.dat ---------------------------------------------------------------------------------


def test_iit_kdf_matches_gost89_vector() -> None:
    # gost89 test/test-util.js, "dumb_kdf() should expand password into key".
    assert ks.iit_kdf(b"123123").hex() == "3709d09a3574045a52ee9ac65d6277282e065abc597ab0330bd275446230b6a6"


@pytest.fixture(scope="module")
def key6() -> tuple[ks.PrivateKey, ks.PrivateKey, bytes]:
    sign_key, dh_key = _generated(C257), _generated(C431)
    return sign_key, dh_key, _iit_store(_with_second_key(sign_key, dh_key), b"123123")


def test_key6_loads_both_keys(key6: tuple[ks.PrivateKey, ks.PrivateKey, bytes]) -> None:
    sign_key, dh_key, data = key6
    keys = ks.load_keys(data, "123123")
    assert [(k.curve, k.d) for k in keys] == [(C257, sign_key.d), (C431, dh_key.d)]


def test_jkurwa_reads_our_key6(key6: tuple[ks.PrivateKey, ks.PrivateKey, bytes]) -> None:
    sign_key, dh_key, data = key6
    assert _jkurwa_read([{"op": "read", "data": data.hex(), "password": "123123"}]) == [
        {"keyids": [sign_key.key_id.hex(), dh_key.key_id.hex()]}
    ]


def test_key6_wrong_password_and_bad_mac(key6: tuple[ks.PrivateKey, ks.PrivateKey, bytes]) -> None:
    sign_key, dh_key, data = key6
    with pytest.raises(ks.WrongPassword, match="MAC mismatch"):
        ks.load_keys(data, "123124")
    with pytest.raises(ks.PasswordRequired):
        ks.load_keys(data)
    tampered = _iit_store(_with_second_key(sign_key, dh_key), b"123123", mac=b"\0\0\0\0")
    with pytest.raises(ks.WrongPassword, match="MAC mismatch"):
        ks.decrypt_iit(tampered, "123123")


def test_key6_cyrillic_password_in_windows_1251() -> None:
    key = _generated(C257)
    data = _iit_store(ks.encode_pkcs8(key), "Пароль1".encode("cp1251"))
    (back,) = ks.load_keys(data, "Пароль1")
    assert back.d == key.d


# --- formats not read -----------------------------------------------------------------------------


def test_unsupported_and_garbage_containers() -> None:
    with pytest.raises(ks.UnsupportedContainer, match=r"\.jks"):
        ks.load_keys(b"\xfe\xed\xfe\xed" + bytes(40))
    pfx = bytes.fromhex("3010020103300b06092a864886f70d010701")  # version 3, ContentInfo { data }
    with pytest.raises(ks.UnsupportedContainer, match="PKCS#12"):
        ks.load_keys(pfx)
    with pytest.raises(ks.UnsupportedContainer, match="not a key container"):
        ks.load_keys(b"hello")
    with pytest.raises(ks.UnsupportedContainer, match="no private key"):
        ks.load_keys(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ks.UnsupportedContainer, match="not ДСТУ 4145"):
        ks.load_keys(ec_key)
    with pytest.raises(ks.MalformedContainer, match="out of range"):
        ks.load_keys(ks.encode_pkcs8(ks.PrivateKey(C257, C257.n)))


# --- load_signer ----------------------------------------------------------------------------------


def test_load_signer_signs_with_jkurwa_key_and_certificate(tmp_path: Path) -> None:
    signer = ks.load_signer(
        _jk_path("Key40A0.pem"),
        certificate_file=_jk_path("SELF_SIGNED_ENC_40A0.cer"),
        clock=_at(IN_JKURWA_VALIDITY),
    )
    cert = parse_certificate(_jk_file("SELF_SIGNED_ENC_40A0.cer"))
    assert signer.subject_key_id == cert.subject_key_id.hex()
    verified = verify_cades(signer.sign(b"<CHECK/>"))
    assert verified.content == b"<CHECK/>"
    assert verified.subject_key_id == cert.subject_key_id.hex()
    assert verified.signing_time == IN_JKURWA_VALIDITY


def test_load_signer_from_pbes2_with_pem_certificate(tmp_path: Path) -> None:
    der = _jk_file("SELF_SIGNED_ENC_40A0.cer")
    pem = tmp_path / "cert.pem"
    pem.write_bytes(ks._pem(der, "CERTIFICATE"))
    signer = ks.load_signer(
        _jk_path("STORE_A040.pem"), password="password", certificate_file=pem, clock=_at(IN_JKURWA_VALIDITY)
    )
    assert verify_cades(signer.sign(b"x")).certificate.der == der


def test_load_signer_takes_the_certificate_from_a_pem_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    other = ks._pem(_jk_file("SELF_SIGNED1.cer"), "CERTIFICATE")
    mine = ks._pem(_jk_file("SELF_SIGNED_ENC_40A0.cer"), "CERTIFICATE")
    bundle.write_bytes(other + _jk_file("Key40A0.pem") + b"\n" + mine)
    signer = ks.load_signer(bundle, clock=_at(IN_JKURWA_VALIDITY))
    assert signer.certificate.der == _jk_file("SELF_SIGNED_ENC_40A0.cer")


def test_load_signer_picks_the_key_of_the_certificate(
    tmp_path: Path, key6: tuple[ks.PrivateKey, ks.PrivateKey, bytes]
) -> None:
    sign_key, dh_key, data = key6
    now = datetime.now(UTC)
    container = tmp_path / "Key-6.dat"
    container.write_bytes(data)
    for key in (sign_key, dh_key):
        cert = tmp_path / f"{key.curve.name}.cer"
        cert.write_bytes(
            make_self_signed(
                key.curve,
                key.d,
                common_name="Тест",
                serial_number=1,
                not_before=now - timedelta(days=1),
                not_after=now + timedelta(days=30),
            )
        )
        signer = ks.load_signer(container, password="123123", certificate_file=cert)
        assert signer.subject_key_id == key.key_id.hex()
        assert verify_cades(signer.sign(b"x")).subject_key_id == key.key_id.hex()


def test_load_signer_key_mismatch() -> None:
    with pytest.raises(ks.KeyMismatch, match="d7515418") as info:
        ks.load_signer(
            _jk_path("Key6929.cer"),
            certificate_file=_jk_path("SELF_SIGNED_ENC_40A0.cer"),
            clock=_at(IN_JKURWA_VALIDITY),
        )
    assert "55af7e79" in str(info.value)


def test_load_signer_refuses_expired_and_future_certificates(tmp_path: Path) -> None:
    key = _generated(C257)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(ks.encode_pkcs8(key, pem=True))
    cert_file = tmp_path / "old.cer"
    cert_file.write_bytes(
        make_self_signed(
            C257,
            key.d,
            common_name="Старий",
            serial_number=7,
            not_before=datetime(2020, 1, 1, tzinfo=UTC),
            not_after=datetime(2022, 1, 1, tzinfo=UTC),
        )
    )
    with pytest.raises(
        ks.CertificateNotValid, match=r"expired.*2020-01-01 00:00:00 UTC to 2022-01-01 00:00:00 UTC"
    ):
        ks.load_signer(key_file, certificate_file=cert_file)
    with pytest.raises(ks.CertificateNotValid, match="not yet valid"):
        ks.load_signer(key_file, certificate_file=cert_file, clock=_at(datetime(2019, 12, 31, tzinfo=UTC)))
    # The jkurwa certificates expired on 2023-11-14.
    with pytest.raises(ks.CertificateNotValid, match="2023-11-14 22:13:20 UTC"):
        ks.load_signer(_jk_path("Key40A0.cer"), certificate_file=_jk_path("SELF_SIGNED_ENC_40A0.cer"))


def test_load_signer_certificate_problems(tmp_path: Path) -> None:
    key_file = _jk_path("Key40A0.cer")
    with pytest.raises(ks.BadCertificate, match="certificate_file"):
        ks.load_signer(key_file)
    with pytest.raises(ks.BadCertificate, match="cannot read"):
        ks.load_signer(key_file, certificate_file=tmp_path / "missing.cer")
    with pytest.raises(ks.BadCertificate, match="not a usable"):
        ks.load_signer(key_file, certificate_file=key_file)
    with pytest.raises(ks.BadCertificate, match="no CERTIFICATE"):
        ks.load_signer(key_file, certificate_file=_jk_path("Key40A0.pem"))
    with pytest.raises(ks.KeyContainerError, match="cannot read key container"):
        ks.load_signer(tmp_path / "missing.dat", certificate_file=key_file)


def test_certificate_days_left() -> None:
    cert = parse_certificate(_jk_file("SELF_SIGNED1.cer"))  # not after 2023-11-14 22:13:20 UTC
    assert ks.certificate_days_left(cert, datetime(2023, 11, 4, 22, 13, 20, tzinfo=UTC)) == 10
    assert ks.certificate_days_left(cert, datetime(2023, 11, 14, 12, 0, tzinfo=UTC)) == 0
    assert ks.certificate_days_left(cert, datetime(2023, 11, 16, tzinfo=UTC)) == -2
    assert ks.certificate_days_left(cert, datetime(2023, 11, 13, 22, 13, 20)) == 1  # naive is UTC
