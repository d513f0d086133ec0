"""The check address (reference §6.3) as a person reads it: on paper beside its QR code, and as text.

**What the order asks.** Row 29 of ФКЧ-1 (row 25 of ФКЧ-2) is «QR code carrying the search query to the
СОД РРО» -- the requisite is the QR code, not the address spelled out (§6.1: "listed as mandatory"; §6.5:
"Mandatory even offline"). So the paper always carries the QR, and the address in letters is extra data
(розділ I п. 5 allows it) that may be printed only where it helps a reader.

**On paper.** The address is 104 characters online and 173 with an offline ``mac``: it fits neither 32
(58 mm) nor 48 (80 mm) columns, and the printer wraps a line at spaces and cuts a word longer than the
line, so spelled out it would be broken mid-parameter over four to six lines -- a cut requisite reads as a
missing one (§6.0), and nobody types it in anyway. So under the QR the paper says in one short line that
the receipt is checked by its QR code (:data:`CHECK_BY_QR`); only an address that fits the line whole
would be printed instead. Both are a :class:`~agent.receipts.layout.QrCaption`.

**As text.** The plain-text view (logs, SMS, e-mail) has no QR, so it shows the address itself, broken
only before a ``?`` or an ``&`` (and, when the site part alone is too long, after a ``/``), so no
parameter is split and each line after the first starts with its separator. Only a part longer than the
whole line is cut to the width, every character kept: that is the offline ``mac`` (64 hex digits), which
the cabinet ignores (§6.3).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from agent.receipts.qr import qr_url
from agent.secr.documents import DocHead

#: The line under the QR on paper: the receipt is checked in the tax service's cabinet by its QR code.
CHECK_BY_QR = "Перевірка чека за QR-кодом"
#: And on an offline receipt the line after it: the cabinet finds an offline receipt only once the box has
#: delivered its session (reference §6.5, the tax service's «лише після передачі»), so a buyer who scans it at
#: once and finds nothing is not left thinking the receipt false.
CHECK_AFTER_UPLOAD = "після його передачі в ДПС"


def check_url(head: DocHead, *, fiscal_num: str, total: Decimal, fn: int | str) -> str:
    """The cabinet search URL of a receipt (§6.3), ``mac`` for offline documents only."""
    mac = head.offline.prev_doc_hash if head.offline is not None else None
    when: datetime = head.when
    return qr_url(when=when, fiscal_num=fiscal_num, total=total, fn=fn, mac=mac)


def caption(url: str, width: int) -> str:
    """What paper prints under the QR at ``width`` columns: the address when it fits whole, else the note."""
    return url if len(url) <= width else CHECK_BY_QR


def _parts(url: str, width: int) -> list[str]:
    """The address cut before each ``?`` and ``&``; a site part longer than the line also after a ``/``."""
    parts = re.split(r"(?=[?&])", url)
    if len(parts[0]) > width:
        parts[:1] = [p for p in re.split(r"(?<=/)(?!/)", parts[0]) if p]
    return parts


def url_rows(url: str, width: int) -> list[str]:
    """The address on lines of at most ``width`` characters, broken only between its parts (see above)."""
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    rows: list[str] = []
    for part in _parts(url, width):
        if rows and len(rows[-1]) + len(part) <= width:
            rows[-1] += part
        else:
            # A part longer than the line (the offline mac) is cut into whole lines rather than lost.
            rows.extend(part[i : i + width] for i in range(0, len(part), width))
    return rows or [""]


__all__ = ["CHECK_AFTER_UPLOAD", "CHECK_BY_QR", "caption", "check_url", "url_rows"]
