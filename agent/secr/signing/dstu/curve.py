"""Binary-field elliptic curves of ДСТУ 4145-2002 (polynomial basis), in pure Python.

Field elements are Python ints whose bit i is the coefficient of t^i.  Points are affine
``(x, y)`` tuples, with ``None`` standing for the point at infinity; internally the
arithmetic uses López–Dahab projective coordinates (x = X/Z, y = Y/Z²) so that a scalar
multiplication needs a single field inversion.

The curves are y² + xy = x³ + A·x² + B over GF(2^m), A ∈ {0, 1}, as in ДСТУ 4145-2002.

Parameter sources for the named curves (the standard's table of recommended curves,
OIDs 1.2.804.2.1.1.1.1.3.1.1.2.0 … .2.9):

* Bouncy Castle, ``org.bouncycastle.asn1.ua.DSTU4145NamedCurves`` (bcgit/bc-java,
  core/src/main/java/org/bouncycastle/asn1/ua/DSTU4145NamedCurves.java) for all ten;
* jkurwa 1.21.0 ``lib/standard.js`` (``DSTU_PB_257``, ``DSTU_PB_431``), which agrees.

Timing: Python ints are not constant-time and the fixed-base table is indexed by secret
digits, so this code does not resist local timing side channels.  That is acceptable for
a box that signs its own documents, and is the reason it is not advertised as more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property

Point = tuple[int, int] | None
"""Affine point ``(x, y)``; ``None`` is the point at infinity."""

_Proj = tuple[int, int, int]
"""López–Dahab projective point (X, Y, Z); Z == 0 is infinity."""

_HEX_DIGITS = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))


class BinaryField:
    """GF(2^m) with polynomial basis, reduced by t^m + Σ t^k + 1 (a trinomial or pentanomial)."""

    def __init__(self, m: int, ks: Sequence[int]) -> None:
        if m % 2 == 0:
            # Half-trace (point decompression) and the trace trick of the compressed form
            # both rely on odd m; every ДСТУ 4145 field is odd.
            raise ValueError("only odd extension degrees are supported")
        if not ks or any(not 0 < k < m for k in ks) or len(set(ks)) != len(ks):
            raise ValueError("bad reduction polynomial exponents")
        self.m = m
        self.ks: tuple[int, ...] = tuple(sorted(ks, reverse=True))
        self.modulus = (1 << m) | 1 | sum(1 << k for k in self.ks)
        self.mask = (1 << m) - 1
        self.byte_len = (m + 7) // 8

    def __repr__(self) -> str:
        return f"BinaryField(m={self.m}, ks={self.ks})"

    def reduce(self, x: int) -> int:
        """Reduce a polynomial of any degree modulo the field polynomial."""
        m = self.m
        if x.bit_length() > 2 * m:
            # The sparse folding below converges slowly on very long inputs (e.g. hashes
            # longer than 2m); generic long division is simpler for that rare case.
            f = self.modulus
            while (d := x.bit_length() - 1 - m) > m:
                x ^= f << d
        mask = self.mask
        ks = self.ks
        while h := x >> m:
            x = (x & mask) ^ h
            for k in ks:
                x ^= h << k
        return x

    def mul(self, a: int, b: int) -> int:
        # Comb multiplication, 4 bits of b at a time: the 16 multiples of a are cheap to build
        # and iterating over b's hex digits keeps the per-step work to one shift and one xor
        # of big ints, which measured ~2x faster than bit- or nibble-shifting b.
        a2 = a << 1
        a4 = a << 2
        a8 = a << 3
        a3 = a2 ^ a
        a12 = a8 ^ a4
        t = (
            0, a, a2, a3, a4, a4 ^ a, a4 ^ a2, a4 ^ a3,
            a8, a8 ^ a, a8 ^ a2, a8 ^ a3, a12, a12 ^ a, a12 ^ a2, a12 ^ a3,
        )  # fmt: skip
        r = 0
        for digit in format(b, "x").encode().translate(_HEX_DIGITS):
            r = (r << 4) ^ t[digit]
        return self.reduce(r)

    def sqr(self, a: int) -> int:
        # Squaring spreads bit i to bit 2i; reading the binary digits in base 4 does exactly
        # that inside the C parser, ~6x faster than any Python-level loop.
        return self.reduce(int(format(a, "b"), 4))

    def inv(self, a: int) -> int:
        """Multiplicative inverse (binary extended Euclid over GF(2)[t])."""
        a = self.reduce(a)
        if a == 0:
            raise ZeroDivisionError("inverse of zero in GF(2^m)")
        u, v = a, self.modulus
        g1, g2 = 1, 0
        while u != 1:
            j = u.bit_length() - v.bit_length()
            if j < 0:
                u, v = v, u
                g1, g2 = g2, g1
                j = -j
            u ^= v << j
            g1 ^= g2 << j
        return self.reduce(g1)

    def div(self, a: int, b: int) -> int:
        return self.mul(a, self.inv(b))

    @cached_property
    def _trace_mask(self) -> int:
        # Tr is GF(2)-linear, so Tr(a) = parity(a & mask) with mask bit i = Tr(t^i).
        # Tr(t^i) is the i-th power sum of the roots of f; Newton's identities give them in
        # O(m·#terms) from the sparse coefficients instead of m² squarings.
        m = self.m
        coeff = {m - k for k in self.ks} | {m}  # j such that c_{m-j} = 1 (f monic)
        s = [m & 1]
        for i in range(1, m):
            acc = i & 1 if i in coeff else 0
            for j in coeff:
                if j < i:
                    acc ^= s[i - j]
            s.append(acc)
        return sum(1 << i for i, bit in enumerate(s) if bit)

    def trace(self, a: int) -> int:
        return (self.reduce(a) & self._trace_mask).bit_count() & 1

    def half_trace(self, a: int) -> int:
        """H(a) = Σ_{i=0}^{(m-1)/2} a^(4^i); solves z² + z = a when Tr(a) = 0 (m odd)."""
        a = self.reduce(a)
        z = a
        for _ in range((self.m - 1) // 2):
            z = self.sqr(self.sqr(z)) ^ a
        return z

    def solve_quadratic(self, beta: int) -> int | None:
        """One root z of z² + z = β, or None when Tr(β) = 1 (no root); the other root is z + 1."""
        if self.trace(beta):
            return None
        return self.half_trace(beta)

    def sqrt(self, a: int) -> int:
        # a^(2^(m-1)): squaring is a permutation of order m on GF(2^m).
        for _ in range(self.m - 1):
            a = self.sqr(a)
        return a

    def to_bytes_le(self, a: int) -> bytes:
        return a.to_bytes(self.byte_len, "little")


@dataclass(frozen=True, eq=False)
class Curve:
    """A ДСТУ 4145 domain: curve y² + xy = x³ + A·x² + B over GF(2^m), base point P of prime order n."""

    name: str
    m: int
    ks: tuple[int, ...]
    a: int
    b: int
    base: tuple[int, int]
    n: int
    cofactor: int
    oid: str | None = None
    field: BinaryField = dataclass_field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.a not in (0, 1):
            raise ValueError("ДСТУ 4145 curves have A ∈ {0, 1}")
        object.__setattr__(self, "field", BinaryField(self.m, self.ks))

    # --- elementary operations on affine points -------------------------------------------

    def is_on_curve(self, p: Point) -> bool:
        if p is None:
            return True
        x, y = p
        f = self.field
        if x >> self.m or y >> self.m:
            return False
        x2 = f.sqr(x)
        lhs = f.sqr(y) ^ f.mul(x, y)
        rhs = f.mul(x2, x) ^ (x2 if self.a else 0) ^ self.b
        return lhs == rhs

    def negate(self, p: Point) -> Point:
        if p is None:
            return None
        x, y = p
        return (x, x ^ y)

    def add(self, p: Point, q: Point) -> Point:
        """Affine addition (one inversion); used for verification's final sum and tests."""
        if p is None:
            return q
        if q is None:
            return p
        f = self.field
        x1, y1 = p
        x2, y2 = q
        if x1 == x2:
            if y1 != y2 or x1 == 0:  # q == -p, or p == -p (the point of order 2)
                return None
            lam = x1 ^ f.div(y1, x1)
            x3 = f.sqr(lam) ^ lam ^ self.a
        else:
            lam = f.div(y1 ^ y2, x1 ^ x2)
            x3 = f.sqr(lam) ^ lam ^ x1 ^ x2 ^ self.a
        y3 = f.mul(lam, x1 ^ x3) ^ x3 ^ y1
        return (x3, y3)

    # --- López–Dahab projective arithmetic --------------------------------------------------

    def _double_ld(self, p: _Proj) -> _Proj:
        x1, y1, z1 = p
        if z1 == 0:
            return p
        f = self.field
        z1sq = f.sqr(z1)
        x1sq = f.sqr(x1)
        bz4 = f.mul(self.b, f.sqr(z1sq))
        z3 = f.mul(x1sq, z1sq)
        x3 = f.sqr(x1sq) ^ bz4
        t = f.sqr(y1) ^ bz4
        if self.a:
            t ^= z3
        y3 = f.mul(bz4, z3) ^ f.mul(x3, t)
        return (x3, y3, z3)

    def _add_mixed(self, p: _Proj, q: tuple[int, int]) -> _Proj:
        """LD + affine (Hankerson–Menezes–Vanstone, Alg. 3.25): 8M + 5S, no inversion."""
        x1, y1, z1 = p
        x2, y2 = q
        if z1 == 0:
            return (x2, y2, 1)
        f = self.field
        z1sq = f.sqr(z1)
        a_ = f.mul(y2, z1sq) ^ y1
        b_ = f.mul(x2, z1) ^ x1
        if b_ == 0:
            if a_ == 0:
                return self._double_ld((x2, y2, 1))
            return (1, 0, 0)
        c = f.mul(z1, b_)
        d = f.mul(f.sqr(b_), c ^ z1sq if self.a else c)
        z3 = f.sqr(c)
        e = f.mul(a_, c)
        x3 = f.sqr(a_) ^ d ^ e
        g = f.mul(x2 ^ y2, f.sqr(z3))
        y3 = f.mul(e ^ z3, x3 ^ f.mul(x2, z3)) ^ g
        return (x3, y3, z3)

    def _to_affine(self, p: _Proj) -> Point:
        x, y, z = p
        if z == 0:
            return None
        f = self.field
        zi = f.inv(z)
        return (f.mul(x, zi), f.mul(y, f.sqr(zi)))

    def _batch_to_affine(self, pts: list[_Proj]) -> list[tuple[int, int]]:
        # Montgomery's trick: one inversion for the whole list instead of one per point,
        # which is what makes building the fixed-base table affordable.
        f = self.field
        prefix = [1]
        for _, _, z in pts:
            prefix.append(f.mul(prefix[-1], z))
        acc = f.inv(prefix[-1])
        out: list[tuple[int, int]] = [(0, 0)] * len(pts)
        for i in range(len(pts) - 1, -1, -1):
            x, y, z = pts[i]
            zi = f.mul(acc, prefix[i])
            acc = f.mul(acc, z)
            out[i] = (f.mul(x, zi), f.mul(y, f.sqr(zi)))
        return out

    # --- scalar multiplication --------------------------------------------------------------

    def mul(self, k: int, p: Point) -> Point:
        """k·p for an arbitrary point (Montgomery ladder on x, López–Dahab; y recovered at the end)."""
        if p is None:
            return None
        if k < 0:
            return self.mul(-k, self.negate(p))
        if k == 0:
            return None
        x, y = p
        if x == 0:
            # The point of order 2: the x-only ladder cannot handle it (division by x).
            return p if k & 1 else None
        f = self.field
        b = self.b
        x1, z1 = x, 1
        z2 = f.sqr(x)
        x2 = f.sqr(z2) ^ b
        for i in range(k.bit_length() - 2, -1, -1):
            # Madd into the "other" register, Mdouble the one selected by the bit.
            if (k >> i) & 1:
                t1 = f.mul(x1, z2)
                t2 = f.mul(x2, z1)
                z1 = f.sqr(t1 ^ t2)
                x1 = f.mul(x, z1) ^ f.mul(t1, t2)
                zz = f.sqr(z2)
                xx = f.sqr(x2)
                z2 = f.mul(xx, zz)
                x2 = f.sqr(xx) ^ f.mul(b, f.sqr(zz))
            else:
                t1 = f.mul(x1, z2)
                t2 = f.mul(x2, z1)
                z2 = f.sqr(t1 ^ t2)
                x2 = f.mul(x, z2) ^ f.mul(t1, t2)
                zz = f.sqr(z1)
                xx = f.sqr(x1)
                z1 = f.mul(xx, zz)
                x1 = f.sqr(xx) ^ f.mul(b, f.sqr(zz))
        if z1 == 0:
            return None
        if z2 == 0:
            return (x, x ^ y)  # (k+1)·p = O, so k·p = −p
        # y recovery (López–Dahab, HMV Alg. 3.40) sharing one inversion.
        xz2 = f.mul(x, z2)
        inv = f.inv(f.mul(xz2, z1))
        x1a = f.mul(f.mul(x1, xz2), inv)
        z1z2 = f.mul(z1, z2)
        num = f.mul(x1 ^ f.mul(x, z1), x2 ^ xz2) ^ f.mul(f.sqr(x) ^ y, z1z2)
        y1a = f.mul(f.mul(x ^ x1a, num), inv) ^ y
        return (x1a, y1a)

    # Window width for the fixed-base table: 5 bits gives at most 53 additions per signature
    # on m = 257 for a table of 53×16 affine points built once (~80 ms).
    _WINDOW = 5

    @cached_property
    def _base_table(self) -> list[list[tuple[int, int]]]:
        w = self._WINDOW
        half = 1 << (w - 1)
        windows = (self.n.bit_length() + 1 + w - 1) // w + 1
        proj: list[_Proj] = []
        g: _Proj = (self.base[0], self.base[1], 1)
        for _ in range(windows):
            g_aff = self._to_affine(g)
            assert g_aff is not None  # multiples 2^(wi)·P of a point of odd order n are never O
            row: list[_Proj] = [g]
            acc = g
            for _ in range(half - 1):
                acc = self._add_mixed(acc, g_aff)
                row.append(acc)
            proj.extend(row)
            for _ in range(w):
                g = self._double_ld(g)
        flat = self._batch_to_affine(proj)
        return [flat[i * half : (i + 1) * half] for i in range(windows)]

    def mul_base(self, k: int) -> Point:
        """k·P for the base point, with a precomputed signed fixed-window table (no doublings)."""
        k %= self.n
        if k == 0:
            return None
        w = self._WINDOW
        full = 1 << w
        half = full >> 1
        table = self._base_table
        acc: _Proj = (1, 0, 0)
        i = 0
        while k:
            d = k & (full - 1)
            k >>= w
            if d > half:
                # Signed digits halve the table: negation is free on a binary curve.
                d -= full
                k += 1
            if d > 0:
                acc = self._add_mixed(acc, table[i][d - 1])
            elif d < 0:
                x, y = table[i][-d - 1]
                acc = self._add_mixed(acc, (x, x ^ y))
            i += 1
        return self._to_affine(acc)

    def precompute(self) -> None:
        """Build the fixed-base table now rather than on the first signature."""
        _ = self._base_table

    # --- ДСТУ 4145 point compression (as the standard and jkurwa ``Point.compress``) ------

    def compress(self, p: tuple[int, int]) -> int:
        """x with its lowest bit replaced by Tr(y/x).

        For a point of the order-n subgroup Tr(x) = Tr(A), so the lowest bit of x is redundant
        and can carry the bit that picks y.
        """
        x, y = p
        if x == 0:
            raise ValueError("the point of order 2 has no ДСТУ 4145 compressed form")
        f = self.field
        bit = f.trace(f.div(y, x))
        return (x & ~1) | bit

    def decompress(self, c: int) -> tuple[int, int]:
        """Inverse of :meth:`compress`; raises ValueError when c is not the x of a curve point."""
        f = self.field
        if c < 0 or c >> self.m:
            raise ValueError("compressed point out of range")
        k = c & 1
        x = c & ~1
        if f.trace(x) != self.a:
            x |= 1
        if x == 0:
            raise ValueError("compressed point out of range")
        x2 = f.sqr(x)
        # y = z·x where z² + z = x + A + B/x²
        beta = x ^ self.a ^ f.div(self.b, x2)
        z = f.solve_quadratic(beta)
        if z is None:
            raise ValueError("not the x-coordinate of a point on the curve")
        if f.trace(z) != k:
            z ^= 1
        return (x, f.mul(z, x))

    @property
    def byte_len(self) -> int:
        """Bytes of a field element in the little-endian encodings (⌈m/8⌉)."""
        return self.field.byte_len

    @property
    def n_byte_len(self) -> int:
        """Bytes of each signature half (⌈L(n)/8⌉, as jkurwa's ``truncate_buf8``)."""
        return (self.n.bit_length() + 7) // 8


