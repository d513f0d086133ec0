"""Renderers of a ``Layout``: plain text, a self-contained HTML page, a PNG image.

All three wrap with the same helpers (``layout.wrap`` / ``layout.pair_lines``), so the text, the picture
and the paper break lines in the same places. Double-size lines take two columns per character, as on
an ESC/POS printer, in HTML and PNG; plain text has no sizes and prints them at normal width.

Plain text shows the QR as its URL, broken only before its ``?`` and ``&`` separators so that no
parameter is split (agent.receipts.checkurl.url_rows; every character kept), and leaves out the line that
paper prints under the QR (``QrCaption``: "checked by the QR code" is not true of a text without one). A
block-character QR would need 45+ columns, and most text consumers (logs, SMS, e-mail) cannot scan it.
HTML and PNG draw the QR and keep the caption, as paper does; HTML also spells the URL out, in small type.
"""

from __future__ import annotations

import html
import io
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from agent.receipts.checkurl import url_rows
from agent.receipts.layout import Layout, LayoutLine, Pair, Qr, QrCaption, Separator, Text, align_line
from agent.receipts.qr import qr_matrix, qr_svg
from agent.receipts.wrapping import pair_lines, wrap

WIDTH_PX_58MM = 384  # 48 mm printable at 203 dpi
WIDTH_PX_80MM = 576  # 72 mm printable at 203 dpi

_FONT_NAMES = ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)


def _line_text(line: LayoutLine, width: int) -> list[str]:
    """The monospaced rows of one layout line at ``width`` columns."""
    if isinstance(line, Text):
        return [align_line(t, line.align, width).rstrip() for t in wrap(line.text, width)]
    if isinstance(line, Pair):
        return pair_lines(line.label, line.value, width)
    if isinstance(line, Separator):
        return [line.char * width]
    if isinstance(line, Qr):
        return url_rows(line.url, width)
    return [""]


def to_text(layout: Layout, width_chars: int | None = None) -> str:
    """Plain UTF-8 text, one receipt row per line, no line longer than ``width_chars``."""
    width = width_chars or layout.width_chars
    rows: list[str] = []
    for line in layout:
        if not isinstance(line, QrCaption):
            rows.extend(_line_text(line, width))
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------

_CSS = """
body { margin: 0; padding: 16px; background: #e8e8e8; }
.receipt { width: %(w)dch; margin: 0 auto; padding: 14px 12px; background: #fff; color: #000;
  font-family: "DejaVu Sans Mono", "Liberation Mono", Consolas, monospace; font-size: 14px;
  line-height: 1.3; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
.t { white-space: pre-wrap; overflow-wrap: anywhere; min-height: 1.3em; }
.center { text-align: center; } .right { text-align: right; } .left { text-align: left; }
.b { font-weight: bold; } .d { font-size: 200%%; }
.p { display: flex; justify-content: space-between; align-items: flex-end; gap: 1ch; }
.p .k { overflow-wrap: anywhere; min-width: 0; } .p .v { white-space: nowrap; text-align: right; }
.sep { border: 0; border-top: 1px dashed #000; margin: 4px 0; }
.qr { text-align: center; margin: 6px 0; } .qr svg { width: 60%%; height: auto; }
.url { font-size: 9px; overflow-wrap: anywhere; text-align: center; }
"""


def _classes(*names: str) -> str:
    return " ".join(n for n in names if n)


