"""Which format a container is, from its content, and the keys and certificates it holds."""

from __future__ import annotations

from .der import _der_shape
from .errors import UnsupportedContainer
from .iit import IIT_STORE_OID, decrypt_iit
from .jks import _JKS_MAGIC, _load_jks
from .passwords import _require
from .pbes2 import PBES2_OID, _load_pbes2
from .pem import _is_pem, _pem_blocks
from .pkcs8 import PrivateKey, parse_pkcs8
from .pkcs12 import PKCS7_DATA_OID, PKCS7_SIGNED_DATA_OID, _load_pfx


def load_keys(data: bytes, password: str | bytes | None = None) -> list[PrivateKey]:
    """All ДСТУ 4145 keys in a container, format detected from the content, signing key first."""
    return load_container(data, password)[0]


def load_container(data: bytes, password: str | bytes | None = None) -> tuple[list[PrivateKey], list[bytes]]:
    """The keys (signing key first) and the DER certificates a key container holds.

    Certificates come from PKCS#12 cert bags, .jks certificate chains and trusted entries, and the
    CERTIFICATE blocks of a PEM bundle; the other formats carry none.
    """
    if data[:4] == _JKS_MAGIC or (data[:1] == b"\x51" and data[6:10] == _JKS_MAGIC):
        return _load_jks(data, password)
    if _is_pem(data):
        keys = _load_key_container(data, password)
        return keys, [body for label, body in _pem_blocks(data) if label == "CERTIFICATE"]
    if _is_pfx(data):
        return _load_pfx(data, password)
    return _load_key_container(data, password), []


def _is_pfx(data: bytes) -> bool:
    # PFX: SEQUENCE { INTEGER version, ContentInfo { data, ... }, ... }; PKCS#8 also opens with an
    # INTEGER but follows it with an AlgorithmIdentifier.
    try:
        first_tag, _, second_oid = _der_shape(data)
    except Exception:
        return False
    return first_tag == 2 and second_oid in (PKCS7_DATA_OID, PKCS7_SIGNED_DATA_OID)


def _load_key_container(data: bytes, password: str | bytes | None) -> list[PrivateKey]:
    if _is_pem(data):
        labels = [label for label, _ in _pem_blocks(data)]
        if "PRIVATE KEY" in labels:
            return parse_pkcs8(data)
        if "ENCRYPTED PRIVATE KEY" in labels:
            return _load_pbes2(data, _require(password, "PBES2 key"))
        raise UnsupportedContainer(
            f"the PEM file holds no private key (blocks: {', '.join(labels) or 'none'})"
        )
    try:
        first_tag, oid, _ = _der_shape(data)
    except Exception as exc:
        raise UnsupportedContainer(
            "not a key container this box reads (PKCS#8 DER/PEM, PBES2, IIT Key-6.dat)"
        ) from exc
    if oid == IIT_STORE_OID:
        # The MAC has vouched for the password, so a key that does not parse is a damaged one.
        return parse_pkcs8(decrypt_iit(data, _require(password, "Key-6.dat key")))
    if oid == PBES2_OID:
        return _load_pbes2(data, _require(password, "PBES2 key"))
    if first_tag == 2:  # INTEGER: PKCS#8 version (PKCS#12 was taken by load_container)
        return parse_pkcs8(data)
    raise UnsupportedContainer("not a key container this box reads (PKCS#8 DER/PEM, PBES2, IIT Key-6.dat)")
