"""From the primary uplink's loss to the first server request that gets through over LTE, and to the
monitor's failover decision: median and worst over N runs (default 20) of each kind of loss.

On real kernel routing (tests/netns.py): the box's namespace has eth0 behind a shop router and wwan0
behind an operator, the fiscal server emulator runs in a namespace of its own. Inside the box runs the
real ``UplinkMonitor`` with the real drivers (tests/monitor_child.py, via ``ip netns exec``) and, beside
it, the register's stand-in: ``ServerState`` requests made as the register makes its own, through
whatever route the kernel picks (1 s timeout), one started every 50 ms while they get through; after a
failure, one again as soon as the kernel's route for the server changes (and every second) -- so the
figure is when a request made then gets through, not how long an unlucky one waited for its timeout.
CLOCK_MONOTONIC is one clock for every namespace: the loss's time here and the child's times compare.

Kinds of loss:

- ``cable``: the cable pulled (the box's eth0 loses its carrier). The box's kernel keeps eth0's route
  (its default; a DHCP client would take it away, and then the kernel alone moves the traffic), so
  only the monitor's own route -- on netlink's word, not at its next round -- gets the requests out.
- ``icmp``: the gateway's upstream dead, eth0 up, the router answering "unreachable" at once -- up to
  its ration: a Linux router answers a sender's packets that have no route 5 times, then once a second
  (net.ipv4.route.error_cost/error_burst, host-wide, left alone), so the monitor's probes and the
  register's requests share that. (The per-namespace ``icmp_ratelimit`` is set 0 in the routers so that
  this is the only ration.) Each run of this kind starts with the ration full again, as a real outage
  does, after ``RATION_REFILL_S`` of quiet.
- ``silent``: the same, the router dropping the packets (connects time out), as a dead line often does.

For the two gateway kinds only a probe through eth0 tells; the register's first failed request asks
the monitor for a way out (``UplinkMonitor.way_out(since)``, as the register does before it goes
offline: the failure counts as one failed probe of the route's link, and a round starts at once), else
the loss waits for the monitor's next round (up to ``probe_interval_s``): ``--no-wake`` measures that. Between runs the network is restored
and the monitor back on Ethernet (``hold_down_s`` 1 s here); each loss comes at a random moment of the
monitor's and the requests' cadence (within 1 s, or within ``probe_interval_s`` with ``--no-wake``).
The request figure includes up to 50 ms of the stand-in's own cadence (5 ms after a failure).

usage: sudo python bench/failover.py [--runs N] [--kinds cable,icmp,silent] [--no-wake] [--probe-interval S]
"""

from __future__ import annotations

import argparse
import functools
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.monitor_child import MonitorProcess
from tests.netns import SERVER_IP, Network, unavailable_reason

FS_URL = f"http://{SERVER_IP}:8643/fs"
ETH_ADDRESS, LTE_ADDRESS = "10.61.1.2", "10.61.2.2"
HOLD_DOWN_S = 1.0
RATION_REFILL_S = 5.0  # a router's "unreachable" ration for a sender: 5, one more each second
WAIT_S = 60.0  # for anything the bench waits on: far beyond any figure it expects
LABEL = {
    "cable": "cable pulled",
    "icmp": "gateway dead, link up (router says unreachable)",
    "silent": "gateway dead, link up (packets dropped silently)",
}


def settled(child: MonitorProcess, since: int) -> int:
    """Waits until the monitor is back on Ethernet, sure of both links, and a request went out eth0."""
    index, _ = child.first(
        lambda line: line["kind"] == "decision"
        and line["route"] == "primary"
        and line["active"] == "ethernet"
        and line["cause"] is None
        and not line["probe_soon"],
        since=since,
        timeout=WAIT_S,
        what="the monitor back on Ethernet, both links answering",
    )
    index, _ = child.first(
        lambda line: line["kind"] == "request" and line["ok"] and line["via"] == ETH_ADDRESS,
        since=index,
        timeout=WAIT_S,
        what="a request over Ethernet",
    )
    return index


def through_lte(lost: float) -> Callable[[dict[str, Any]], bool]:
    def test(line: dict[str, Any]) -> bool:
        return line["kind"] == "request" and line["ok"] and line["via"] == LTE_ADDRESS and line["end"] > lost

    return test


