"""Known-answer tests for ГОСТ 28147-89 and ГОСТ 34.311-95 (agent/secr/signing/dstu/gost89.py).

Where each vector comes from is said next to it.  "gost89 0.1.11" is the npm package
gost89 (github.com/dstucrypt/gost89), version 0.1.11, as installed by tests/js; file
paths are inside that package.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.secr.signing.dstu.gost89 import (
    DKE1_SBOX,
    Gost28147,
    Gost34311,
    gost34311,
    pack_sbox,
    unpack_sbox,
)

JS_DIR = Path(__file__).parent / "js"

# --- S-boxes ------------------------------------------------------------------------

# gost89 0.1.11 lib/dstu.js `DKU`: ДКЕ №1 unpacked, one nibble per byte, rows K8..K1.
GOST89_DKU = bytes.fromhex(
    "0102030E060D0B080F0A0C050709000403080B0506040E0A020C0107090F0D00"
    "02080907050F000B0C010D0E0A0306040F080E090702000D0C0601050B04030A"
    "03080D09060B0F0002050C0A040E01070F0605080E0B0A040C0003070209010D"
    "08000C040906070B0203010F050E0A0D0A090D060E0B04050F01030C07000802"
)

# id-GostR3411-94-TestParamSet, rows K1..K8: the S-box of the worked examples in
# ГОСТ Р 34.11-94 / ГОСТ 34.311-95 Appendix A, reprinted in RFC 5831 §7.3 and RFC 4357.
TEST_3411_SBOX = pack_sbox(
    [
        (4, 10, 9, 2, 13, 8, 0, 14, 6, 11, 1, 12, 7, 15, 5, 3),
        (14, 11, 4, 12, 6, 13, 15, 10, 2, 3, 8, 1, 0, 7, 5, 9),
        (5, 8, 1, 13, 10, 3, 4, 2, 14, 15, 12, 7, 6, 0, 9, 11),
        (7, 13, 10, 1, 0, 8, 9, 15, 14, 4, 6, 12, 11, 2, 5, 3),
        (6, 12, 7, 1, 5, 15, 13, 8, 4, 10, 9, 14, 0, 3, 11, 2),
        (4, 11, 10, 0, 7, 2, 1, 13, 3, 6, 8, 5, 9, 12, 15, 14),
        (13, 11, 4, 1, 3, 15, 5, 9, 0, 10, 14, 7, 6, 8, 2, 12),
        (1, 15, 13, 0, 5, 7, 10, 4, 9, 2, 3, 14, 6, 11, 8, 12),
    ]
)

# id-Gost28147-89-TestParamSet (RFC 4357 §11.2), rows K1..K8 as in pygost's gost28147.py.
TEST_28147_SBOX = pack_sbox(
    [
        (4, 2, 15, 5, 9, 1, 0, 8, 14, 3, 11, 12, 13, 7, 10, 6),
        (12, 9, 15, 14, 8, 1, 3, 10, 2, 7, 4, 13, 6, 0, 11, 5),
        (13, 8, 14, 12, 7, 3, 9, 10, 1, 5, 2, 4, 6, 15, 0, 11),
        (14, 9, 11, 2, 5, 15, 7, 1, 0, 13, 12, 6, 10, 4, 3, 8),
        (3, 14, 5, 9, 6, 8, 0, 13, 10, 11, 7, 12, 2, 1, 15, 4),
        (8, 15, 6, 11, 1, 9, 12, 5, 13, 3, 7, 10, 0, 14, 2, 4),
        (9, 11, 12, 0, 3, 6, 7, 5, 4, 8, 14, 15, 1, 10, 2, 13),
        (12, 6, 5, 2, 11, 0, 9, 13, 3, 14, 7, 10, 15, 4, 1, 8),
    ]
)

# id-Gost28147-89-CryptoPro-A-ParamSet (RFC 4357 §11.2), rows K1..K8 as in pygost.
CRYPTOPRO_A_SBOX = pack_sbox(
    [
        (9, 6, 3, 2, 8, 11, 1, 7, 10, 4, 14, 15, 12, 0, 13, 5),
        (3, 7, 14, 9, 8, 10, 15, 0, 5, 2, 6, 12, 11, 4, 13, 1),
        (14, 4, 6, 2, 11, 3, 13, 8, 12, 15, 5, 10, 0, 7, 1, 9),
        (14, 7, 10, 12, 13, 1, 3, 9, 0, 2, 11, 4, 15, 8, 5, 6),
        (11, 5, 1, 9, 8, 13, 15, 0, 14, 4, 2, 3, 12, 7, 10, 6),
        (3, 10, 13, 12, 1, 2, 0, 11, 7, 5, 9, 4, 8, 15, 14, 6),
        (1, 13, 2, 9, 7, 10, 6, 0, 8, 12, 4, 5, 15, 3, 11, 14),
        (11, 10, 15, 5, 0, 12, 14, 8, 6, 2, 3, 9, 1, 7, 13, 4),
    ]
)

KEY_00_1F = bytes(range(32))


def test_dke1_is_gost89_default_sbox() -> None:
    rows = [tuple(GOST89_DKU[16 * r : 16 * r + 16]) for r in range(8)]
    assert unpack_sbox(DKE1_SBOX) == tuple(reversed(rows))
    assert pack_sbox(unpack_sbox(DKE1_SBOX)) == DKE1_SBOX


def test_pack_sbox_rejects_malformed_rows() -> None:
    with pytest.raises(ValueError):
        pack_sbox([(0,) * 16] * 7)
    with pytest.raises(ValueError):
        pack_sbox([(16,) + (0,) * 15] * 8)
    with pytest.raises(ValueError):
        unpack_sbox(bytes(63))


# --- ГОСТ 34.311-95: the standard's examples (test S-box) ------------------------------

# The two worked examples of the standard (ГОСТ Р 34.11-94 Appendix A, identical in
# ГОСТ 34.311-95), as printed in RFC 5831 §7.3.1 and §7.3.2; the RFC prints H as a
# number, these are its bytes least significant first, i.e. the digest as output.
# The rest are the test-parameter values published with Markku-Juhani Saarinen's 1998
# reference implementation (gosthash.c) and in Wikipedia's "GOST (hash function)"
# article; they use the same S-box and H0 = 0.
STANDARD_VECTORS = [
    (b"This is message, length=32 bytes", "b1c466d37519b82e8319819ff32595e047a28cb6f83eff1c6916a815a637fffa"),
    (
        b"Suppose the original message has length = 50 bytes",
        "471aba57a60a770d3a76130635c1fbea4ef14de51f78b4ae57dd893b62f55208",
    ),
    (b"", "ce85b99cc46752fffee35cab9a7b0278abb4c2d2055cff685af4912c49490f8d"),
    (b"a", "d42c539e367c66e9c88a801f6649349c21871b4344c6a573f849fdce62f314dd"),
    (b"abc", "f3134348c44fb1b2a277729e2285ebb5cb5e0f29c975bc753b70497c06a4d51d"),
    (b"message digest", "ad4434ecb18f2c99b60cbe59ec3d2469582b65273f48de72db2fde16a4889a4d"),
    (
        b"The quick brown fox jumps over the lazy dog",
        "77b7fa410c9ac58a25f49bca7d0468c9296529315eaca76bd1a10f376d1f4294",
    ),
    (b"U" * 128, "53a3a3ed25180cef0c1d85a074273e551c25660a87062a52d926a9e8fe5733a4"),
]


@pytest.mark.parametrize(("message", "expected"), STANDARD_VECTORS)
def test_standard_vectors_with_test_sbox(message: bytes, expected: str) -> None:
    assert gost34311(message, sbox=TEST_3411_SBOX).hex() == expected


# --- ГОСТ 34.311-95 with ДКЕ №1 (the Ukrainian parameters) ---------------------------

# gost89 0.1.11 test/test-hash.js.
GOST89_HASH_VECTORS = [
    (b"12345678901234567890123456789011", "7686f3f4b113aadc97bca9ea054f41821f0676c5c28ffb987e41797a568e1ed4"),
    (bytes(range(32)), "811cb06a8ee423182d9cc9d281f783908f4cfbaf47a68be8415d3499674a3063"),
    (b"123123", "34d4da2c04e9c1ceb933282069c864617d94ed7cc5c0a9840c0c1a99629df637"),
    (
        b"IGNORE THIS FILE. This file does nothing, contains no useful data, and might go away"
        b" in future releases.  Do not depend on this file or its contents.",
        "e9312d13d0e0d39aa4a00c77dcfb661883dd0ed8218af48a146168fc60f014dc",
    ),
    # gost89 0.1.11 README.md, the gosthash example.
    (
        b"LA LA LA SHTIRLITZ KURWA VODKA MATRIOSKA",
        "0a327f3bcee1f3de0f40612ec3ced0a32951b8b2168e9a010f5b1546c0a91d93",
    ),
]


@pytest.mark.parametrize(("message", "expected"), GOST89_HASH_VECTORS)
def test_gost89_package_vectors(message: bytes, expected: str) -> None:
    assert gost34311(message).hex() == expected


def test_gost89_readme_streaming_example() -> None:
    # gost89 0.1.11 README.md: two updates, then finish.
    h = Gost34311()
    h.update(b"ARBITARY SIZED VODKA")
    h.update(b"VODKA VODKA MORE VODKA")
    assert h.hexdigest() == "2c1ed1f12c051338b27f425deadfe06217e69b2c19d44acd24ac8d5bb753343f"


def det_message(n: int) -> bytes:
    """Deterministic, non-repeating-looking test content."""
    return bytes((i * 131 + 17) % 251 for i in range(n))


# Produced on 2026-11-25 by tests/js/gost_oracle.js (gost89 0.1.11 `gosthash`, Node 20)
# over det_message(n): the same requests the live test below sends.
NODE_HASH_VECTORS = {
    0: "da37bdf41145e39e34111775b40646e8059c2e969c1460bb98abccb26f0f76a5",
    1: "348a4f5468810439b9eec60a2b6495d467ba4cc4dbfc9a66e511bd913be5a71b",
    31: "ac49184d536a57e89d6437f5e24329e21f84776a2b8d48a5edb1450bd3d47821",
    32: "a04ab7cd30c56e7df4bd0475f6b7b3b5257d2d40e5dc067cee538e04e03cadcd",
    33: "76091531fdf4c04814b16249018a2e3eb3c900f20fde5500416772f451121572",
    64: "4fded874bb8694f237d9fa8a0ae6bd4aa41db93544e5c75b411c9d04876edc61",
    1000: "4ec0db2365f9b479227398bf26358ca1e800e42e65170273e437579df4c23e64",
    5000: "525f3efa7683def0ce6b2b061b53cef78ccf9f05ebfa6f14518de1eee3f38e7b",
}


@pytest.mark.parametrize(("length", "expected"), sorted(NODE_HASH_VECTORS.items()))
def test_node_computed_vectors(length: int, expected: str) -> None:
    assert gost34311(det_message(length)).hex() == expected


@pytest.mark.parametrize("chunk", [1, 7, 31, 32, 33, 100])
def test_streaming_matches_one_shot(chunk: int) -> None:
    # Chunk sizes that land exactly on the buffered tail are where gost89's own
    # Hash.update goes wrong; ours must not care how the message is cut.
    data = det_message(1000)
    h = Gost34311()
    for off in range(0, len(data), chunk):
        h.update(data[off : off + chunk])
    assert h.hexdigest() == NODE_HASH_VECTORS[1000]
    h2 = Gost34311()
    h2.update(data[:16])
    h2.update(data[16:32])
    h2.update(data[32:])
    assert h2.digest() == gost34311(data)


def test_digest_does_not_finalize_and_copy_is_independent() -> None:
    data = det_message(64)
    h = Gost34311(data[:33])
    snapshot = h.copy()
    assert h.digest() == h.digest() == gost34311(data[:33])
    h.update(data[33:])
    assert h.hexdigest() == NODE_HASH_VECTORS[64]
    assert snapshot.digest() == gost34311(data[:33])
    assert len(h.digest()) == h.digest_size == 32
    assert Gost34311(memoryview(data)).digest() == Gost34311(bytearray(data)).digest()


# --- ГОСТ 28147-89 ------------------------------------------------------------------


def test_gost89_package_ecb_vector() -> None:
    # gost89 0.1.11 test/test-crypt.js, #crypt() and #decrypt().
    c = Gost28147(KEY_00_1F)
    clear = bytes.fromhex("0001020304050607f1f2f3f4f5f6f7f8")
    cipher = bytes.fromhex("e393a17df2b6de6f2086d8230c277432")
    assert c.encrypt_ecb(clear) == cipher
    assert c.decrypt_ecb(cipher) == clear
    assert c.encrypt_block(clear[:8]) == cipher[:8]
    assert c.decrypt_block(cipher[8:]) == clear[8:]


def test_gost89_package_cfb_vector() -> None:
    # gost89 0.1.11 test/test-crypt.js, #crypt_cfb() and #decrypt_cfb().
    c = Gost28147(KEY_00_1F)
    iv = bytes.fromhex("f1f2f3f4f5f6f7f8")
    clear = bytes.fromhex("0001020304050607f1f2f3f4f5f6f7f8")
    cipher = bytes.fromhex("2087da2008227235a919d76142e8ce65")
    assert c.encrypt_cfb(iv, clear) == cipher
    assert c.decrypt_cfb(iv, cipher) == clear


def test_node_computed_cfb_partial_block() -> None:
    # tests/js/gost_oracle.js (gost89 0.1.11 crypt_cfb), 2026-11-25: 21 bytes, last block short.
    c = Gost28147(KEY_00_1F)
    iv = bytes.fromhex("0102030405060708")
    cipher = bytes.fromhex("13985f59f247a930da73ff44a5a80567309dc9dc81")
    assert c.encrypt_cfb(iv, det_message(21)) == cipher
    assert c.decrypt_cfb(iv, cipher) == det_message(21)


# Published by cryptomanager.com (test vectors page), as reproduced in pygost's
# pygost/test_gost28147.py (ECBTest/CFBTest.test_cryptomanager); S-box
# id-GostR3411-94-TestParamSet.
CRYPTOMANAGER_KEY = bytes.fromhex("75713134B60FEC45A607BB83AA3746AF4FF99DA6D1B53B5B1B402A1BAA030D1B")


def test_cryptomanager_ecb_vector() -> None:
    c = Gost28147(CRYPTOMANAGER_KEY, TEST_3411_SBOX)
    assert c.encrypt_block(bytes.fromhex("1122334455667788")) == bytes.fromhex("03251E14F9D28ACB")
    assert c.decrypt_block(bytes.fromhex("03251E14F9D28ACB")) == bytes.fromhex("1122334455667788")


def test_cryptomanager_cfb_vector() -> None:
    c = Gost28147(CRYPTOMANAGER_KEY, TEST_3411_SBOX)
    iv = bytes.fromhex("0102030405060708")
    clear = bytes.fromhex("112233445566778899AABBCCDD800000")
    cipher = bytes.fromhex("6EE84586DD2BCA0CAD3616940E164242")
    assert c.encrypt_cfb(iv, clear) == cipher
    assert c.decrypt_cfb(iv, cipher) == clear


def test_libgcl3_gamma_vector() -> None:
    # libgcl3's gamma (counter) mode vector 2, as reproduced in pygost's
    # pygost/test_gost28147.py (CTRTest.test_gcl2); S-box id-Gost28147-89-TestParamSet.
    # gost89 has no gamma mode, so this is the only outside check of it.
    key = bytes.fromhex("fc7ad2886f455b50d29008fa622b57d5c65b3c637202025799cadf0768519e8a")
    clear = bytes.fromhex(
        "0706050403020100" "0f0e0d0c0b0a0908" "1716151413121110" "1f1e1d1c1b1a1918"
        "2726252423222120" "2f2e2d2c2b2a2928" "fffefdfcfb"
    )  # fmt: skip
    cipher = bytes.fromhex(
        "d0be601a2cf19026" "9b7b23b4d2cce115" "f60557288875eb1e" "d362dcda9b62ee9a"
        "57878af182379c7f" "13cc5538b56332c5" "23a4cb7d51"
    )  # fmt: skip
    c = Gost28147(key, TEST_28147_SBOX)
    assert c.crypt_gamma(bytes(8), clear) == cipher
    assert c.crypt_gamma(bytes(8), cipher) == clear


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 15, 16, 17, 100])
def test_round_trips(length: int) -> None:
    rng = random.Random(length)
    key, iv, data = rng.randbytes(32), rng.randbytes(8), rng.randbytes(length)
    c = Gost28147(key)
    assert c.decrypt_cfb(iv, c.encrypt_cfb(iv, data)) == data
    assert c.crypt_gamma(iv, c.crypt_gamma(iv, data)) == data
    assert len(c.encrypt_cfb(iv, data)) == len(c.crypt_gamma(iv, data)) == length
    whole = data[: length - length % 8]
    assert c.decrypt_ecb(c.encrypt_ecb(whole)) == whole
    if length >= 8:
        assert c.encrypt_cfb(iv, data) != data


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="key"):
        Gost28147(bytes(31))
    c = Gost28147(KEY_00_1F)
    with pytest.raises(ValueError, match="whole 8-byte blocks"):
        c.encrypt_ecb(bytes(12))
    with pytest.raises(ValueError, match="block"):
        c.encrypt_block(bytes(7))
    with pytest.raises(ValueError, match="IV"):
        c.encrypt_cfb(bytes(4), b"x")
    with pytest.raises(ValueError):
        c.mac(b"")
    with pytest.raises(ValueError):
        c.mac(b"x", size=9)


# --- MAC (імітовставка) --------------------------------------------------------------


def test_libgcl3_mac_vectors() -> None:
    # Generated with libgcl3, as reproduced in pygost's pygost/test_gost28147_mac.py
    # (test_13x, test_128U); S-box id-Gost28147-89-CryptoPro-A-ParamSet, full 64 bits.
    # Its one-block vectors ("a", "abc") are left out: libgcl3 does not append the
    # zero block that the standard's two-block minimum calls for (see Gost28147.mac).
    c = Gost28147(b"This is message\xff length\x0032 bytes", CRYPTOPRO_A_SBOX)
    assert c.mac(b"x" * 13, size=8).hex() == "917ee1f1a668fbd3"
    assert c.mac(b"U" * 128, size=8).hex() == "1a06d1bad74580ef"
    assert c.mac(b"U" * 128) == bytes.fromhex("1a06d1ba")


def test_one_block_mac_appends_a_zero_block() -> None:
    c = Gost28147(KEY_00_1F)
    assert c.mac(b"abc") == c.mac(b"abc" + bytes(13))
    assert c.mac(det_message(8)) == c.mac(det_message(8) + bytes(8))
    assert c.mac(b"abc", size=8)[:4] == c.mac(b"abc")


# tests/js/gost_oracle.js (gost89 0.1.11 `mac(32, data)`), 2026-11-25, key 00..1f.
NODE_MAC_VECTORS = {8: "3b961b49", 16: "00cbc345", 33: "55d772cc", 100: "3ba0b197"}


@pytest.mark.parametrize(("length", "expected"), sorted(NODE_MAC_VECTORS.items()))
def test_node_computed_mac_vectors(length: int, expected: str) -> None:
    assert Gost28147(KEY_00_1F).mac(det_message(length)).hex() == expected


WRAP_IV = bytes.fromhex("4adda22c79e82105")


def wrap_key(cek: bytes, kek: bytes, iv: bytes) -> bytes:
    """ДССЗЗІ key wrap, as gost89's lib/keywrap.js does it; exercises CFB and MAC together."""
    c = Gost28147(kek)
    inner = c.encrypt_cfb(iv, cek + c.mac(cek))
    return c.encrypt_cfb(WRAP_IV, (iv + inner)[::-1])


