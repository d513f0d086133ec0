"""The uplinks' loop with its I/O scripted: what it probes when, the route it moves, the events it says.
(The drivers themselves run on real kernel routing in tests/test_uplinks_netns.py.)"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field

import pytest

from agent.clock import FakeClock
from agent.config import UplinksConfig
from agent.events import Event, EventKind
from agent.uplinks.monitor import DEGRADED_PROBE_S, PROBE_TIMEOUT_S, UplinkMonitor
from agent.uplinks.policy import Decision
from drivers.uplinks import LinkReading, LinkWatcher, ProbeResult, UplinkError
from tests.waiting import wait_for

FS = "http://fs.example/fs"
ADDRESSES = {"eth0": "192.168.1.20/24", "wwan0": "10.64.3.7/30"}


@dataclass
class Wires:
    """Both links as the kernel and the server would answer, set by the test."""

    carrier: dict[str, bool] = field(default_factory=lambda: {"eth0": True, "wwan0": True})
    reaches: dict[str, bool] = field(default_factory=lambda: {"eth0": True, "wwan0": True})
    probed: list[str] = field(default_factory=list)
    routes: list[str | None] = field(default_factory=list)
    route_fails: bool = False
    # A failed probe that runs into its timeout (a silent gateway) takes that long of this clock.
    clock: FakeClock | None = None
    silent_s: float = 0.0

    def link(self, interface: str) -> LinkReading:
        up = self.carrier[interface]
        addresses = (ADDRESSES[interface],) if up else ()
        return LinkReading(interface, True, up, up, "up" if up else "down", addresses)

    def probe(self, fs_url: str, interface: str, timeout_s: float) -> ProbeResult:
        assert fs_url == FS and timeout_s > 0
        self.probed.append(interface)
        ok = self.reaches[interface]
        if not ok and self.clock is not None:
            self.clock.advance(self.silent_s)
        return ProbeResult(interface, ok, None if ok else "ReadTimeout: timed out", 0.01)

    def route(self, interface: str | None) -> None:
        if self.route_fails:
            raise UplinkError("ip -4 route replace default ...: Operation not permitted")
        self.routes.append(interface)


def monitor(wires: Wires, clock: FakeClock, events: list[Event], decisions: list[Decision]) -> UplinkMonitor:
    config = UplinksConfig(primary="eth0", backup="wwan0", probe_interval_s=30.0)
    return UplinkMonitor(
        config, FS, clock=clock, on_decision=decisions.append, events=events.append,
        links=wires.link, probe=wires.probe, route=wires.route,
    )


def run_for(box: UplinkMonitor, clock: FakeClock, seconds: float) -> None:
    """The loop's own cadence, on the fake clock."""
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        box.check()
        clock.advance(max(0.05, box.next_wait()))


def test_both_up_probes_both_every_interval_and_moves_nothing() -> None:
    wires, clock, events, decisions = Wires(), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    run_for(box, clock, 95)
    # at 0, 30, 60 and 90 s; within a round both at once, so in either order
    assert [sorted(wires.probed[i : i + 2]) for i in range(0, len(wires.probed), 2)] == [["eth0", "wwan0"]] * 4
    assert wires.routes == [] and events == []
    assert decisions[-1].active == "ethernet" and not decisions[-1].offline and decisions[-1].cause is None


def test_a_dead_gateway_moves_the_route_to_lte_within_seconds_and_back_after_the_hold_down() -> None:
    wires, clock, events, decisions = Wires(), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    run_for(box, clock, 31)
    wires.reaches["eth0"] = False  # the shop router's upstream died; the link stays up
    lost = clock.monotonic()
    while wires.routes != ["wwan0"]:
        run_for(box, clock, 0.1)
        assert clock.monotonic() - lost < 35, "no switch"
    # The first failure shows at the next full round at most; from there two probes at the degraded cadence.
    assert clock.monotonic() - lost <= 30 + 2 * DEGRADED_PROBE_S + 0.2
    [failover] = [e for e in events if e.kind == EventKind.FAILOVER]
    assert failover.detail["to"] == "lte" and failover.detail["cause"] == "ethernet_no_route"
    assert decisions[-1].active == "lte" and not decisions[-1].offline
    wires.reaches["eth0"] = True
    back = clock.monotonic()
    run_for(box, clock, 120)
    assert wires.routes == ["wwan0", None]  # the system's order again, once
    assert clock.monotonic() - back >= box.config.hold_down_s
    assert [e.detail["to"] for e in events if e.kind == EventKind.FAILOVER] == ["lte", "ethernet"]


