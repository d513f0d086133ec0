"""The status model: the snapshot's JSON is the one `build_status` always gave, subscribers hear of each
change once on threads of their own, and a slow or failing subscriber costs a producer nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent import __version__
from agent.clock import FakeClock
from agent.events import Event, EventKind
from agent.secr.register import Mode, RegisterStatus
from agent.secr.signing import DevSigner
from agent.status import (
    CertificatePart,
    Coordinator,
    EventStream,
    NetworkPart,
    Snapshot,
    StatusFile,
    StatusModel,
    build_status,
    certificate_status,
    read_status,
    write_status,
)
from agent.uplinks.ledger import LEDGER_FILE, UplinkLedger
from agent.uplinks.policy import Accrual
from tests.conftest import Box, EmulatorHandle, cash, item
from tests.waiting import wait_for

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


# agent/status.py as it was at e3022bd, before the model: the oracle the projection must keep matching.
def old_build_status(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The old JSON as it reached status.json: through json (the old code handed lists where the
    register now hands frozen tuples, which serialize the same)."""
    return dict(json.loads(json.dumps(_old_build_status(*args, **kwargs))))


def _old_build_status(
    register: RegisterStatus,
    *,
    now: datetime,
    errors: list[str] | None = None,
    printer: str | None = None,
    certificate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    problems = [*register.errors, *(errors or [])]
    if certificate is not None and certificate["days_left"] <= 14:
        problems.append(
            f"the signing certificate of {certificate['subject']} expires in {certificate['days_left']} days"
            f" ({certificate['expires_at']}): renew it"
        )
    if printer is not None and printer != "ok":  # issue 13: receipts wait while the printer is not ok
        problems.append(f"printer {printer}")
    if register.problem and register.problem not in problems:
        problems.insert(0, register.problem)
    oldest_age = (
        max(0, int((now - register.oldest_pending_at).total_seconds()))
        if register.oldest_pending_at
        else None
    )
    return {
        "mode": "blocked"
        if register.blocked_reason
        else ("online" if register.mode == "online" else "offline"),
        "blocked_reason": register.blocked_reason,
        "uplink": None,
        # issue 12: why the server is not reached as it should be; null while the uplinks are off
        "network": None,
        "shift": "open" if register.shift_open else "closed",
        "offline": {
            "session_minutes": register.session_minutes,
            "month_minutes": register.month_minutes,
            "max_session_minutes": register.max_session_minutes,
            "max_month_minutes": register.max_month_minutes,
            "numbers_left": register.numbers_left,
            "allowed": register.offline_allowed,
            "session_id": register.offline_session_id,
            "warnings": register.warnings,
            "uploading": register.mode == "uploading",
            "made_while_reachable": register.offline_while_reachable,
        },
        "pending_documents": register.pending_documents,
        "oldest_pending_age_s": oldest_age,
        "last_sync_at": register.last_sync_at.isoformat() if register.last_sync_at else None,
        "printer": printer,
        "printer_warning": None,  # issue 13: paper_near_end while the printer still prints
        # issue 12: §5's three, then whether the modem is there, its SIM, roaming, attach and what failed
        "modem": {
            "signal_dbm": None,
            "registered": None,
            "operator": None,
            "present": None,
            "sim": None,
            "roaming": None,
            "attached": None,
            "error": None,
        },
        "certificate": certificate,
        # issue 11: whether the dashboards see the box; null while MQTT is off
        "mqtt": None,
        "errors": problems,
        "version": __version__,
        "updated_at": now.isoformat(),
        "next_local_num": register.next_local_num,
    }


def register_status(**changes: Any) -> RegisterStatus:
    base = RegisterStatus(
        mode=Mode.ONLINE,
        blocked_reason=None,
        shift_open=True,
        shift_id=3,
        z_done=False,
        next_local_num=17,
        pending_documents=0,
        oldest_pending_at=None,
        offline_session_id=None,
        has_offline_seed=True,
        offline_allowed=True,
        session_minutes=0,
        month_minutes=0,
        max_session_minutes=2160,
        max_month_minutes=10080,
        numbers_left=None,
        warnings=[],
        problem=None,
        upload_error=None,
        last_sync_at=None,
        identity_known=True,
    )
    return replace(base, **changes)


OFFLINE = register_status(
    mode=Mode.OFFLINE,
    pending_documents=5,
    oldest_pending_at=NOW - timedelta(minutes=95, seconds=7),
    offline_session_id="S-1",
    session_minutes=95,
    month_minutes=400,
    numbers_left=120,
    warnings=["the offline session has lasted 80 % of its limit"],
    last_sync_at=NOW - timedelta(hours=2),
)
BLOCKED = register_status(
    mode=Mode.OFFLINE,
    blocked_reason="offline_session_limit",
    pending_documents=42,
    oldest_pending_at=NOW - timedelta(hours=36),
    offline_session_id="S-2",
    session_minutes=2160,
    problem="the offline session has lasted 36 h 00 min, the limit is 36 h 00 min: no more offline documents",
    errors=["an error the register met"],
)
UPLOADING = register_status(
    mode=Mode.UPLOADING,
    pending_documents=3,
    oldest_pending_at=NOW + timedelta(seconds=5),  # a clock set back: the age is never negative
    offline_session_id="S-3",
    upload_error="the server refused package 2",
    errors=["the server refused package 2"],
    problem="the server refused package 2",
)
CERTIFICATE = {
    "subject": "Тест Касир",
    "key_id": "ab12",
    "qualified": True,
    "expires_at": (NOW + timedelta(days=10, hours=3)).isoformat(),
    "days_left": 10,
}

CASES: dict[str, dict[str, Any]] = {
    "online, closed shift": {"register": register_status(shift_open=False)},
    "online, printer ok, a far certificate": {
        "register": register_status(),
        "printer": "ok",
        "certificate": {
            **CERTIFICATE,
            "expires_at": (NOW + timedelta(days=300)).isoformat(),
            "days_left": 300,
            "qualified": False,
        },
    },
    "offline with warnings": {"register": OFFLINE, "printer": "paper_out", "errors": ["probe failed"]},
    "blocked": {"register": BLOCKED, "printer": "cover_open", "errors": [BLOCKED.problem]},
    "uploading": {"register": UPLOADING, "printer": "offline"},
    "printer error, certificate expiring": {
        "register": register_status(offline_allowed=None),
        "printer": "error",
        "certificate": CERTIFICATE,
        "errors": ["maintenance failed", "twice"],
    },
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_projection_is_the_old_status_json(case: dict[str, Any]) -> None:
    expected = old_build_status(case["register"], now=NOW, **_without(case, "register"))
    assert build_status(case["register"], now=NOW, **_without(case, "register")) == expected
    model = _model_with(case)
    projected = model.snapshot().to_dict()
    assert projected == expected
    assert list(projected) == list(expected)  # the JSON's key order too: status.json is read by people


def test_the_projection_of_a_real_register_online_and_offline(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    box = Box(tmp_path / "box", emulator.fs_url, probe_budget_s=0.2)
    try:
        box.register.start()
        box.register.open_shift(cashier="Тест")
        box.register.sell([item()], [cash("10.00")])
        emulator.fault("down")
        assert box.register.sell([item()], [cash("10.00")]).offline
        now = datetime.now(UTC)
        certificate = certificate_status(box.signer, now)
        part = CertificatePart.from_signer(box.signer, now)
        assert certificate is not None and part is not None and part.to_dict() == certificate
        status = box.register.status()
        clock = FakeClock(now)
        model = StatusModel(clock, status)
        model.set_certificate(part)
        model.set_printer("ok")
        assert model.snapshot().to_dict() == old_build_status(
            status, now=now, printer="ok", certificate=certificate
        )
        assert model.snapshot().mode == "offline" and model.snapshot().register.pending_documents >= 1
    finally:
        box.close()


def test_certificate_status_of_a_dev_signer_is_not_qualified() -> None:
    info = certificate_status(DevSigner.generate(), NOW)
    assert info is not None and info["qualified"] is False and info["subject"] == "fiscal-box dev signer"
    assert certificate_status(object(), NOW) is None


class Recorder:
    """A subscriber that keeps what it got and lets a test wait for a count."""

    def __init__(self, behaviour: Callable[[Snapshot], None] | None = None) -> None:
        self.got: list[Snapshot] = []
        self._cond = threading.Condition()
        self._behaviour = behaviour

    def __call__(self, snapshot: Snapshot) -> None:
        with self._cond:
            self.got.append(snapshot)
            self._cond.notify_all()
        if self._behaviour is not None:
            self._behaviour(snapshot)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Snapshot]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.got) >= count, timeout), (
                f"got {len(self.got)} snapshots, waited for {count}"
            )
            return list(self.got)


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture()
def model(clock: FakeClock) -> Iterator[StatusModel]:
    m = StatusModel(clock, register_status())
    yield m
    m.close()


