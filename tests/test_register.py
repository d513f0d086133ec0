"""The cash register facade over real HTTP against the emulator: a whole shift, refusals, lost replies,
crashes (SIGKILL) and restarts."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from agent.secr import documents as docs
from agent.secr.errors import (
    BadInput,
    DocumentRejected,
    InvalidInput,
    JournalMismatch,
    OutcomeUnknown,
    ShiftAlreadyOpen,
    ShiftNotOpen,
)
from agent.secr.register import DuplicateRequest
from tests.conftest import REGISTRAR, Box, EmulatorHandle, card, cash, item, post_json

HARNESS = Path(__file__).with_name("crash_harness.py")


def assert_emulator_numbering(emulator: EmulatorHandle) -> list[dict[str, object]]:
    registered = emulator.documents()
    local_nums = [d["local_number"] for d in registered]
    assert local_nums == list(range(1, len(registered) + 1)), local_nums
    assert len({d["fiscal_number"] for d in registered}) == len(registered)
    return registered


def test_whole_shift(box: Box, emulator: EmulatorHandle) -> None:
    reg = box.register
    opened = reg.open_shift(cashier="Тест Касир")
    sales = [
        reg.sell([item("Хліб", "2", "28.50"), item("Яблука", "1.235", "32.00", tax=2)], [cash("200.00")]),
        reg.sell([item("Молоко", "1", "41.90")], [card("41.90")]),
        reg.sell(
            [item("Сир", "0.347", "289.90"), item("Вода", "3", "15.25", tax=2)],
            [card("50.00"), cash("100.00")],
        ),
    ]
    refund = reg.refund([item("Хліб", "1", "28.50")], [cash("28.50")], sale_fiscal_num=sales[0].fiscal_num)
    deposit = reg.cash_in(Decimal("500.00"))
    issue = reg.cash_out(Decimal("120.00"))
    extra = reg.sell([item("Жуйка", "1", "19.99")], [cash("19.99")])
    storno = reg.storno_last()
    x = reg.x_report()
    z, close = reg.close_shift()

    registered = assert_emulator_numbering(emulator)
    assert len(registered) == 11
    assert [d["fiscal_number"] for d in registered] == [
        r.fiscal_num for r in (opened, *sales, refund, deposit, issue, extra, storno, z, close)
    ]
    for document in registered:  # every document the box built is schema-valid as received
        docs.validate(emulator.xml_of(document))

    # the Z equals the shift's documents, the stornoed sale left out
    def total(r: object) -> Decimal:
        assert isinstance(r.document, docs.Check)  # type: ignore[attr-defined]
        return r.document.total or Decimal(0)  # type: ignore[attr-defined]

    zdoc = docs.parse(emulator.xml_of(registered[-2]))
    assert isinstance(zdoc, docs.ZReport)
    assert zdoc.realiz is not None and zdoc.ret is not None
    assert zdoc.realiz.sum == sum(total(s) for s in sales)
    assert zdoc.realiz.orders_count == 3
    assert zdoc.ret.sum == Decimal("28.50") and zdoc.ret.orders_count == 1
    assert zdoc.service_input == Decimal("500.00") and zdoc.service_output == Decimal("120.00")
    sale_taxes: dict[str, Decimal] = {}
    for s in sales:
        assert isinstance(s.document, docs.Check)
        for row in s.document.taxes:
            sale_taxes[row.letter] = sale_taxes.get(row.letter, Decimal(0)) + row.sum
    assert {row.letter: row.sum for row in zdoc.realiz.taxes} == sale_taxes
    assert x.report.realiz == zdoc.realiz and x.receipts_count == 4
    status = reg.status()
    assert not status.shift_open and status.pending_documents == 0
    assert status.offline_session_id is not None and status.has_offline_seed


def test_numbering_survives_restart(tmp_path: Path, emulator: EmulatorHandle) -> None:
    first = Box(tmp_path / "box", emulator.fs_url)
    first.register.start()
    first.register.open_shift()
    first.register.sell([item()], [cash("10.00")])
    first.close()
    again = Box(tmp_path / "box", emulator.fs_url)
    again.register.start()
    result = again.register.sell([item()], [cash("10.00")])
    assert result.local_num == 3
    again.register.close_shift()
    again.close()
    assert_emulator_numbering(emulator)


@pytest.mark.parametrize(
    ("items", "payments", "field"),
    [
        ([item(qty="0")], [cash("10.00")], "quantity"),
        ([item(qty="-1")], [cash("10.00")], "quantity"),
        ([item(qty="1.0001")], [cash("10.00")], "quantity"),
        ([item(price="10.001")], [cash("10.00")], "price"),
        ([item(price="-1.00")], [cash("10.00")], "price"),
        ([item(tax=9)], [cash("10.00")], "tax"),
        ([], [cash("10.00")], "items"),
        ([item()], [], "payments"),
        ([item()], [cash("9.99")], "payments"),
        ([item()], [card("10.01")], "payments"),
    ],
)
def test_bad_sale_journals_nothing(
    box: Box, items: list[docs.Item], payments: list[docs.Payment], field: str
) -> None:
    box.register.open_shift()
    before = (box.journal.count(), box.journal.next_local_num())
    with pytest.raises(InvalidInput) as info:
        box.register.sell(items, payments)
    assert field in (info.value.field or "") or field in str(info.value)
    assert (box.journal.count(), box.journal.next_local_num()) == before
    # and the register goes on with the next number
    assert box.register.sell([item()], [cash("10.00")]).local_num == before[1]


def test_refund_of_more_than_sold_is_refused(box: Box) -> None:
    box.register.open_shift()
    sale = box.register.sell([item("Хліб", "2", "10.00")], [cash("20.00")])
    count = box.journal.count()
    with pytest.raises(InvalidInput, match="more than was sold"):
        box.register.refund([item("Хліб", "3", "10.00")], [cash("30.00")], sale_fiscal_num=sale.fiscal_num)
    box.register.refund([item("Хліб", "2", "10.00")], [cash("20.00")], sale_fiscal_num=sale.fiscal_num)
    with pytest.raises(InvalidInput, match="more than was sold"):
        box.register.refund([item("Хліб", "1", "10.00")], [cash("10.00")], sale_fiscal_num=sale.fiscal_num)
    with pytest.raises(InvalidInput, match="was not sold"):
        box.register.refund([item("Масло", "1", "10.00")], [cash("10.00")], sale_fiscal_num=sale.fiscal_num)
    with pytest.raises(InvalidInput, match="no sale with fiscal number"):
        box.register.refund([item("Хліб", "1", "10.00")], [cash("10.00")], sale_fiscal_num="999999999")
    assert box.journal.count() == count + 1


def test_shift_rules(box: Box) -> None:
    with pytest.raises(ShiftNotOpen):
        box.register.sell([item()], [cash("10.00")])
    with pytest.raises(ShiftNotOpen):
        box.register.close_shift()
    assert box.journal.count() == 0
    box.register.open_shift()
    with pytest.raises(ShiftAlreadyOpen):
        box.register.open_shift()
    with pytest.raises(BadInput):
        box.register.cash_out(Decimal("0"))
    with pytest.raises(InvalidInput):
        box.register.storno_last()  # the last document is the open-shift one
    assert box.journal.count() == 1


def test_lost_reply_is_not_registered_twice(box: Box, emulator: EmulatorHandle) -> None:
    box.register.open_shift()
    emulator.fault("drop-reply", count=1)
    result = box.register.sell([item()], [cash("10.00")], request_id="till-1")
    registered = assert_emulator_numbering(emulator)
    assert len(registered) == 2 and registered[-1]["fiscal_number"] == result.fiscal_num
    with pytest.raises(DuplicateRequest) as info:
        box.register.sell([item()], [cash("10.00")], request_id="till-1")
    assert info.value.result.fiscal_num == result.fiscal_num
    assert len(emulator.documents()) == 2


def test_a_till_retry_of_a_shift_a_return_or_a_storno_gets_its_document(
    box: Box, emulator: EmulatorHandle
) -> None:
    """The till's answer was lost and it asks again with the same request id: it gets the document it
    already has, not a refusal its own document now causes (the shift is open, the sale is returned in
    full, the last document is the storno itself). Found by the fault sweep (tests/faults)."""
    reg = box.register
    opened = reg.open_shift(request_id="till-open")
    with pytest.raises(DuplicateRequest) as again_open:
        reg.open_shift(request_id="till-open")
    assert again_open.value.result.fiscal_num == opened.fiscal_num
    sale = reg.sell([item("Хліб", "1", "10.00")], [cash("10.00")], request_id="till-sale")
    back = reg.refund(
        [item("Хліб", "1", "10.00")], [cash("10.00")], sale_fiscal_num=sale.fiscal_num, request_id="till-ret"
    )
    with pytest.raises(DuplicateRequest) as again_back:
        reg.refund(
            [item("Хліб", "1", "10.00")],
            [cash("10.00")],
            sale_fiscal_num=sale.fiscal_num,
            request_id="till-ret",
        )
    assert again_back.value.result.fiscal_num == back.fiscal_num
    reg.sell([item("Масло", "1", "5.00")], [cash("5.00")])
    storno = reg.storno_last(request_id="till-storno")
    with pytest.raises(DuplicateRequest) as again_storno:
        reg.storno_last(request_id="till-storno")
    assert again_storno.value.result.fiscal_num == storno.fiscal_num
    assert len(assert_emulator_numbering(emulator)) == 5


def test_no_offline_right_outage_then_till_retry_registers_once(box: Box, emulator: EmulatorHandle) -> None:
    """Issue 9, scenario 1: a sale the box could not make (no offline right) is never registered by the box
    on its own later; the till's retry with the same id gets the true outcome, once."""
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, "offline_allowed": False})
    box.register.start()
    box.register.open_shift()
    emulator.fault("down")  # the request reaches the server's socket, which closes: it may have arrived
    with pytest.raises(OutcomeUnknown) as unknown:
        box.register.sell([item()], [cash("10.00")], request_id="till-2")
    assert unknown.value.request_id == "till-2" and unknown.value.local_num == 2
    assert box.register.status().pending_documents == 1
    assert box.register.status().blocked_reason == "offline_prohibited"
    emulator.fault("none")
    box.register.resolve_pending()  # the agent's loop, with the link back: it asks, it never sends
    box.register.maintain()
    assert len(emulator.documents()) == 1  # nothing registered behind the till's back
    assert box.register.get("till-2") is None and box.register.status().pending_documents == 0
    result = box.register.sell([item()], [cash("10.00")], request_id="till-2")  # the till retries
    assert not result.offline and result.local_num == 2  # the voided number, used once
    with pytest.raises(DuplicateRequest) as info:
        box.register.sell([item()], [cash("10.00")], request_id="till-2")
    assert info.value.result == result == box.register.get("till-2")
    registered = assert_emulator_numbering(emulator)
    assert len(registered) == 2
    assert box.register.status().pending_documents == 0


