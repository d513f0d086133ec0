"""IIT ``Key-6.dat``: ГОСТ 28147 ECB under a 10000-times ГОСТ 34.311 of the password, with a MAC."""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import core

# The key derivations are called through the package, so that replacing one there (the tests memoize
# them: they are slow in pure Python) reaches every format that uses it.
from .. import keystore as _package
from ..gost89 import Gost28147, gost34311
from .errors import MalformedContainer, WrongPassword
from .passwords import _password_candidates

IIT_STORE_OID = "1.3.6.1.4.1.19398.1.1.1.2"
_IIT_KDF_ROUNDS = 10000


class _IitParams(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("mac", core.OctetString), ("pad", core.OctetString, {"optional": True})]


class _IitAlgorithm(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", core.ObjectIdentifier), ("parameters", _IitParams)]


class _IitStore(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [("algorithm", _IitAlgorithm), ("data", core.OctetString)]


def iit_kdf(password: bytes) -> bytes:
    """gost89 ``dumb_kdf(password, 10000)``: ГОСТ 34.311 of the password, then of the hash 9999 times."""
    h = gost34311(password)
    for _ in range(_IIT_KDF_ROUNDS - 1):
        h = gost34311(h)
    return h


def decrypt_iit(data: bytes, password: str | bytes) -> bytes:
    """The PKCS#8 inside an IIT ``Key-6.dat``; ``WrongPassword`` when the MAC does not match."""
    try:
        store = _IitStore.load(data, strict=True)
        oid = store["algorithm"]["algorithm"].dotted
        mac = store["algorithm"]["parameters"]["mac"].native
        pad = store["algorithm"]["parameters"]["pad"].native or b""
        body = store["data"].native
    except Exception as exc:
        raise MalformedContainer(f"not an IIT Key-6.dat container: {exc}") from exc
    if oid != IIT_STORE_OID:
        raise MalformedContainer(f"not an IIT Key-6.dat container (type {oid})")
    if len(mac) != 4 or (len(body) + len(pad)) % 8 or not body:
        raise MalformedContainer("damaged IIT Key-6.dat: bad MAC or padding length")
    for candidate in _password_candidates(password):
        cipher = Gost28147(_package.iit_kdf(candidate))
        plain = cipher.decrypt_ecb(body + pad)[: len(body)]
        if cipher.mac(plain, 4) == mac:
            return plain
    raise WrongPassword("wrong password for the Key-6.dat key container (MAC mismatch)")