def test_a_subscriber_gets_the_state_at_once_then_each_change_once(
    model: StatusModel, clock: FakeClock
) -> None:
    recorder = Recorder()
    model.subscribe(recorder)
    assert recorder.wait_for(1)[0].to_dict()["mode"] == "online"
    model.set_printer("ok")
    clock.advance(30)
    model.set_register(register_status())  # nothing new but the time: no change
    model.set_printer("ok")
    model.set_agent_errors([])
    model.refresh()
    model.set_printer("paper_out", "PrinterError: paper out")
    model.set_register(OFFLINE)
    got = recorder.wait_for(4)
    # FIFO per subscriber: a delivery for any of the no-op refreshes would sit before the last two.
    assert [s.to_dict()["printer"] for s in got] == [None, "ok", "paper_out", "paper_out"]
    assert [s.mode for s in got] == ["online", "online", "online", "offline"]
    assert got[2].printer is not None and got[2].printer.error == "PrinterError: paper out"
    assert got[1].at == NOW and got[2].at == NOW + timedelta(seconds=30)
    assert model.changes == 4 and len(recorder.got) == 4
    assert model.snapshot().at == clock.now()


def test_the_oldest_pending_age_is_a_change_once_a_minute(model: StatusModel, clock: FakeClock) -> None:
    model.set_register(OFFLINE)  # the oldest pending document is 95 min 7 s old
    recorder = Recorder()
    model.subscribe(recorder)
    assert recorder.wait_for(1)[0].oldest_pending_age_s == 95 * 60 + 7
    for _ in range(5):  # 50 s more: still in minute 95
        clock.advance(10)
        model.set_register(OFFLINE)
    assert model.snapshot().to_dict()["oldest_pending_age_s"] == 95 * 60 + 57  # exact, as of the refresh
    clock.advance(10)
    model.set_register(OFFLINE)  # minute 96
    got = recorder.wait_for(2)
    assert got[1].oldest_pending_age_s == 96 * 60 + 7
    assert model.changes == 3  # the first state, OFFLINE, minute 96


