"""PKCS#12 (.pfx / .p12) as the Ukrainian CAs issue it: password integrity, PBES2-protected bags."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, ClassVar

from asn1crypto import core

# The key derivations are called through the package, so that replacing one there (the tests memoize
# them: they are slow in pure Python) reaches every format that uses it.
from .. import keystore as _package
from ..gost89 import Gost34311, gost34311
from .errors import (
    KeyContainerError,
    MalformedContainer,
    PasswordRequired,
    UnsupportedContainer,
    WrongPassword,
)
from .passwords import _password_candidates
from .pbes2 import (
    PBES2_OID,
    _EncryptedPrivateKeyInfo,
    _HashAlgorithm,
    _keys_or_wrong_password,
    _Pbes2Algorithm,
    _ProtectedKey,
    decrypt_pbes2,
)
from .pkcs8 import PrivateKey, _KeyAttribute, _parse_pkcs8_der

PKCS7_DATA_OID = "1.2.840.113549.1.7.1"
PKCS7_SIGNED_DATA_OID = "1.2.840.113549.1.7.2"
PKCS7_ENCRYPTED_DATA_OID = "1.2.840.113549.1.7.6"
PKCS12_KEY_BAG_OID = "1.2.840.113549.1.12.10.1.1"
PKCS12_SHROUDED_KEY_BAG_OID = "1.2.840.113549.1.12.10.1.2"
PKCS12_CERT_BAG_OID = "1.2.840.113549.1.12.10.1.3"
X509_CERT_OID = "1.2.840.113549.1.9.22.1"
GOST34311_OID = "1.2.804.2.1.1.1.1.2.1"


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
    key = _package.pkcs12_kdf(hash_name, _bmp_password(password), mac_data["salt"].native, iterations)
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
    auth_safe, mac_data = _pfx_parts(data)
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
                _safe_bags(_decrypt_safe_contents(info, password), password, keys, certs)
            # envelopedData (public-key privacy mode) holds nothing readable with a password.
    except KeyContainerError:
        raise
    except Exception as exc:
        raise MalformedContainer(f"damaged PKCS#12 (.pfx) container: {exc}") from exc
    if not keys:
        raise UnsupportedContainer("the PKCS#12 (.pfx) container holds no private key")
    return keys, certs


def _pfx_parts(data: bytes) -> tuple[bytes, Any]:
    """The AuthenticatedSafe's DER and the MacData (None without one) of a PFX the box reads."""
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
    return auth_safe, mac_data


def _decrypt_safe_contents(info: Any, password: bytes) -> bytes:
    """The SafeContents inside an encryptedData ContentInfo, parsed whole to tell a wrong password."""
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
    return plain


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
