"""One life of a box in its own process: the register with its print service and a file printer, taking a
till's requests over a pipe until it is SIGKILLed at an armed crash point, or told to stop.

The processes are forked from a fork server that has imported everything once (``multiprocessing``'s
``forkserver``), so a life costs milliseconds rather than a Python start; each is a real process with its
own journal connection, threads and file descriptors, killed by the kernel with SIGKILL: no ``finally``,
no clean-up, no flush of anything not already in the kernel.

Besides ``CRASHPOINTS`` (agent/secr/context.py) a life knows two points of its own, at the till's side of
the pipe (:data:`HARNESS_POINTS`): ``answered`` (the till has its answer; the process dies before doing
anything else) and ``sent`` (not armed here: the test SIGKILLs the life from outside while the fault proxy
holds the server's reply, so the server has the document and the box has nothing).
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from agent.printing import PrintService
from agent.secr.errors import FiscalBoxError, RetryLater, SalesBlocked, ShiftAlreadyOpen, ShiftNotOpen
from agent.secr.register import DuplicateRequest, Fiscalized
from drivers.drawer import CashDrawer
from drivers.printer import ReceiptPrinter
from tests.conftest import Box, cash, item

HARNESS_POINTS = ("sent", "answered")
CRASH_LOG = "crashes.log"


@dataclass(frozen=True)
class Crash:
    """Where one life dies: at the ``hit``-th time it reaches ``point`` while doing ``during`` (a step's
    index in the till's script, ``"start"`` for the register's start, ``"any"`` for the print worker);
    ``held``: for ``sent``, the request whose reply the proxy holds (a document, or a package)."""

    point: str
    during: int | str = "any"
    hit: int = 1
    held: str = "/fs/doc"


@dataclass(frozen=True)
class LifeSpec:
    state_dir: Path
    fs_url: str
    paper: Path
    crash: Crash | None = None
    timeout_s: float = 3.0
    probe_budget_s: float = 0.3


def _doc(result: Fiscalized) -> dict[str, Any]:
    return {
        "entry_id": result.entry_id,
        "local_num": result.local_num,
        "fiscal_num": result.fiscal_num,
        "offline": result.offline,
    }


class _Life:
    def __init__(self, conn: Connection, spec: LifeSpec) -> None:
        self.conn = conn
        self.spec = spec
        self.phase: int | str = "boot"
        self.hits: Counter[str] = Counter()
        self.printing_window = False
        self._world = threading.RLock()
        self.box = Box(
            spec.state_dir,
            spec.fs_url,
            crashpoint=self.crashpoint,
            print_documents=True,
            timeout_s=spec.timeout_s,
            probe_budget_s=spec.probe_budget_s,
        )
        printer = ReceiptPrinter("file", path=spec.paper, width_mm=58)
        self.printing = PrintService(
            printer,
            CashDrawer("printer", printer=printer),
            journal=self.box.journal,
            clock=self.box.register.clock,
            crashpoint=self.crashpoint,
        )
        self.box.recorder.forward_to(self.printing.on_event)

    def crashpoint(self, name: str) -> None:
        # One lock for every point, held through the kill: the print worker cannot slip into its window
        # between the dying thread reading where the worker is and the kernel's SIGKILL.
        with self._world:
            if name == "print_marked":
                self.printing_window = False  # printed_at is committed: a restart does not print it again
            self._maybe_die(name)
            if name == "print_taken":
                self.printing_window = True  # from here the printer takes bytes that are not on record yet

    def _maybe_die(self, name: str) -> None:
        crash = self.spec.crash
        if crash is None or name != crash.point or crash.during not in ("any", self.phase):
            return
        self.hits[name] += 1
        if self.hits[name] == crash.hit:
            # Whether the print worker was inside its window (printing.py: between the printer taking the
            # bytes and the commit of printed_at) when this thread was killed: there, and only there, a
            # receipt may be printed again after the restart.
            window = " window" if self.printing_window else ""
            with (self.spec.state_dir / CRASH_LOG).open("a", encoding="utf-8") as log:
                log.write(f"{name} {self.phase}{window}\n")
            os.kill(os.getpid(), signal.SIGKILL)

    # --- the till's requests -------------------------------------------------------------------------

    def run(self) -> None:
        self.phase = "start"
        started = self.answer(self.box.register.start)
        self.conn.send({"ready": True, **started})
        while True:
            message: dict[str, Any] = self.conn.recv()
            self.phase = message.get("index", "any")
            if message["op"] == "stop":
                self.printing.close()
                self.box.close()
                self.conn.send({"ok": True})
                return
            self.conn.send(self.answer(lambda m=message: self.do(m)))
            self.crashpoint("answered")

    def answer(self, work: Any) -> dict[str, Any]:
        try:
            result = work()
        except DuplicateRequest as dup:
            return {"ok": True, "duplicate": True, "doc": _doc(dup.result)}
        except FiscalBoxError as exc:
            return {
                "ok": False,
                "kind": type(exc).__name__,
                "retry": isinstance(exc, RetryLater | SalesBlocked),
                "error": str(exc),
            }
        except Exception:  # a 500 at the till: the suite counts it as a failure of the box
            return {"ok": False, "kind": "unexpected", "retry": False, "error": traceback.format_exc()}
        return {"ok": True, **(result if isinstance(result, dict) else {})}

    def do(self, m: dict[str, Any]) -> dict[str, Any]:  # noqa: C901
        reg = self.box.register
        op, rid = m["op"], m.get("request_id")
        amount = Decimal(m.get("amount", "0"))
        if op == "open":
            try:
                return {"doc": _doc(reg.open_shift(cashier="Тест", request_id=rid))}
            except ShiftAlreadyOpen:
                return {"already": True}
        if op == "sell":
            return {"doc": _doc(reg.sell([item(price=str(amount))], [cash(str(amount))], request_id=rid))}
        if op == "refund":
            result = reg.refund(
                [item(price=str(amount))], [cash(str(amount))], sale_fiscal_num=m["of"], request_id=rid
            )
            return {"doc": _doc(result)}
        if op == "cash_in":
            return {"doc": _doc(reg.cash_in(amount, request_id=rid))}
        if op == "cash_out":
            return {"doc": _doc(reg.cash_out(amount, request_id=rid))}
        if op == "storno":
            return {"doc": _doc(reg.storno_last(request_id=rid))}
        if op == "close":
            try:
                z, close = reg.close_shift()
            except ShiftNotOpen:
                return {"already": True}
            return {"z": _doc(z), "close": _doc(close)}
        if op == "go_online":
            report = reg.go_online()
            status = reg.status()
            return {
                "went_online": report.went_online,
                "mode": str(status.mode.value),
                "pending": status.pending_documents,
                "next_local_num": self.box.journal.next_local_num(),
                "error": report.error,
            }
        if op == "drain":
            return {
                "printed": self.printing.drain(timeout=60),
                "unprinted": len(self.box.journal.unprinted()),
            }
        if op == "status":
            status = reg.status()
            return {"mode": str(status.mode.value), "pending": status.pending_documents}
        raise ValueError(f"unknown till request {op!r}")


def life(conn: Connection, spec: LifeSpec) -> None:
    """The target of one box process."""
    try:
        _Life(conn, spec).run()
    except EOFError:  # the till went away: nothing more to do
        return


__all__ = ["CRASH_LOG", "HARNESS_POINTS", "Crash", "LifeSpec", "life"]