def test_a_raising_and_a_sleeping_subscriber_neither_delay_a_producer_nor_starve_the_others(
    model: StatusModel,
) -> None:
    release = threading.Event()
    sleeping = threading.Event()

    def sleeps(snapshot: Snapshot) -> None:
        sleeping.set()
        release.wait()  # a consumer held until the end of the test

    def raises(snapshot: Snapshot) -> None:
        raise RuntimeError("a broken consumer")

    slow = model.subscribe(sleeps, name="slow")
    broken = model.subscribe(raises, name="broken")
    good = Recorder()
    model.subscribe(good)
    assert sleeping.wait(5)
    try:
        produced: list[int] = []

        def produce() -> None:
            for n in range(20):
                model.set_agent_errors([f"error {n}"])
                produced.append(n)

        # the slow subscriber holds its first snapshot until the end: a producer that waited never ends
        threading.Thread(target=produce, daemon=True).start()
        wait_for(lambda: len(produced) == 20, what="20 changes made past a held subscriber")
        got = good.wait_for(21)
        assert [s.agent_errors for s in got[1:]] == [(f"error {n}",) for n in range(20)]
        assert broken.active and wait_for(lambda: broken.failures == 21)
        assert slow.delivered == 0 and slow.pending == 20
    finally:
        release.set()


