"""The durable print queue: every printable document reaches paper once, whatever made it, through
paper-out, SIGKILL and restarts; the drawer opens for fresh cash receipts only.

What is printed is read back from the ESC/POS bytes (tests/test_printer.py ``decode``): a receipt counts
as printed when its fiscal number is on paper.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agent.clock import Clock, FakeClock
from agent.events import Event, EventKind
from agent.printing import PrintService
from agent.receipts import Layout, Text
from agent.secr.register import DuplicateRequest, Fiscalized
from drivers.drawer import CashDrawer
from drivers.printer import ReceiptPrinter
from tests.conftest import Box, EmulatorHandle, card, cash, item
from tests.escpos_decode import Printed, decode
from tests.test_printer import FakeNetworkPrinter
from tests.waiting import wait_for

HARNESS = Path(__file__).with_name("print_harness.py")
PAPER_END = {1: 0x12, 2: 0x12, 4: 0x72}  # DLE EOT 4: roll end sensor
PAPER_OK = {1: 0x12, 2: 0x12, 4: 0x12}
NUMBER = re.compile(r"^(?:ЧЕК|ДОКУМЕНТ|Z-звiт) № (\S+)$")  # CP866 prints і as i

T = TypeVar("T")


def numbers_on_paper(printed: Printed) -> list[str]:
    """The fiscal numbers of the documents on paper, in the order they were printed."""
    return [m.group(1) for line in printed.texts if (m := NUMBER.match(line))]


def kinds(printed: Printed) -> list[str]:
    return [kind for kind, _ in printed.events]


pytestmark = pytest.mark.print_documents  # the box fixture's register queues for paper


class Till:
    """A register used directly (no HTTP), with a print service following its journal."""

    def __init__(
        self,
        box: Box,
        printer: ReceiptPrinter,
        *,
        clock: Clock | None = None,
        retry_s: float = 0.25,
        max_retry_s: float = 5.0,
    ) -> None:
        self.box = box
        self.printer = printer
        self.events: list[Event] = []
        self.service = PrintService(
            printer,
            CashDrawer("printer", printer=printer),
            journal=box.journal,
            clock=clock or box.register.clock,
            events=self.publish,
            retry_s=retry_s,
            max_retry_s=max_retry_s,
        )
        # The register publishes to the box's recorder; the service follows it as it follows the
        # agent's event stream.
        box.recorder.forward_to(self.publish)

    def publish(self, event: Event) -> None:
        """Stands for the agent's event stream, which the service is subscribed to."""
        self.events.append(event)
        self.service.on_event(event)

    def fiscalized(self, result: Fiscalized) -> Fiscalized:
        """The register queued it in its fiscal transaction and told the service: nothing to do here."""
        return result

    def sell(
        self, amount: str = "12.34", *, by_card: bool = False, request_id: str | None = None
    ) -> Fiscalized:
        pay = card(amount) if by_card else cash(amount)
        return self.fiscalized(self.box.register.sell([item(price=amount)], [pay], request_id=request_id))

    def printer_events(self) -> list[EventKind]:
        return [e.kind for e in self.events if e.kind in (EventKind.PRINTER_FAULT, EventKind.PRINTER_OK)]

    def close(self) -> None:
        self.service.close()


@pytest.fixture()
def till(box: Box) -> Iterator[Till]:
    t = Till(box, ReceiptPrinter("dummy", width_mm=58))
    t.fiscalized(box.register.open_shift(cashier="Тест"))
    yield t
    t.close()


def printed(till: Till) -> Printed:
    assert till.service.drain()
    return decode(till.printer.output)


# --- whatever makes the document, it is printed once ------------------------------------------------


def test_a_sale_made_on_the_register_is_printed_once(till: Till, box: Box) -> None:
    sale = till.sell()
    paper = printed(till)
    assert numbers_on_paper(paper) == [sale.fiscal_num]  # the shift's opening is not printed
    assert "ФIСКАЛЬНИЙ ЧЕК" in paper.texts and "ДО СПЛАТИ              12.34 грн" in paper.texts
    job = box.journal.print_job(sale.entry_id)
    assert job is not None and job.printed_at is not None and job.attempts == 1
    assert box.journal.unprinted() == []
    assert till.service.state == "ok" and till.printer_events() == []


