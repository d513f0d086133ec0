"""The box's two ways out, as the kernel and the fiscal server see them: per interface, its carrier and
address, and a probe of the fiscal server made *through that interface*.

A dead gateway behind a live link is invisible to the kernel (the carrier is up, the routes stay), so
only a request bound to the interface (``SO_BINDTODEVICE``: the route lookup may use only routes out of
it) tells whether that uplink reaches the server. The probe is the protocol's unsigned ``ServerState``
command: any well-formed answer means the way is open, whatever the server's own state.

A pulled cable, on the other hand, the kernel sees at once and says on rtnetlink: ``LinkWatcher``
listens there, so the loop that reads the links need not wait for its next round to notice.

API::

    read_link("eth0")                   -> LinkReading(interface, exists, carrier, has_address, operstate,
                                                       addresses)
    probe_server(fs_url, "wwan0", 1.5)  -> ProbeResult(interface, ok, error, elapsed_s)
    LinkWatcher()  .wait(timeout_s) -> "link" | "wake" | "timeout";  .wake();  .close();  .netlink_error

``python -m drivers.uplinks link --interface eth0``, ``… probe --url URL --interface wwan0`` and
``… watch`` print the same as JSON, for a technician (and for tests that run them inside a network
namespace).

Nothing here needs a capability but the route change that fails over (CAP_NET_ADMIN). Since Linux 5.7
an unprivileged process may ``SO_BINDTODEVICE`` a socket not yet bound to a device (before, it needed
CAP_NET_RAW), and rtnetlink's link and address groups are open to anyone.
This module imports nothing from ``agent``: drivers are leaves.
"""

from __future__ import annotations

import argparse
import http.client
import json
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "FAILOVER_METRIC",
    "LinkReading",
    "LinkWatcher",
    "ProbeResult",
    "UplinkError",
    "default_gateway",
    "prefer",
    "preferred",
    "probe_server",
    "read_link",
]

SYS_NET = Path("/sys/class/net")
#: the metric of the box's own default route that overrides the system's (DHCP's, NetworkManager's) while
#: it fails over: lower than theirs, so it wins; removing it gives the system's order back untouched
FAILOVER_METRIC = 10
#: the protocol's unsigned command (reference §3): no key is needed to ask it
PROBE_BODY = {"Command": "ServerState"}
#: rtnetlink's multicast groups (linux/rtnetlink.h): a link's state (carrier, up/down, new, gone) and
#: its IPv4 addresses. Routes are left out: the monitor's own route changes must not wake it.
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10

Wakeup = Literal["link", "wake", "timeout"]


class UplinkError(RuntimeError):
    """An interface could not be read."""


@dataclass(frozen=True)
class LinkReading:
    interface: str
    exists: bool
    carrier: bool
    has_address: bool
    operstate: str | None
    #: its IPv4 addresses with their prefix ("10.61.1.2/24"), for the status and the technician's slip
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    interface: str
    ok: bool
    error: str | None
    elapsed_s: float


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):  # carrier reads EINVAL while the interface is administratively down
        return None


def _ipv4_addresses(interface: str) -> tuple[str, ...]:
    try:
        entries = _ip_json("-4", "addr", "show", "dev", interface)
    except UplinkError:  # no such interface, or no ip: no address to speak of
        return ()
    found: list[str] = []
    for entry in entries:
        infos = entry.get("addr_info")
        for info in infos if isinstance(infos, list) else []:
            if isinstance(info, dict) and info.get("local"):
                prefix = info.get("prefixlen")
                found.append(f"{info['local']}/{prefix}" if isinstance(prefix, int) else str(info["local"]))
    return tuple(found)


def read_link(interface: str) -> LinkReading:
    base = SYS_NET / interface
    if not base.exists():
        return LinkReading(interface, False, False, False, None)
    carrier = _read(base / "carrier") == "1"
    addresses = _ipv4_addresses(interface)
    return LinkReading(interface, True, carrier, bool(addresses), _read(base / "operstate"), addresses)


