"""The uplinks' month ledger across restarts (agent/uplinks/ledger.py): real files in tmp_path, the real
policy's accruals, a fake clock that crosses Kyiv midnight and steps its wall time as NTP does; then the
agent itself, whose status carries the month and which saves it when it stops."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.clock import FakeClock
from agent.config import UplinksConfig, load_config
from agent.status.snapshot import NetworkMonth
from agent.uplinks.ledger import (
    LEDGER_FILE,
    NotALedger,
    UplinkLedger,
    from_json,
    month_part,
    previous_month,
    recent,
    to_json,
)
from agent.uplinks.policy import Accrual, LinkObservation, MonthLedger, UplinkPolicy, month_key
from tests.conftest import EmulatorHandle
from tests.test_cli import write_config
from tests.waiting import wait_for

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
#: 23:58 in Kyiv (UTC+2 in winter) on 30 November: two minutes before December
BEFORE_DECEMBER = datetime(2026, 11, 30, 21, 58, tzinfo=UTC)


def down(seconds: float) -> Accrual:
    """``seconds`` with Ethernet down and the box online over LTE."""
    return Accrual(seconds, ethernet_down_s=seconds, saved_s=seconds)


def month(name: str, ethernet: int = 0, lte: int = 0, server: int = 0, saved: int = 0) -> NetworkMonth:
    return NetworkMonth(name, ethernet, lte, server, saved)


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / LEDGER_FILE


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()


def saved_seconds(path: Path) -> dict[str, dict[str, float]]:
    content = json.loads(path.read_text(encoding="utf-8"))
    assert content["format"] == 1
    return dict(content["seconds"])


# --- the pure part -----------------------------------------------------------------------------------


def test_the_file_round_trips_and_minutes_round_down() -> None:
    ledger = MonthLedger().add("ethernet", 119.9, NOW).add("saved", 60, NOW).add("server", 3600, NOW)
    again = from_json(json.loads(json.dumps(to_json(ledger, NOW))))
    assert again.totals == ledger.totals
    assert month_part(again, "2026-11") == month("2026-11", ethernet=1, server=60, saved=1)
    assert month_part(again, "2026-10") == month("2026-10")
    assert (previous_month("2027-01"), previous_month("2026-12"), previous_month("2026-10")) == (
        "2026-12",
        "2026-11",
        "2026-09",
    )


def test_only_the_current_and_previous_month_are_kept_and_any_later_one() -> None:
    ledger = MonthLedger()
    for name in ("2026-09", "2026-10", "2026-11", "2026-12"):
        ledger = ledger.add("lte", 60, datetime.fromisoformat(f"{name}-15T12:00:00+00:00"))
    kept = recent(ledger, NOW)  # November
    # September gone; December kept: a clock behind (a Pi without a real-time clock at boot) is no
    # reason to drop what may be the real current month.
    assert sorted({m for m, _ in kept.totals}) == ["2026-10", "2026-11", "2026-12"]
    assert recent(kept, NOW) is kept  # nothing to drop: the same ledger, nothing to save


# --- across restarts -----------------------------------------------------------------------------------


def test_the_count_survives_a_restart(path: Path) -> None:
    clock = FakeClock(NOW)
    first = UplinkLedger(path, clock)
    assert first.record(down(90)) == month("2026-11", ethernet=1, saved=1)
    first.close()
    assert saved_seconds(path) == {"2026-11": {"ethernet": 90.0, "lte": 0.0, "server": 0.0, "saved": 90.0}}
    clock.reboot(off_s=300)
    again = UplinkLedger(path, clock)
    assert again.record(Accrual()) == month("2026-11", ethernet=1, saved=1)
    # Seconds are kept, not minutes: 90 s + 30 s are two minutes, not one plus nothing.
    assert again.record(down(30)) == month("2026-11", ethernet=2, saved=2)


def test_it_saves_at_most_once_a_minute_and_not_while_all_is_well(path: Path) -> None:
    clock = FakeClock(NOW)
    ledger = UplinkLedger(path, clock)
    for _ in range(240):  # two minutes of checks every 0.5 s, all well
        clock.advance(0.5)
        ledger.record(Accrual(0.5))
    assert ledger.saves == 0 and not path.exists()
    for _ in range(240):  # two minutes of Ethernet down
        clock.advance(0.5)
        ledger.record(down(0.5))
    # The first change after the quiet two minutes at once (the last attempt is older than a minute),
    # then a minute of monotonic time later; the last half minute is in memory only.
    assert ledger.saves == 2
    assert saved_seconds(path)["2026-11"]["ethernet"] == 60.5
    assert ledger.ledger.seconds("ethernet", "2026-11") == 120.0
    ledger.close()  # and at close, whenever that is
    assert ledger.saves == 3 and saved_seconds(path)["2026-11"]["ethernet"] == 120.0
    ledger.close()
    assert ledger.saves == 3  # nothing new: nothing written
    assert sorted(p.name for p in path.parent.iterdir()) == [LEDGER_FILE]  # no temporary file left


def _one_month(**kinds: Any) -> str:
    return json.dumps({"format": 1, "seconds": {"2026-11": kinds}})


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not JSON"),
        (b'{"format": 1, "seconds": {"2026-11": {"ethernet": 12', "not JSON"),  # cut off
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "larger than"),
        (b"[" * 30_000 + b"]" * 30_000, "not JSON"),  # deeper than the parser goes
        (b"[]", "not a JSON object"),
        (b'{"format": 2, "seconds": {}}', "format 2"),
        (b'{"format": 1}', "no 'seconds'"),
        (b'{"format": 1, "seconds": {"2026-13": {}}}', "'2026-13' is not a month"),
        (b'{"format": 1, "seconds": {"2026-11": 5}}', "not an object"),
        (_one_month(ethernet=-5).encode(), "not a count of seconds"),
        (_one_month(ethernet="12").encode(), "not a number"),
        (_one_month(ethernet=True).encode(), "not a number"),
        (b'{"format": 1, "seconds": {"2026-11": {"ethernet": NaN}}}', "not a count of seconds"),
        (_one_month(wifi=3).encode(), "unknown kind 'wifi'"),
    ],
)
def test_a_file_that_is_not_a_ledger_is_reported_and_the_count_starts_anew(
    path: Path, content: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    path.write_bytes(content)
    clock = FakeClock(NOW)
    with caplog.at_level(logging.WARNING, logger="agent.uplinks.ledger"):
        ledger = UplinkLedger(path, clock)
    (record,) = [r for r in caplog.records if r.name == "agent.uplinks.ledger"]
    assert str(path) in record.getMessage() and reason in record.getMessage(), record.getMessage()
    assert "counting anew" in record.getMessage()
    assert ledger.record(down(60)) == month("2026-11", ethernet=1, saved=1)
    ledger.close()  # the next save puts a good file in its place
    assert saved_seconds(path)["2026-11"]["ethernet"] == 60.0


def test_from_json_says_where_the_shape_is_wrong() -> None:
    with pytest.raises(NotALedger, match=r"seconds\.2026-11\.lte: 'x' is not a number"):
        from_json({"format": 1, "seconds": {"2026-11": {"ethernet": 1.5, "lte": "x"}}})


def test_a_file_that_cannot_be_read_and_a_dir_that_cannot_be_written(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The ledger's name taken by a directory: it can be neither read nor replaced. Counting goes on in
    memory, said once however many saves fail, and saving resumes once the name is free again."""
    path.mkdir()
    clock = FakeClock(NOW)
    with caplog.at_level(logging.INFO, logger="agent.uplinks.ledger"):
        ledger = UplinkLedger(path, clock)
        for _ in range(5):  # five minutes of Ethernet down, a save due every minute
            clock.advance(60)
            figures = ledger.record(down(60))
        assert figures == month("2026-11", ethernet=5, saved=5)
        assert not ledger.save()
        assert ledger.save_error is not None and ledger.saves == 0
        messages = [r.getMessage() for r in caplog.records if r.name == "agent.uplinks.ledger"]
        assert len(messages) == 2, messages  # the unreadable file, then the first failed save only
        assert messages[0].startswith(f"uplinks: cannot read {path}") and "counting anew" in messages[0]
        assert f"cannot save the month's downtime to {path}" in messages[1]
        assert "counting in memory" in messages[1]
        shutil.rmtree(path)
        ledger.close()
    assert ledger.save_error is None and saved_seconds(path)["2026-11"]["ethernet"] == 300.0
    assert "saved to" in caplog.records[-1].getMessage() and "again" in caplog.records[-1].getMessage()


