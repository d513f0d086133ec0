"""The uplinks' loop with its I/O scripted: what it probes when, the route it moves, the events it says.
(The drivers themselves run on real kernel routing in tests/test_uplinks_netns.py.)"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.clock import FakeClock
from agent.config import UplinksConfig
from agent.events import Event, EventKind
from agent.uplinks.monitor import DEGRADED_PROBE_S, UplinkMonitor
from agent.uplinks.policy import Decision
from drivers.uplinks import LinkReading, ProbeResult, UplinkError
from tests.waiting import wait_for

FS = "http://fs.example/fs"


@dataclass
class Wires:
    """Both links as the kernel and the server would answer, set by the test."""

    carrier: dict[str, bool] = field(default_factory=lambda: {"eth0": True, "wwan0": True})
    reaches: dict[str, bool] = field(default_factory=lambda: {"eth0": True, "wwan0": True})
    probed: list[str] = field(default_factory=list)
    routes: list[str | None] = field(default_factory=list)
    route_fails: bool = False

    def link(self, interface: str) -> LinkReading:
        up = self.carrier[interface]
        return LinkReading(interface, True, up, up, "up" if up else "down")

    def probe(self, fs_url: str, interface: str, timeout_s: float) -> ProbeResult:
        assert fs_url == FS and timeout_s > 0
        self.probed.append(interface)
        ok = self.reaches[interface]
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
    assert wires.probed == ["eth0", "wwan0"] * 4  # at 0, 30, 60 and 90 s
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


def test_a_pulled_cable_switches_at_once_without_waiting_for_a_probe() -> None:
    wires, clock, events, decisions = Wires(), FakeClock(), [], []
    box = monitor(wires, clock, events, decisions)
    box.check()
    clock.advance(1)
    wires.carrier["eth0"] = False
    box.check()
    assert wires.routes == ["wwan0"] and decisions[-1].cause == "ethernet_down"


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


# --- the register's question before it goes offline ------------------------------------------------


def started(wires: Wires, clock: FakeClock, decisions: list[Decision]) -> UplinkMonitor:
    """The monitor on its own thread, its first round done: it then sleeps a (real) probe interval unless
    woken, so whatever it checks next was asked for."""
    box = monitor(wires, clock, [], decisions)
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
