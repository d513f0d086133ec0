"""Printing: every fiscal document the register queued reaches paper once, whatever made it.

The queue is durable: the register puts a row in the journal's ``prints`` table in the same transaction
that makes a printable document fiscal (which documents are printable is the register's decision), and
one worker thread here prints the journal's unprinted rows oldest first. A row is marked printed only
after the printer took the whole receipt, so a crash, a restart or a printer fault never loses a receipt
from paper. The one window no printer can close is a crash between the printer taking the bytes and the
journal's commit of ``printed_at``: the row's ``started_at`` (committed just before the bytes go) tells the
next run so, and it prints the receipt again marked КОПІЯ — the customer always has it, and no fiscal
document is ever on paper twice as itself.

A sale never waits on paper: the worker is woken by ``fiscalized`` events (:meth:`PrintService.on_event`)
and at start, and a printer fault leaves the job queued while the worker backs off, asking the printer
whether it is ready again. The printer's state (``state``, ``last_error``) changes are told to listeners
and, on the transitions between working and not, published as ``printer_fault`` / ``printer_ok``.

The drawer opens after a receipt in which cash moved, but only while that receipt is fresh: see
:data:`DRAWER_FRESH_S`. Reprints (:meth:`PrintService.print_now`), slips and the drawer button run at
once in the caller's thread, so the caller hears about a fault.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from agent.clock import Clock, SystemClock
from agent.events import ChangeListener, Event, EventKind, EventSink
from agent.receipts import Blank, Layout, Pair, Qr, Separator, Text, layout_receipt
from agent.receipts.layout import pair_lines
from agent.secr import documents as docs
from agent.secr.context import Crashpoint, no_crash
from agent.secr.journal import FISCAL_STATES, Entry, Journal, PrintJob
from drivers import printer as escpos
from drivers.drawer import CashDrawer

log = logging.getLogger(__name__)

#: How long after a sale was made its receipt still opens the drawer (seconds). A receipt printed later
#: is a backlog -- after a restart, a long paper-out or a pulled cable -- and nobody stands at the till
#: for that sale any more: a drawer springing open on its own at an unattended till invites theft, and
#: a cashier mid-way through another sale would take it for theirs. Two minutes covers a roll changed
#: while the customer waits for change; past that the cashier opens the drawer with the button.
DRAWER_FRESH_S = 120.0

# Printer states (drivers.printer.STATUSES) the printer reports itself: printing into them would lose
# the receipt, so the worker waits for the printer to say otherwise. "offline" and "error" are not here:
# a printer that cannot answer status queries (a one-way serial cable) says "offline" and prints fine,
# and trying to print costs no more than asking.
_NOT_READY = ("paper_out", "cover_open")
_SERVICE_CASH = (
    docs.DocSubType.SERVICE_DEPOSIT,
    docs.DocSubType.ADDITIONAL_DEPOSIT,
    docs.DocSubType.SERVICE_ISSUE,
)


def to_print_lines(layout: Layout, columns: Callable[[bool], int]) -> list[escpos.PrintLine]:
    lines: list[escpos.PrintLine] = []
    for line in layout:
        if isinstance(line, Text):
            lines.append(escpos.Text(line.text, align=line.align.value, bold=line.bold, double=line.double))
        elif isinstance(line, Pair):
            for text in pair_lines(line.label, line.value, columns(line.double)):
                lines.append(escpos.Text(text, bold=line.bold, double=line.double))
        elif isinstance(line, Separator):
            lines.append(escpos.Rule(line.char))
        elif isinstance(line, Qr):
            lines.append(escpos.Qr(line.url))
        elif isinstance(line, Blank):
            lines.append(escpos.Feed(1))
    return lines


class FiscalResult(Protocol):
    """What a receipt's layout needs of a fiscalized document (agent.secr.register.Fiscalized)."""

    @property
    def document(self) -> docs.Document: ...
    @property
    def fiscal_num(self) -> str: ...
    @property
    def offline(self) -> bool: ...
    @property
    def registered_at(self) -> datetime: ...
    @property
    def shift_id(self) -> int | None: ...


