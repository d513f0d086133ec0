"""Issue 15, offline sessions read strictly from the tax service's text (docs/compliance.md):
for each rule the emulator refusing the wrong request with the service's code and text, and the box
doing the right thing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent.clock import KYIV, FakeClock
from agent.emulator import Emulator
from agent.secr.errors import NeverOnline
from agent.secr.meta import Mode
from tests.conftest import Box, EmulatorHandle, cash, item, post_json
from tests.emulator_helpers import OfflineSession, Till
from tests.test_emulator import client, emu, expect_error, make_till, offline_session, post_pck, ticket_of
from tests.test_offline import Link

__all__ = ["client", "emu"]  # the fixtures, used by name


def set_clock(emulator: Emulator, when: datetime) -> None:
    offset = (when - datetime.now(UTC)).total_seconds()
    post_json(f"{emulator.url}/emulator/clock", {"offset_s": offset})


def session_at(till: Till, when: datetime) -> OfflineSession:
    """The till's offline session as the server's state gives it, its documents dated from ``when``."""
    state = till.state()
    till.when = when
    return OfflineSession(till, int(state["OfflineSessionId"]), str(state["OfflineSeed"]))


# --- 1. the range comes with the first open shift --------------------------------------------------------


def test_the_range_comes_with_the_first_open_shift(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client)
    assert till.state()["OfflineSessionId"] is None and till.state()["OfflineSupported"] is True
    ticket = ticket_of(till.send(till.open_shift()))
    state = till.state()
    assert ticket["OFFLINESESSIONID"] == str(state["OfflineSessionId"])
    assert ticket["OFFLINESEED"] == str(state["OfflineSeed"])


def test_a_first_shift_opened_offline_is_refused(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client)
    till.when = datetime.now(UTC).replace(microsecond=0)
    session = OfflineSession(till, 4242, "179625192271939")  # a range the server never issued
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.open_shift(**kw), chained=False)
    expect_error(
        post_pck(till, session.package()), 10, contains="першу зміну ПРРО слід відкрити в режимі онлайн"
    )


def test_a_box_before_its_first_shift_refuses_offline_as_never_online(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    box = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2)
    box.register.start()
    assert box.register.status().offline_allowed is not False  # not prohibited: no range *yet*
    link = Link(box)
    link.cut()
    with pytest.raises(NeverOnline, match="first shift online"):
        box.register.open_shift()
    link.restore()
    box.register.open_shift()  # online: its ticket brings the range
    link.cut()
    assert box.register.sell([item()], [cash("10.00")]).offline
    link.restore()
    assert box.register.go_online().went_online
    box.close()


# --- 2. TransactionsRegistrarState ----------------------------------------------------------------------


def test_the_state_query_needs_a_signature(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client)
    response = till.cmd("TransactionsRegistrarState", signed=False, NumFiscal=till.fiscal_number)
    expect_error(response, 12, contains="засвідчене кваліфікованим електронним підписом")
    assert till.cmd("ServerState", signed=False).status_code == 200  # «Запит повинен містити JSON»


def test_offline_fields_only_for_the_opener_or_a_senior_cashier(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client, chief=False)
    other = Till(client, emu.fs_url)
    ticket_of(till.send(till.open_shift()))
    assert till.state()["OfflineSessionId"] is not None  # the opener
    hidden = other.state()
    assert hidden["OfflineSessionId"] is None and hidden["OfflineSeed"] is None
    assert hidden["OfflineSessionsMonthlyDuration"] is None and hidden["OfflineSupported"] is True
    ticket_of(till.send(till.zrep()))
    ticket_of(till.send(till.close_shift()))
    assert till.state()["OfflineSessionId"] is None  # no shift open: nobody has opened it
    post_json(
        f"{emu.url}/emulator/registrars",
        {"fiscal_number": till.fiscal_number, "chief_cashiers": [other.signer.subject_key_id]},
    )
    shown = other.state()
    assert shown["OfflineSessionId"] is not None and shown["ChiefCashier"] is True
    post_json(
        f"{emu.url}/emulator/registrars",
        {"fiscal_number": till.fiscal_number, "offline_fields_to_last_opener": True},
    )
    assert till.state()["OfflineSessionId"] is not None  # the relaxed reading


def test_a_lost_close_is_rolled_back_by_the_state_query(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client)
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    session.add(lambda **kw: till.check_end(**kw), chained=True)
    end = session.signed[-1]
    r = post_pck(till, session.package())
    assert r.status_code == 200 and r.json()["OfflineSessionId"] != session.session_id
    fn = till.fiscal_number
    wrong = till.cmd(
        "TransactionsRegistrarState", NumFiscal=fn, OfflineSessionId=session.session_id, OfflineSeed="1"
    )
    expect_error(wrong, 11, contains="не знайдено")
    expect_error(
        till.cmd("TransactionsRegistrarState", NumFiscal=fn, OfflineSessionId=session.session_id), 11
    )
    uid = str(uuid.uuid4())
    state = till.cmd(
        "TransactionsRegistrarState",
        NumFiscal=fn,
        OfflineSessionId=session.session_id,
        OfflineSeed=session.seed,
        UID=uid,
    ).json()
    assert state["OfflineSessionRolledBack"] is True and state["OfflineSessionRollbackCmdUID"] == uid
    assert state["OfflineSessionId"] == session.session_id and state["OfflineNextLocalNum"] == 3
    assert state["NextLocalNum"] == 4
    session.signed[:] = [end]
    r = post_pck(till, session.package())  # the 103 again: the next session in its reply
    assert r.status_code == 200, r.text
    after = till.state()
    assert (
        after["OfflineSessionId"] == r.json()["OfflineSessionId"]
        and after["OfflineSessionRolledBack"] is False
    )
    # once anything follows the close it cannot be rolled back
    ticket_of(till.send(till.small_sale()))
    late = till.cmd(
        "TransactionsRegistrarState",
        NumFiscal=fn,
        OfflineSessionId=session.session_id,
        OfflineSeed=session.seed,
    )
    expect_error(late, 11, contains="неможлива")


def test_the_box_sends_its_103_again_after_a_rolled_back_close(
    obox: Box, emulator: EmulatorHandle, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reg = obox.register
    reg.open_shift()
    link = Link(obox)
    link.cut()
    assert reg.sell([item()], [cash("10.00")]).offline
    link.restore()
    emulator.fault("rollback-session")  # the package with the 103 registered, its reply lost
    clock.advance(seconds=10)
    first = reg.go_online()
    assert not first.went_online
    clock.advance(seconds=10)
    assert reg.go_online().went_online  # asks with the old session: rolled back, the 103 sent again
    assert "rolled back the close of offline session" in caplog.text  # the box says what happened
    documents = emulator.documents()
    assert sum(1 for d in documents if d["doc_type"] == 103) == 1
    state = next(s for s in emulator.emulator.states() if s["NumFiscal"] == documents[0]["registrar"])
    assert obox.register.status().mode == Mode.ONLINE
    assert obox.register._core.meta.offline_session_id == str(state["OfflineSessionId"])
    assert not reg.sell([item()], [cash("10.00")]).offline
    obox.close()


# --- 3. REVOKELASTONLINEDOC and the blocks --------------------------------------------------------------


def test_revokelastonlinedoc_only_in_the_102(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client)
    ticket_of(till.send(till.open_shift()))
    ticket_of(till.send(till.small_sale()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.small_sale(REVOKELASTONLINEDOC="true", **kw), chained=True, total="16.50")
    expect_error(
        post_pck(till, session.package()), 10, contains="лише в документі «Початок офлайн сесії» (102)"
    )


def test_the_month_limit_blocks_the_register_until_the_next_month(
    emu: Emulator, client: httpx.Client
) -> None:
    till = make_till(emu, client, max_month_hours=1)
    start = datetime(2025, 11, 20, 10, 0, tzinfo=KYIV)
    set_clock(emu, start)
    till.when = start
    ticket_of(till.send(till.open_shift()))
    session = session_at(till, start + timedelta(minutes=1))
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    till.when = start + timedelta(hours=2)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    expect_error(post_pck(till, session.package()), 10, contains="за календарний місяць (1 год)")
    till.next_local = 2
    set_clock(emu, start + timedelta(hours=3))
    till.when = start + timedelta(hours=3)
    expect_error(till.post_doc(till.small_sale()), 9, contains="заблоковано до 01.12.2025 00:00")
    set_clock(emu, datetime(2025, 12, 1, 0, 5, tzinfo=KYIV))
    till.when = datetime(2025, 12, 1, 0, 5, tzinfo=KYIV)
    ticket_of(till.send(till.small_sale()))  # the new month: the register works again


def test_the_session_limit_blocks_the_session_until_its_103(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client, max_session_hours=1)
    ticket_of(till.send(till.open_shift()))
    begin = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    session = session_at(till, begin)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    till.when = begin + timedelta(hours=2)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    expect_error(post_pck(till, session.package()), 10, contains="тривалість офлайн сесії")
    # a document within the hour is refused too now: the register is blocked for this session
    till.next_local = 2
    session = session_at(till, begin)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    till.when = begin + timedelta(minutes=10)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    expect_error(post_pck(till, session.package()), 10, contains="заблоковано до завершення офлайн сесії")
    # the session can still be ended (its 103 moves no money); the next session is the new period
    till.next_local = 2
    session = session_at(till, begin)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.check_end(**kw), chained=True)
    assert post_pck(till, session.package()).status_code == 200
    till.when = None
    ticket_of(till.send(till.small_sale()))


# --- 4. the month boundary ------------------------------------------------------------------------------


def test_a_session_across_the_month_counts_in_the_new_month_only_its_part(
    emu: Emulator, client: httpx.Client
) -> None:
    till = make_till(emu, client, max_month_hours=1.5)
    evening = datetime(2025, 11, 30, 22, 0, tzinfo=KYIV)
    set_clock(emu, evening)
    till.when = evening
    ticket_of(till.send(till.open_shift()))
    session = session_at(till, datetime(2025, 11, 30, 23, 0, tzinfo=KYIV))
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    till.when = datetime(2025, 12, 1, 1, 0, tzinfo=KYIV)  # 2 h after the 102, 1 h of it in December
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    session.add(lambda **kw: till.check_end(**kw), chained=True)
    set_clock(emu, datetime(2025, 12, 1, 2, 0, tzinfo=KYIV))
    r = post_pck(till, session.package())
    assert r.status_code == 200, r.text  # 1 h in December: within its 1.5 h
    state = till.cmd(
        "TransactionsRegistrarState",
        NumFiscal=till.fiscal_number,
    ).json()
    assert state["OfflineSessionsMonthlyDuration"] == 60


def test_the_box_and_the_server_count_the_new_month_alike(tmp_path: Path, emulator: EmulatorHandle) -> None:
    clock = FakeClock(datetime(2025, 11, 30, 22, 0, tzinfo=KYIV))
    set_clock(emulator.emulator, clock.now())
    box = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2)
    reg = box.register
    reg.start()
    reg.open_shift()
    link = Link(box)
    clock.advance(minutes=60)  # 23:00
    link.cut()
    assert reg.sell([item()], [cash("10.00")]).offline  # the 102 at 23:00
    clock.advance(minutes=120)  # 01:00 on the 1st
    assert reg.sell([item()], [cash("10.00")]).offline
    clock.advance(minutes=10)
    set_clock(emulator.emulator, clock.now())
    link.restore()
    assert reg.go_online().went_online
    server = next(s for s in emulator.emulator.states() if s["ShiftState"] == 1)
    assert server["OfflineSessionsMonthlyDuration"] == 60  # 00:00 → 01:00, the sale's time
    ledger = box.register._core.meta.ledger(clock.now())
    assert ledger.month == "2025-12"
    # the box counts 00:00 → its 103 (01:10): never less than the server, never the November part
    assert timedelta(minutes=60) <= ledger.month_closed <= timedelta(minutes=70), ledger
    box.close()
