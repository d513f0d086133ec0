"""Issue 9, scenarios 1, 2 and 8: outages with a document in flight, over real HTTP against the emulator.

1. A refused sale is never fiscalized later: the document the server certainly never got is voided before
   the refusal; one that may have arrived is settled with the server first, its till told the outcome is not
   known yet, and its retry with the same id gets the true outcome, once.
2. A lost reply followed by an outage never blocks the box, for every kind it issues: the document counts
   once, the box goes offline, comes back and delivers. A check or a Z is made again offline and its online
   copy revoked in the 102; a shift document may not be revoked, so it is kept and settled at reconnection.
8. Never offline while the server answers: the sale that finds the server back finishes the session first
   when the rest fits one package; otherwise it is the counted exception; a refused package stops the session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.clock import FakeClock
from agent.events import EventKind
from agent.secr import documents as docs
from agent.secr.errors import (
    OfflineDocumentsRefused,
    OfflineMonthLimit,
    OfflineProhibited,
    OfflineRangeExhausted,
    OfflineSessionRefused,
    OutcomeUnknown,
    SalesBlocked,
)
from agent.secr.journal import PENDING, REGISTERED, REVOKED, VOID, Entry
from agent.secr.offline import Limits
from agent.secr.register import DuplicateRequest, Fiscalized, Mode
from agent.status.snapshot import build_status
from tests.conftest import REGISTRAR, Box, EmulatorHandle, cash, item, post_json
from tests.test_offline import Link, xml_head
from tests.test_register import assert_emulator_numbering
from tests.test_till_api import LICENSE, TillApi, good
from tests.waiting import wait_for


class Arm:
    """A crash point that injects a fault instead: when the document just journaled is the one the test
    names, the emulator is told to fail from its next request on (so earlier documents go through)."""

    def __init__(self, emulator: EmulatorHandle) -> None:
        self.emulator = emulator
        self.journal: Any = None
        self.match: Callable[[Entry], bool] | None = None
        self.fault: dict[str, Any] = {}
        self.after_package: Callable[[], None] | None = None

    def arm(self, match: Callable[[Entry], bool], mode: str, **extra: Any) -> None:
        self.match, self.fault = match, {"mode": mode, **extra}

    def __call__(self, name: str) -> None:
        if name == "after_package" and self.after_package is not None:
            hook, self.after_package = self.after_package, None
            hook()
        if name != "after_journal" or self.match is None:
            return
        entry = self.journal.last_live()
        if entry is not None and self.match(entry):
            self.match = None
            self.emulator.fault(**self.fault)


def make_box(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock, arm: Arm | None = None, **kwargs: Any
) -> Box:
    # A generous probe budget: on a loaded machine the probe that finds the server back must not miss it.
    kwargs.setdefault("probe_budget_s", 5)
    box = Box(
        tmp_path / "box",
        emulator.fs_url,
        clock=clock,
        timeout_s=2,
        print_documents=True,
        crashpoint=arm,
        **kwargs,
    )
    if arm is not None:
        arm.journal = box.journal
    box.register.start()
    return box


def entries(box: Box) -> list[Entry]:
    """Every document the journal holds, in the order it was journaled."""
    found: list[Entry] = []
    while (entry := box.journal.document(len(found) + 1)) is not None:
        found.append(entry)
    return found


def fiscalized_ids(box: Box) -> list[int]:
    return [int(e.detail["doc_id"]) for e in box.recorder.of(EventKind.FISCALIZED)]


def queued(box: Box) -> list[int]:
    return [job.doc_id for job in box.journal.unprinted(limit=1000)]


def assert_each_printed_once(box: Box) -> None:
    """Every receipt or Z that counts is queued for paper once; the online copy revoked never is."""
    announced = fiscalized_ids(box)
    assert len(announced) == len(set(announced)), announced
    printable = [
        e.id
        for e in entries(box)
        if e.state in (REGISTERED, "offline") and (e.doc_class == "ZREP" or e.doc_type == 0)
    ]
    assert queued(box) == printable


# --- scenario 1: a refused sale is never fiscalized later -------------------------------------------------

REFUSALS: dict[str, tuple[dict[str, Any], Limits | None, type[SalesBlocked]]] = {
    "prohibited": ({"offline_allowed": False}, None, OfflineProhibited),
    "reserve": ({"offline_reserve": 2}, None, OfflineRangeExhausted),  # the 102 and the sale need two
    "month_limit": ({}, Limits(max_month=timedelta(0)), OfflineMonthLimit),
}


def refusing_box(tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock, cause: str) -> Box:
    registration, limits, _ = REFUSALS[cause]
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, **registration})
    box = make_box(tmp_path, emulator, clock, limits=limits)
    box.register.open_shift()
    return box


@pytest.mark.parametrize("cause", sorted(REFUSALS))
def test_a_sale_that_never_left_is_voided_before_the_refusal(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock, cause: str
) -> None:
    box = refusing_box(tmp_path, emulator, clock, cause)
    link = Link(box)
    link.cut()  # no connection can be made: the server certainly never gets the sale
    with pytest.raises(REFUSALS[cause][2]):
        box.register.sell([item()], [cash("10.00")], request_id="till-1")
    assert box.journal.count(VOID) == 1 and box.journal.count(PENDING) == 0
    assert box.journal.next_local_num() == 2  # its number given back before the till heard "refused"
    link.restore()
    clock.advance(seconds=10)
    box.register.maintain()  # the agent's loop: nothing left to send
    assert len(emulator.documents()) == 1
    again = box.register.sell([item()], [cash("10.00")], request_id="till-1")
    assert not again.offline and again.local_num == 2
    assert len(assert_emulator_numbering(emulator)) == 2
    assert_each_printed_once(box)
    box.close()


@pytest.mark.parametrize("cause", sorted(REFUSALS))
def test_a_sale_that_may_have_arrived_is_never_registered_behind_the_till(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock, cause: str
) -> None:
    box = refusing_box(tmp_path, emulator, clock, cause)
    emulator.fault("down")  # the server reads the sale and drops the connection: it may have it
    with pytest.raises(OutcomeUnknown) as unknown:
        box.register.sell([item()], [cash("10.00")], request_id="till-2")
    assert unknown.value.request_id == "till-2"
    assert box.register.status().blocked_reason == REFUSALS[cause][2].reason
    with pytest.raises(OutcomeUnknown):  # the till retries while the server is still away: still open
        box.register.sell([item()], [cash("10.00")], request_id="till-2")
    with pytest.raises(REFUSALS[cause][2]):  # another sale: settled first, which cannot be done now
        box.register.sell([item(price="5.00")], [cash("5.00")], request_id="till-3")
    assert box.journal.count(PENDING) == 1
    emulator.fault("none")
    clock.advance(seconds=700)  # past the loop's interval
    box.register.maintain()
    box.register.resolve_pending()
    assert len(emulator.documents()) == 1  # asked about, never sent
    assert box.journal.count(PENDING) == 0 and box.register.get("till-2") is None
    made = box.register.sell([item()], [cash("10.00")], request_id="till-2")
    assert not made.offline and made.local_num == 2
    assert len(assert_emulator_numbering(emulator)) == 2
    assert_each_printed_once(box)
    box.close()


@pytest.mark.parametrize("first", ["till", "loop"])
def test_a_sale_registered_while_its_reply_was_lost_is_answered_once(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock, first: str
) -> None:
    box = refusing_box(tmp_path, emulator, clock, "prohibited")
    emulator.fault("drop-reply", count=1, then="down")  # registered, the reply lost, then nothing answers
    with pytest.raises(OutcomeUnknown):
        box.register.sell([item(price="42.00")], [cash("42.00")], request_id="till-4")
    assert len(emulator.documents()) == 2 and queued(box) == []  # the box does not know it is fiscal yet
    emulator.fault("none")
    if first == "loop":
        box.register.resolve_pending()  # the agent's loop learns it first: it is fiscal, so it is printed
        assert len(queued(box)) == 1
    with pytest.raises(DuplicateRequest) as dup:
        box.register.sell([item(price="42.00")], [cash("42.00")], request_id="till-4")
    sale = dup.value.result
    assert sale.fiscal_num == emulator.documents()[1]["fiscal_number"] and not sale.offline
    with pytest.raises(DuplicateRequest):
        box.register.sell([item(price="42.00")], [cash("42.00")], request_id="till-4")
    assert queued(box) == [sale.entry_id]  # printed once
    z, _ = box.register.close_shift()
    assert isinstance(z.document, docs.ZReport) and z.document.realiz is not None
    assert z.document.realiz.orders_count == 1 and z.document.realiz.sum == Decimal("42.00")
    assert len(assert_emulator_numbering(emulator)) == 4
    box.close()


def test_the_till_api_says_outcome_unknown_with_a_code_to_act_on(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    box = refusing_box(tmp_path, emulator, clock, "prohibited")
    api = TillApi(box)
    body = {
        "id": "7d1b1c3e-7a7a-4d4d-9e9e-000000000001",
        "goods": [good("Хліб", 1000)],
        "payments": [{"type": "CASH", "value": 1000}],
    }
    with httpx.Client(base_url=api.url, timeout=30) as raw:
        token = raw.post("/api/v1/cashier/signin", json={"login": "petrenko", "password": "secret-2"}).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}", "X-License-Key": LICENSE}
        emulator.fault("down")
        unknown = raw.post("/api/v1/receipts/sell", json=body, headers=headers)
        assert unknown.status_code == 503 and unknown.headers["Retry-After"]
        assert unknown.json()["code"] == "receipt.outcome_unknown"
        assert "same" in unknown.json()["message"] and unknown.json()["detail"][0]["loc"] == ["body", "id"]
        link = Link(box)
        link.cut()
        other = {**body, "id": "7d1b1c3e-7a7a-4d4d-9e9e-000000000002"}
        refused = raw.post("/api/v1/receipts/sell", json=other, headers=headers)
        assert refused.status_code == 409 and refused.json()["code"] == "sales_blocked.offline_prohibited"
        link.restore()
        emulator.fault("none")
        made = raw.post("/api/v1/receipts/sell", json=body, headers=headers)
        assert made.status_code == 201 and made.json()["fiscal_code"]
        again = raw.post("/api/v1/receipts/sell", json=body, headers=headers)
        assert again.status_code == 400 and again.json()["code"] == "receipt.already_exists"
    api.server.stop()
    assert len(assert_emulator_numbering(emulator)) == 2
    box.close()


# --- scenario 2: a lost reply never blocks the box, for every document kind ------------------------------


def is_type(doc_type: int | None, subtype: int | None = None) -> Callable[[Entry], bool]:
    return lambda e: e.doc_type == doc_type and (subtype is None or e.doc_subtype == subtype)


def is_z(entry: Entry) -> bool:
    return entry.doc_class == "ZREP"


def sale_of(amount: str) -> Callable[[Box], Fiscalized]:
    return lambda box: box.register.sell([item(price=amount)], [cash(amount)])


class Kind:
    """One document kind: what the shift holds before it, the act whose reply is lost, and what identifies
    its document."""

    def __init__(
        self,
        act: Callable[[Box, list[Fiscalized]], Fiscalized],
        match: Callable[[Entry], bool],
        *,
        before: tuple[str, ...] = (),
        closes: bool = False,
        revocable: bool = True,
        shift_open_before: bool = True,
    ) -> None:
        self.act, self.match, self.before = act, match, before
        self.closes, self.revocable, self.shift_open_before = closes, revocable, shift_open_before


KINDS = {
    "sale": Kind(lambda box, _: sale_of("42.00")(box), is_type(0, 0)),
    "return": Kind(
        lambda box, made: box.register.refund(
            [item(price="20.00")], [cash("20.00")], sale_fiscal_num=made[0].fiscal_num
        ),
        is_type(0, 1),
        before=("20.00",),
    ),
    "cash_in": Kind(lambda box, _: box.register.cash_in(Decimal("300.00")), is_type(0, 2)),
    "cash_out": Kind(
        lambda box, _: box.register.cash_out(Decimal("50.00")), is_type(0, 4), before=("100.00",)
    ),
    "storno": Kind(lambda box, _: box.register.storno_last(), is_type(0, 5), before=("15.00",)),
    "z": Kind(lambda box, _: box.register.close_shift()[0], is_z, before=("30.00",), closes=True),
    "open_shift": Kind(
        lambda box, _: box.register.open_shift(), is_type(100), revocable=False, shift_open_before=False
    ),
    "close_shift": Kind(
        lambda box, _: box.register.close_shift()[1],
        is_type(101),
        before=("30.00",),
        closes=True,
        revocable=False,
    ),
}


@pytest.mark.parametrize("arrived", [True, False], ids=["registered", "not-registered"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_lost_reply_then_an_outage_counts_once_and_never_blocks(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock, kind: str, arrived: bool
) -> None:
    spec = KINDS[kind]
    arm = Arm(emulator)
    box = make_box(tmp_path, emulator, clock, arm)
    reg = box.register
    if spec.shift_open_before:
        reg.open_shift()
    else:
        # The range comes with the first open shift's ticket (issue 15): a box's very first shift cannot be
        # lost into offline, so one shift is worked online before.
        reg.open_shift()
        reg.close_shift()
    made = [sale_of(amount)(box) for amount in spec.before]
    # The act's document reaches the server (registered, or dropped unread) and then nothing answers.
    if arrived:
        arm.arm(spec.match, "drop-reply", count=1, then="down")
    else:
        arm.arm(spec.match, "down")
    result = spec.act(box, made)
    lost_num = max(e.local_num for e in entries(box) if spec.match(e) and not e.offline)
    assert reg.status().mode == Mode.OFFLINE and reg.status().blocked_reason is None
    if spec.revocable:
        assert result.offline and not result.delivered  # made again offline, with an offline number
    else:
        assert result.local_num == lost_num and not result.delivered  # kept, settled at reconnection
    # The box goes on offline where the law lets it.
    if spec.closes:
        reopened = reg.open_shift()
        assert reopened.offline
    offline_sale = sale_of("7.00")(box)
    assert offline_sale.offline
    # The server comes back: the lost document is settled before the 102, the session delivered.
    emulator.fault("none")
    clock.advance(seconds=10)
    report = reg.go_online()
    assert report.went_online, report
    assert (report.revoked_online_fiscal_num is not None) is spec.revocable
    status = reg.status()
    assert status.mode == Mode.ONLINE and status.pending_documents == 0 and status.problem is None
    assert not reg.sell([item()], [cash("10.00")]).offline
    z, _ = reg.close_shift()  # the server checks every Z against its own totals
    registered = assert_emulator_numbering(emulator)
    lost = next(d for d in registered if d["local_number"] == lost_num)
    begin = next(d for d in registered if d["doc_type"] == 102)
    assert begin["local_number"] == lost_num + 1
    entry = next(e for e in entries(box) if e.local_num == lost_num)
    if spec.revocable:
        assert lost["revoked"] and not lost["offline"] and entry.state == REVOKED
        assert [d for d in registered if d["revoked"]] == [lost]
        assert xml_head(emulator, begin)["REVOKELASTONLINEDOC"] == "true"
        remade = [d for d in registered if d["offline"] and d["doc_type"] == lost["doc_type"]]
        assert any(d["doc_subtype"] == lost["doc_subtype"] for d in remade)
    else:
        assert (
            not lost["revoked"]
            and not lost["offline"]
            and lost["doc_type"] == (100 if kind == "open_shift" else 101)
        )
        assert not any(d["revoked"] for d in registered)
        assert "REVOKELASTONLINEDOC" not in xml_head(emulator, begin)
        assert entry.state == REGISTERED and entry.fiscal_num == lost["fiscal_number"]
        # made once: the lost open-shift document opens the second shift (the first was worked online
        # before it); the lost close and the last one close two
        assert sum(1 for d in registered if d["doc_type"] == lost["doc_type"]) == 2
    assert isinstance(z.document, docs.ZReport)
    assert_each_printed_once(box)
    box.close()


# --- scenario 8: never offline while the server answers ---------------------------------------------------


def offline_backlog(box: Box, count: int) -> Link:
    box.register.open_shift()
    link = Link(box)
    link.cut()
    for _ in range(count):
        assert box.register.sell([item()], [cash("10.00")]).offline
    return link


def test_the_sale_that_finds_the_server_back_is_made_online(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    box = make_box(tmp_path, emulator, clock)
    link = offline_backlog(box, 3)
    link.restore()
    clock.advance(seconds=10)  # the last failed probe is no longer fresh: the next sale probes
    sale = box.register.sell([item()], [cash("10.00")])
    assert not sale.offline and sale.delivered
    registered = assert_emulator_numbering(emulator)
    assert [d["doc_type"] for d in registered][-2:] == [103, 0]  # the session closed before the sale
    assert box.register.status().offline_while_reachable == 0
    assert box.recorder.of(EventKind.OFFLINE_WHILE_REACHABLE) == []
    assert len(box.recorder.of(EventKind.WENT_ONLINE)) == 1
    box.close()


def test_a_long_backlog_uploads_behind_the_sales_made_meanwhile_which_are_counted(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    box = make_box(tmp_path, emulator, clock, auto_sync=True)
    link = offline_backlog(box, 120)  # 102 and 120 sales: two packages, more than a sale can wait for
    link.restore()
    clock.advance(seconds=10)
    sale = box.register.sell([item()], [cash("10.00")])
    assert sale.offline  # the exception the law leaves: the session cannot be closed in a sale's time
    assert box.register.status().offline_while_reachable == 1
    shown = build_status(box.register.status(), now=clock.now())  # what status.json and box/status show
    assert shown["offline"]["made_while_reachable"] == 1
    [event] = box.recorder.of(EventKind.OFFLINE_WHILE_REACHABLE)
    assert event.detail["local_num"] == sale.local_num and event.detail["fiscal_num"] == sale.fiscal_num
    wait_for(lambda: box.register.status().mode == Mode.ONLINE, what="the background upload went online")
    assert not box.register.sell([item()], [cash("10.00")]).offline
    registered = assert_emulator_numbering(emulator)
    assert len(registered) == 1 + 1 + 121 + 1 + 1
    assert len(box.recorder.of(EventKind.WENT_ONLINE)) == 1
    box.close()


def test_a_sale_between_packages_waits_for_the_last_one_and_is_made_online(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    """Between packages, once the rest fits the 103 is made at once (upload._next_package), so the sale
    that comes next delivers that last package first rather than make anything offline."""
    arm = Arm(emulator)
    box = make_box(tmp_path, emulator, clock, arm)
    link = offline_backlog(box, 120)
    link.restore()
    arm.after_package = lambda: emulator.fault("down")  # the link goes after the first package
    report = box.register.go_online()
    assert not report.went_online and report.packages_sent == 1
    assert box.register.status().mode == Mode.UPLOADING
    emulator.fault("none")
    clock.advance(seconds=10)
    sale = box.register.sell([item()], [cash("10.00")])
    assert not sale.offline
    assert box.register.status().offline_while_reachable == 0
    registered = assert_emulator_numbering(emulator)
    assert [d["doc_type"] for d in registered][-2:] == [103, 0]
    box.close()


def test_a_refused_package_stops_the_session_and_asks_for_a_person(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    box = make_box(tmp_path, emulator, clock)
    link = offline_backlog(box, 120)
    link.restore()
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, "org_name": 'ТОВ "ІНША НАЗВА"'})
    with pytest.raises(OfflineDocumentsRefused) as refused:
        box.register.go_online()
    assert refused.value.local_num == 2  # the 102, the first document of the first package
    status = box.register.status()
    assert status.mode == Mode.OFFLINE and status.blocked_reason == "offline_session_refused"
    assert any("реєстраційних" in e and "№ 2" in e for e in status.errors), status.errors
    shown = build_status(status, now=clock.now())
    assert shown["mode"] == "blocked" and shown["blocked_reason"] == "offline_session_refused"
    assert any("реєстраційних" in e for e in shown["errors"])
    [failed] = box.recorder.of(EventKind.SYNC_FAILED)
    assert failed.detail["needs_person"] is True and failed.detail["local_num"] == 2
    assert "реєстраційних" in failed.detail["server_text"]
    count = box.journal.count()
    clock.advance(seconds=10)
    with pytest.raises(OfflineSessionRefused):  # the server answers: no offline document, none online
        box.register.sell([item()], [cash("10.00")])
    link.cut()
    with pytest.raises(OfflineSessionRefused):  # and not once it is away again: the session is refused
        box.register.sell([item()], [cash("10.00")])
    assert box.journal.count() == count
    link.restore()
    post_json(f"{emulator.url}/emulator/registrars", REGISTRAR)  # support fixed the registration data
    assert box.register.go_online().went_online
    assert box.register.status().blocked_reason is None
    assert not box.register.sell([item()], [cash("10.00")]).offline
    assert len(assert_emulator_numbering(emulator)) == 1 + 1 + 120 + 1 + 1
    box.close()