def cash_moved(document: docs.Document) -> bool:
    """Did this document put cash into the drawer or take it out (the drawer must open)?"""
    if not isinstance(document, docs.Check) or document.doc_type != docs.DocType.SALE_GOODS:
        return False
    return document.doc_subtype in _SERVICE_CASH or any(
        p.form == docs.PayForm.CASH for p in document.payments
    )


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class _AdHoc:
    layout: Layout
    kick_drawer: bool


class _Step(enum.Enum):
    DONE = "done"  # a job was handled: look for the next at once
    IDLE = "idle"  # nothing to print
    FAILED = "failed"  # the printer failed or is not ready: back off


class _NotPrintable(Exception):
    """A queued row the service cannot lay out: a defect, reported and skipped, never retried in a loop."""


class PrintService:
    """The print worker over the journal's durable queue, ad-hoc jobs, and the printer's state.

    ``journal`` None: no durable queue (``fiscal-box slip`` without an agent prints only ad hoc).
    ``drawer_fresh_s``: see :data:`DRAWER_FRESH_S`. ``retry_s`` .. ``max_retry_s``: the back-off between
    attempts while the printer fails. ``status_every_s``: ask the printer its state this often while idle
    (the status model's timer; None: the state is learned from printing only). ``crashpoint``: the fault
    suite's hook (agent/secr/context.py ``CRASHPOINTS``); a no-op in production.
    """

    def __init__(
        self,
        printer: escpos.ReceiptPrinter,
        drawer: CashDrawer | None = None,
        *,
        journal: Journal | None = None,
        clock: Clock | None = None,
        events: EventSink | None = None,
        drawer_fresh_s: float = DRAWER_FRESH_S,
        retry_s: float = 0.25,
        max_retry_s: float = 5.0,
        status_every_s: float | None = None,
        crashpoint: Crashpoint = no_crash,
    ) -> None:
        if retry_s <= 0 or max_retry_s < retry_s:
            raise ValueError("retry_s must be positive and at most max_retry_s")
        self.printer = printer
        self.drawer = drawer
        self.journal = journal
        self.clock: Clock = clock or SystemClock()
        self._events = events
        self.drawer_fresh_s = drawer_fresh_s
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self._status_every_s = status_every_s
        self._crashpoint = crashpoint
        # The worker's mailbox: ad-hoc jobs, a wake-up flag, and drain tickets (asked / answered).
        self._cond = threading.Condition()
        self._adhoc: deque[_AdHoc] = deque()
        self._wakeup = False
        self._closing = False
        self._asked = 0
        self._printed_upto = 0
        self._failed_upto = 0
        # Rows that cannot be laid out: skipped in memory so one defect does not stop the queue behind it.
        self._skipped: set[int] = set()
        # Re-entrant: an event sink may read ``state`` back while a transition is published.
        self._state_lock = threading.RLock()
        self._state: str | None = None
        self._last_error: str | None = None
        self._warning: str | None = None
        self._listeners: list[ChangeListener] = []
        self._worker = threading.Thread(target=self._run, name="printer", daemon=True)
        self._worker.start()

    # --- what the API, the slip and the status model use ----------------------------------------

    @property
    def width(self) -> int:
        return self.printer.columns(False)

    @property
    def state(self) -> str | None:
        """The printer's last known state (drivers.printer.STATUSES); None until it was first seen."""
        return self._state

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def warning(self) -> str | None:
        """What the printer warns of while it still prints (``paper_near_end``), or None."""
        return self._warning

    def printer_state(self) -> tuple[str | None, str | None, str | None]:
        """``(state, last_error, warning)`` read together (for ``StatusModel.set_printer``)."""
        with self._state_lock:
            return self._state, self._last_error, self._warning

    def add_listener(self, callback: ChangeListener) -> Callable[[], None]:
        """Call ``callback()`` after every change of ``state``/``last_error``; returns the remover."""
        with self._state_lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._state_lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def status(self) -> str:
        """Ask the printer now (``ok | paper_out | cover_open | offline | error``)."""
        return self.printer.status()

    def receipt_layout(
        self, result: FiscalResult, *, copy: bool = False, printed_at: datetime | None = None
    ) -> Layout:
        return self._layout(
            result.document,
            fiscal_num=result.fiscal_num,
            offline=result.offline,
            registered_at=result.registered_at,
            shift_id=result.shift_id,
            copy=copy,
            printed_at=printed_at,
        )

    def print_now(self, layout: Layout) -> None:
        """Print and wait (reprints, the slip); a fault raises (drivers.printer.PrinterError)."""
        try:
            self._print(layout)
        except escpos.PrinterError as exc:
            self._fault(exc)
            raise
        self._set_state("ok", None)
        self._wake()  # the printer works: a queue waiting out its back-off can go now

    def kick_drawer(self) -> None:
        if self.drawer is None:
            raise escpos.PrinterError("no cash drawer is configured")
        self.drawer.open()

    def enqueue(self, layout: Layout, *, kick_drawer: bool = False) -> None:
        """An ad-hoc job (an X report, the demo's): printed after the queued receipts, not durable, and
        dropped when the printer fails on it. ``kick_drawer`` is for the till API's legacy receipt path
        and goes with it."""
        with self._cond:
            self._adhoc.append(_AdHoc(layout, kick_drawer))
            self._wakeup = True
            self._cond.notify_all()

    def on_event(self, event: Event) -> None:
        """An EventSink: a ``fiscalized`` event wakes the worker (the journal says what to print)."""
        if event.kind == EventKind.FISCALIZED:
            self._wake()

    def drain(self, timeout: float = 10) -> bool:
        """Wake the worker and wait until it finds nothing left to print (True), or the printer failing
        on what is left (False); False too when ``timeout`` passes."""
        with self._cond:
            self._asked += 1
            ticket = self._asked
            self._wakeup = True
            self._cond.notify_all()
            self._cond.wait_for(
                lambda: self._closing or self._printed_upto >= ticket or self._failed_upto >= ticket, timeout
            )
            return self._printed_upto >= ticket

    def close(self, timeout: float = 10) -> None:
        """Print what can be printed within ``timeout``, stop the worker, release the devices. What is
        left stays queued in the journal for the next start."""
        self.drain(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._worker.join(timeout)
        self.printer.close()
        if self.drawer is not None:
            self.drawer.close()

    # --- the worker -----------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self._retry_s
        if self._status_every_s is not None:
            self._poll_status()
        while True:
            with self._cond:
                if self._closing:
                    return
                ticket = self._asked  # read before looking: a drain asked later needs another look
            try:
                step = self._step()
            except Exception:  # a journal or layout defect: the worker reports it and goes on, never dies
                log.exception("print worker")
                step = _Step.FAILED
            if step is _Step.DONE:
                delay = self._retry_s
                continue
            self._answer(ticket, printed=step is _Step.IDLE)
            if step is _Step.IDLE:
                delay = self._retry_s
                if self._sleep(self._status_every_s) and self._status_every_s is not None:
                    self._poll_status()
            else:
                self._sleep(delay)
                delay = min(delay * 2, self._max_retry_s)

    def _step(self) -> _Step:
        job = self._next_job()
        if job is not None:
            if self._faulty() and not self._ready():
                return _Step.FAILED
            return _Step.DONE if self._print_job(job) else _Step.FAILED
        with self._cond:
            adhoc = self._adhoc.popleft() if self._adhoc else None
        if adhoc is None:
            return _Step.IDLE
        return _Step.DONE if self._print_adhoc(adhoc) else _Step.FAILED

    def _next_job(self) -> PrintJob | None:
        if self.journal is None:
            return None
        for job in self.journal.unprinted(limit=len(self._skipped) + 1):
            if job.doc_id not in self._skipped:
                return job
        return None

    def _print_job(self, job: PrintJob) -> bool:
        """Print one queued document; False when the printer failed (the row stays queued)."""
        assert self.journal is not None
        entry = self.journal.document(job.doc_id)
        try:
            layout, cash = self._lay_out(job, entry)
        except Exception as exc:
            log.error("document %s is queued for printing but cannot be printed: %s", job.doc_id, exc)
            self.journal.print_failed(job.doc_id, f"not printable: {describe(exc)}")
            self._skipped.add(job.doc_id)
            return True
        self._crashpoint("print_taken")
        if job.started_at is None:
            try:
                self.journal.print_started(job.doc_id, self.clock.now())
            except Exception:
                # Paper first: a receipt the journal cannot note is still the customer's. Only a crash in
                # the next instant would then print it a second time as itself rather than as a copy.
                log.exception("document %s: the start of its printing could not be noted", job.doc_id)
        try:
            self._print(layout)
        except Exception as exc:  # whatever the back-end raised, the receipt may not be on paper
            # Part of it may be on paper unless the printer refused before the first byte: then the
            # receipt printed again is marked a copy, so that no fiscal document is twice on paper as itself.
            maybe = exc.maybe_printed if isinstance(exc, escpos.PrinterError) else True
            self.journal.print_failed(job.doc_id, describe(exc), maybe_on_paper=maybe)
            self._fault(exc)
            return False
        self._crashpoint("print_on_paper")
        try:
            self.journal.mark_printed(job.doc_id, self.clock.now())
            self._crashpoint("print_marked")
        except Exception:
            # On paper but not on record (a full or failing SD card): not again in this run; after a
            # restart it is printed again as a copy (started_at), better than a receipt lost from paper.
            log.exception("document %s is printed but could not be marked so", job.doc_id)
            self._skipped.add(job.doc_id)
        self._set_state("ok", None)
        assert entry is not None
        if cash and self._fresh(job, entry):
            self._open_drawer()
        return True

    def _lay_out(self, job: PrintJob, entry: Entry | None) -> tuple[Layout, bool]:
        if entry is None:
            raise _NotPrintable(f"no document {job.doc_id} in the journal")
        if entry.state not in FISCAL_STATES or entry.fiscal_num is None:
            raise _NotPrintable(f"document {entry.id} is {entry.state}, not fiscal")
        document = docs.parse(entry.xml)
        # Begun and never finished by an earlier run (a crash between the printer taking the bytes and
        # printed_at's commit): the receipt may be on paper already, so what follows is marked a copy —
        # never a second original of one fiscal document, and never no receipt at all.
        unsure = job.started_at is not None
        layout = self._layout(
            document,
            fiscal_num=entry.fiscal_num,
            offline=entry.offline,
            registered_at=datetime.fromisoformat(entry.registered_at or entry.created_at),
            shift_id=entry.shift_id,
            copy=unsure,
            printed_at=self.clock.now() if unsure else None,
        )
        return layout, cash_moved(document)

    def _fresh(self, job: PrintJob, entry: Entry) -> bool:
        # From when the sale was made: a lost reply settled at a restart is queued then, long after it.
        made = min(datetime.fromisoformat(entry.created_at), datetime.fromisoformat(job.queued_at))
        return (self.clock.now() - made).total_seconds() <= self.drawer_fresh_s

    def _print_adhoc(self, job: _AdHoc) -> bool:
        try:
            self._print(job.layout)
        except Exception as exc:
            log.warning("an ad-hoc print job is dropped: %s", describe(exc))
            self._fault(exc)
            return False
        self._set_state("ok", None)
        if job.kick_drawer:
            self._open_drawer()
        return True

    def _open_drawer(self) -> None:
        if self.drawer is None:
            return
        try:
            self.drawer.open()
        except Exception as exc:  # the receipt is printed; the cashier still has the drawer button
            log.warning("drawer: %s", describe(exc))

    def _print(self, layout: Layout) -> None:
        self.printer.print_lines(to_print_lines(layout, self.printer.columns))

    def _layout(
        self,
        document: docs.Document,
        *,
        fiscal_num: str,
        offline: bool,
        registered_at: datetime,
        shift_id: int | None,
        copy: bool = False,
        printed_at: datetime | None = None,
    ) -> Layout:
        opened_at: datetime | None = None
        if isinstance(document, docs.ZReport) and shift_id is not None and self.journal is not None:
            shift = self.journal.shift(shift_id)
            opened_at = datetime.fromisoformat(shift.opened_at) if shift else None
        return layout_receipt(
            document,
            fiscal_num=fiscal_num,
            offline=offline,
            registered_at=registered_at,
            width_chars=self.width,
            copy=copy,
            printed_at=printed_at,
            shift_opened_at=opened_at,
        )

    # --- waiting --------------------------------------------------------------------------------

    def _wake(self) -> None:
        with self._cond:
            self._wakeup = True
            self._cond.notify_all()

    def _sleep(self, timeout: float | None) -> bool:
        """Wait for a wake-up or ``timeout``; True when the time ran out."""
        with self._cond:
            if not self._wakeup and not self._closing:
                self._cond.wait(timeout)
            woken = self._wakeup or self._closing
            self._wakeup = False
        return not woken

    def _answer(self, ticket: int, *, printed: bool) -> None:
        with self._cond:
            if printed:
                self._printed_upto = max(self._printed_upto, ticket)
            else:
                self._failed_upto = max(self._failed_upto, ticket)
            self._cond.notify_all()

    # --- the printer's state --------------------------------------------------------------------

    def _faulty(self) -> bool:
        return self._state not in (None, "ok")

    def _ready(self) -> bool:
        """Asked while a job waits on a fault: may the worker try again?"""
        state = self.printer.status()
        if state in _NOT_READY:
            self._set_state(state, self._last_error)
            return False
        return True

    def _poll_status(self) -> None:
        try:
            state = self.printer.status()
        except Exception:  # the driver promises not to raise; the worker must not die if one does
            log.exception("printer status")
            return
        if state == "ok":
            self._set_state("ok", None)
        elif state != self._state:
            self._set_state(state, self.printer.status_detail or f"the printer reports {state}")

    def _fault(self, exc: BaseException) -> None:
        error = describe(exc)
        log.warning("printer: %s", error)
        self._set_state(self._state_after(exc), error)

    def _state_after(self, exc: BaseException) -> str:
        if isinstance(exc, escpos.PaperOut):
            return "paper_out"
        if isinstance(exc, escpos.CoverOpen):
            return "cover_open"
        if isinstance(exc, escpos.PrintInterrupted):
            return exc.state if exc.state != "ok" else "error"
        if isinstance(exc, escpos.PrinterOffline):
            return "offline"  # asking would only wait out another connect timeout
        state = self.printer.status()  # a cover, a paper end mid-receipt: the printer may say which
        return state if state != "ok" else "error"

    def _set_state(self, state: str, error: str | None) -> None:
        warning = self.printer.warning  # learned by the same status query that gave the state
        with self._state_lock:
            before = self._state
            if (state, error, warning) == (before, self._last_error, self._warning):
                return
            self._state, self._last_error, self._warning = state, error, warning
            failing_before = before not in (None, "ok")
            # Events on the transitions between printing and not only; a change of fault (paper out,
            # then cover open) is a state change for the listeners, not a new fault.
            if state != "ok" and not failing_before:
                self._publish(EventKind.PRINTER_FAULT, {"state": state, "error": error})
            elif state == "ok" and failing_before:
                self._publish(EventKind.PRINTER_OK, {"state": state, "after": before})
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("printer state listener")

    def _publish(self, kind: EventKind, detail: dict[str, str | None]) -> None:
        if self._events is None:
            return
        try:
            self._events(Event(kind, self.clock.now(), detail))
        except Exception:  # a sink must not raise; if one does, printing goes on
            log.exception("event sink")


__all__ = ["DRAWER_FRESH_S", "FiscalResult", "PrintService", "cash_moved", "describe", "to_print_lines"]
