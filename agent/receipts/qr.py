"""The receipt's QR code: the cabinet search URL of §6.3 and its images.

The QR itself is drawn by ``segno`` (pure Python, typed) so the till API can serve it without Pillow;
Pillow is only needed for the PNG of a whole receipt.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

import segno

from agent.clock import KYIV

CABINET_URL = "https://cabinet.tax.gov.ua/cashregs/check"

# Medium error correction: thermal paper smudges, and the URL still fits a version-6/7 symbol that
# prints legibly at 2-3 dots per module on 58 mm paper.
_ERROR = "m"


def qr_url(
    *,
    when: datetime,
    fiscal_num: str | int,
    total: Decimal,
    fn: str | int,
    mac: str | None = None,
) -> str:
    """``…/cashregs/check?[mac=…&]date=YYYYMMDD&time=HHMMSS&id=…&sm=0.00&fn=…`` (§6.3, "Our recommendation").

    ``when`` is the document's own ORDERDATE/ORDERTIME (any aware datetime; shown in Kyiv time),
    ``total`` CHECKTOTAL/SUM (printed positive, two decimals, dot), ``fn`` the ПРРО fiscal number,
    ``mac`` the document's PREVDOCHASH -- pass it for offline documents only; left out when None.
    """
    if when.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    local = when.astimezone(KYIV)
    params: list[tuple[str, str]] = []
    if mac:
        params.append(("mac", mac.lower()))
    params += [
        ("date", local.strftime("%Y%m%d")),
        ("time", local.strftime("%H%M%S")),
        ("id", str(fiscal_num)),
        ("sm", f"{abs(total):.2f}"),
        ("fn", str(fn)),
    ]
    # Offline numbers contain dots, which are URL-safe; anything else odd is escaped, not dropped.
    return CABINET_URL + "?" + "&".join(f"{k}={quote(v, safe='.')}" for k, v in params)


def qr_code(url: str) -> segno.QRCode:
    return segno.make_qr(url, error=_ERROR)


def qr_png(url: str, *, scale: int = 4, border: int = 4) -> bytes:
    """A black-on-white PNG of the URL's QR code; ``border`` is the quiet zone in modules (spec: 4)."""
    buf = io.BytesIO()
    qr_code(url).save(buf, kind="png", scale=scale, border=border)
    return buf.getvalue()


def qr_svg(url: str, *, scale: int = 4, border: int = 4) -> str:
    """An ``<svg>`` element (no XML declaration) to inline into HTML."""
    return str(qr_code(url).svg_inline(scale=scale, border=border))


def qr_matrix(url: str, *, border: int = 4) -> list[list[bool]]:
    """Dark modules (True) row by row, quiet zone included -- for renderers that draw the code themselves."""
    return [[bool(v) for v in row] for row in qr_code(url).matrix_iter(scale=1, border=border)]
