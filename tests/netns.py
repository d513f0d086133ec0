"""Real kernel routing for the uplink tests: network namespaces joined by veth pairs.

    box ── eth0 10.61.1.2 ─┬─ 10.61.1.1 shop router ── 10.61.3.1/.2 ─┐
                           │                                          ├─ server: 10.61.9.1 (on its lo)
        ── wwan0 10.61.2.2 ┴─ 10.61.2.1 operator  ──── 10.61.4.1/.2 ─┘

The box has a default route out of each (eth0 metric 100, wwan0 metric 200), as a box with both
uplinks up has. What a test breaks, and how the box sees it:

- ``cut_ethernet()``: the shop router's side of the cable goes down, the box's eth0 loses its carrier;
- ``break_ethernet_gateway()``: the router's upstream goes down, the box's eth0 stays up (the kernel
  sees nothing); the router says "unreachable" at once, or with ``silent=True`` drops the packets;
- ``cut_lte()`` / ``break_lte_gateway()``: the same for wwan0;
- ``restore()`` undoes all.

``Network.create()`` skips the calling test, saying why, where network namespaces cannot be made (not
root, no ``ip``, a container without CAP_SYS_ADMIN) — and only then.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_IP = "10.61.9.1"


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=check)


def _sysctl(netns: str, key: str, value: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", netns, "sysctl", "-q", "-w", f"{key}={value}"],
        check=True,
        capture_output=True,
        timeout=10,
    )


def unavailable_reason() -> str | None:
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    probe = f"fbprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"network namespaces are not permitted here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class Network:
    tag: str
    made: list[str] = field(default_factory=list)

    @property
    def box(self) -> str:
        return f"{self.tag}-box"

    @property
    def router(self) -> str:
        return f"{self.tag}-rtr"

    @property
    def operator(self) -> str:
        return f"{self.tag}-lte"

    @property
    def server(self) -> str:
        return f"{self.tag}-srv"

    @classmethod
    def create(cls) -> Network:
        reason = unavailable_reason()
        if reason is not None:
            pytest.skip(reason)
        network = cls(f"fb{os.getpid() % 100000}")
        try:
            network._build()
        except BaseException:
            network.close()
            raise
        return network

    def _build(self) -> None:
        for name in (self.box, self.router, self.operator, self.server):
            _ip("netns", "add", name)
            self.made.append(name)
            _ip("link", "set", "lo", "up", netns=name)
        # A route whose link lost its carrier is not used (the gotcha: ignore_routes_with_linkdown).
        _sysctl(self.box, "net.ipv4.conf.all.ignore_routes_with_linkdown", "1")
        for router in (self.router, self.operator):
            _sysctl(router, "net.ipv4.ip_forward", "1")
        self._pair(self.box, "eth0", "10.61.1.2/24", self.router, "lan", "10.61.1.1/24")
        self._pair(self.box, "wwan0", "10.61.2.2/24", self.operator, "lan", "10.61.2.1/24")
        self._pair(self.router, "wan", "10.61.3.1/30", self.server, "via-eth", "10.61.3.2/30")
        self._pair(self.operator, "wan", "10.61.4.1/30", self.server, "via-lte", "10.61.4.2/30")
        _ip("addr", "add", f"{SERVER_IP}/32", "dev", "lo", netns=self.server)
        for router, wan_peer in ((self.router, "10.61.3.2"), (self.operator, "10.61.4.2")):
            _ip("route", "add", f"{SERVER_IP}/32", "via", wan_peer, netns=router)
        _ip("route", "add", "10.61.1.0/24", "via", "10.61.3.1", netns=self.server)
        _ip("route", "add", "10.61.2.0/24", "via", "10.61.4.1", netns=self.server)
        _ip("route", "add", "default", "via", "10.61.1.1", "dev", "eth0", "metric", "100", netns=self.box)
        _ip("route", "add", "default", "via", "10.61.2.1", "dev", "wwan0", "metric", "200", netns=self.box)

    def _pair(self, a: str, a_if: str, a_addr: str, b: str, b_if: str, b_addr: str) -> None:
        temp = f"{self.tag}{len(self.made)}{a_if}"[:15]
        peer = f"{self.tag}p{len(self.made)}{b_if}"[:15]
        self.made.append("")  # only to make the temporary names unique
        _ip("link", "add", temp, "type", "veth", "peer", "name", peer)
        _ip("link", "set", temp, "netns", a, "name", a_if)
        _ip("link", "set", peer, "netns", b, "name", b_if)
        _ip("addr", "add", a_addr, "dev", a_if, netns=a)
        _ip("addr", "add", b_addr, "dev", b_if, netns=b)
        _ip("link", "set", a_if, "up", netns=a)
        _ip("link", "set", b_if, "up", netns=b)

    def skip_linkdown_routes(self, skip: bool = True) -> None:
        """Whether the box's kernel leaves out a route whose link lost its carrier (on, as built: a
        DHCP client or NetworkManager takes such a route away too). Off, as the kernel's default, a
        pulled cable's route stays first, and only the monitor's own route moves the traffic."""
        _sysctl(self.box, "net.ipv4.conf.all.ignore_routes_with_linkdown", "1" if skip else "0")

    # --- what the tests break ---------------------------------------------------------------------------

    def cut_ethernet(self, cut: bool = True) -> None:
        _ip("link", "set", "lan", "down" if cut else "up", netns=self.router)

    def break_ethernet_gateway(self, broken: bool = True, *, silent: bool = False) -> None:
        """The shop router's upstream dies. By default its link goes down and the router answers each
        packet with an ICMP unreachable, so a connect fails at once; ``silent``: the router swallows them
        (a blackhole route to the server, no ICMP), so a connect times out -- what a dead line behind a
        real shop's router often does."""
        self._break_gateway(self.router, "10.61.3.2", broken, silent)

    def cut_lte(self, cut: bool = True) -> None:
        _ip("link", "set", "lan", "down" if cut else "up", netns=self.operator)

    def break_lte_gateway(self, broken: bool = True, *, silent: bool = False) -> None:
        """The operator's upstream dies (no mobile data); ``silent`` as for ``break_ethernet_gateway``."""
        self._break_gateway(self.operator, "10.61.4.2", broken, silent)

    def _break_gateway(self, router: str, wan_peer: str, broken: bool, silent: bool) -> None:
        if not silent:
            _ip("link", "set", "wan", "down" if broken else "up", netns=router)
        elif broken:
            _ip("route", "replace", "blackhole", f"{SERVER_IP}/32", netns=router)
        else:
            _ip("route", "replace", f"{SERVER_IP}/32", "via", wan_peer, netns=router)

    def restore(self) -> None:
        for fix in (self.cut_ethernet, self.break_ethernet_gateway, self.cut_lte, self.break_lte_gateway):
            fix(False)
        # The server's routes back went with its link; put them again (an existing one is fine). The
        # routers' own to the server replace a silent break's blackhole too.
        _ip("route", "replace", "10.61.1.0/24", "via", "10.61.3.1", netns=self.server)
        _ip("route", "replace", "10.61.2.0/24", "via", "10.61.4.1", netns=self.server)
        for router, wan_peer in ((self.router, "10.61.3.2"), (self.operator, "10.61.4.2")):
            _ip("route", "replace", f"{SERVER_IP}/32", "via", wan_peer, netns=router)

    # --- running things inside ------------------------------------------------------------------------

    def run(self, netns: str, args: Sequence[str], *, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", netns, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )

    def popen(self, netns: str, args: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            ["ip", "netns", "exec", netns, *args], cwd=ROOT, text=True, **kwargs
        )

    def in_box(self, module: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """``python -m module args`` inside the box's namespace."""
        return self.run(self.box, [sys.executable, "-m", module, *args], timeout=timeout)

    def close(self) -> None:
        for name in reversed([n for n in self.made if n]):
            _ip("netns", "del", name, check=False)
        self.made.clear()
