"""The uplinks on real kernel routing (tests/netns.py): the box's namespace has eth0 behind a shop router
and wwan0 behind an operator, a third namespace runs the fiscal server emulator. What the kernel sees of
each outage, and what a probe bound to each interface sees — a dead gateway behind a live link is
invisible to the first and plain to the second."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.netns import SERVER_IP, Network

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux's")

FS_URL = f"http://{SERVER_IP}:8643/fs"


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    net = Network.create()
    state = tempfile.mkdtemp(prefix="uplinks-emulator-")
    server = net.popen(
        net.server,
        [sys.executable, "-m", "agent.emulator", "--listen", f"{SERVER_IP}:8643", "--state", state],
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


def test_a_dead_gateway_behind_a_live_link_is_seen_only_by_the_bound_probe(net: Network) -> None:
    net.break_ethernet_gateway()
    reading = link(net, "eth0")
    assert reading["carrier"] is True and reading["has_address"] is True  # the kernel sees nothing wrong
    failed = probe(net, "eth0", timeout=0.5)
    assert failed["ok"] is False and failed["error"]
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