def test_every_printable_kind_is_printed_and_the_others_are_not(till: Till, box: Box) -> None:
    reg = box.register
    sale = till.sell("50.00")
    back = till.fiscalized(
        reg.refund([item(price="50.00")], [cash("50.00")], sale_fiscal_num=sale.fiscal_num)
    )
    deposit = till.fiscalized(reg.cash_in(cash("100.00").amount))
    issue = till.fiscalized(reg.cash_out(cash("30.00").amount))
    last = till.sell("7.00")
    storno = till.fiscalized(reg.storno_last())
    z, closed = reg.close_shift()
    till.fiscalized(z)
    till.fiscalized(closed)
    paper = printed(till)
    expected = [sale, back, deposit, issue, last, storno, z]
    assert numbers_on_paper(paper) == [r.fiscal_num for r in expected]
    for title in (
        "ФIСКАЛЬНИЙ ЧЕК",
        "ВИДАТКОВИЙ ЧЕК",
        "СЛУЖБОВЕ ВНЕСЕННЯ",
        "СЛУЖБОВА ВИДАЧА",
        "СТОРНО",
        "Z-ЗВIТ",
    ):
        assert title in " ".join(paper.texts)  # a double-size title wraps on 58 mm paper
    assert not any("ЗМIНИ" in line for line in paper.texts)  # neither the opening nor the closing
    assert any(line.startswith("Змiну вiдкрито") for line in paper.texts)  # the Z knows its shift
    assert box.journal.print_job(closed.entry_id) is None and box.journal.unprinted() == []


def test_an_offline_receipt_is_printed_but_not_the_offline_session_documents(
    till: Till, box: Box, emulator: EmulatorHandle
) -> None:
    emulator.fault("down")
    offline = till.sell()
    assert offline.offline
    paper = printed(till)
    assert numbers_on_paper(paper) == [offline.fiscal_num]
    assert "ОФЛАЙН" in paper.texts and not any("ОФЛАЙН-РЕЖИМУ" in line for line in paper.texts)


def test_ad_hoc_layouts_print_after_the_queue(till: Till) -> None:
    sale = till.sell()
    till.service.enqueue(Layout(32, [Text("X-ЗВІТ")]))
    paper = printed(till)
    assert numbers_on_paper(paper) == [sale.fiscal_num]
    assert paper.texts.index("X-ЗВIТ") > paper.texts.index(f"ЧЕК № {sale.fiscal_num}")


def test_a_till_retry_after_a_lost_answer_prints_once(till: Till, box: Box) -> None:
    # The till's first request was fiscalized (and queued) but its answer never reached the till; the
    # retry with the same request id gets the same receipt back and must not queue it again.
    # The same through POST /receipts/sell over HTTP: tests/test_printing.py.
    first = till.sell(request_id="till-1")
    assert till.service.drain()
    with pytest.raises(DuplicateRequest) as retry:
        box.register.sell([item(price="12.34")], [cash("12.34")], request_id="till-1")
    assert retry.value.result.fiscal_num == first.fiscal_num
    # Even a second queue_print of a printed document (a register that settles it again) is a no-op.
    box.journal.queue_print(first.entry_id, box.register.clock.now())
    paper = printed(till)
    assert numbers_on_paper(paper) == [first.fiscal_num]
    job = box.journal.print_job(first.entry_id)
    assert job is not None and job.attempts == 1


def received_receipts(fake: FakeNetworkPrinter, count: int) -> Printed | None:
    """What the fake printer got, once ``count`` receipts (cuts) have arrived."""
    paper = decode(bytes(fake.received))
    return paper if kinds(paper).count("cut") >= count else None


# --- paper out --------------------------------------------------------------------------------------


