"""Java KeyStore (.jks) as PrivatBank issues it: Sun's key protector around a ДСТУ 4145 PKCS#8."""

from __future__ import annotations

import hashlib
import hmac

from .der import _der_shape
from .errors import KeyContainerError, MalformedContainer, UnsupportedContainer, WrongPassword
from .iit import IIT_STORE_OID, decrypt_iit
from .passwords import _require
from .pbes2 import PBES2_OID, _load_pbes2, _ProtectedKey
from .pkcs8 import PrivateKey, _parse_pkcs8_der, parse_pkcs8

JKS_KEY_PROTECTOR_OID = "1.3.6.1.4.1.42.2.17.1.1"
_JKS_MAGIC = b"\xfe\xed\xfe\xed"


class _JksReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise MalformedContainer("damaged .jks key store: truncated")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def utf(self) -> str:
        # Java's modified UTF-8; aliases and certificate types are plain ASCII in practice.
        return self.take(self.u16()).decode("utf-8", errors="replace")

    def certificate(self, version: int) -> bytes | None:
        """One certificate's DER; None for a type other than X.509 (a version 1 store names no type)."""
        kind = self.utf() if version == 2 else "X.509"
        der = self.take(self.u32())
        return der if kind == "X.509" else None


def _jks_password(password: str | bytes) -> bytes:
    if isinstance(password, bytes):
        try:
            password = password.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Java key stores take the password as characters; pass it as text.
            raise WrongPassword("wrong password for the .jks key store (not UTF-8 text)") from exc
    # Java chars: UTF-16 code units, big-endian, no BOM (jksreader's encode_utf16).
    return password.encode("utf-16-be")


def jks_unprotect(protected: bytes, password: str | bytes) -> bytes:
    """Sun's JKS key protection (1.3.6.1.4.1.42.2.17.1.1): salt ‖ data ⊕ SHA-1 keystream ‖ SHA-1 check.

    ``WrongPassword`` when the check does not match.
    """
    if len(protected) < 40:
        raise MalformedContainer("damaged .jks key entry: protected key too short")
    pw = _jks_password(password)
    cur, body, check = protected[:20], protected[20:-20], protected[-20:]
    stream = bytearray()
    while len(stream) < len(body):
        cur = hashlib.sha1(pw + cur).digest()
        stream += cur
    plain = bytes(a ^ b for a, b in zip(body, stream, strict=False))
    if not hmac.compare_digest(hashlib.sha1(pw + plain).digest(), check):
        raise WrongPassword("wrong password for the .jks key entry (key check mismatch)")
    return plain


def _jks_keys(plain: bytes, password: str | bytes) -> list[PrivateKey]:
    """The keys of a decrypted JKS key entry: PKCS#8 (jkurwa), else an IIT or PBES2 container in it."""
    try:
        return _parse_pkcs8_der(plain)
    except KeyContainerError:
        raise
    except Exception as exc:
        try:
            _, oid, _ = _der_shape(plain)
        except Exception:
            oid = None
        if oid == IIT_STORE_OID:
            return parse_pkcs8(decrypt_iit(plain, password))
        if oid == PBES2_OID:
            return _load_pbes2(plain, password)
        raise MalformedContainer(f"the .jks key entry does not hold a ДСТУ 4145 key: {exc}") from exc


def _load_jks(data: bytes, password: str | bytes | None) -> tuple[list[PrivateKey], list[bytes]]:
    reader, version, password = _open_jks(data, password)
    keys: list[PrivateKey] = []
    certs: list[bytes] = []
    for _ in range(reader.u32()):
        tag = reader.u32()
        reader.utf()  # alias
        reader.take(8)  # creation time
        if tag == 1:
            entry_keys, chain = _key_entry(reader, version, password)
            keys.extend(entry_keys)
            certs.extend(chain)
        elif tag == 2:
            trusted = reader.certificate(version)
            if trusted is not None:
                certs.append(trusted)
        else:
            raise MalformedContainer(f"damaged .jks key store: unknown entry tag {tag}")
    if reader.pos != len(reader.data):
        raise MalformedContainer("damaged .jks key store: trailing data")
    if not keys:
        raise UnsupportedContainer("the .jks key store holds no private key")
    return keys, certs


def _open_jks(data: bytes, password: str | bytes | None) -> tuple[_JksReader, int, str | bytes]:
    """A reader past the header of a store whose integrity digest the password matches."""
    if data[:1] == b"\x51" and data[6:10] == _JKS_MAGIC:
        data = data[6:]  # jkurwa's util/load.js: some PrivatBank files carry 6 bytes of junk first
    if len(data) < 32:
        raise MalformedContainer("damaged .jks key store: truncated")
    body, digest = data[:-20], data[-20:]
    reader = _JksReader(body)
    reader.take(4)
    version = reader.u32()
    if version not in (1, 2):
        raise UnsupportedContainer(
            f"unsupported .jks key store version {version} (JKS versions 1 and 2 are read)"
        )
    password = _require(password, ".jks key store")
    pw = _jks_password(password)
    if not hmac.compare_digest(hashlib.sha1(pw + b"Mighty Aphrodite" + body).digest(), digest):
        raise WrongPassword("wrong password for the .jks key store (integrity digest mismatch)")
    return reader, version, password


def _key_entry(
    reader: _JksReader, version: int, password: str | bytes
) -> tuple[list[PrivateKey], list[bytes]]:
    """A private-key entry's keys and its chain's X.509 certificates."""
    protected = reader.take(reader.u32())
    chain = [reader.certificate(version) for _ in range(reader.u32())]
    try:
        epki = _ProtectedKey.load(protected, strict=True)
        oid = epki["algorithm"]["algorithm"].dotted
        blob = epki["data"].native
    except Exception as exc:
        raise MalformedContainer(f"damaged .jks key entry: {exc}") from exc
    if oid != JKS_KEY_PROTECTOR_OID:
        raise UnsupportedContainer(f".jks key entry protected with {oid}, not Sun's JKS key protector")
    keys = _jks_keys(jks_unprotect(blob, password), password)
    return keys, [c for c in chain if c is not None]
