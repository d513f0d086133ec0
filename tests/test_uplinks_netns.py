"""The uplinks on real kernel routing (tests/netns.py): the box's namespace has eth0 behind a shop router
and wwan0 behind an operator, a third namespace runs the fiscal server emulator. What the kernel sees of
each outage, and what a probe bound to each interface sees — a dead gateway behind a live link is
invisible to the first and plain to the second."""

from __future__ import annotations

import functools
import itertools
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import control
from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.identity import self_signed_identity
from agent.secr.signing.dstu.keystore import PrivateKey, encode_pkcs8
from drivers.uplinks import LinkWatcher
from tests.conftest import FISCAL_NUMBER
from tests.monitor_child import MonitorProcess
from tests.netns import SERVER_IP, Network
from tests.test_cli import free_port, write_config
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
    result = net.in_box(
        "drivers.uplinks", "probe", "--url", FS_URL, "--interface", interface, "--timeout", str(timeout)
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    assert (result.returncode == 0) == answer["ok"], result.stderr
    return answer


def test_both_uplinks_reach_the_server(net: Network) -> None:
    for interface, address in (("eth0", "10.61.1.2/24"), ("wwan0", "10.61.2.2/24")):
        assert link(net, interface) | {"interface": interface} == {
            "interface": interface,
            "exists": True,
            "carrier": True,
            "has_address": True,
            "operstate": "up",
            "addresses": [address],
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
        "interface": "wlan7",
        "exists": False,
        "carrier": False,
        "has_address": False,
        "operstate": None,
        "addresses": [],
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


def _register(net: Network, fiscal_number: str) -> None:
    """A registrar of its own for each agent: the emulator outlives the tests of this module, and a shift
    one agent left open is another fresh journal's mismatch."""
    from tests.conftest import REGISTRAR

    registrar = REGISTRAR | {"fiscal_number": fiscal_number}
    script = (
        "import json, urllib.request; urllib.request.urlopen(urllib.request.Request("
        "'http://127.0.0.1:8643/emulator/registrars', data=json.dumps(" + repr(registrar) + ").encode(),"
        " headers={'Content-Type': 'application/json'}), timeout=5).read()"
    )
    result = net.run(net.server, [sys.executable, "-c", script])  # the control surface answers loopback only
    assert result.returncode == 0, result.stderr


_registrars = itertools.count(4000000101)


class BoxAgent:
    """`fiscal-box run` inside the box's namespace, uplinks on with a short cadence (probe every second,
    the given hold-down), its till API on the box's loopback; its log in a file."""

    def __init__(
        self, net: Network, tmp_path: Path, *, hold_down_s: float = 2, overrides: dict[str, str] | None = None
    ) -> None:
        fiscal_number = str(next(_registrars))
        _register(net, fiscal_number)
        self.net = net
        self.port = free_port()
        config = write_config(
            tmp_path / "config.toml",
            FS_URL,
            api_port=self.port,
            **{
                **(overrides or {}),
                f'fiscal_number = "{FISCAL_NUMBER}"': f'fiscal_number = "{fiscal_number}"',
                "[uplinks]\nenabled = false": (
                    '[uplinks]\nprimary = "eth0"\nbackup = "wwan0"\nprobe_interval_s = 1\n'
                    f"hold_down_s = {hold_down_s}"
                ),
            },
        )
        self.state = tmp_path / "state"
        self.log_path = tmp_path / "agent.log"
        self._log = self.log_path.open("w")
        self.proc = net.popen(
            net.box, [sys.executable, "-m", "agent.cli", "run", "--config", str(config)], stderr=self._log
        )
        wait_for(
            lambda: self.proc.poll() is not None or answers(self.state), what="the agent's control socket"
        )
        assert self.proc.poll() is None, self.log_path.read_text()

    def status(self) -> dict[str, Any]:
        return control.request(self.state, "status", timeout_s=30)

    def network(self) -> tuple[str | None, str | None, str]:
        status = self.status()
        return status["uplink"], (status["network"] or {}).get("cause"), status["mode"]

    def failovers(self) -> list[str]:
        """Each switch the agent logged, as "from>to cause"."""
        found = re.findall(r"event failover: from=(\w+) to=(\w+) cause=(\w+)", self.log_path.read_text())
        return [f"{a}>{b} {cause}" for a, b, cause in found]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(30)
        self._log.close()


@pytest.fixture()
def box_agent(net: Network, tmp_path: Path) -> Iterator[BoxAgent]:
    agent = BoxAgent(net, tmp_path)
    yield agent
    agent.close()


def test_the_agent_fails_over_and_says_why(net: Network, box_agent: BoxAgent) -> None:
    network = box_agent.network
    wait_for(lambda: network() == ("ethernet", None, "online"), what="online over Ethernet")
    month = box_agent.status()["network"]["month"]
    assert set(month) == {
        "month", "ethernet_down_minutes", "lte_down_minutes", "server_down_minutes", "offline_saved_minutes"
    }  # fmt: skip
    # each link's addresses, as the technician's slip shows them under the uplink
    addresses = box_agent.status()["network"]["addresses"]
    assert addresses == {"ethernet": ["10.61.1.2/24"], "lte": ["10.61.2.2/24"]}
    net.cut_ethernet()
    wait_for(lambda: network() == ("lte", "ethernet_down", "online"), what="over LTE, Ethernet down")
    net.restore()
    wait_for(lambda: network() == ("ethernet", None, "online"), what="back on Ethernet after the hold-down")
    net.break_ethernet_gateway()
    wait_for(
        lambda: network() == ("lte", "ethernet_no_route", "online"), what="over LTE, Ethernet's gateway dead"
    )
    net.break_lte_gateway()
    wait_for(lambda: network()[:2] == ("none", "server_down"), what="neither reaches the server")
    net.restore()
    wait_for(lambda: network()[:2] == ("ethernet", None), what="all well again")
    assert box_agent.failovers() == [
        "ethernet>lte ethernet_down",
        "lte>ethernet None",  # after the hold-down
        "ethernet>lte ethernet_no_route",
        "lte>ethernet lte_no_route",  # neither reaches the server: the route rests on Ethernet
    ]
    box_agent.close()
    # The outages were counted, and saved at the clean stop: LTE carried the box while Ethernet was down.
    months = json.loads((box_agent.state / "uplinks-month.json").read_text(encoding="utf-8"))["seconds"].values()
    assert sum(m["ethernet"] for m in months) > 0 and sum(m["saved"] for m in months) > 0


class Sales:
    """A till selling every 0.2 s inside the box's namespace (tests/netns_till.py); the test marks what it
    did to the network on the same clock (CLOCK_MONOTONIC is not per namespace)."""

    def __init__(self, net: Network, port: int) -> None:
        self.proc = net.popen(
            net.box, [sys.executable, "-m", "tests.netns_till", "--port", str(port), "--every", "0.2"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        self.receipts: list[dict[str, Any]] = []
        self.marks: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.receipts.append(json.loads(line))

    def mark(self, what: str) -> None:
        self.marks.append((time.monotonic(), what))

    def made_after(self, what: str, count: int = 3) -> None:
        """Wait until ``count`` receipts begun after the last mark have ended."""
        since = self.marks[-1][0]
        wait_for(
            lambda: (
                sum(1 for r in list(self.receipts) if r["began"] > since) >= count
                or self.proc.poll() is not None
            ),
            what=f"{count} receipts {what}",
        )
        assert self.proc.poll() is None, "the till stopped"

    def stop(self) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)
        self._reader.join(10)
        return self.receipts


def test_sales_go_offline_only_while_both_uplinks_are_down(net: Network, box_agent: BoxAgent) -> None:
    network = box_agent.network
    wait_for(lambda: network() == ("ethernet", None, "online"), what="online over Ethernet")
    sales = Sales(net, box_agent.port)
    try:
        sales.mark("both up")
        sales.made_after("over Ethernet")
        net.cut_ethernet()
        sales.mark("cable pulled")
        wait_for(lambda: network()[:2] == ("lte", "ethernet_down"), what="over LTE, Ethernet down")
        sales.made_after("over LTE")
        net.restore()
        wait_for(lambda: network() == ("ethernet", None, "online"), what="back on Ethernet")
        sales.mark("all up again")
        sales.made_after("over Ethernet again")
        net.break_ethernet_gateway()
        sales.mark("gateway dead")
        wait_for(lambda: network()[:2] == ("lte", "ethernet_no_route"), what="over LTE, the gateway dead")
        sales.made_after("over LTE, the gateway dead")
        net.cut_lte()
        sales.mark("both down")
        wait_for(lambda: network()[0] == "none", what="no uplink")
        sales.made_after("with no uplink")
        net.cut_lte(False)
        sales.mark("LTE back")
        wait_for(lambda: network() == ("lte", "ethernet_no_route", "online"), what="online over LTE again")
        sales.made_after("over LTE after the outage")
        net.restore()
        sales.mark("all restored")
        wait_for(lambda: network() == ("ethernet", None, "online"), what="back on Ethernet at last")
        sales.made_after("at the end")
    finally:
        receipts = sales.stop()
    assert not [r for r in receipts if "error" in r], [r for r in receipts if "error" in r]

    def phase(receipt: dict[str, Any]) -> str:
        return [what for at, what in sales.marks if at <= receipt["began"]][-1]

    offline = [(r["i"], phase(r)) for r in receipts if r["offline"]]
    assert offline, "no sale was made while both uplinks were down"
    # Offline only while no uplink reached the server: from the moment both were down, and — a sale being
    # checked by the probe before it, and the uplinks seeing LTE back within their second's cadence — the
    # first moments after LTE came back.
    assert {what for _, what in offline} <= {"both down", "LTE back"}, offline
    lte_back = dict((what, at) for at, what in sales.marks)["LTE back"]
    late = [r for r in receipts if r["offline"] and r["began"] > lte_back + 3]
    assert not late, late
    status = box_agent.status()
    assert status["pending_documents"] == 0  # every offline receipt delivered
    assert box_agent.failovers() == [
        "ethernet>lte ethernet_down",
        "lte>ethernet None",
        "ethernet>lte ethernet_no_route",
        "lte>ethernet lte_down",  # both down: the route rests on Ethernet, expected back first
        "ethernet>lte ethernet_no_route",  # LTE back
        "lte>ethernet None",
    ]


def test_a_cable_toggling_every_two_seconds_moves_the_route_once_each_way(
    net: Network, tmp_path: Path
) -> None:
    agent = BoxAgent(net, tmp_path, hold_down_s=5)
    try:
        wait_for(lambda: agent.network() == ("ethernet", None, "online"), what="online over Ethernet")
        sales = Sales(net, agent.port)
        try:
            sales.mark("flapping")
            for _ in range(4):  # 2 s without carrier, 2 s with, four times
                net.cut_ethernet()
                wait_for(lambda: agent.network()[0] == "lte", what="over LTE")
                time.sleep(2)  # the flapping itself: the cable's rhythm, not a wait for the box
                net.cut_ethernet(False)
                time.sleep(2)
                assert agent.network()[0] == "lte"  # up for less than the hold-down: the route stays
            sales.mark("steady")
            wait_for(
                lambda: agent.network() == ("ethernet", None, "online"), what="back on Ethernet once steady"
            )
            sales.made_after("once steady")
        finally:
            receipts = sales.stop()
        assert agent.failovers() == ["ethernet>lte ethernet_down", "lte>ethernet None"]
        assert receipts and not [r for r in receipts if "error" in r or r["offline"]]
    finally:
        agent.close()


def test_each_cause_of_the_backup_and_of_signing_is_told(net: Network, tmp_path: Path) -> None:
    """The causes the failover test does not meet: LTE down or without a route while Ethernet carries
    the box, and signing failing while both links reach the server (a qualified key whose time-stamp
    service refuses: online documents cannot be made, and mending the network would not help)."""
    d, certificate = self_signed_identity("Іваненко Іван Іванович")
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.cer"
    key_file.write_bytes(encode_pkcs8(PrivateKey(curve_by_m(257), d), pem=True))
    cert_file.write_bytes(certificate)
    signer = (
        f'[signer]\nkind = "dstu4145"\nkey_file = "{key_file}"\ncertificate_file = "{cert_file}"\n'
        f'tsp_url = "http://{SERVER_IP}:9/tsa"\n[offline]'  # nothing listens there
    )
    agent = BoxAgent(net, tmp_path, overrides={"[offline]": signer})
    try:
        wait_for(lambda: agent.network() == ("ethernet", None, "online"), what="online over Ethernet")
        net.cut_lte()
        wait_for(lambda: agent.network() == ("ethernet", "lte_down", "online"), what="LTE down told")
        net.restore()
        wait_for(lambda: agent.network() == ("ethernet", None, "online"), what="LTE back")
        net.break_lte_gateway()
        wait_for(lambda: agent.network() == ("ethernet", "lte_no_route", "online"), what="LTE's route told")
        net.restore()
        wait_for(lambda: agent.network()[:2] == ("ethernet", None), what="LTE back again")
        sales = Sales(net, agent.port)  # its shift needs a time-stamp the service will not give
        try:
            wait_for(lambda: agent.network()[:2] == ("ethernet", "signing_failed"), what="signing told")
            status = agent.status()
            assert "time-stamp" in status["network"]["message"] or "time-stamp" in " ".join(status["errors"])
        finally:
            receipts = sales.stop()
        assert all(r.get("offline") for r in receipts if "error" not in r)  # sold offline, as the law allows
        assert not [f for f in agent.failovers() if "signing" in f]  # no route moved for it
    finally:
        agent.close()
