"""PBES2 ``ENCRYPTED PRIVATE KEY``: PBKDF2 with HMAC-ГОСТ 34.311 and ГОСТ 28147 in CFB mode."""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import core

# The key derivations are called through the package, so that replacing one there (the tests memoize
# them: they are slow in pure Python) reaches every format that uses it.
from .. import keystore as _package
from ..gost89 import DKE1_SBOX, Gost28147, Gost34311
from .errors import KeyContainerError, MalformedContainer, UnsupportedContainer, WrongPassword
from .passwords import _password_candidates
from .pem import _is_pem, _pem_blocks
from .pkcs8 import PrivateKey, _parse_pkcs8_der

PBES2_OID = "1.2.840.113549.1.5.13"
PBKDF2_OID = "1.2.840.113549.1.5.12"
HMAC_GOST34311_OID = "1.2.804.2.1.1.1.1.1.2"
GOST28147_CFB_OID = "1.2.804.2.1.1.1.1.1.1.3"


class _HashAlgorithm(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _Pbkdf2Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("salt", core.OctetString),
        ("iterations", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
        ("prf", _HashAlgorithm),
    ]


class _Kdf(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", _Pbkdf2Params)]


class _Gost28147Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("iv", core.OctetString), ("dke", core.OctetString, {"optional": True})]


class _Cipher(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", _Gost28147Params)]


class _Pbes2Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("kdf", _Kdf), ("cipher", _Cipher)]


class _Pbes2Algorithm(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", _Pbes2Params)]


class _EncryptedPrivateKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", _Pbes2Algorithm), ("data", core.OctetString)]


class _ProtectedKey(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", _HashAlgorithm), ("data", core.OctetString)]


def pbkdf2_gost34311(password: bytes, salt: bytes, iterations: int) -> bytes:
    """gost89 ``pbkdf``: PBKDF2 with HMAC-ГОСТ 34.311, one 32-byte block.

    gost89 XORs the password into 32-byte pads and drops bytes beyond 32 instead of hashing
    a long password first as RFC 2104 would; doing the same keeps its containers readable.
    """
    pw = password[:32]
    inner = Gost34311(bytes(b ^ 0x36 for b in pw.ljust(32, b"\0")))
    outer = Gost34311(bytes(b ^ 0x5C for b in pw.ljust(32, b"\0")))

    def hmac(msg: bytes) -> bytes:
        i = inner.copy()
        i.update(msg)
        o = outer.copy()
        o.update(i.digest())
        return o.digest()

    u = hmac(salt + b"\0\0\0\1")
    acc = int.from_bytes(u, "big")
    for _ in range(iterations - 1):
        u = hmac(u)
        acc ^= int.from_bytes(u, "big")
    return acc.to_bytes(32, "big")


def _keys_or_wrong_password(plain: bytes, what: str) -> list[PrivateKey]:
    # Without a MAC, a wrong password shows only as bytes that are not DER; a key that parses but
    # is unusable (another algorithm, d out of range) is reported as what it is.
    try:
        return _parse_pkcs8_der(plain)
    except KeyContainerError:
        raise
    except Exception as exc:
        raise WrongPassword(
            f"wrong password for the {what} (the decrypted key is not a ДСТУ 4145 key)"
        ) from exc


def decrypt_pbes2(data: bytes, password: str | bytes) -> bytes:
    """The PKCS#8 inside a PBES2 ``ENCRYPTED PRIVATE KEY`` (PBKDF2-HMAC-ГОСТ 34.311, ГОСТ 28147 CFB).

    PBES2 has no integrity check: the caller learns of a wrong password when the result does
    not parse, as :func:`load_keys` does.
    """
    if _is_pem(data):
        blocks = [body for label, body in _pem_blocks(data) if label == "ENCRYPTED PRIVATE KEY"]
        if not blocks:
            raise MalformedContainer("the PEM file holds no ENCRYPTED PRIVATE KEY block")
        data = blocks[0]
    try:
        store = _EncryptedPrivateKeyInfo.load(data, strict=True)
        scheme = store["algorithm"]["algorithm"].dotted
        params = store["algorithm"]["parameters"]
        kdf, prf = params["kdf"]["algorithm"].dotted, params["kdf"]["parameters"]["prf"]["algorithm"].dotted
        cipher_oid = params["cipher"]["algorithm"].dotted
        salt = params["kdf"]["parameters"]["salt"].native
        iterations = params["kdf"]["parameters"]["iterations"].native
        iv = params["cipher"]["parameters"]["iv"].native
        # jkurwa always decrypts with ДКЕ №1 and ignores this field; every container it writes or
        # reads carries ДКЕ №1 here anyway, and a store with another S-box needs that S-box.
        sbox = params["cipher"]["parameters"]["dke"].native or DKE1_SBOX
        body = store["data"].native
    except Exception as exc:
        raise MalformedContainer(f"not a PBES2 encrypted private key: {exc}") from exc
    if (scheme, kdf, prf, cipher_oid) != (PBES2_OID, PBKDF2_OID, HMAC_GOST34311_OID, GOST28147_CFB_OID):
        raise UnsupportedContainer(
            f"encrypted key uses {scheme}/{kdf}/{prf}/{cipher_oid}; only PBES2 with PBKDF2-HMAC-ГОСТ 34.311"
            " and ГОСТ 28147 CFB (Ukrainian key containers) is supported"
        )
    if len(iv) != 8 or len(sbox) != 64 or not 0 < iterations <= 10_000_000:
        raise MalformedContainer("damaged PBES2 parameters (IV, S-box or iteration count)")
    # Only one password candidate here: without a MAC a second guess could only be told apart by
    # parsing, which the caller does; load_keys tries the candidates itself.
    return Gost28147(
        _package.pbkdf2_gost34311(_password_candidates(password)[0], salt, iterations), sbox
    ).decrypt_cfb(iv, body)


def _load_pbes2(data: bytes, password: str | bytes) -> list[PrivateKey]:
    last: WrongPassword | None = None
    for candidate in _password_candidates(password):
        try:
            return _keys_or_wrong_password(decrypt_pbes2(data, candidate), "PBES2 key")
        except WrongPassword as exc:
            last = exc
    assert last is not None
    raise last