def test_unsubscribe_stops_delivery_and_ends_the_thread(model: StatusModel) -> None:
    first, second = Recorder(), Recorder()
    unsubscribe = model.subscribe(first)
    model.subscribe(second)
    first.wait_for(1)
    second.wait_for(1)
    unsubscribe()
    assert not unsubscribe.active  # the thread has ended
    assert unsubscribe not in model.subscriptions()
    model.set_printer("ok")
    second.wait_for(2)
    assert len(first.got) == 1
    unsubscribe()  # twice is harmless


def test_a_subscriber_may_unsubscribe_itself(model: StatusModel) -> None:
    subscribed = threading.Event()
    subscriptions: list[Callable[[], None]] = []

    def once(snapshot: Snapshot) -> None:
        assert subscribed.wait(5)
        subscriptions[0]()

    subscription = model.subscribe(once)
    subscriptions.append(subscription)
    subscribed.set()
    assert wait_for(lambda: not subscription.active)
    assert subscription.delivered == 1 and subscription not in model.subscriptions()


def test_a_full_queue_keeps_the_newest_and_counts_what_it_dropped(model: StatusModel) -> None:
    entered, release = threading.Event(), threading.Event()

    def stuck(snapshot: Snapshot) -> None:
        entered.set()
        release.wait(5)

    recorder = Recorder(stuck)
    subscription = model.subscribe(recorder, maxsize=3)
    assert entered.wait(5)  # the first snapshot is in the callback, the queue is empty
    for n in range(10):
        model.set_agent_errors([f"error {n}"])
    assert subscription.dropped == 7 and subscription.pending == 3
    release.set()
    got = recorder.wait_for(4)
    assert [s.agent_errors for s in got[1:]] == [("error 7",), ("error 8",), ("error 9",)]


def test_blocked_and_unblocked_are_published_when_the_reason_changes(clock: FakeClock) -> None:
    stream = EventStream()
    model = StatusModel(clock, register_status(), events=stream.publish)
    model.set_register(OFFLINE)  # not blocked: nothing
    clock.advance(60)
    model.set_register(BLOCKED)
    model.set_register(replace(BLOCKED, pending_documents=43))  # the same reason: nothing
    clock.advance(60)
    model.set_register(replace(BLOCKED, blocked_reason="offline_reserve_empty", problem="no numbers left"))
    clock.advance(60)
    model.set_register(register_status())
    events = stream.recent()
    assert [(e.kind, e.at) for e in events] == [
        (EventKind.BLOCKED, NOW + timedelta(seconds=60)),
        (EventKind.BLOCKED, NOW + timedelta(seconds=120)),
        (EventKind.UNBLOCKED, NOW + timedelta(seconds=180)),
    ]
    assert dict(events[0].detail) == {"reason": "offline_session_limit", "error": BLOCKED.problem}
    assert dict(events[1].detail) == {
        "reason": "offline_reserve_empty",
        "error": "no numbers left",
        "previous_reason": "offline_session_limit",
    }
    assert dict(events[2].detail) == {"previous_reason": "offline_reserve_empty"}


def test_a_box_that_starts_blocked_says_so_once(clock: FakeClock) -> None:
    events: list[Event] = []

    def sink(event: Event) -> None:
        events.append(event)

    model = StatusModel(clock, BLOCKED, events=sink)
    model.set_register(BLOCKED)
    assert [e.kind for e in events] == [EventKind.BLOCKED]


def test_an_event_sink_that_raises_does_not_reach_the_producer(clock: FakeClock) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("broken sink")

    model = StatusModel(clock, register_status(), events=broken)
    model.set_register(BLOCKED)
    assert model.snapshot().mode == "blocked"