def unwrap_key(wcek: bytes, kek: bytes) -> bytes:
    c = Gost28147(kek)
    outer = c.decrypt_cfb(WRAP_IV, wcek)[::-1]
    cekicv = c.decrypt_cfb(outer[:8], outer[8:])
    assert c.mac(cekicv[:32]) == cekicv[32:], "key unwrap checksum mismatch"
    return cekicv[:32]


def test_gost89_package_key_wrap_vectors() -> None:
    # gost89 0.1.11 test/test-util.js, key_wrap() and key_unwrap().
    cek = bytes.fromhex("11080811020a0d0913040f020111190b04060c101d1c0a0911060e160b121419")
    kek = bytes.fromhex("9c6e6852023b46f499f25b9b0eb7027387fdd5650f5d638ee5f99eb8dc781fde")
    wrapped = bytes.fromhex(
        "e90fe95628e715f4d6f3d1151ded367250f7006648ffffde574a4ea38250c1c5a0fdff11f36d9186d3b27c60"
    )
    assert wrap_key(cek, kek, bytes.fromhex("09100509181c0515")) == wrapped
    assert unwrap_key(wrapped, kek) == cek
    other_kek = bytes.fromhex("1de57ae661b7e142727170dd5066d04bd63231d5a207778075d17a831e853902")
    other = bytes.fromhex(
        "359a37cf972520b590ef109b7c454c991d95da782e30ac9fe917fbb52e9402a4d236fd030f49627ec63c2684"
    )
    assert unwrap_key(other, other_kek) == cek