def test_each_rounds_addresses_are_kept_for_the_status() -> None:
    """What the slip shows under the uplink: the addresses the last round read, by the link's status name."""
    wires, clock, events, decisions = Wires(), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    assert box.addresses == {}  # no round yet
    box.check()
    assert box.addresses == {"ethernet": ("192.168.1.20/24",), "lte": ("10.64.3.7/30",)}
    clock.advance(1)
    wires.carrier["eth0"] = False  # a pulled cable: the address goes with the link
    box.check()
    assert box.addresses == {"ethernet": (), "lte": ("10.64.3.7/30",)}


def test_a_pulled_cable_switches_at_once_without_waiting_for_a_probe() -> None:
    wires, clock, events, decisions = Wires(), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    box.check()
    clock.advance(1)
    wires.carrier["eth0"] = False
    box.check()
    assert wires.routes == ["wwan0"] and decisions[-1].cause == "ethernet_down"


def test_after_a_probe_that_ran_into_its_timeout_the_next_follows_at_once() -> None:
    clock = FakeClock()
    wires, events, decisions = Wires(clock=clock, silent_s=PROBE_TIMEOUT_S), [], []
    box = monitor(wires, clock, events, decisions)
    box.check()
    clock.advance(30)
    wires.reaches["eth0"] = False  # the gateway drops packets: each probe waits out its timeout
    lost = clock.monotonic()
    box.check()
    assert decisions[-1].probe_soon == ("primary",)
    # The degraded cadence counts from the round's start: the timeout spent it already.
    assert box.next_wait() == 0
    box.check()
    assert wires.routes == ["wwan0"]
    assert clock.monotonic() - lost == 2 * PROBE_TIMEOUT_S  # two timeouts, no wait between them


def test_a_round_that_netlink_starts_early_does_not_probe_a_pending_link_sooner() -> None:
    wires, clock, events, decisions = Wires(), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    box.check()
    clock.advance(30)
    wires.reaches["eth0"] = False
    box.check()  # the first failure
    probes = len(wires.probed)
    clock.advance(0.1)
    box.check()  # e.g. a netlink message about another link: the links are read, nothing probed
    assert len(wires.probed) == probes and wires.routes == []
    assert box.next_wait() == pytest.approx(DEGRADED_PROBE_S - 0.1)
    clock.advance(box.next_wait())
    box.check()
    assert wires.probed[probes:] == ["eth0"] and wires.routes == ["wwan0"]


def test_both_down_is_offline_and_the_route_rests_on_ethernet() -> None:
    wires, clock, events, decisions = Wires(), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    box.check()
    wires.reaches = {"eth0": False, "wwan0": False}
    run_for(box, clock, 40)
    assert decisions[-1].offline and decisions[-1].active == "none" and decisions[-1].cause == "server_down"
    assert wires.routes == []


def test_a_route_that_cannot_be_moved_is_said_once_and_the_loop_goes_on() -> None:
    wires, clock, events, decisions = Wires(route_fails=True), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    box.check()
    wires.carrier["eth0"] = False
    box.check()
    assert box.route_error is not None and "not permitted" in box.route_error
    assert decisions[-1].active == "lte"  # the decision stands; the status will say the route did not move
    box.check()  # still refused: said once, tried again every round
    assert wires.routes == []
    wires.route_fails = False  # e.g. the capability granted
    box.check()
    assert wires.routes == ["wwan0"] and box.route_error is None
    box.check()
    assert wires.routes == ["wwan0"]  # once moved, not again


