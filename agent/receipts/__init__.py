"""Receipt layout and renderers: one layout, shared by the till API (text, HTML, PNG) and the printer."""

from __future__ import annotations

from agent.receipts.layout import (
    Align,
    Blank,
    Layout,
    LayoutLine,
    Pair,
    Qr,
    Separator,
    Text,
    layout_receipt,
    layout_x_report,
    wrap,
)
from agent.receipts.qr import qr_matrix, qr_png, qr_svg, qr_url
from agent.receipts.render import to_html, to_png, to_text

__all__ = [
    "Align",
    "Blank",
    "Layout",
    "LayoutLine",
    "Pair",
    "Qr",
    "Separator",
    "Text",
    "layout_receipt",
    "layout_x_report",
    "qr_matrix",
    "qr_png",
    "qr_svg",
    "qr_url",
    "to_html",
    "to_png",
    "to_text",
    "wrap",
]
