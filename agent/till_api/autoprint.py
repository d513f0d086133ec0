"""Printing a receipt the till API has just fiscalized.

Transitional: printing is decided here, in the HTTP adapter, until it becomes a consumer of the
register's `fiscalized` events (issue 8 item 4). Then this module goes, with the one call to it in
routes/receipts.py:fiscalize.
"""

from __future__ import annotations

from agent.printing import PrintService
from agent.secr import documents as docs
from agent.secr.register import Fiscalized


def print_receipt(printing: PrintService | None, result: Fiscalized) -> None:
    """Queued: the till has its answer before the paper moves; the drawer opens when cash moved."""
    if printing is None:
        return
    doc = result.document
    cash = isinstance(doc, docs.Check) and (
        any(p.form == docs.PayForm.CASH for p in doc.payments)
        or doc.doc_subtype in (docs.DocSubType.SERVICE_DEPOSIT, docs.DocSubType.SERVICE_ISSUE)
    )
    printing.enqueue(printing.receipt_layout(result), kick_drawer=cash)
