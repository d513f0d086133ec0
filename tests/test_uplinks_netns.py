"""The uplinks on real kernel routing (tests/netns.py): the box's namespace has eth0 behind a shop router
and wwan0 behind an operator, a third namespace runs the fiscal server emulator. What the kernel sees of
each outage, and what a probe bound to each interface sees — a dead gateway behind a live link is
invisible to the first and plain to the second."""

from __future__ import annotations

import functools
import json
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import control
from drivers.uplinks import LinkWatcher
from tests.monitor_child import MonitorProcess
from tests.netns import SERVER_IP, Network
from tests.test_cli import write_config
from tests.test_owner import answers
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux's")

FS_URL = f"http://{SERVER_IP}:8643/fs"


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    net = Network.create()
    state = tempfile.mkdtemp(prefix="uplinks-emulator-")
    server = net.popen(
        net.server,
        # every address of its namespace: the box's reach it on SERVER_IP, its loopback control surface on 127.0.0.1
        [sys.executable, "-m", "agent.emulator", "--listen", "0.0.0.0:8643", "--state", state],
        stdout=-1,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # it says where it listens once it does
        yield net
    finally:
        server.terminate()
        server.wait(10)
        net.close()


@pytest.fixture()
def net(network: Network) -> Iterator[Network]:
    yield network
    network.restore()


def link(net: Network, interface: str) -> dict[str, Any]:
    result = net.in_box("drivers.uplinks", "link", "--interface", interface)
    assert result.returncode == 0, result.stderr
    reading: dict[str, Any] = json.loads(result.stdout)
    return reading


def probe(net: Network, interface: str, timeout: float = 1.0) -> dict[str, Any]:
    result = net.in_box("drivers.uplinks", "probe", "--url", FS_URL, "--interface", interface, "--timeout", str(timeout))
    answer: dict[str, Any] = json.loads(result.stdout)
    assert (result.returncode == 0) == answer["ok"], result.stderr
    return answer


def test_both_uplinks_reach_the_server(net: Network) -> None:
    for interface in ("eth0", "wwan0"):
        assert link(net, interface) | {"interface": interface} == {
            "interface": interface, "exists": True, "carrier": True, "has_address": True, "operstate": "up",
        }
        assert probe(net, interface)["ok"] is True


def test_a_pulled_cable_is_seen_by_the_kernel_and_lte_still_reaches_the_server(net: Network) -> None:
    net.cut_ethernet()
    assert link(net, "eth0")["carrier"] is False
    assert probe(net, "eth0")["ok"] is False
    assert probe(net, "wwan0")["ok"] is True


@pytest.mark.parametrize("silent", [False, True], ids=["unreachable", "silent"])
def test_a_dead_gateway_behind_a_live_link_is_seen_only_by_the_bound_probe(net: Network, silent: bool) -> None:
    net.break_ethernet_gateway(silent=silent)
    reading = link(net, "eth0")
    assert reading["carrier"] is True and reading["has_address"] is True  # the kernel sees nothing wrong
    failed = probe(net, "eth0", timeout=0.5)
    assert failed["ok"] is False and failed["error"]
    # The router's "unreachable" ends the connect at once; a silent drop only by the probe's timeout.
    assert ("timed out" in failed["error"]) is silent, failed["error"]
    assert probe(net, "wwan0")["ok"] is True


def test_both_down_and_back(net: Network) -> None:
    net.cut_ethernet()
    net.break_lte_gateway()
    assert probe(net, "eth0", timeout=0.5)["ok"] is False
    assert probe(net, "wwan0", timeout=0.5)["ok"] is False
    net.restore()
    assert probe(net, "eth0")["ok"] is True and probe(net, "wwan0")["ok"] is True


def test_a_missing_interface_reads_as_absent(net: Network) -> None:
    assert link(net, "wlan7") == {
        "interface": "wlan7", "exists": False, "carrier": False, "has_address": False, "operstate": None,
    }
    assert probe(net, "wlan7")["ok"] is False


def test_the_watcher_hears_a_pulled_cable_and_a_wake(net: Network) -> None:
    watch = net.popen(net.box, [sys.executable, "-m", "drivers.uplinks", "watch", "--count", "1", "--timeout", "60"], stdout=-1)
    try:
        assert watch.stdout is not None
        assert json.loads(watch.stdout.readline()) == {"watching": True, "netlink_error": None}
        net.cut_ethernet()
        assert json.loads(watch.stdout.readline())["woke"] == "link"
        assert watch.wait(30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait(10)


def test_a_watcher_without_netlink_is_a_timed_wait_that_a_wake_ends() -> None:
    watcher = LinkWatcher(netlink=False)
    try:
        assert not watcher.netlink and watcher.netlink_error
        assert watcher.wait(0) == "timeout"
        threading.Thread(target=watcher.wake).start()
        assert watcher.wait(30) == "wake"
        assert watcher.wait(0) == "timeout"  # the wake was drained: it does not end the next wait too
    finally:
        watcher.close()
    assert watcher.wait(30) == "wake"  # closed: a loop that still waits ends at once
    watcher.wake()  # and a late wake is harmless


_UNBOUND = f"""
import sys, urllib.request
request = urllib.request.Request("{FS_URL}/cmd", data=b'{{"Command":"ServerState"}}',
                                 headers={{"Content-Type": "application/json"}})
try:
    sys.exit(0 if urllib.request.urlopen(request, timeout=1).read().startswith(b"{{") else 1)
except OSError:
    sys.exit(1)
"""


def unbound_probe(net: Network) -> bool:
    """A request as the register makes it: through whatever route the kernel picks."""
    return net.run(net.box, [sys.executable, "-c", _UNBOUND]).returncode == 0


def prefer(net: Network, interface: str) -> str | None:
    result = net.in_box("drivers.uplinks", "prefer", interface)
    assert result.returncode == 0, result.stderr
    preferred: str | None = json.loads(result.stdout)["preferred"]
    return preferred


def test_failing_over_to_lte_and_back_moves_the_box_s_traffic(net: Network) -> None:
    net.break_ethernet_gateway()
    assert not unbound_probe(net)  # the kernel still routes out of eth0, into the dead gateway
    assert prefer(net, "wwan0") == "wwan0"
    assert unbound_probe(net)  # the register's own requests now leave over LTE
    assert prefer(net, "wwan0") == "wwan0"  # again: nothing changes
    net.restore()
    assert prefer(net, "system") is None  # back to the system's own order: Ethernet first
    assert prefer(net, "system") is None
    routes = net.run(net.box, ["ip", "-4", "route", "show", "default"]).stdout
    assert "metric 10 " not in routes and "dev eth0 metric 100" in routes and "dev wwan0 metric 200" in routes
    assert unbound_probe(net)


# --- the monitor itself in the box's namespace ----------------------------------------------------------


def test_the_monitor_fails_over_on_a_pulled_cable_at_once_from_netlink(net: Network) -> None:
    # An hour between rounds: nothing but the kernel's word on the cable explains a switch.
    child = MonitorProcess(
        functools.partial(net.popen, net.box), ["--url", FS_URL, "--probe-interval", "3600", "--hold-down", "1"]
    )

    def decision(**expected: object) -> Callable[[dict[str, Any]], bool]:
        return lambda line: line["kind"] == "decision" and all(line[k] == v for k, v in expected.items())

    try:
        _, ready = child.first(lambda line: line["kind"] == "ready", what="the monitor's start")
        assert ready["netlink"] is True
        child.first(decision(active="ethernet", cause=None, probe_soon=[]), what="both links answering")
        mark = child.mark()
        net.cut_ethernet()
        _, switched = child.first(decision(active="lte", cause="ethernet_down"), since=mark, what="over LTE")
        assert switched["failover"] == {"from": "ethernet", "to": "lte", "cause": "ethernet_down"}
        routes = net.run(net.box, ["ip", "-4", "route", "show", "default"]).stdout
        assert "dev wwan0 metric 10" in routes
        mark = child.mark()
        net.cut_ethernet(False)  # the cable back: netlink again, then the hold-down's probes
        child.first(decision(active="ethernet", route="primary", cause=None), since=mark, what="back on Ethernet")
    finally:
        child.close()


# --- the agent itself in the box's namespace ------------------------------------------------------------


def _register(net: Network) -> None:
    from tests.conftest import REGISTRAR

    script = (
        "import json, urllib.request; urllib.request.urlopen(urllib.request.Request("
        "'http://127.0.0.1:8643/emulator/registrars', data=json.dumps(" + repr(REGISTRAR) + ").encode(),"
        " headers={'Content-Type': 'application/json'}), timeout=5).read()"
    )
    result = net.run(net.server, [sys.executable, "-c", script])  # the control surface answers loopback only
    assert result.returncode == 0 or "exists" in result.stderr, result.stderr


def test_the_agent_fails_over_and_says_why(net: Network, tmp_path: Path) -> None:
    _register(net)
    config = write_config(
        tmp_path / "config.toml",
        FS_URL,
        **{
            "[uplinks]\nenabled = false": '[uplinks]\nprimary = "eth0"\nbackup = "wwan0"\nprobe_interval_s = 1\nhold_down_s = 2',
        },
    )
    state = tmp_path / "state"
    log = (tmp_path / "agent.log").open("w")
    agent = net.popen(net.box, [sys.executable, "-m", "agent.cli", "run", "--config", str(config)], stderr=log)
    try:
        wait_for(lambda: agent.poll() is not None or answers(state), what="the agent's control socket")
        assert agent.poll() is None, (tmp_path / "agent.log").read_text()

        def network() -> tuple[str | None, str | None, str]:
            status = control.request(state, "status", timeout_s=30)
            return status["uplink"], (status["network"] or {}).get("cause"), status["mode"]

        wait_for(lambda: network() == ("ethernet", None, "online"), what="online over Ethernet")
        net.cut_ethernet()
        wait_for(lambda: network() == ("lte", "ethernet_down", "online"), what="over LTE, Ethernet down")
        net.restore()
        wait_for(lambda: network() == ("ethernet", None, "online"), what="back on Ethernet after the hold-down")
        net.break_ethernet_gateway()
        wait_for(lambda: network() == ("lte", "ethernet_no_route", "online"), what="over LTE, Ethernet's gateway dead")
        net.break_lte_gateway()
        wait_for(lambda: network()[:2] == ("none", "server_down"), what="neither reaches the server")
        net.restore()
        wait_for(lambda: network()[:2] == ("ethernet", None), what="all well again")
    finally:
        agent.terminate()
        agent.wait(30)
        log.close()
    assert "failover" in (tmp_path / "agent.log").read_text()
