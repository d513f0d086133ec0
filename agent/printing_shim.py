"""TEMPORARY SHIM -- delete this module once core's ``CashRegister(events=..., print_documents=True)`` is
merged (issue 8, DESIGN8.md "The register (core) publishes").

Until then the register does not queue its documents for printing, so the demo and the print tests
queue them the way the register will: :func:`queue_as_register_will` after a document was fiscalized
puts its row in the journal's print queue (when it is printable) and publishes the ``fiscalized`` event.
Unlike the register it does this after the fiscal transaction, not inside it, so a crash in between
loses the row; the register closes that gap.

To remove: delete this file; in agent/demo.py build the register with ``events=printing.on_event,
print_documents=True`` and drop the ``queue_as_register_will`` call in ``Story.keep``; in tests/ build
``Box`` registers with ``print_documents=True`` and ``events`` and drop the ``queue_as_register_will``
calls (``Till.fiscalized`` in tests/test_print_queue.py, the loop in tests/print_harness.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from agent.events import Event, EventKind, EventSink
from agent.secr import documents as docs
from agent.secr.journal import FISCAL_STATES, Entry, Journal


class _Result(Protocol):
    @property
    def entry_id(self) -> int: ...


def printable(entry: Entry) -> bool:
    """The register's rule (DESIGN8.md): CHECK documents of doc_type 0 (sale, return, service deposit and
    issue, storno) and Z reports; never shift open/close, offline begin/end, or a non-fiscal document."""
    if entry.state not in FISCAL_STATES:
        return False
    return entry.doc_class == "ZREP" or (
        entry.doc_class == "CHECK" and entry.doc_type == docs.DocType.SALE_GOODS
    )


def queue_as_register_will(
    journal: Journal, result: _Result, *, now: datetime, events: EventSink | None = None
) -> bool:
    """Queue a just-fiscalized document for printing and publish ``fiscalized``; False: not printable."""
    entry = journal.document(result.entry_id)
    if entry is None:
        raise LookupError(f"no document {result.entry_id} in the journal")
    queued = printable(entry)
    if queued:
        journal.queue_print(entry.id, now)
    if events is not None:
        events(
            Event(
                EventKind.FISCALIZED,
                now,
                {
                    "doc_id": entry.id,
                    "local_num": entry.local_num,
                    "fiscal_num": entry.fiscal_num,
                    "offline": entry.offline,
                    "doc_class": entry.doc_class,
                    "doc_type": entry.doc_type,
                    "doc_subtype": entry.doc_subtype,
                    "shift_id": entry.shift_id,
                },
            )
        )
    return queued
