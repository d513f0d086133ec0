"""Just enough DER to tell the container formats apart by their shape."""

from __future__ import annotations

from typing import Any

from asn1crypto import core, parser


def _elements(contents: bytes) -> list[tuple[Any, ...]]:
    out = []
    off = 0
    while off < len(contents):
        size = parser.peek(contents[off:])
        out.append(parser.parse(contents[off : off + size], strict=True))
        off += size
    return out


def _opening_oid(element: tuple[Any, ...]) -> str | None:
    """The OID that opens a SEQUENCE element (an AlgorithmIdentifier or ContentInfo), if any."""
    if element[0:3] != (0, 1, 16) or not element[4]:
        return None
    inner = _elements(element[4])[0]
    if inner[0:3] != (0, 0, 6):
        return None
    return str(core.ObjectIdentifier.load(inner[3] + inner[4]).dotted)


def _der_shape(der: bytes) -> tuple[int, str | None, str | None]:
    """Tag of an outer SEQUENCE's first element and the OIDs opening its first two elements."""
    outer = parser.parse(der, strict=True)
    if outer[0:3] != (0, 1, 16):
        raise ValueError("not a DER SEQUENCE")
    items = _elements(outer[4])
    if not items:
        raise ValueError("empty SEQUENCE")
    second = _opening_oid(items[1]) if len(items) > 1 else None
    return items[0][2], _opening_oid(items[0]), second