def test_paper_out_then_paper_back_prints_each_receipt_once_in_order(box: Box) -> None:
    fake = FakeNetworkPrinter(replies=dict(PAPER_END))
    printer = ReceiptPrinter(
        "network", host="127.0.0.1", port=fake.port, width_mm=58, timeout_s=2, status_timeout_s=1
    )
    till = Till(box, printer)
    changes: list[tuple[str | None, str | None]] = []
    till.service.add_listener(lambda: changes.append(till.service.printer_state()))
    try:
        till.fiscalized(box.register.open_shift())
        sales = [till.sell(f"1{n}.00") for n in range(3)]  # a sale never waits on paper
        assert not till.service.drain()
        assert till.service.state == "paper_out" and "PaperOut" in (till.service.last_error or "")
        assert [j.doc_id for j in box.journal.unprinted()] == [s.entry_id for s in sales]
        head = box.journal.print_job(sales[0].entry_id)
        assert head is not None and head.attempts >= 1 and "PaperOut" in (head.last_error or "")
        assert b"\x1b@" not in fake.received  # nothing was sent to a printer without paper
        assert till.printer_events() == [EventKind.PRINTER_FAULT]

        fake.replies = dict(PAPER_OK)  # the roll is changed
        assert till.service.drain()
        paper = wait_for(lambda: received_receipts(fake, 3))
        assert numbers_on_paper(paper) == [s.fiscal_num for s in sales]
        # The last drawer pulse follows the last cut in a write of its own: wait for it too.
        paper = wait_for(lambda: (p := received_receipts(fake, 3)) and kinds(p).count("drawer") >= 3 and p)
        assert box.journal.unprinted() == []
        assert till.printer_events() == [EventKind.PRINTER_FAULT, EventKind.PRINTER_OK]
        fault = next(e for e in till.events if e.kind == EventKind.PRINTER_FAULT)
        assert fault.detail["state"] == "paper_out" and "PaperOut" in fault.detail["error"]
        assert changes[0][0] == "paper_out" and changes[-1] == ("ok", None, None)
        assert till.service.state == "ok" and till.service.last_error is None
        # The receipts were still fresh: each cash receipt opened the drawer after it was cut.
        assert kinds(paper).count("drawer") == 3
    finally:
        till.close()
        fake.close()


def test_what_a_previous_run_left_queued_is_printed_at_start(box: Box) -> None:
    first = Till(box, ReceiptPrinter("file", path=Path("/nonexistent/fiscal-box/paper"), width_mm=58))
    first.fiscalized(box.register.open_shift())
    left = first.sell()
    assert not first.service.drain()
    first.close()
    # A new service on the same journal: no event and no drain, the worker looks at start.
    printer = ReceiptPrinter("dummy", width_mm=58)
    again = PrintService(printer, journal=box.journal, clock=box.register.clock)
    try:
        wait_for(lambda: box.journal.unprinted() == [])
        assert numbers_on_paper(decode(printer.output)) == [left.fiscal_num]
    finally:
        again.close()


def test_a_receipt_a_dead_run_began_printing_is_printed_again_as_a_copy(box: Box) -> None:
    """A run killed between the printer taking the bytes and printed_at's commit leaves started_at: the
    receipt may be on paper already, so the next run prints it marked КОПІЯ, never a second original.
    (The SIGKILL itself is swept in tests/faults: the print_on_paper point.)"""
    box.register.open_shift()
    sale = box.register.sell([item()], [cash("12.34")])
    [job] = box.journal.unprinted()
    box.journal.print_started(job.doc_id, box.register.clock.now())  # what the dead run committed
    printer = ReceiptPrinter("dummy", width_mm=58)
    again = PrintService(printer, journal=box.journal, clock=box.register.clock)
    try:
        wait_for(lambda: box.journal.unprinted() == [])
        paper = decode(printer.output)
        assert numbers_on_paper(paper) == [sale.fiscal_num]
        assert re.compile(r"^КОП[IІ]Я$").match(paper.texts[0]), paper.texts[:3]
    finally:
        again.close()

    # A fault the printer reports is no such doubt: the next attempt is the receipt itself.
    second = box.register.sell([item()], [cash("10.00")])
    [job] = box.journal.unprinted()
    box.journal.print_started(job.doc_id, box.register.clock.now())
    box.journal.print_failed(job.doc_id, "paper out")
    printer = ReceiptPrinter("dummy", width_mm=58)
    again = PrintService(printer, journal=box.journal, clock=box.register.clock)
    try:
        wait_for(lambda: box.journal.unprinted() == [])
        paper = decode(printer.output)
        assert numbers_on_paper(paper) == [second.fiscal_num]
        assert not any(re.match(r"^КОП[IІ]Я$", line) for line in paper.texts)
    finally:
        again.close()


# --- SIGKILL and restarts ---------------------------------------------------------------------------


