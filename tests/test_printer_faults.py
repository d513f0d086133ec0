"""Printer faults over a real serial line: paper out or the cover opened in the middle of a receipt, a
printer that falls silent, stalls, or is unplugged and comes back. Whatever happens, every fiscal receipt
reaches paper whole, none is on paper twice as itself (a receipt cut short is printed again marked КОПІЯ),
the status says what is wrong with the printer and the events say when it failed and when it came back,
and printing resumes by itself.

The printer is tests/printer_sim.py on a pseudo-terminal, driven through pyserial as the box drives a
USB-serial printer: it answers the real status queries and puts on paper only what it gets while ready.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app import Agent
from agent.clock import SystemClock
from agent.config import load_config
from agent.events import Event, EventKind
from agent.secr.journal import PrintJob
from agent.secr.register import Fiscalized
from drivers.printer import PrinterOffline, ReceiptPrinter, Text
from tests.conftest import Box, EmulatorHandle, cash, item
from tests.printer_sim import SimulatedPrinter
from tests.test_cli import write_config
from tests.test_print_queue import Till, numbers_on_paper
from tests.test_printing import Shop
from tests.test_till_api import sale_body
from tests.waiting import wait_for

pytestmark = pytest.mark.print_documents  # the box fixture's register queues for paper

COPY = "КОПIЯ"  # CP866 prints І as I


@pytest.fixture()
def sim(tmp_path: Path) -> Iterator[SimulatedPrinter]:
    printer = SimulatedPrinter(tmp_path / "ttyUSB0")
    yield printer
    printer.close()


@pytest.fixture()
def till(box: Box, sim: SimulatedPrinter) -> Iterator[Till]:
    printer = ReceiptPrinter(
        "serial", port=str(sim.path), baudrate=115200, width_mm=58, timeout_s=1, status_timeout_s=0.2
    )
    t = Till(box, printer, retry_s=0.05, max_retry_s=0.2)
    t.fiscalized(box.register.open_shift(cashier="Тест"))
    yield t
    t.close()


class Paper:
    """What is on paper, by fiscal number: whole originals and whole copies; and the torn sheets (a torn
    sheet may have lost its number with the rest of it)."""

    def __init__(self, sim: SimulatedPrinter) -> None:
        self.originals: Counter[str] = Counter()
        self.copies: Counter[str] = Counter()
        self.torn = 0
        for sheet, printed in sim.receipts():
            if not sheet.whole:
                self.torn += 1
                continue
            for number in numbers_on_paper(printed):
                if COPY in printed.texts:
                    self.copies[number] += 1
                else:
                    self.originals[number] += 1

    def check(self, sold: list[Fiscalized], *, may_copy: tuple[Fiscalized, ...] = ()) -> None:
        """The shop's outcome: each receipt whole on paper, never twice as itself, a copy only of one whose
        first print may be cut short, and nothing on paper that was not sold."""
        numbers = [r.fiscal_num for r in sold]
        for number in numbers:
            assert self.originals[number] + self.copies[number] >= 1, f"{number} never reached paper whole"
            assert self.originals[number] <= 1, f"{number} is on paper twice as itself"
            assert self.copies[number] <= 1, f"{number} has more than one copy"
        assert set(self.copies) <= {r.fiscal_num for r in may_copy}, self.copies
        assert set(self.originals) | set(self.copies) <= set(numbers)


def all_printed(till: Till) -> None:
    wait_for(lambda: till.box.journal.unprinted() == [], what="every receipt on paper")


def fault_events(till: Till) -> list[EventKind]:
    return till.printer_events()


def test_paper_running_out_mid_receipt_reprints_it_whole_as_a_copy(till: Till, sim: SimulatedPrinter) -> None:
    first = till.sell("10.00")
    all_printed(till)
    sim.fail_after(4, "paper")  # four lines into the next receipt
    cut_short = till.sell("20.00")
    wait_for(lambda: till.service.state == "paper_out", what="the box to see the paper end")
    # Sales go on while the paper is out; their receipts wait.
    waiting = [till.sell("30.00"), till.sell("40.00")]
    assert till.service.state == "paper_out"
    assert EventKind.PRINTER_FAULT in fault_events(till)
    assert till.box.journal.unprinted() != []
    sim.set(paper=True)  # a new roll
    all_printed(till)
    wait_for(lambda: till.service.state == "ok", what="the printer back to ok")
    assert fault_events(till) == [EventKind.PRINTER_FAULT, EventKind.PRINTER_OK]
    paper = Paper(sim)
    paper.check([first, cut_short, *waiting], may_copy=(cut_short,))
    assert paper.torn == 1 and paper.copies[cut_short.fiscal_num] == 1
    assert paper.originals[cut_short.fiscal_num] == 0
    # Those sold while the paper was out were never sent into it: originals, once.
    assert [paper.originals[r.fiscal_num] for r in (first, *waiting)] == [1, 1, 1]


def test_cover_opened_mid_receipt(till: Till, sim: SimulatedPrinter) -> None:
    sim.fail_after(6, "cover")
    cut_short = till.sell("15.00")
    wait_for(lambda: till.service.state == "cover_open", what="the box to see the open cover")
    later = till.sell("16.00")
    sim.set(cover_open=False)
    all_printed(till)
    wait_for(lambda: till.service.state == "ok", what="the printer back to ok")
    paper = Paper(sim)
    paper.check([cut_short, later], may_copy=(cut_short,))
    assert paper.torn == 1 and paper.copies[cut_short.fiscal_num] == 1
    assert paper.originals[later.fiscal_num] == 1
    assert fault_events(till) == [EventKind.PRINTER_FAULT, EventKind.PRINTER_OK]


def test_cover_open_before_the_receipt_waits_and_prints_the_original(till: Till, sim: SimulatedPrinter) -> None:
    sim.set(cover_open=True)
    sale = till.sell()
    wait_for(lambda: till.service.state == "cover_open", what="the box to see the open cover")
    assert Paper(sim).torn == 0  # nothing was sent into the open printer
    sim.set(cover_open=False)
    all_printed(till)
    paper = Paper(sim)
    paper.check([sale])
    assert paper.originals[sale.fiscal_num] == 1 and not paper.copies


def test_a_printer_that_falls_silent_gets_nothing_until_it_answers(till: Till, sim: SimulatedPrinter) -> None:
    first = till.sell()
    all_printed(till)
    sim.set(silent=True)  # switched off, cable still in
    quiet = [till.sell("11.00"), till.sell("12.00")]
    wait_for(lambda: till.service.state == "offline", what="the box to see the printer silent")
    assert till.box.journal.unprinted() != []
    sim.set(silent=False)
    all_printed(till)
    wait_for(lambda: till.service.state == "ok", what="the printer back to ok")
    paper = Paper(sim)
    paper.check([first, *quiet])
    assert sum(paper.originals.values()) == 3 and not paper.copies and not paper.torn


def test_unplugged_and_plugged_back(till: Till, sim: SimulatedPrinter) -> None:
    first = till.sell()
    all_printed(till)
    sim.unplug()
    away = [till.sell("21.00"), till.sell("22.00")]
    wait_for(lambda: till.service.state == "offline", what="the box to see the printer gone")
    assert till.service.last_error  # what the cashier and the slip read
    sim.plug()
    all_printed(till)
    wait_for(lambda: till.service.state == "ok", what="the printer back to ok")
    paper = Paper(sim)
    paper.check([first, *away])
    assert [paper.originals[r.fiscal_num] for r in away] == [1, 1]
    assert fault_events(till) == [EventKind.PRINTER_FAULT, EventKind.PRINTER_OK]


def test_a_stalled_printer_then_resuming(till: Till, sim: SimulatedPrinter) -> None:
    # It stops reading with the receipt in the port's buffer: the box cannot know whether it will print,
    # so it prints the receipt again, as a copy, once the printer answers -- never twice as itself.
    first = till.sell()
    all_printed(till)
    sim.stall()
    stuck = till.sell("33.00")
    wait_for(lambda: till.service.state == "offline", what="the box to see the printer stalled")
    sim.stall(False)
    all_printed(till)
    paper = Paper(sim)
    paper.check([first, stuck], may_copy=(stuck,))


def test_paper_near_end_is_a_warning_while_receipts_print(till: Till, sim: SimulatedPrinter) -> None:
    sim.set(near_end=True)
    sale = till.sell()
    all_printed(till)
    assert till.service.state == "ok"
    wait_for(lambda: till.service.warning == "paper_near_end", what="the near-end warning")
    assert till.service.printer_state() == ("ok", None, "paper_near_end")
    Paper(sim).check([sale])
    sim.set(near_end=False)
    till.sell()
    all_printed(till)
    wait_for(lambda: till.service.warning is None, what="the warning to clear with a new roll")


def test_the_tills_answer_carries_the_printer_state(box: Box, sim: SimulatedPrinter) -> None:
    # The cashier's till learns from the sale's own answer that its receipt waits for paper, and from
    # GET receipts/{id} that it is on paper now.
    printer = ReceiptPrinter("serial", port=str(sim.path), width_mm=58, timeout_s=1, status_timeout_s=0.2)
    shop = Shop(box, printer)
    try:
        sim.set(paper=False)
        first = shop.http.post("/api/v1/receipts/sell", json=sale_body(1))
        assert first.status_code == 201 and first.json()["status"] == "DONE"  # the sale is never refused
        wait_for(lambda: shop.printing.state == "paper_out", what="the box to see the paper end")
        answer = shop.http.post("/api/v1/receipts/sell", json=sale_body(2)).json()
        assert answer["box"]["printer"] == "paper_out" and answer["box"]["printed"] is False
        assert answer["box"]["printer_error"]
        sim.set(paper=True)
        wait_for(lambda: box.journal.unprinted() == [], what="both receipts on paper")
        again = shop.http.get(f"/api/v1/receipts/{answer['id']}").json()
        assert again["box"] == {"printer": "ok", "printer_error": None, "printer_warning": None, "printed": True}
        paper = Paper(sim)
        assert dict(paper.originals) == {first.json()["fiscal_code"]: 1, answer["fiscal_code"]: 1}
    finally:
        shop.close()


def test_a_jammed_cutter_is_an_error_that_says_what_to_do(till: Till, sim: SimulatedPrinter) -> None:
    sim.set(cutter_jammed=True)
    sale = till.sell()
    wait_for(lambda: till.service.state == "error", what="the box to see the printer's error")
    assert "cutter" in (till.service.last_error or ""), till.service.last_error  # DLE EOT 3's cause
    assert Paper(sim).torn == 0  # nothing sent into a printer that said it would not print
    sim.set(cutter_jammed=False)
    all_printed(till)
    paper = Paper(sim)
    paper.check([sale])
    assert paper.originals[sale.fiscal_num] == 1


def test_a_printer_known_to_answer_gets_nothing_while_silent_from_the_start(sim: SimulatedPrinter) -> None:
    # [printer] answers_status = true: after a restart with the printer switched off, the first receipt
    # is not sent into the void either.
    sim.set(silent=True)
    printer = ReceiptPrinter("serial", port=str(sim.path), answers_status=True, status_timeout_s=0.2)
    with pytest.raises(PrinterOffline, match="nothing was sent"):
        printer.print_lines([Text("ЧЕК")])
    assert printer.status() == "offline"
    sim.set(silent=False)
    printer.print_lines([Text("ЧЕК")])
    printer.close()
    assert [sheet.whole for sheet, _ in sim.receipts()] == [True]


def test_the_agent_shows_the_printer_fault_in_its_status_and_events(
    tmp_path: Path, emulator: EmulatorHandle, sim: SimulatedPrinter
) -> None:
    # The whole box: config names the serial port, the status JSON (what MQTT, the slip and the till read)
    # and the event stream follow the printer, and the receipt waits and prints by itself.
    config = write_config(
        tmp_path / "config.toml",
        emulator.fs_url,
        **{"[printer]\nenabled = false": f'[printer]\nkind = "serial"\nport = "{sim.path}"\nwidth_mm = 58'},
    )
    agent = Agent(load_config(config), SystemClock())
    agent.start()
    try:
        events: list[Event] = []
        agent.events.subscribe(events.append, name="test")
        agent.register.open_shift(cashier="Тест")
        sim.set(paper=False)
        sale = agent.register.sell([item(price="5.00")], [cash("5.00")])
        wait_for(lambda: agent.status_dict()["printer"] == "paper_out", what="paper_out in the status")
        assert any("printer paper_out" in e for e in agent.status_dict()["errors"])
        wait_for(lambda: EventKind.PRINTER_FAULT in [e.kind for e in events], what="the printer_fault event")
        sim.set(paper=True)
        wait_for(lambda: agent.status_dict()["printer"] == "ok", what="the printer ok again", timeout=30)
        wait_for(lambda: EventKind.PRINTER_OK in [e.kind for e in events], what="the printer_ok event")
        wait_for(lambda: Paper(sim).originals[sale.fiscal_num] == 1, what="the receipt on paper")
        assert not any("printer" in e for e in agent.status_dict()["errors"])
    finally:
        agent.close()


def test_after_a_restart_with_the_printer_off_nothing_is_sent_into_it(
    tmp_path: Path, emulator: EmulatorHandle, sim: SimulatedPrinter
) -> None:
    # The box remembers (state_dir/printer.json) that its printer answers: restarted while the printer is
    # switched off, it does not take the silence for a one-way cable and print the first receipts blind.
    config = load_config(
        write_config(
            tmp_path / "config.toml",
            emulator.fs_url,
            **{"[printer]\nenabled = false": f'[printer]\nkind = "serial"\nport = "{sim.path}"\nwidth_mm = 58'},
        )
    )
    agent = Agent(config, SystemClock())
    agent.start()
    try:
        agent.register.open_shift(cashier="Тест")
        first = agent.register.sell([item(price="5.00")], [cash("5.00")])
        wait_for(lambda: Paper(sim).originals[first.fiscal_num] == 1, what="the first receipt on paper")
        wait_for(lambda: (config.box.state_dir / "printer.json").exists(), what="the printer remembered")
    finally:
        agent.close()
    sim.set(silent=True)  # switched off overnight
    agent = Agent(config, SystemClock())
    agent.start()
    try:
        morning = agent.register.sell([item(price="6.00")], [cash("6.00")])
        assert agent.printing is not None and agent.printing.journal is not None
        journal = agent.printing.journal

        def tried() -> PrintJob | None:
            job = journal.print_job(morning.entry_id)
            return job if job is not None and job.attempts >= 1 else None

        job = wait_for(tried, what="the print worker to try the morning's receipt")
        assert job.printed_at is None, "marked printed while the printer was off: sent into the void"
        assert agent.status_dict()["printer"] == "offline"
        assert len(sim.receipts()) == 1 and Paper(sim).torn == 0
        sim.set(silent=False)
        wait_for(lambda: Paper(sim).originals[morning.fiscal_num] == 1, what="the morning's receipt", timeout=30)
        Paper(sim).check([first, morning])
    finally:
        agent.close()