# --- live cross-check against gost89 under Node.js -----------------------------------


def _node_oracle_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS_DIR / "node_modules" / "gost89").is_dir():
        return "tests/js/node_modules/gost89 missing: run `npm install` in tests/js"
    return None


@pytest.mark.skipif(_node_oracle_missing() is not None, reason=str(_node_oracle_missing()))
def test_live_cross_check_with_gost89() -> None:
    rng = random.Random()
    seed = rng.randrange(1 << 32)
    rng.seed(seed)
    lengths = [0, 1, 31, 32, 33, 63, 64, 65, *(rng.randrange(1, 3000) for _ in range(12))]
    requests: list[dict[str, str]] = []
    expected: list[str] = []
    for n in lengths:
        data = rng.randbytes(n)
        requests.append({"op": "hash", "data": data.hex()})
        expected.append(gost34311(data).hex())
        key, iv = rng.randbytes(32), rng.randbytes(8)
        c = Gost28147(key)
        if n:
            requests.append({"op": "cfb", "key": key.hex(), "iv": iv.hex(), "data": data.hex()})
            expected.append(c.encrypt_cfb(iv, data).hex())
            requests.append({"op": "cfb_decrypt", "key": key.hex(), "iv": iv.hex(), "data": data.hex()})
            expected.append(c.decrypt_cfb(iv, data).hex())
        whole = data[: n - n % 8]
        if whole:
            requests.append({"op": "ecb", "key": key.hex(), "data": whole.hex()})
            expected.append(c.encrypt_ecb(whole).hex())
            requests.append({"op": "ecb_decrypt", "key": key.hex(), "data": whole.hex()})
            expected.append(c.decrypt_ecb(whole).hex())
        if n >= 8:  # shorter messages are where gost89's MAC departs from the standard
            requests.append({"op": "mac", "key": key.hex(), "data": data.hex()})
            expected.append(c.mac(data).hex())
    proc = subprocess.run(
        ["node", "gost_oracle.js"],
        cwd=JS_DIR,
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = json.loads(proc.stdout)
    mismatches = [
        (r["op"], len(r["data"]) // 2)
        for r, got, want in zip(requests, answers, expected, strict=True)
        if got != want
    ]
    assert not mismatches, f"seed {seed}: differs from gost89 for {mismatches}"