def test_producers_are_checked(model: StatusModel) -> None:
    with pytest.raises(ValueError):
        model.set_printer("on fire")
    with pytest.raises(ValueError):
        model.set_uplink("carrier pigeon")
    model.set_uplink("lte")
    assert model.snapshot().to_dict()["uplink"] == "lte"


def test_the_network_part_carries_the_uplinks_month(
    model: StatusModel, clock: FakeClock, tmp_path: Path
) -> None:
    """network.month in the JSON, as the ledger gives it; a change once a minute of downtime, not at each
    of the monitor's checks (every 0.5 s while a link is in doubt), each of which feeds the ledger."""
    ledger = UplinkLedger(tmp_path / LEDGER_FILE, clock)
    message = "Ethernet is down; online over LTE."

    def decided(accrued: Accrual) -> None:  # what agent/app.py's listener does with each decision
        model.set_network("lte", NetworkPart("ethernet_down", message, None, ledger.record(accrued)))

    decided(Accrual())
    assert model.snapshot().to_dict()["network"] == {
        "cause": "ethernet_down",
        "message": "Ethernet is down; online over LTE.",
        "route_error": None,
        "month": {
            "month": "2026-11",
            "ethernet_down_minutes": 0,
            "lte_down_minutes": 0,
            "server_down_minutes": 0,
            "offline_saved_minutes": 0,
        },
        "addresses": {},
    }
    changes = model.changes
    for _ in range(2 * 60 * 2):  # two minutes of checks every 0.5 s
        clock.advance(0.5)
        decided(Accrual(0.5, ethernet_down_s=0.5, saved_s=0.5))
    assert model.changes == changes + 2
    month = model.snapshot().to_dict()["network"]["month"]
    assert month["ethernet_down_minutes"] == month["offline_saved_minutes"] == 2
    assert month["lte_down_minutes"] == month["server_down_minutes"] == 0
    assert NetworkPart(None, None).to_dict()["month"] is None  # no decision yet: null, not zeros
    # each link's addresses, as lists (what the status file and MQTT read back)
    part = NetworkPart(None, None, addresses={"ethernet": ("192.168.1.20/24",), "lte": ()})
    assert part.to_dict()["addresses"] == {"ethernet": ["192.168.1.20/24"], "lte": []}


def test_the_certificate_days_count_down_with_the_clock(model: StatusModel, clock: FakeClock) -> None:
    model.set_certificate(CertificatePart.from_dict(CERTIFICATE))
    recorder = Recorder()
    model.subscribe(recorder)
    clock.advance(hours=24)
    model.refresh()
    got = recorder.wait_for(2)
    assert got[1].certificate is not None and got[1].certificate.days_left == 9
    assert "expires in 9 days" in got[1].to_dict()["errors"][0]


# --- producers on their own cadence ---------------------------------------------------------------


def test_a_burst_of_refresh_requests_is_one_more_fetch() -> None:
    inside, release = threading.Event(), threading.Event()
    fetched: list[int] = []
    pushed: list[int] = []

    def fetch() -> int:
        fetched.append(len(fetched))
        if len(fetched) == 1:
            inside.set()
            release.wait(5)
        return len(fetched)

    coordinator = Coordinator("test", fetch, pushed.append, interval_s=None).start()
    try:
        assert inside.wait(5)  # the first refresh (at start) is in its fetch
        for _ in range(50):
            coordinator.request_refresh()
        release.set()
        assert wait_for(lambda: pushed == [1, 2])
    finally:
        coordinator.close()
    assert not coordinator.running
    assert fetched == [0, 1] and coordinator.refreshes == 2


def test_a_fetch_that_raises_is_reported_and_tried_again() -> None:
    attempts: list[int] = []
    pushed: list[str] = []
    reported: list[Exception] = []

    def fetch() -> str:
        attempts.append(1)
        if len(attempts) <= 2:
            raise OSError("the printer did not answer")
        return "ok"

    coordinator = Coordinator("printer", fetch, pushed.append, interval_s=0.02, on_error=reported.append)
    coordinator.start()
    try:
        assert wait_for(lambda: len(pushed) >= 2)
    finally:
        coordinator.close()
    assert coordinator.failures == 2 and [str(e) for e in reported] == ["the printer did not answer"] * 2
    assert coordinator.last_error is None and set(pushed) == {"ok"}