def measure(net: Network, kind: str, runs: int, *, wake: bool, probe_interval_s: float) -> tuple[list[float], list[float]]:
    """Milliseconds loss -> failover decision, and loss -> first request through over LTE, per run."""
    args = ["--probe-interval", str(probe_interval_s), "--hold-down", str(HOLD_DOWN_S), "--requests"]
    if wake and kind != "cable":  # the cable's figure is netlink's alone
        args.append("--ask-on-failure")
    child = MonitorProcess(functools.partial(net.popen, net.box), ["--url", FS_URL, *args])
    decided, through = [], []
    try:
        _, ready = child.first(lambda line: line["kind"] == "ready", timeout=WAIT_S, what="the monitor's start")
        if not ready["netlink"]:
            raise SystemExit("the monitor cannot listen to netlink here: the cable's figure would mean nothing")
        mark = settled(child, 0)
        jitter_s = 1.0 if wake or kind == "cable" else probe_interval_s
        for _ in range(runs):
            if kind == "icmp":
                time.sleep(RATION_REFILL_S)
            time.sleep(random.uniform(0, jitter_s))  # not in step with a request or a round
            lost = time.monotonic()  # before the break: the figure may only err long
            if kind == "cable":
                net.cut_ethernet()
            else:
                net.break_ethernet_gateway(silent=kind == "silent")
            _, decision = child.first(
                lambda line: line["kind"] == "decision" and (line["failover"] or {}).get("to") == "lte",
                since=mark,
                timeout=WAIT_S,
                what="the failover to LTE",
            )
            _, request = child.first(through_lte(lost), since=mark, timeout=WAIT_S, what="a request through over LTE")
            decided.append((decision["at"] - lost) * 1000)
            through.append((request["end"] - lost) * 1000)
            mark = child.mark()
            net.restore()
            # A gateway that comes back says nothing to the kernel: the monitor would see it at its next
            # round only (probe_interval_s); the bench has no need to wait for that.
            child.wake()
            mark = settled(child, mark)
    finally:
        child.close()
    return decided, through


def figure(values: list[float]) -> str:
    return f"median {statistics.median(values):.0f}, worst {max(values):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--kinds", default="cable,icmp,silent")
    parser.add_argument("--no-wake", action="store_true", help="the register's failed request does not ask the monitor")
    parser.add_argument("--probe-interval", type=float, default=30.0, help="the monitor's probe_interval_s")
    args = parser.parse_args()
    kinds = [kind for kind in args.kinds.split(",") if kind]
    if unknown := set(kinds) - set(LABEL):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    # Killed (a timeout's SIGTERM), it must still take its namespaces away: the finally below does.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(1))
    if (reason := unavailable_reason()) is not None:
        print(f"failover: cannot run here: {reason}")
        sys.exit(1)
    net = Network.create()
    state = tempfile.mkdtemp(prefix="bench-failover-")
    server = net.popen(
        net.server,
        [sys.executable, "-m", "agent.emulator", "--listen", "0.0.0.0:8643", "--state", state],
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # it says where it listens once it does
        net.skip_linkdown_routes(False)
        for router in (net.router, net.operator):
            net.run(router, ["sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"]).check_returncode()
        wakes = "the register's first failed request asks the monitor's way_out" if not args.no_wake else "no wake"
        print(
            f"failover: {args.runs} runs of each; probe_interval_s {args.probe_interval:g}, hold_down_s"
            f" {HOLD_DOWN_S:g}, failed_probes 2; requests every 50 ms (1 s timeout); gateway kinds: {wakes}"
        )
        for kind in kinds:
            decided, through = measure(net, kind, args.runs, wake=not args.no_wake, probe_interval_s=args.probe_interval)
            print(f"{LABEL[kind]}: loss -> failover decision ms: {figure(decided)}")
            print(
                f"{LABEL[kind]}: loss -> first request through over LTE ms: {figure(through)}"
                " (target: median < 3000, aim 1000)"
            )
    finally:
        server.terminate()
        server.wait(10)
        net.close()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