def harness(state: Path, fs_url: str, paper: Path, *args: str) -> tuple[int, dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, str(HARNESS), str(state), fs_url, str(paper), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.strip(), run.stderr
    return run.returncode, json.loads(run.stdout.strip().splitlines()[-1])


def test_sigkill_before_printing_then_restart_prints_once(tmp_path: Path, emulator: EmulatorHandle) -> None:
    state, paper = tmp_path / "box", tmp_path / "paper" / "printer.escpos"
    # The sales are registered, the printer (a file in a directory not there yet) is offline: killed.
    code, first = harness(state, emulator.fs_url, paper, "--open", "--sell", "2", "--kill", "failed")
    assert code == -signal.SIGKILL and not first["printed"] and "PrinterOffline" in str(first["last_error"])
    assert len(first["unprinted"]) == 2
    assert not paper.exists()

    # The printer is back. The restart prints what the crash left, then a new sale, and is killed
    # right after printing, before any clean shutdown.
    paper.parent.mkdir()
    code, second = harness(state, emulator.fs_url, paper, "--sell", "1", "--kill", "printed")
    assert code == -signal.SIGKILL and second["printed"] and second["unprinted"] == []
    sold = first["sold"] + second["sold"]
    assert numbers_on_paper(decode(paper.read_bytes())) == sold

    size = paper.stat().st_size
    code, third = harness(state, emulator.fs_url, paper)  # this restart has nothing to print again
    assert code == 0 and third["printed"] and third["unprinted"] == []
    assert paper.stat().st_size == size


# --- the drawer -------------------------------------------------------------------------------------


def test_the_drawer_opens_once_for_a_fresh_cash_receipt_and_not_for_card(till: Till) -> None:
    till.sell()
    paper = printed(till)
    assert kinds(paper).count("drawer") == 1 and kinds(paper).index("drawer") > kinds(paper).index("cut")
    start = len(till.printer.output)
    till.sell(by_card=True)
    assert till.service.drain()
    assert "drawer" not in kinds(decode(till.printer.output[start:]))


def test_a_stale_backlog_receipt_does_not_open_the_drawer(box: Box, tmp_path: Path) -> None:
    paper = tmp_path / "paper" / "printer.escpos"  # the printer is unplugged: the file's directory is gone
    clock = FakeClock(datetime.now(UTC))
    till = Till(box, ReceiptPrinter("file", path=paper, width_mm=58), clock=clock)
    try:
        till.fiscalized(box.register.open_shift())
        stale = till.sell()
        assert not till.service.drain()
        clock.advance(minutes=3)  # plugged back in long after the customer left
        paper.parent.mkdir()
        assert till.service.drain()
        backlog = decode(paper.read_bytes())
        assert numbers_on_paper(backlog) == [stale.fiscal_num] and "drawer" not in kinds(backlog)
        clock.set(datetime.now(UTC))  # the next sale is printed as it is made
        start = paper.stat().st_size
        fresh = till.sell()
        assert till.service.drain()
        after = decode(paper.read_bytes()[start:])
        assert numbers_on_paper(after) == [fresh.fiscal_num]
        assert kinds(after).count("drawer") == 1 and kinds(after).index("drawer") > kinds(after).index("cut")
    finally:
        till.close()


def test_a_reprint_never_opens_the_drawer(till: Till) -> None:
    sale = till.sell()
    assert till.service.drain()
    start = len(till.printer.output)
    till.service.print_now(till.service.receipt_layout(sale, copy=True, printed_at=datetime.now(UTC)))
    copy = decode(till.printer.output[start:])
    assert numbers_on_paper(copy) == [sale.fiscal_num] and "КОПIЯ" in copy.texts
    assert "drawer" not in kinds(copy)


# --- the printer's state for the status model --------------------------------------------------------


def test_the_printers_state_is_polled_while_idle_and_told_on_change() -> None:
    fake = FakeNetworkPrinter(replies=dict(PAPER_OK))
    printer = ReceiptPrinter("network", host="127.0.0.1", port=fake.port, timeout_s=2, status_timeout_s=1)
    events: list[Event] = []
    service = PrintService(printer, events=events.append, status_every_s=0.05)
    told: list[tuple[str | None, str | None]] = []
    service.add_listener(lambda: told.append(service.printer_state()))
    try:
        wait_for(lambda: service.state == "ok")
        fake.replies = dict(PAPER_END)
        wait_for(lambda: service.state == "paper_out")
        fake.replies = dict(PAPER_OK)
        wait_for(lambda: service.state == "ok")
        assert [e.kind for e in events] == [EventKind.PRINTER_FAULT, EventKind.PRINTER_OK]
        assert ("paper_out", "the printer reports paper_out", None) in told and told[-1] == ("ok", None, None)
    finally:
        service.close()
        fake.close()