# --- the loop on its own thread: wake() and both probes at once ---------------------------------------


def quiet_monitor(wires: Wires, clock: FakeClock, decisions: list[Decision]) -> UplinkMonitor:
    """A monitor whose loop hears no netlink (the host's own link changes would start rounds) and whose
    fake clock stands still: its next round is 30 s of that clock away, so only a wake starts one."""
    config = UplinksConfig(primary="eth0", backup="wwan0", probe_interval_s=30.0)
    return UplinkMonitor(
        config, FS, clock=clock, on_decision=decisions.append,
        links=wires.link, probe=wires.probe, route=wires.route, watcher=LinkWatcher(netlink=False),
    )  # fmt: skip


def test_wake_has_the_loop_probe_both_links_at_once() -> None:
    wires, clock, decisions = Wires(), FakeClock(), []
    box = quiet_monitor(wires, clock, decisions).start()
    try:
        wait_for(lambda: len(wires.probed) == 2, what="the first round")
        assert not box.hears_links
        box.wake()
        wait_for(lambda: len(wires.probed) == 4, what="a round after wake()")
        assert sorted(wires.probed[2:]) == ["eth0", "wwan0"]  # a full round, though neither was due
        box.wake()
        box.wake()  # wakes while one is pending: at least one more round, never a lost wake
        wait_for(lambda: len(wires.probed) >= 6, what="a round after two more wakes")
    finally:
        box.close()
    assert not box._thread.is_alive()  # close() woke the loop too: it did not sit out its 30 s


def test_where_netlink_cannot_be_opened_the_loop_says_so_once_and_wake_still_works(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused() -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(LinkWatcher, "_open_netlink", staticmethod(refused))
    wires, clock, decisions = Wires(), FakeClock(), []
    config = UplinksConfig(primary="eth0", backup="wwan0", probe_interval_s=30.0)
    box = UplinkMonitor(config, FS, clock=clock, on_decision=decisions.append, links=wires.link, probe=wires.probe)
    with caplog.at_level(logging.WARNING, logger="agent.uplinks.monitor"):
        box.start()
    try:
        said = [r.getMessage() for r in caplog.records if "link changes" in r.getMessage()]
        assert len(said) == 1 and "Operation not permitted" in said[0] and not box.hears_links
        wait_for(lambda: len(wires.probed) == 2, what="the first round")
        box.wake()
        wait_for(lambda: len(wires.probed) == 4, what="a round after wake(), netlink or not")
    finally:
        box.close()


@dataclass
class HeldWires(Wires):
    """Probes that wait until the test lets them go, saying when each began."""

    started: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)

    def probe(self, fs_url: str, interface: str, timeout_s: float) -> ProbeResult:
        self.started.add(interface)
        assert self.release.wait(30), "never released"
        return super().probe(fs_url, interface, timeout_s)


def test_both_links_are_probed_at_the_same_time_and_check_returns_after_both() -> None:
    wires, clock, events, decisions = HeldWires(), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    answer: list[Decision] = []
    round_ = threading.Thread(target=lambda: answer.append(box.check()))
    round_.start()
    try:
        # One probe held and the other not begun would be a round that adds both timeouts up.
        wait_for(lambda: wires.started == {"eth0", "wwan0"}, timeout=10, what="both probes under way together")
        assert answer == [] and decisions == []  # check() waits for both answers
    finally:
        wires.release.set()
        round_.join(10)
    assert answer and answer[0].active == "ethernet" and answer[0].probe_soon == ()


def test_a_link_reader_that_fails_on_the_backup_s_thread_fails_the_check() -> None:
    wires, clock = Wires(), FakeClock()

    def link(interface: str) -> LinkReading:
        if interface == "wwan0":
            raise UplinkError("wwan0: cannot read")
        return wires.link(interface)

    config = UplinksConfig(primary="eth0", backup="wwan0")
    box = UplinkMonitor(config, FS, clock=clock, links=link, probe=wires.probe, route=wires.route)
    with pytest.raises(UplinkError, match="wwan0"):
        box.check()  # raised where the loop logs it, not lost on the probe's thread