def to_html(layout: Layout, *, title: str = "Чек") -> str:
    """A self-contained UTF-8 HTML page (inline CSS, the QR as inline SVG), receipt-like and monospaced."""
    parts: list[str] = []
    for line in layout:
        if isinstance(line, Text):
            cls = _classes("t", line.align.value, "b" if line.bold else "", "d" if line.double else "")
            parts.append(f'<div class="{cls}">{html.escape(line.text)}</div>')
        elif isinstance(line, Pair):
            cls = _classes("p", "b" if line.bold else "", "d" if line.double else "")
            parts.append(
                f'<div class="{cls}"><span class="k">{html.escape(line.label)}</span>'
                f'<span class="v">{html.escape(line.value)}</span></div>'
            )
        elif isinstance(line, Separator):
            parts.append('<hr class="sep">')
        elif isinstance(line, Qr):
            url = html.escape(line.url)
            parts.append(f'<div class="qr"><a href="{url}">{qr_svg(line.url, scale=4)}</a></div>')
            parts.append(f'<div class="url">{url}</div>')
        else:
            parts.append('<div class="t"></div>')
    body = "\n".join(parts)
    css = _CSS % {"w": layout.width_chars}
    return (
        '<!DOCTYPE html>\n<html lang="uk">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n"
        f'<body>\n<div class="receipt">\n{body}\n</div>\n</body>\n</html>\n'
    )


# ------------------------------------------------------------------------------------------------
# PNG
# ------------------------------------------------------------------------------------------------


def _find_font(name: str) -> str:
    for d in _FONT_DIRS:
        if (d / name).is_file():
            return str(d / name)
    raise FileNotFoundError(
        f"font {name} not found in {', '.join(map(str, _FONT_DIRS))}; install fonts-dejavu-core "
        "or pass font_path/bold_font_path (a monospaced TTF with Cyrillic)"
    )


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


# What the font's shaper (Pillow's raqm layout) refuses outright, RuntimeError "raqm_layout() failed":
# the carriage return, the C0 and C1 control characters and the line and paragraph separators. A registered
# document may carry some of them (XML allows U+0085 and U+2028/9, and CR as &#13;), so the picture
# draws a space there, as the printer does for a control character.
_UNDRAWABLE = {cp: " " for cp in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


def default_width_px(width_chars: int) -> int:
    return WIDTH_PX_58MM if width_chars <= 32 else WIDTH_PX_80MM


def to_png(
    layout: Layout,
    width_px: int | None = None,
    *,
    font_path: str | None = None,
    bold_font_path: str | None = None,
) -> bytes:
    """A grayscale PNG ``width_px`` wide (default 384 for ≤32 columns, else 576), QR included."""
    columns = layout.width_chars
    width = width_px or default_width_px(columns)
    regular = font_path or _find_font(_FONT_NAMES[0])
    bold = bold_font_path or (font_path if font_path else _find_font(_FONT_NAMES[1]))
    # Fit ``columns`` monospaced cells into the width: size the font by its advance, not its em.
    probe = _font(regular, 100).getlength("Ш") / 100
    margin = max(4, width // 48)
    size = max(6, int((width - 2 * margin) / columns / probe))
    line_h = round(size * 1.3)

    ops: list[tuple[int, str | Image.Image, bool, bool]] = []  # (y, row text or QR image, bold, double)
    y = margin
    for line in layout:
        if isinstance(line, Qr):
            matrix = qr_matrix(line.url, border=2)
            n = len(matrix)
            scale = max(1, int(width * 0.6) // n)
            img = Image.new("1", (n, n), 1)
            img.putdata([0 if dark else 1 for row in matrix for dark in row])
            img = img.resize((n * scale, n * scale), Image.Resampling.NEAREST)
            ops.append((y, img, False, False))
            y += img.height + line_h // 2
            continue
        double = isinstance(line, Text | Pair) and line.double
        is_bold = isinstance(line, Text | Pair) and line.bold
        cols = columns // 2 if double else columns
        for row in _line_text(line, cols):
            ops.append((y, row, is_bold, double))
            y += line_h * 2 if double else line_h
    height = y + margin

    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for top, what, is_bold, double in ops:
        if isinstance(what, Image.Image):
            image.paste(what.convert("L"), ((width - what.width) // 2, top))
            continue
        font = _font(bold if is_bold else regular, size * 2 if double else size)
        draw.text((margin, top), what.translate(_UNDRAWABLE), font=font, fill=0)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


__all__ = ["WIDTH_PX_58MM", "WIDTH_PX_80MM", "default_width_px", "to_html", "to_png", "to_text"]
