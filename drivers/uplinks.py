"""The box's two ways out, as the kernel and the fiscal server see them: per interface, its carrier and
address, and a probe of the fiscal server made *through that interface*.

A dead gateway behind a live link is invisible to the kernel (the carrier is up, the routes stay), so
only a request bound to the interface (``SO_BINDTODEVICE``: the route lookup may use only routes out of
it) tells whether that uplink reaches the server. The probe is the protocol's unsigned ``ServerState``
command: any well-formed answer means the way is open, whatever the server's own state.

API::

    read_link("eth0")                   -> LinkReading(interface, carrier, has_address, operstate)
    probe_server(fs_url, "wwan0", 1.5)  -> ProbeResult(interface, ok, error, elapsed_s)

``python -m drivers.uplinks link --interface eth0`` and ``… probe --url URL --interface wwan0`` print
the same as JSON, for a technician (and for tests that run them inside a network namespace).

Binding a socket to a device needs CAP_NET_RAW; the route change that fails over needs CAP_NET_ADMIN.
This module imports nothing from ``agent``: drivers are leaves.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "FAILOVER_METRIC",
    "LinkReading",
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


class UplinkError(RuntimeError):
    """An interface could not be read."""


@dataclass(frozen=True)
class LinkReading:
    interface: str
    exists: bool
    carrier: bool
    has_address: bool
    operstate: str | None


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


def _has_ipv4(interface: str) -> bool:
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr", "show", "dev", interface],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
        entries = json.loads(out or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False
    return any(info.get("local") for entry in entries for info in entry.get("addr_info", []))


def read_link(interface: str) -> LinkReading:
    base = SYS_NET / interface
    if not base.exists():
        return LinkReading(interface, False, False, False, None)
    carrier = _read(base / "carrier") == "1"
    return LinkReading(interface, True, carrier, _has_ipv4(interface), _read(base / "operstate"))


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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