def test_server_errors_5xx_take_the_box_offline_and_back(box: Box, emulator: EmulatorHandle) -> None:
    box.register.open_shift()
    emulator.fault("error500")
    sale = box.register.sell([item()], [cash("10.00")])
    assert sale.offline and not sale.delivered
    emulator.fault("none")
    report = box.register.go_online()
    assert report.went_online and report.revoked_online_fiscal_num is not None
    nxt = box.register.sell([item(price="20.00")], [cash("20.00")])
    assert not nxt.offline
    registered = assert_emulator_numbering(emulator)
    # open, the lost sale (delivered, then revoked by the 102), 102, the sale offline, 103, the next sale
    assert [d["doc_type"] for d in registered] == [100, 0, 102, 0, 103, 0]
    assert [d["revoked"] for d in registered] == [False, True, False, False, False, False]


def test_rejected_document_gives_its_number_back(box: Box, emulator: EmulatorHandle) -> None:
    box.register.open_shift()
    emulator.fault("reject-next")
    with pytest.raises(DocumentRejected) as info:
        box.register.sell([item()], [cash("10.00")])
    assert info.value.error_code == 9
    result = box.register.sell([item()], [cash("10.00")])
    assert result.local_num == 2
    assert len(assert_emulator_numbering(emulator)) == 2