def _h(s: str) -> int:
    return int(s.replace(" ", ""), 16)


DSTU4145_LE_OID = "1.2.804.2.1.1.1.1.3.1.1"
"""Algorithm OID for ДСТУ 4145 with GOST 34.311, polynomial basis, little-endian encodings."""
DSTU4145_BE_OID = "1.2.804.2.1.1.1.1.3.1.1.1.1"
"""Same, big-endian encodings (rare in practice; certificates of the tax service use LE)."""
_CURVE_OID_BASE = DSTU4145_LE_OID + ".2"

# (m, ks, A, B, n, cofactor, Px, Py) — the standard's table of recommended curves, transcribed
# from Bouncy Castle's DSTU4145NamedCurves; 257 and 431 also match jkurwa's lib/standard.js.
_NAMED: tuple[tuple[int, tuple[int, ...], int, str, str, int, str, str], ...] = (
    (163, (7, 6, 3), 1,
     "5FF6108462A2DC8210AB403925E638A19C1455D21",
     "400000000000000000002BEC12BE2262D39BCF14D", 2,
     "2E2F85F5DD74CE983A5C4237229DAF8A3F35823BE",
     "3826F008A8C51D7B95284D9D03FF0E00CE2CD723A"),
    (167, (6,), 1,
     "6EE3CEEB230811759F20518A0930F1A4315A827DAC",
     "3FFFFFFFFFFFFFFFFFFFFFB12EBCC7D7F29FF7701F", 2,
     "7A1F6653786A68192803910A3D30B2A2018B21CD54",
     "5F49EB26781C0EC6B8909156D98ED435E45FD59918"),
    (173, (10, 2, 1), 0,
     "108576C80499DB2FC16EDDF6853BBB278F6B6FB437D9",
     "800000000000000000000189B4E67606E3825BB2831", 4,
     "4D41A619BCC6EADF0448FA22FAD567A9181D37389CA",
     "10B51CC12849B234C75E6DD2028BF7FF5C1CE0D991A1"),
    (179, (4, 2, 1), 1,
     "4A6E0856526436F2F88DD07A341E32D04184572BEB710",
     "3FFFFFFFFFFFFFFFFFFFFFFB981960435FE5AB64236EF", 2,
     "6BA06FE51464B2BD26DC57F48819BA9954667022C7D03",
     "25FBC363582DCEC065080CA8287AAFF09788A66DC3A9E"),
    (191, (9,), 1,
     "7BC86E2102902EC4D5890E8B6B4981FF27E0482750FEFC03",
     "40000000000000000000000069A779CAC1DABC6788F7474F", 2,
     "714114B762F2FF4A7912A6D2AC58B9B5C2FCFE76DAEB7129",
     "29C41E568B77C617EFE5902F11DB96FA9613CD8D03DB08DA"),
    (233, (9, 4, 1), 1,
     "06973B15095675534C7CF7E64A21BD54EF5DD3B8A0326AA936ECE454D2C",
     "1000000000000000000000000000013E974E72F8A6922031D2603CFE0D7", 2,
     "3FCDA526B6CDF83BA1118DF35B3C31761D3545F32728D003EEB25EFE96",
     "9CA8B57A934C54DEEDA9E54A7BBAD95E3B2E91C54D32BE0B9DF96D8D35"),
    (257, (12,), 0,
     "1CEF494720115657E18F938D7A7942394FF9425C1458C57861F9EEA6ADBE3BE10",
     "800000000000000000000000000000006759213AF182E987D3E17714907D470D", 4,
     "02A29EF207D0E9B6C55CD260B306C7E007AC491CA1B10C62334A9E8DCD8D20FB7",
     "10686D41FF744D4449FCCF6D8EEA03102E6812C93A9D60B978B702CF156D814EF"),
    (307, (8, 4, 2), 1,
     "393C7F7D53666B5054B5E6C6D3DE94F4296C0C599E2E2E241050DF18B6090BDC90186904968BB",
     "3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC079C2F3825DA70D390FBBA588D4604022B7B7", 2,
     "216EE8B189D291A0224984C1E92F1D16BF75CCD825A087A239B276D3167743C52C02D6E7232AA",
     "5D9306BACD22B7FAEB09D2E049C6E2866C5D1677762A8F2F2DC9A11C7F7BE8340AB2237C7F2A0"),
    (367, (21,), 1,
     "43FC8AD242B0B7A6F3D1627AD5654447556B47BF6AA4A64B0C2AFE42CADAB8F93D92394C79A79755437B56995136",
     "40000000000000000000000000000000000000000000009C300B75A3FA824F22428FD28CE8812245EF44049B2D49", 2,
     "324A6EDDD512F08C49A99AE0D3F961197A76413E7BE81A400CA681E09639B5FE12E59A109F78BF4A373541B3B9A1",
     "1AB597A5B4477F59E39539007C7F977D1A567B92B043A49C6B61984C3FE3481AAF454CD41BA1F051626442B3C10"),
    (431, (5, 3, 1), 1,
     "3CE10490F6A708FC26DFE8C3D27C4F94E690134D5BFF988D8D28AAEAEDE975936C66BAC536B18AE2DC312CA493117DAA469C640CAF3",
     "3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFBA3175458009A8C0A724F02F81AA8A1FCBAF80D90C7A95110504CF", 2,
     "1A62BA79D98133A16BBAE7ED9A8E03C32E0824D57AEF72F88986874E5AAE49C27BED49A2A95058068426C2171E99FD3B43C5947C857D",
     "70B5E1E14031C1F70BBEFE96BDDE66F451754B4CA5F48DA241F331AA396B8D1839A855C1769B1EA14BA53308B5E2723724E090E02DB9"),
)  # fmt: skip

CURVES: dict[str, Curve] = {}
"""Named curves by jkurwa's name (``DSTU_PB_257`` …); also reachable by OID via :data:`CURVES_BY_OID`."""
for _i, (_m, _ks, _a, _b, _n, _cof, _px, _py) in enumerate(_NAMED):
    CURVES[f"DSTU_PB_{_m}"] = Curve(
        name=f"DSTU_PB_{_m}",
        m=_m,
        ks=_ks,
        a=_a,
        b=_h(_b),
        base=(_h(_px), _h(_py)),
        n=_h(_n),
        cofactor=_cof,
        oid=f"{_CURVE_OID_BASE}.{_i}",
    )
del _i, _m, _ks, _a, _b, _n, _cof, _px, _py

CURVES_BY_OID: dict[str, Curve] = {c.oid: c for c in CURVES.values() if c.oid is not None}


def curve_by_m(m: int) -> Curve:
    """The named curve over GF(2^m), e.g. ``curve_by_m(257)``."""
    try:
        return CURVES[f"DSTU_PB_{m}"]
    except KeyError:
        raise KeyError(f"no ДСТУ 4145 named curve with m = {m}") from None
