"""ДСТУ 4145-2002 digital signatures over binary curves (pure Python, no I/O).

The API signs a *hash value* (bytes, normally GOST 34.311-95 output) — hashing the document is
the caller's job.  Conventions follow the standard and the encodings used in Ukrainian
certificates and CMS (interoperable with jkurwa and Bouncy Castle):

* hash → field element: the hash bytes are a little-endian integer (jkurwa reverses the bytes
  before reading them big-endian; Bouncy Castle does the same), truncated to its lowest m bits,
  and 0 is replaced by 1 (the standard's worked example; BC ``DSTU4145Signer.hash2FieldElement``);
* public key Q = −d·P, stored as the compressed point (:meth:`Curve.compress`) in ⌈m/8⌉
  little-endian bytes, wrapped in a DER OCTET STRING inside the certificate;
* signature (r, s): r and s each in ⌈L(n)/8⌉ little-endian bytes, r first — the little-endian
  encoding of the standard's D = s·2^(L_D/2) + r — wrapped in a DER OCTET STRING.

One known divergence: for hashes longer than m bits jkurwa (1.21.0) reduces the hash modulo the
field polynomial instead of truncating it.  This module follows the standard (and Bouncy
Castle's truncation test vector); the two agree whenever the hash fits in m bits, which holds
for the 256-bit GOST 34.311 hash on every curve with m ≥ 257.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .curve import Curve

__all__ = [
    "Signature",
    "decode_public_key",
    "der_octet_string",
    "encode_public_key",
    "generate_private_key",
    "hash_to_field",
    "parse_der_octet_string",
    "public_key",
    "sign_digest",
    "verify_digest",
]


def hash_to_field(curve: Curve, digest: bytes) -> int:
    """The field element h of a hash value (little-endian, lowest m bits, 0 → 1)."""
    if not digest:
        raise ValueError("empty hash value")
    h = int.from_bytes(digest, "little") & curve.field.mask
    return h or 1


def _field_to_scalar(curve: Curve, y: int) -> int:
    # The standard keeps the L(n) − 1 lowest bits, so r < 2^(L(n)−1) < n always holds.
    return y & ((1 << (curve.n.bit_length() - 1)) - 1)


def _check_private_key(curve: Curve, d: int) -> None:
    if not 0 < d < curve.n:
        raise ValueError("private key out of range 1 … n−1")


def generate_private_key(curve: Curve) -> int:
    return secrets.randbelow(curve.n - 1) + 1


def public_key(curve: Curve, d: int) -> tuple[int, int]:
    """Q = −d·P (the minus sign is ДСТУ 4145's, so that verification is s·P + r·Q)."""
    _check_private_key(curve, d)
    q = curve.negate(curve.mul_base(d))
    assert q is not None  # 0 < d < n and P has order n
    return q


@dataclass(frozen=True)
class Signature:
    r: int
    s: int

    def to_bytes(self, curve: Curve) -> bytes:
        """r ‖ s, each little-endian in ⌈L(n)/8⌉ bytes (jkurwa ``sign(hash, 'le')``)."""
        size = curve.n_byte_len
        return self.r.to_bytes(size, "little") + self.s.to_bytes(size, "little")

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Parse r ‖ s; halves of any even length are accepted, range checks happen in verify."""
        if not data or len(data) % 2:
            raise ValueError("ДСТУ 4145 signature must have a non-zero even length")
        half = len(data) // 2
        return cls(int.from_bytes(data[:half], "little"), int.from_bytes(data[half:], "little"))

    def to_octet_string(self, curve: Curve) -> bytes:
        """DER OCTET STRING of :meth:`to_bytes` — what a CMS SignerInfo's signature holds."""
        return der_octet_string(self.to_bytes(curve))

    @classmethod
    def from_octet_string(cls, der: bytes) -> Signature:
        return cls.from_bytes(parse_der_octet_string(der))


def sign_digest(curve: Curve, d: int, digest: bytes, *, e: int | None = None) -> Signature:
    """Sign a hash value with private key d.

    ``e`` is the per-signature secret; leave it None (fresh from :mod:`secrets`).  Passing it
    exists only for known-answer tests: reusing an e for two hashes reveals d.
    """
    _check_private_key(curve, d)
    h = hash_to_field(curve, digest)
    n = curve.n
    f = curve.field
    while True:
        ek = secrets.randbelow(n - 1) + 1 if e is None else e
        if not 0 < ek < n:
            raise ValueError("e out of range 1 … n−1")
        pre = curve.mul_base(ek)
        # The standard restarts with a new e whenever F_e.x, r or s comes out zero.
        if pre is not None and pre[0] != 0:
            r = _field_to_scalar(curve, f.mul(h, pre[0]))
            if r != 0:
                s = (ek + d * r) % n
                if s != 0:
                    return Signature(r, s)
        if e is not None:
            raise ValueError("the given e yields a degenerate signature; pick another")


def verify_digest(curve: Curve, q: tuple[int, int] | None, digest: bytes, signature: Signature) -> bool:
    """Check a signature of a hash value against public key Q (as from :func:`decode_public_key`)."""
    r, s = signature.r, signature.s
    n = curve.n
    if not (0 < r < n and 0 < s < n):
        return False
    if q is None or not curve.is_on_curve(q):
        return False
    h = hash_to_field(curve, digest)
    pt = curve.add(curve.mul_base(s), curve.mul(r, q))
    if pt is None:
        return False
    return _field_to_scalar(curve, curve.field.mul(h, pt[0])) == r


def encode_public_key(curve: Curve, q: tuple[int, int]) -> bytes:
    """Compressed Q, ⌈m/8⌉ bytes little-endian (the certificate's key, minus the OCTET STRING)."""
    return curve.field.to_bytes_le(curve.compress(q))


def decode_public_key(curve: Curve, data: bytes, *, check_order: bool = True) -> tuple[int, int]:
    """Decompress and validate a public key from :func:`encode_public_key`'s form.

    ``check_order`` verifies n·Q = O (one scalar multiplication).  Decompression alone only
    guarantees Q lies on the curve; on the cofactor-4 curves (A = 0) that is not enough to
    exclude small-order components, so keep it on for keys from outside.
    """
    if len(data) != curve.byte_len:
        raise ValueError(f"public key must be {curve.byte_len} bytes for m = {curve.m}")
    q = curve.decompress(int.from_bytes(data, "little"))
    if check_order and curve.mul(curve.n, q) is not None:
        raise ValueError("public key is not in the subgroup of order n")
    return q


def der_octet_string(data: bytes) -> bytes:
    """DER-encode bytes as an OCTET STRING (tag 0x04, definite length)."""
    size = len(data)
    if size < 0x80:
        header = bytes((0x04, size))
    else:
        length = size.to_bytes((size.bit_length() + 7) // 8, "big")
        header = bytes((0x04, 0x80 | len(length))) + length
    return header + data


def parse_der_octet_string(der: bytes) -> bytes:
    """Inverse of :func:`der_octet_string`; rejects anything but one definite-length OCTET STRING."""
    if len(der) < 2 or der[0] != 0x04:
        raise ValueError("not a DER OCTET STRING")
    first = der[1]
    if first < 0x80:
        size, start = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            raise ValueError("bad DER length")
        size = int.from_bytes(der[2 : 2 + count], "big")
        start = 2 + count
        if size < 0x80 or der[2] == 0:
            raise ValueError("non-minimal DER length")
    if len(der) != start + size:
        raise ValueError("DER OCTET STRING length mismatch")
    return der[start:]