def test_start_explains_documents_made_elsewhere(tmp_path: Path, emulator: EmulatorHandle) -> None:
    ours = Box(tmp_path / "ours", emulator.fs_url)
    ours.register.start()
    ours.register.open_shift()
    ours.register.sell([item()], [cash("10.00")])
    ours.register.close_shift()
    other = Box(tmp_path / "other", emulator.fs_url)
    other.register.start()  # a new journal takes the server's numbering
    other.register.open_shift()
    other.close()
    with pytest.raises(JournalMismatch, match="did not make"):
        ours.register.start()
    with pytest.raises(JournalMismatch):  # and it keeps refusing instead of guessing
        ours.register.open_shift()
    ours.close()


def run_harness(state_dir: Path, fs_url: str, action: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HARNESS), str(state_dir), fs_url, action, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("crash_at", ["after_journal", "after_send"])
def test_sigkill_mid_document_registers_once(tmp_path: Path, emulator: EmulatorHandle, crash_at: str) -> None:
    state = tmp_path / "box"
    assert run_harness(state, emulator.fs_url, "open").returncode == 0
    killed = run_harness(state, emulator.fs_url, "sell", "--crash", crash_at, "--request-id", "r-1")
    assert killed.returncode == -9, killed.stderr
    expected_on_server = 1 if crash_at == "after_journal" else 2
    assert len(emulator.documents()) == expected_on_server
    after = run_harness(state, emulator.fs_url, "sell", "--request-id", "r-2")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["local_num"] == 3
    closed = run_harness(state, emulator.fs_url, "close")
    assert closed.returncode == 0, closed.stderr
    registered = assert_emulator_numbering(emulator)
    assert len(registered) == 5  # open, the killed sale once, the next sale, Z, close
    zdoc = docs.parse(emulator.xml_of(registered[-2]))
    assert isinstance(zdoc, docs.ZReport) and zdoc.realiz is not None
    assert zdoc.realiz.orders_count == 2 and zdoc.realiz.sum == Decimal("24.68")


def test_numbering_drift_is_explained_and_stops_sales(box: Box, emulator: EmulatorHandle) -> None:
    box.register.open_shift()
    box.register.sell([item()], [cash("10.00")])
    # something else registered two documents on this register behind the box's back
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, "next_local_num": 5})
    with pytest.raises(JournalMismatch, match="did not make") as info:
        box.register.sell([item()], [cash("10.00")])
    assert "another device" in str(info.value)
    with pytest.raises(JournalMismatch):
        box.register.sell([item()], [cash("10.00")])
    assert box.register.status().problem is not None
    assert box.journal.next_local_num() == 3  # the refused document gave its number back
