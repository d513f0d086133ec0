"""ДСТУ 4145 key containers: unencrypted PKCS#8, password-protected PBES2 and IIT ``Key-6.dat``.

Formats follow jkurwa 1.21 (lib/models/Priv.js, lib/spec/keystore.js, lib/spec/pbes.js) and
gost89 (lib/compat.js, lib/util.js), which read what the Ukrainian CAs hand out:

* PKCS#8 ``PrivateKeyInfo`` with algorithm 1.2.804.2.1.1.1.1.3.1.1 and parameters
  ``SEQUENCE { curve (named OID | explicit), dke OCTET STRING }``; the private key d is an
  OCTET STRING in *little-endian* byte order.  IIT puts a second key (the key-agreement key)
  into the ``[0]`` attributes: 1.3.6.1.4.1.19398.1.1.2.3 holds a BIT STRING whose bits are d
  in reverse bit order, 1.3.6.1.4.1.19398.1.1.2.2 the curve parameters of that key.
* PBES2 (``ENCRYPTED PRIVATE KEY``): PBKDF2 with HMAC-ГОСТ 34.311 and ГОСТ 28147 in CFB mode.
* IIT ``Key-6.dat``: ``SEQUENCE { SEQUENCE { 1.3.6.1.4.1.19398.1.1.1.2, SEQUENCE { mac, pad } },
  data }``; key = ГОСТ 34.311 of the password, re-hashed 9999 times; ECB over data ‖ pad; the
  4-byte MAC is the ГОСТ 28147 імітовставка of the decrypted data (jkurwa ignores it; the
  check follows the open Cryptonite/UAPKI code, ``RET_STORAGE_MAC_VERIFY_ERROR``).

A private key d ≥ n is taken modulo n (jkurwa's KeyE54B.cer stores one; jkurwa computes with it
as is, which is the same key).  A PEM key file may also carry the certificate (a bundle).

* PKCS#12 (.pfx/.p12, jkurwa lib/spec/pfx.js): PFX version 3 with a ``data`` authSafe whose
  AuthenticatedSafe holds ``data`` SafeContents (PKCS8ShroudedKeyBag with the PBES2 above, KeyBag,
  CertBag) and ``encryptedData`` (same PBES2) SafeContents.  MacData is checked as UAPKI and
  OpenSSL do (RFC 7292 appendix B key, ID 3, from the BMPString password with the MAC's hash —
  ГОСТ 34.311 or SHA-1/2 — then HMAC over the AuthenticatedSafe; jkurwa ignores the MAC) and a
  mismatch is a wrong password; a MAC with another digest (Kupyna) is not checked, the decrypted
  key's parse still catches a wrong password.  Certificates in cert bags are returned by :func:`load_container`.
* Java KeyStore ``.jks`` as PrivatBank issues it (jkurwa lib/util/load.js with jksreader):
  magic 0xFEEDFEED, versions 1 and 2, SHA-1 integrity digest over password (UTF-16BE) ‖
  "Mighty Aphrodite" ‖ store, private-key entries protected with Sun's key protector
  (1.3.6.1.4.1.42.2.17.1.1: SHA-1 keystream, SHA-1 check), the protected key a ДСТУ 4145
  PKCS#8 (or, tolerated, a Key-6.dat or PBES2 container); chain and trusted certificates are
  returned.  A store that starts with 0x51 and 6 junk bytes is read as jkurwa does.

jkurwa 1.21 ships no .pfx or .jks test file: tests/test_keystore_pfx_jks.py builds them and has
jkurwa and jksreader read them back.

One module per format (``pkcs8``, ``pbes2``, ``iit``, ``pkcs12``, ``jks``), ``load`` telling them
apart, ``signer`` pairing a key with its certificate; import from the package.
"""

from __future__ import annotations

# ``name as name``: outside __all__ as before the split, kept for the tests that build containers.
from .errors import (
    BadCertificate,
    CertificateNotValid,
    KeyContainerError,
    KeyMismatch,
    MalformedContainer,
    PasswordRequired,
    UnsupportedContainer,
    WrongPassword,
)
from .iit import IIT_STORE_OID as IIT_STORE_OID
from .iit import _IitStore as _IitStore
from .iit import decrypt_iit, iit_kdf
from .jks import JKS_KEY_PROTECTOR_OID as JKS_KEY_PROTECTOR_OID
from .jks import jks_unprotect
from .load import load_container, load_keys
from .pbes2 import GOST28147_CFB_OID as GOST28147_CFB_OID
from .pbes2 import HMAC_GOST34311_OID as HMAC_GOST34311_OID
from .pbes2 import PBES2_OID as PBES2_OID
from .pbes2 import PBKDF2_OID as PBKDF2_OID
from .pbes2 import _EncryptedPrivateKeyInfo as _EncryptedPrivateKeyInfo
from .pbes2 import _Pbes2Algorithm as _Pbes2Algorithm
from .pbes2 import _ProtectedKey as _ProtectedKey
from .pbes2 import decrypt_pbes2, pbkdf2_gost34311
from .pem import _pem as _pem
from .pkcs8 import IIT_KEY_BITS_OID as IIT_KEY_BITS_OID
from .pkcs8 import IIT_KEY_CURVE_OID as IIT_KEY_CURVE_OID
from .pkcs8 import PrivateKey, encode_pkcs8, parse_pkcs8
from .pkcs8 import _PrivateKeyInfo as _PrivateKeyInfo
from .pkcs8 import _reverse_bits as _reverse_bits
from .pkcs12 import GOST34311_OID as GOST34311_OID
from .pkcs12 import PKCS7_DATA_OID as PKCS7_DATA_OID
from .pkcs12 import PKCS7_ENCRYPTED_DATA_OID as PKCS7_ENCRYPTED_DATA_OID
from .pkcs12 import PKCS7_SIGNED_DATA_OID as PKCS7_SIGNED_DATA_OID
from .pkcs12 import PKCS12_CERT_BAG_OID as PKCS12_CERT_BAG_OID
from .pkcs12 import PKCS12_KEY_BAG_OID as PKCS12_KEY_BAG_OID
from .pkcs12 import PKCS12_SHROUDED_KEY_BAG_OID as PKCS12_SHROUDED_KEY_BAG_OID
from .pkcs12 import X509_CERT_OID as X509_CERT_OID
from .pkcs12 import _ContentInfo as _ContentInfo
from .pkcs12 import _EncryptedData as _EncryptedData
from .pkcs12 import _Pfx as _Pfx
from .pkcs12 import hmac_gost34311, pkcs12_kdf
from .signer import certificate_days_left, load_signer

__all__ = [
    "BadCertificate",
    "CertificateNotValid",
    "KeyContainerError",
    "KeyMismatch",
    "MalformedContainer",
    "PasswordRequired",
    "PrivateKey",
    "UnsupportedContainer",
    "WrongPassword",
    "certificate_days_left",
    "decrypt_iit",
    "decrypt_pbes2",
    "encode_pkcs8",
    "hmac_gost34311",
    "iit_kdf",
    "jks_unprotect",
    "load_container",
    "load_keys",
    "load_signer",
    "parse_pkcs8",
    "pbkdf2_gost34311",
    "pkcs12_kdf",
]