def test_a_state_dir_removed_under_the_agent_is_survived(path: Path) -> None:
    """The state dir removed under the agent (as a failing SD card remounted elsewhere would leave it):
    the count goes on and nothing raises into the monitor's thread."""
    clock = FakeClock(NOW)
    ledger = UplinkLedger(path, clock)
    shutil.rmtree(path.parent)
    clock.advance(61)
    assert ledger.record(down(61)) == month("2026-11", ethernet=1, saved=1)
    assert ledger.save_error is not None and "No such file or directory" in ledger.save_error
    assert not os.path.exists(path.parent)


# --- the month turns, and the wall clock steps ---------------------------------------------------------


def look(carrier: bool, at: float) -> LinkObservation:
    return LinkObservation(carrier, carrier, True if carrier else None, at)


def failed_over(clock: FakeClock) -> UplinkPolicy:
    """The policy of a box that has just moved to LTE: Ethernet lost its carrier at the clock's time."""
    policy = UplinkPolicy(UplinksConfig())
    t = clock.monotonic()
    policy.observe(t - 1, primary=look(True, t - 1), backup=look(True, t - 1))
    assert policy.observe(t, primary=look(False, t), backup=look(True, t)).active == "lte"
    return policy


def run(policy: UplinkPolicy, ledger: UplinkLedger, clock: FakeClock, seconds: float) -> NetworkMonth:
    """The monitor's part, on the fake clock: Ethernet without carrier, LTE answering, a check every
    0.5 s; each decision's accrual fed to the ledger as agent/app.py does."""
    figures = ledger.record(Accrual())
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        clock.advance(0.5)
        now = clock.monotonic()
        figures = ledger.record(policy.observe(now, primary=look(False, now), backup=look(True, now)).accrued)
    return figures