def _bound_socket(host: str, port: int, interface: str, timeout_s: float) -> socket.socket:
    """A TCP connection made out of ``interface`` only. The option must be set before ``connect``: the
    route (and the source address) is chosen then, so httpx's ``socket_options``, applied after the
    connect, would bind a connection already made through the default route."""
    last: OSError | None = None
    for family, kind, proto, _name, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode() + b"\0")
            sock.settimeout(timeout_s)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"no address for {host}")


def probe_server(fs_url: str, interface: str, timeout_s: float) -> ProbeResult:
    """One ``ServerState`` through ``interface`` only, within ``timeout_s`` for each step; never raises."""
    url = urlsplit(fs_url.rstrip("/") + "/cmd")
    secure = url.scheme == "https"
    host = url.hostname or ""
    port = url.port or (443 if secure else 80)
    started = time.monotonic()
    connection: http.client.HTTPConnection | None = None
    try:
        sock = _bound_socket(host, port, interface, timeout_s)
        if secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
        connection.sock = sock  # http.client sends on a socket it was given instead of connecting
        body = json.dumps(PROBE_BODY).encode()
        connection.request("POST", url.path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        # Any answer of the server's own (even a refusal) means the way there is open; a captive
        # portal's page is not the server: its answer is not JSON.
        json.loads(response.read())
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return ProbeResult(interface, False, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
    finally:
        if connection is not None:
            connection.close()
    return ProbeResult(interface, True, None, time.monotonic() - started)


class LinkWatcher:
    """Waits until the kernel says a link or an IPv4 address changed, another thread calls ``wake()``,
    or the time is up.

    The rtnetlink messages are not parsed: any of them means "read the links again", and reading them
    (``read_link``) is what the caller does anyway. On a physical NIC the kernel's linkwatch may hold a
    carrier change back by up to a second (it sends such events at most once a second, to bound a
    flapping driver's storm); a virtual device's (veth, as in the tests) it sends at once. Where netlink cannot be opened (not Linux, a seccomp filter) ``netlink_error`` says
    why and ``wait`` is a plain timed wait that ``wake()`` still ends.
    """

    def __init__(self, *, netlink: bool = True) -> None:
        # A socket pair, not a threading.Event: the wake must end the same select() netlink ends.
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_in, selectors.EVENT_READ)
        self._netlink: socket.socket | None = None
        self.netlink_error: str | None = None if netlink else "not asked for"
        if netlink:
            try:
                self._netlink = self._open_netlink()
            except (OSError, AttributeError) as exc:  # AttributeError: a platform without AF_NETLINK
                self.netlink_error = f"{type(exc).__name__}: {exc}"
            else:
                self._selector.register(self._netlink, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._closed = False

    @staticmethod
    def _open_netlink() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        try:
            sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    @property
    def netlink(self) -> bool:
        return self._netlink is not None

    def wait(self, timeout_s: float) -> Wakeup:
        """Until something happened or ``timeout_s`` passed; "link" wins over "wake" when both did."""
        with self._lock:
            if self._closed:
                return "wake"
        try:
            ready = self._selector.select(max(0.0, timeout_s))
        except (OSError, ValueError):  # closed by another thread meanwhile: the caller is stopping
            return "wake"
        if not ready:
            return "timeout"
        woke: Wakeup = "wake"
        for key, _events in ready:
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            # Drained to the end, so that a burst (a cable pull says carrier, operstate and more) is
            # one wake-up, not one per message.
            if _drain(sock) and sock is self._netlink:
                woke = "link"
        return woke

    def wake(self) -> None:
        """End the current (or the next) ``wait`` from any thread."""
        try:
            self._wake_out.send(b"\0")
        except BlockingIOError:
            pass  # the pair is full of wakes already: the waiter will wake
        except OSError:
            pass  # closed: no one waits any more

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._selector.close()
        for sock in (self._netlink, self._wake_in, self._wake_out):
            if sock is not None:
                sock.close()


def _drain(sock: socket.socket) -> bool:
    """Read all that is waiting; True when there was anything (a netlink overflow counts: messages
    were lost, so something changed)."""
    got = False
    while True:
        try:
            if not sock.recv(65536):
                return got
            got = True
        except BlockingIOError:
            return got
        except OSError:  # ENOBUFS: the kernel dropped messages for a full buffer
            got = True
            return got


def _ip_json(*args: str) -> list[dict[str, object]]:
    try:
        out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=5, check=True).stdout
        data = json.loads(out or "[]")
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise UplinkError(f"ip {' '.join(args)}: {exc}") from exc
    return data if isinstance(data, list) else []


def default_gateway(interface: str) -> str | None:
    """The gateway of the system's default route out of ``interface`` (not the box's own override)."""
    for route in _ip_json("-4", "route", "show", "default", "dev", interface):
        if route.get("metric") != FAILOVER_METRIC and isinstance(route.get("gateway"), str):
            return str(route["gateway"])
    return None


def preferred() -> str | None:
    """The interface the box's override sends traffic out of, None when the system's order holds."""
    for route in _ip_json("-4", "route", "show", "default"):
        if route.get("metric") == FAILOVER_METRIC:
            return str(route.get("dev"))
    return None


def prefer(interface: str | None) -> None:
    """Send the box's traffic out of ``interface`` (over the system's own default routes), or give the
    system's order back (None). Idempotent; needs CAP_NET_ADMIN."""
    if interface is None:
        command = ["ip", "-4", "route", "del", "default", "metric", str(FAILOVER_METRIC)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)
        if result.returncode != 0 and "No such process" not in result.stderr:  # none there: nothing to do
            raise UplinkError(f"{' '.join(command)}: {result.stderr.strip()}")
        return
    gateway = default_gateway(interface)
    via = ["via", gateway] if gateway else []  # a point-to-point link (some LTE modems) has none
    command = ["ip", "-4", "route", "replace", "default", *via, "dev", interface, "metric", str(FAILOVER_METRIC)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)
    if result.returncode != 0:
        raise UplinkError(f"{' '.join(command)}: {result.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.uplinks")
    sub = parser.add_subparsers(dest="what", required=True)
    link = sub.add_parser("link", help="carrier and address of an interface")
    link.add_argument("--interface", required=True)
    probe = sub.add_parser("probe", help="ServerState through one interface")
    probe.add_argument("--interface", required=True)
    probe.add_argument("--url", required=True, help="the fiscal server's URL, e.g. https://fs.tax.gov.ua:8643/fs")
    probe.add_argument("--timeout", type=float, default=2.0)
    route = sub.add_parser("prefer", help="send traffic out of an interface, or 'system' for the system's order")
    route.add_argument("interface")
    watch = sub.add_parser("watch", help="say each link or address change the kernel tells")
    watch.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    watch.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for each")
    args = parser.parse_args(argv)
    if args.what == "watch":
        return _watch(args.count, args.timeout)
    if args.what == "prefer":
        prefer(None if args.interface == "system" else args.interface)
        print(json.dumps({"preferred": preferred()}))
        return 0
    if args.what == "link":
        print(json.dumps(asdict(read_link(args.interface))))
        return 0
    result = probe_server(args.url, args.interface, args.timeout)
    print(json.dumps(asdict(result)))
    return 0 if result.ok else 1


def _watch(count: int, timeout_s: float) -> int:
    watcher = LinkWatcher()
    try:
        # Said once listening, so that whoever changes a link next knows it will be heard.
        print(json.dumps({"watching": watcher.netlink, "netlink_error": watcher.netlink_error}), flush=True)
        if not watcher.netlink:
            return 1
        seen = 0
        while count == 0 or seen < count:
            woke = watcher.wait(timeout_s)
            print(json.dumps({"woke": woke, "at": time.monotonic()}), flush=True)
            if woke == "timeout":
                return 1
            seen += 1
    finally:
        watcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
