"""Issue 9, scenario 7: the clock. A wall clock stepped back or forward (NTP at boot, a Pi without a
real-time clock, a person) neither extends nor wipes the 36 h / 168 h budgets, across restarts too; the box
compares its clock with the server's on every contact and refuses to fiscalize while it is off; no document
is dated earlier than the one before it.

The budgets are tested on a FakeClock against the emulator on real time (the comparison is off there:
``clock_tolerance_s=None``); the comparison on a FakeClock set to the real time, and the emulator's clock
moved through its control surface (POST /emulator/clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent.app import Agent
from agent.clock import KYIV, FakeClock
from agent.config import load_config
from agent.secr import offline
from agent.secr.errors import ClockOff, OfflineSessionLimit
from agent.secr.offline import Ledger, Reading
from agent.secr.register import Fiscalized, Mode
from tests.conftest import Box, EmulatorHandle, cash, item, post_json
from tests.test_cli import free_port, write_config
from tests.test_offline import Link, dead_url

H = timedelta(hours=1)


# --- the ledger alone: two readings of time, the stricter winning ------------------------------------


def at(ledger: Ledger, wall: datetime, mono: float, boot: str = "b1") -> Ledger:
    return offline.observe(ledger, Reading(wall, mono, boot))


T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


def test_a_wall_clock_stepped_back_does_not_give_time_back() -> None:
    began = offline.begin_session(at(Ledger(month="2026-11"), T0, 0.0), T0)
    # 20 h pass, then the wall clock is set back 10 h: it reads 10 h since the 102, elapsed time 20 h
    later = at(began, T0 + 10 * H, 20 * 3600.0)
    assert offline.session_used(later, T0 + 10 * H) == 20 * H
    assert offline.month_used(later, T0 + 10 * H) == 20 * H
    verdict = offline.judge(at(began, T0 + 26 * H, 36 * 3600.0), T0 + 26 * H, offline.Limits(), reserve=None, next_number=2)
    assert verdict.refusal == "session_limit"


def test_a_wall_clock_stepped_forward_counts_once() -> None:
    began = offline.begin_session(at(Ledger(month="2026-11"), T0, 0.0), T0)
    # 4 h pass, then the wall clock jumps 7 h ahead: the wall reading (11 h) is the stricter, not 4 + 11
    later = at(began, T0 + 11 * H, 4 * 3600.0)
    assert offline.session_used(later, T0 + 11 * H) == 11 * H
    # and when it is set right again, the elapsed time (now 5 h) counts, not what the wall once said
    righted = at(later, T0 + 5 * H, 5 * 3600.0)
    assert offline.session_used(righted, T0 + 5 * H) == 5 * H


def test_a_step_across_the_1st_neither_wipes_nor_reopens_a_month() -> None:
    oct31 = datetime(2026, 10, 31, 14, 0, tzinfo=KYIV)
    ledger = Ledger(month="2026-10", month_closed=4 * H)
    began = offline.begin_session(at(ledger, oct31, 0.0), oct31)
    # 4 h later the wall clock jumps 7 h ahead, past midnight into November
    wall = oct31 + 11 * H
    stepped = at(began, wall, 4 * 3600.0)
    assert offline.roll_month(stepped, wall).month == "2026-10"  # the elapsed time is still in October
    # October: the 4 h closed before, and the session's October part by the stricter reading (10 h)
    assert offline.month_used(stepped, wall) == 14 * H
    # once the elapsed time too has passed midnight, November counts from midnight by the wall (7 h)
    nov = at(began, oct31 + 17 * H, 10 * 3600.0)
    assert offline.roll_month(nov, oct31 + 17 * H).month == "2026-11"
    assert offline.month_used(nov, oct31 + 17 * H) == 7 * H
    # a clock stepped back into October afterwards does not reset November
    rolled = offline.roll_month(nov, oct31 + 17 * H)
    back = at(rolled, oct31 + 9 * H, 11 * 3600.0)
    assert offline.roll_month(back, oct31 + 9 * H).month == "2026-11"
    assert offline.month_used(back, oct31 + 9 * H) == 11 * H - 10 * H  # elapsed: 1 h past midnight


def test_a_reboot_resumes_from_the_kept_elapsed_time() -> None:
    began = offline.begin_session(at(Ledger(month="2026-11"), T0, 0.0), T0)
    kept = at(began, T0 - 2 * H, 12 * 3600.0)  # 12 h elapsed; the wall clock was set back 14 h meanwhile
    # rebooted (monotonic anew) after 1 h off: the wall clock spans the downtime
    after = at(kept, T0 - 1 * H, 30.0, boot="b2")
    assert offline.session_used(after, T0 - 1 * H) == 13 * H
    # a reboot whose wall clock went back: the downtime has no witness, the kept time stands
    lost = at(kept, T0 - 5 * H, 30.0, boot="b2")
    assert offline.session_used(lost, T0 - 5 * H) == 12 * H


def test_a_month_rolled_on_by_a_clock_ahead_is_put_right_by_the_server() -> None:
    now = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
    ahead = Ledger(month="2027-01", month_closed=3 * H)
    assert offline.with_server_figures(ahead, now, 60).month == "2027-01"  # unchecked: never taken back
    fixed = offline.with_server_figures(ahead, now, 60, clock_checked=True)
    assert (fixed.month, fixed.month_closed) == ("2026-11", H)


# --- the register on the emulator -----------------------------------------------------------------


@pytest.fixture()
def obox(tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock) -> Iterator[Box]:
    b = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2)
    b.register.start()
    b.register.open_shift()
    yield b
    b.close()


def sale(box: Box) -> Fiscalized:
    return box.register.sell([item()], [cash("10.00")])


def test_offline_session_with_the_clock_stepped_back_ends_at_36_h_elapsed(
    obox: Box, clock: FakeClock
) -> None:
    link = Link(obox)
    link.cut()
    assert sale(obox).offline
    clock.advance(hours=20)
    clock.step(hours=-10)  # NTP, or a person, sets the wall clock back
    assert obox.register.status().session_minutes == 20 * 60
    clock.advance(hours=15, minutes=59)
    assert sale(obox).offline  # 35 h 59 min elapsed, the wall clock says 25 h 59 min
    clock.advance(minutes=1)
    with pytest.raises(OfflineSessionLimit, match="36 h 00 min"):
        sale(obox)
    link.restore()
    report = obox.register.go_online()
    assert report.went_online  # the server accepts what the box made
    assert obox.register.status().mode == Mode.ONLINE


def test_offline_session_with_the_clock_stepped_forward_counts_once_and_keeps_the_month(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    clock = FakeClock(datetime(2026, 10, 31, 10, 0, tzinfo=KYIV))
    box = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2)
    box.register.start()
    box.register.open_shift()
    link = Link(box)
    link.cut()
    sale(box)  # the first session of the month: 4 h
    clock.advance(hours=4)
    link.restore()
    assert box.register.go_online().went_online
    assert box.register.status().month_minutes == 4 * 60
    link.cut()
    sale(box)  # the second begins at 14:00 on the 31st
    clock.advance(hours=4)
    clock.step(hours=7)  # the wall clock jumps past midnight: it says 01:00 on 1 November
    status = box.register.status()
    assert status.session_minutes == 11 * 60  # the wall clock's reading, not 4 h + 11 h
    assert status.month_minutes == (4 + 10) * 60  # October's total kept: not wiped by the step
    sale(box)
    clock.advance(hours=6)  # the elapsed time too reaches midnight: November counts from there
    status = box.register.status()
    assert (status.session_minutes, status.month_minutes) == (17 * 60, 7 * 60)
    link.restore()
    assert box.register.go_online().went_online
    box.close()


def test_a_restart_keeps_the_elapsed_time_where_the_monotonic_clock_starts_anew(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    state = tmp_path / "box"
    box = Box(state, emulator.fs_url, clock=clock, timeout_s=2)
    box.register.start()
    box.register.open_shift()
    Link(box).cut()
    sale(box)
    clock.advance(hours=10)
    clock.step(hours=-10)
    clock.advance(hours=1)
    sale(box)  # 11 h elapsed; the wall clock says 1 h
    box.close()
    clock.advance(minutes=30)  # the agent was restarted (same boot): the monotonic clock went on
    box = Box(state, dead_url(), clock=clock, timeout_s=2)
    box.register.start()
    assert box.register.status().session_minutes == 11 * 60 + 30
    box.register.maintain()  # the loop writes the elapsed time down
    box.close()
    clock.reboot(off_s=2 * 3600)  # and now the box is off 2 h and boots: the monotonic clock anew
    box = Box(state, dead_url(), clock=clock, timeout_s=2)
    box.register.start()
    assert box.register.status().session_minutes == 13 * 60 + 30
    clock.advance(hours=22, minutes=29)
    assert sale(box).offline
    clock.advance(minutes=1)
    with pytest.raises(OfflineSessionLimit):
        sale(box)
    box.close()


def test_no_document_is_dated_earlier_than_the_one_before(obox: Box, clock: FakeClock) -> None:
    first = sale(obox)
    clock.step(hours=-1)
    second = sale(obox)  # online
    Link(obox).cut()
    clock.step(hours=-1)
    third = sale(obox)  # offline
    times = [r.document.head.when for r in (first, second, third)]
    assert times == sorted(times) and times[0] == times[2], times


# --- the box's clock against the server's ---------------------------------------------------------


def emulator_clock(emulator: EmulatorHandle, offset_s: float) -> None:
    post_json(f"{emulator.url}/emulator/clock", {"offset_s": offset_s})


@pytest.fixture()
def real_clock() -> FakeClock:
    """Set to the real time, which the emulator keeps (its clock moves on while this one stands, by the
    seconds a test takes: far inside the tolerance)."""
    return FakeClock(datetime.now(UTC))


def test_a_clock_off_the_servers_refuses_with_the_reason_and_recovers(
    tmp_path: Path, emulator: EmulatorHandle, real_clock: FakeClock
) -> None:
    box = Box(tmp_path / "box", emulator.fs_url, clock=real_clock, timeout_s=2, clock_tolerance_s=60)
    reg = box.register
    reg.start()
    reg.open_shift()
    sale(box)
    emulator_clock(emulator, 3600)  # the server's clock (as the box sees it) is an hour ahead
    reg.go_online()  # any contact compares: here the loop's refresh
    next_num = box.journal.next_local_num()
    with pytest.raises(ClockOff, match=r"60 min behind the fiscal server's.*more than the 60 s") as refused:
        sale(box)
    assert refused.value.skew_s == pytest.approx(-3600, abs=5)
    status = reg.status()
    assert status.blocked_reason == "clock_off" and "behind the fiscal server" in status.errors[0]
    assert box.journal.next_local_num() == next_num  # nothing was numbered
    link = Link(box)
    link.cut()  # nor is it made offline instead
    with pytest.raises(ClockOff):
        sale(box)
    assert reg.status().mode == Mode.ONLINE
    link.restore()
    emulator_clock(emulator, 0)
    assert not sale(box).offline  # asked again before refusing: the clocks agree now
    assert reg.status().blocked_reason is None
    # the box's own clock stepped after the last contact: seen at once, without asking the server
    real_clock.step(minutes=5)
    with pytest.raises(ClockOff, match="5 min ahead"):
        sale(box)
    real_clock.step(minutes=-5)
    assert not sale(box).offline
    box.close()


def test_a_ticket_is_a_contact_too(tmp_path: Path, emulator: EmulatorHandle, real_clock: FakeClock) -> None:
    box = Box(tmp_path / "box", emulator.fs_url, clock=real_clock, timeout_s=2, clock_tolerance_s=60)
    box.register.start()
    box.register.open_shift()
    emulator_clock(emulator, -600)
    sale(box)  # made before the box could know; its ticket says the server's time
    with pytest.raises(ClockOff, match="10 min ahead"):
        sale(box)
    box.close()


def test_the_agent_refuses_over_the_till_api_and_says_so_in_status(
    tmp_path: Path, emulator: EmulatorHandle, real_clock: FakeClock
) -> None:
    port = free_port()
    config = write_config(tmp_path / "config.toml", emulator.fs_url, api_port=port)
    agent = Agent(load_config(config), real_clock)
    assert agent.settings.fiscal_server.clock_tolerance_s == 60  # the default
    emulator_clock(emulator, 7200)
    agent.start()
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        token = http.post("/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).json()["access_token"]
        http.headers.update({"Authorization": f"Bearer {token}", "X-License-Key": "test-key"})
        refused = http.post("/api/v1/shifts", json={})
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "sales_blocked.clock_off"
        assert "2 h 00 min behind the fiscal server's" in refused.json()["message"]
        status = agent.status_dict()
        assert status["mode"] == "blocked" and status["blocked_reason"] == "clock_off"
        assert any("behind the fiscal server" in e for e in status["errors"])
        emulator_clock(emulator, 0)
        opened = http.post("/api/v1/shifts", json={})
        assert opened.status_code == 202, opened.text
        assert agent.status_dict()["blocked_reason"] is None
    finally:
        agent.close()