def test_the_month_rolls_over_at_kyiv_midnight_on_the_1st(path: Path) -> None:
    clock = FakeClock(BEFORE_DECEMBER)
    on_lte = failed_over(clock)
    ledger = UplinkLedger(path, clock)
    assert run(on_lte, ledger, clock, 119.5) == month("2026-11", ethernet=1, saved=1)  # 23:59:59.5
    # 00:00:00 in Kyiv is 22:00 UTC: the status turns to December with nothing in it yet.
    assert run(on_lte, ledger, clock, 0.5) == month("2026-12")
    assert run(on_lte, ledger, clock, 180) == month("2026-12", ethernet=3, saved=3)
    ledger.close()
    seconds = saved_seconds(path)
    assert (seconds["2026-11"]["ethernet"], seconds["2026-12"]["ethernet"]) == (120.0, 180.0)
    assert seconds["2026-11"]["saved"] == 120.0
    # Started again in January, November is the month before the previous one: dropped.
    clock.reboot(wall_set_to=datetime(2027, 1, 1, 0, 0, tzinfo=UTC))
    again = UplinkLedger(path, clock)
    assert run(failed_over(clock), again, clock, 60) == month("2027-01", ethernet=1, saved=1)
    again.close()
    assert sorted(saved_seconds(path)) == ["2026-12", "2027-01"]


