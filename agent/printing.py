"""Printing: the receipt layout (agent/receipts) turned into the printer driver's lines.

A sale never waits on paper: fiscal receipts go through a queue printed in order by one worker, and a
printer fault is reported (status, events) but never undoes a fiscal document, which is already
registered and can be printed again. Reprints, slips and the drawer run at once, so the caller hears
about a fault.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent.receipts import Blank, Layout, Pair, Qr, Separator, Text, layout_receipt
from agent.receipts.layout import pair_lines
from agent.secr.register import Fiscalized
from drivers import printer as escpos
from drivers.drawer import CashDrawer

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], None]


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


class PrintService:
    def __init__(
        self,
        printer: escpos.ReceiptPrinter,
        drawer: CashDrawer | None = None,
        *,
        on_event: EventSink | None = None,
    ) -> None:
        self.printer = printer
        self.drawer = drawer
        self._on_event = on_event
        # A job is a layout (and whether to open the drawer after it); an Event marks a drain point.
        self._queue: queue.Queue[tuple[Layout, bool] | threading.Event] = queue.Queue()
        self.last_error: str | None = None
        self._worker = threading.Thread(target=self._run, name="printer", daemon=True)
        self._worker.start()

    @property
    def width(self) -> int:
        return self.printer.columns(False)

    def receipt_layout(
        self, result: Fiscalized, *, copy: bool = False, printed_at: datetime | None = None
    ) -> Layout:
        return layout_receipt(
            result.document,
            fiscal_num=result.fiscal_num,
            offline=result.offline,
            registered_at=result.registered_at,
            width_chars=self.width,
            copy=copy,
            printed_at=printed_at,
        )

    def print_now(self, layout: Layout) -> None:
        """Print and wait; a fault raises (drivers.printer.PrinterError)."""
        try:
            self.printer.print_lines(to_print_lines(layout, self.printer.columns))
        except escpos.PrinterError as exc:
            self._fault(exc)
            raise
        self.last_error = None

    def enqueue(self, layout: Layout, *, kick_drawer: bool = False) -> None:
        self._queue.put((layout, kick_drawer))

    def kick_drawer(self) -> None:
        if self.drawer is None:
            raise escpos.PrinterError("no cash drawer is configured")
        self.drawer.open()

    def status(self) -> str:
        return self.printer.status()

    def drain(self, timeout: float = 10) -> bool:
        """Wait until everything queued so far is printed (tests and shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        self.drain()
        self.printer.close()
        if self.drawer is not None:
            self.drawer.close()

    def _fault(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("printer: %s", self.last_error)
        if self._on_event is not None:
            self._on_event("printer_fault", {"error": self.last_error})

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if isinstance(job, threading.Event):
                job.set()
                continue
            layout, kick = job
            try:
                self.print_now(layout)
                if kick and self.drawer is not None:
                    self.drawer.open()
            except Exception as exc:  # the worker must report and go on, never die
                if not isinstance(exc, escpos.PrinterError):
                    self._fault(exc)