# --- the register's question before it goes offline ------------------------------------------------


def started(wires: Wires, clock: FakeClock, decisions: list[Decision]) -> UplinkMonitor:
    """The monitor on its own thread, its first round done: it then sleeps a (real) probe interval unless
    woken (no netlink: the host's own link changes would start rounds), so whatever it checks next was
    asked for. Each probe takes 0.3 s of the test clock, as a real one takes time: the loop's degraded
    cadence runs on that clock."""

    def probe(fs_url: str, interface: str, timeout_s: float) -> ProbeResult:
        clock.advance(0.3)
        return wires.probe(fs_url, interface, timeout_s)

    config = UplinksConfig(primary="eth0", backup="wwan0", probe_interval_s=30.0)
    box = UplinkMonitor(
        config, FS, clock=clock, on_decision=decisions.append,
        links=wires.link, probe=probe, route=wires.route, watcher=LinkWatcher(netlink=False),
    )  # fmt: skip
    box.check()
    return box.start()


def test_way_out_waits_for_the_failover_a_dead_gateway_brings() -> None:
    wires, clock, decisions = Wires(), FakeClock(), []
    box = started(wires, clock, decisions)
    try:
        since = clock.monotonic()
        wires.reaches["eth0"] = False  # the register's request has just failed
        assert box.way_out(since) is True
        assert wires.routes == ["wwan0"] and box.decision is not None and box.decision.active == "lte"
        assert box.way_out(since) is True  # asked again (another sale): the same move answers
        assert box.way_out(clock.monotonic() + 1) is False  # a move before the request began is no news
    finally:
        box.close()


def test_way_out_says_no_once_both_links_fail() -> None:
    wires, clock, decisions = Wires(), FakeClock(), []
    box = started(wires, clock, decisions)
    try:
        wires.reaches = {"eth0": False, "wwan0": False}
        assert box.way_out(clock.monotonic()) is False
        assert box.decision is not None and box.decision.cause == "server_down" and wires.routes == []
    finally:
        box.close()


def test_way_out_says_no_at_once_when_the_link_in_use_answers() -> None:
    wires, clock, decisions = Wires(), FakeClock(), []
    box = started(wires, clock, decisions)
    try:
        probes = len(wires.probed)
        # The register's request failed, but not for the network's sake (the server refused, or was slow).
        assert box.way_out(clock.monotonic()) is False
        assert len(wires.probed) == probes + 2  # it did look: both links, once
    finally:
        box.close()


def test_way_out_of_a_stopped_monitor_is_no() -> None:
    wires, clock, decisions = Wires(), FakeClock(), []
    box = started(wires, clock, decisions)
    box.close()
    wires.reaches["eth0"] = False
    assert box.way_out(clock.monotonic()) is False


def test_signing_that_fails_is_the_cause_while_the_links_are_well() -> None:
    wires, clock, decisions = Wires(), FakeClock(), []
    box = started(wires, clock, decisions)
    try:
        box.signing(False)  # the register's signatures do not get through (agent/app.py feeds it)
        wait_for(lambda: decisions[-1].cause == "signing_failed", what="signing told")
        assert decisions[-1].active == "ethernet" and not decisions[-1].offline and wires.routes == []
        box.signing(True)
        wait_for(lambda: decisions[-1].cause is None, what="signing well again")
    finally:
        box.close()


def test_the_register_s_failed_request_is_half_the_evidence_so_one_failed_probe_moves_the_route() -> None:
    wires, clock, decisions = Wires(), FakeClock(), []
    box = started(wires, clock, decisions)
    try:
        probes = len(wires.probed)
        wires.reaches["eth0"] = False  # silent: each probe of it costs its whole timeout
        assert box.way_out(clock.monotonic()) is True
        assert wires.probed[probes:].count("eth0") == 1 and wires.routes == ["wwan0"]
    finally:
        box.close()