def test_an_ntp_step_across_the_month_moves_no_seconds(path: Path) -> None:
    """Amounts come from the monotonic clock: a wall clock stepped an hour forward over midnight on the
    1st adds no hour of downtime, and one stepped back takes nothing back from December."""
    clock = FakeClock(BEFORE_DECEMBER + timedelta(seconds=60))  # 23:59 in Kyiv
    on_lte = failed_over(clock)
    ledger = UplinkLedger(path, clock)
    run(on_lte, ledger, clock, 30)  # to 23:59:30
    clock.step(hours=1)  # NTP: 00:59:30 on 1 December, and no time has passed
    assert run(on_lte, ledger, clock, 30) == month("2026-12")  # 30 s into December, not an hour
    totals = ledger.ledger
    assert (totals.seconds("ethernet", "2026-11"), totals.seconds("ethernet", "2026-12")) == (30.0, 30.0)
    clock.step(hours=-2)  # back to 23:00:00 on 30 November
    run(on_lte, ledger, clock, 60)
    totals = ledger.ledger
    assert (totals.seconds("ethernet", "2026-11"), totals.seconds("ethernet", "2026-12")) == (90.0, 30.0)
    # Every second counted is a second that passed, wherever the wall clock put it.
    assert sum(totals.month("2026-11").values()) + sum(totals.month("2026-12").values()) == 2 * 120.0


def test_a_box_that_boots_with_its_clock_behind_keeps_this_months_count(path: Path) -> None:
    """A Raspberry Pi without a real-time clock starts from the time it last saved, here before the
    month turned; NTP then steps it to December, whose count must still be there."""
    clock = FakeClock(datetime(2026, 12, 10, 12, 0, tzinfo=UTC))
    ledger = UplinkLedger(path, clock)
    ledger.record(down(600))
    ledger.close()
    clock.reboot(wall_set_to=datetime(2026, 11, 30, 21, 0, tzinfo=UTC))
    again = UplinkLedger(path, clock)
    assert again.record(Accrual()) == month("2026-11")
    clock.step(days=10, hours=15)  # NTP
    assert again.record(Accrual()) == month("2026-12", ethernet=10, saved=10)


# --- the agent ---------------------------------------------------------------------------------------------


@pytest.fixture()
def agent_config(tmp_path: Path, emulator: EmulatorHandle) -> Path:
    # Interfaces that do not exist read as links without carrier (drivers/uplinks.py read_link): both
    # down, nothing to probe and no route to move, on any machine.
    return write_config(
        tmp_path / "config.toml",
        emulator.fs_url,
        **{
            "[uplinks]\nenabled = false": (
                '[uplinks]\nprimary = "fbx-no-eth"\nbackup = "fbx-no-lte"\nprobe_interval_s = 1'
            )
        },
    )


def network_month(agent: Agent) -> dict[str, Any] | None:
    assert agent.status is not None
    network = agent.status.snapshot().to_dict()["network"]
    return network["month"] if network else None


@pytest.fixture()
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.close()


def test_the_agent_shows_the_month_and_keeps_it_across_a_restart(
    agent_config: Path, agents: list[Agent]
) -> None:
    clock = FakeClock(datetime.now(UTC))  # the emulator's time; it stands while the test runs
    settings = load_config(agent_config)
    first = Agent(settings, clock)
    agents.append(first)
    first.start()
    wait_for(lambda: network_month(first), what="the uplinks' first decision in the status")
    # Ten minutes pass on the monotonic clock only, so that the wall clock stays the emulator's.
    clock.advance(minutes=10)
    clock.step(minutes=-10)
    got = wait_for(
        lambda: (m := network_month(first)) and m["ethernet_down_minutes"] >= 10 and m,
        what="ten minutes of both links down in the status",
    )
    assert got["lte_down_minutes"] >= 10 and got["offline_saved_minutes"] == 0
    assert got["month"] == month_key(clock.now())
    first.close()
    agents.remove(first)
    path = settings.box.state_dir / LEDGER_FILE
    assert sum(s["ethernet"] for s in saved_seconds(path).values()) >= 600  # saved at close
    second = Agent(settings, clock)
    agents.append(second)
    second.start()
    again = wait_for(lambda: network_month(second), what="the uplinks' first decision after the restart")
    assert again["ethernet_down_minutes"] >= got["ethernet_down_minutes"]