def test_the_cooldown_holds_a_request_back_and_close_ends_it() -> None:
    fetched: list[int] = []
    coordinator = Coordinator(
        "register", lambda: fetched.append(1), lambda value: None, interval_s=None, cooldown_s=60
    ).start()
    assert wait_for(lambda: coordinator.refreshes == 1)
    coordinator.request_refresh()  # within the cooldown: waits for it
    closer = threading.Thread(target=coordinator.close, daemon=True)
    closer.start()
    # the 60 s cooldown does not hold the shutdown: close returns well within it
    wait_for(lambda: not closer.is_alive(), what="close() during a 60 s cooldown")
    assert not coordinator.running and fetched == [1]


def test_a_coordinator_feeds_the_model(model: StatusModel) -> None:
    printer = ["ok"]
    recorder = Recorder()
    model.subscribe(recorder)
    coordinator = Coordinator("printer", lambda: printer[0], model.set_printer, interval_s=None).start()
    try:
        assert wait_for(lambda: coordinator.refreshes == 1)
        for n in range(2, 5):  # the printer says the same again: no change
            coordinator.request_refresh()
            assert wait_for(lambda: coordinator.refreshes >= n)  # noqa: B023  # waited on before n moves
        printer[0] = "paper_out"
        coordinator.request_refresh()
        got = recorder.wait_for(3)
    finally:
        coordinator.close()
    assert [s.to_dict()["printer"] for s in got] == [None, "ok", "paper_out"]
    assert len(recorder.got) == 3


# --- the status file ----------------------------------------------------------------------------


def test_the_status_file_is_written_on_change_only(
    model: StatusModel, clock: FakeClock, tmp_path: Path
) -> None:
    writes: list[dict[str, Any]] = []

    def counted(state_dir: Path, status: dict[str, Any]) -> None:
        writes.append(status)
        write_status(state_dir, status)

    status_file = StatusFile(tmp_path, write=counted)
    model.subscribe(status_file, name="status.json")
    assert wait_for(lambda: len(writes) == 1)
    inode = (tmp_path / "status.json").stat().st_ino
    for _ in range(10):  # ticks that find nothing new
        clock.advance(5)
        model.set_register(register_status())
        model.set_agent_errors([])
    model.set_register(OFFLINE)
    assert wait_for(lambda: len(writes) == 2)
    assert status_file.writes == 2
    assert (tmp_path / "status.json").stat().st_ino != inode  # replaced whole, never written in place
    assert read_status(tmp_path) == model.snapshot().to_dict() == writes[1]
    assert not (tmp_path / "status.json.tmp").exists()
    # Whoever calls it, the file is not written again for the same state.
    status_file(model.snapshot())
    assert status_file.writes == 2


def test_a_status_file_that_cannot_be_written_is_tried_at_the_next_change(
    model: StatusModel, tmp_path: Path
) -> None:
    missing = tmp_path / "not-yet"
    status_file = StatusFile(missing)
    status_file(model.snapshot())
    assert status_file.writes == 0 and read_status(missing) is None
    missing.mkdir()
    status_file(model.snapshot())
    assert status_file.writes == 1 and read_status(missing) == model.snapshot().to_dict()


# --- helpers ------------------------------------------------------------------------------------


def _without(case: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in case.items() if k != key}


def _model_with(case: dict[str, Any]) -> StatusModel:
    model = StatusModel(FakeClock(NOW), case["register"])
    if "printer" in case:
        model.set_printer(case["printer"])
    if "certificate" in case:
        model.set_certificate(CertificatePart.from_dict(case["certificate"]))
    if "errors" in case:
        model.set_agent_errors(case["errors"])
    return model
