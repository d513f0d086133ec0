"""The uplinks' monitor as the agent runs it -- the real drivers, the system clock, its own thread -- in a
process of its own, for the tests and bench/failover.py to start inside the box's network namespace
(tests/netns.py), optionally with a stand-in for the register's own requests beside it.

    python -m tests.monitor_child --url URL [--probe-interval S] [--hold-down S]
                                  [--requests] [--request-every S] [--request-timeout S] [--ask-on-failure]

It says on stdout, one JSON object a line, every time read with ``time.monotonic()`` -- CLOCK_MONOTONIC,
one clock for every network namespace, so the parent can set them against its own:

- ``{"kind": "ready", "netlink": bool}`` once the monitor runs (``UplinkMonitor.hears_links``);
- ``{"kind": "decision", "at", "active", "route", "cause", "offline", "probe_soon", "failover"}`` after
  every round (``failover``: ``{"from", "to", "cause"}`` when the round moved the route, else None);
- with ``--requests``, ``{"kind": "request", "start", "end", "ok", "via"}`` for each request of the
  register's stand-in (``Requests``): a ``ServerState`` made as the register makes its own, through
  whatever route the kernel picks (not bound to a device); ``via`` is the connection's source address,
  which uplink carried it. With ``--ask-on-failure`` its first failed request asks
  ``UplinkMonitor.way_out(start)``, as the register does before it goes offline (which counts the
  failure against the route's link and wakes the loop).

It reads stdin: a line ``wake`` calls ``wake()``; the end of input (the parent gone) stops it.

``MonitorProcess(popen, args)`` is the parent's side: it starts the child (``popen``: e.g. a
``Network.popen`` bound to the box's namespace), keeps its lines and waits for one (``first``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from agent.clock import SystemClock
from agent.config import UplinksConfig
from agent.uplinks.monitor import UplinkMonitor
from agent.uplinks.policy import Decision
from tests.waiting import wait_for

_say_lock = threading.Lock()


def say(**fields: Any) -> None:
    line = json.dumps(fields)
    with _say_lock:  # the monitor's thread and the requests' threads all say things
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def said_decision(decision: Decision) -> None:
    say(
        kind="decision",
        at=time.monotonic(),
        active=decision.active,
        route=decision.route,
        cause=decision.cause,
        offline=decision.offline,
        probe_soon=list(decision.probe_soon),
        failover=decision.failover.detail() if decision.failover is not None else None,
    )


def route_source(host: str, port: int) -> str | None:
    """The source address the kernel would give a connection to ``host`` now: which uplink it would
    leave by. A UDP connect only looks the route up; it sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((host, port))
        except OSError:
            return None
        return str(sock.getsockname()[0])


class Requests:
    """The register's stand-in. While its requests get through it starts one every ``every_s``, each on
    its own thread. Once one fails it stops -- a register that fails does not hammer a dead line, and
    a router's ICMP "unreachable" is rationed per sender (5, then one a second), so hammering would
    starve the monitor's probes of it -- and, as the register does, asks the monitor for a way out; then it tries
    again when the kernel's route for the server changes (looked up every 5 ms: no packet) and at
    least every ``retry_s``, until one gets through."""

    def __init__(
        self, fs_url: str, every_s: float, timeout_s: float, on_failure: Callable[[float], object], retry_s: float = 1.0
    ) -> None:
        url = urlsplit(fs_url.rstrip("/") + "/cmd")
        self.host, self.port, self.path = url.hostname or "", url.port or 80, url.path
        self.every_s, self.timeout_s, self.retry_s = every_s, timeout_s, retry_s
        self._on_failure = on_failure
        self._failed = threading.Event()  # a request failed since the last one got through
        self._through = threading.Event()  # a request got through since the last failure
        self._through_since = 0.0  # monotonic: when the latest request that got through began
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _one(self) -> None:
        start = time.monotonic()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        via: str | None = None
        ok = False
        try:
            connection.connect()
            assert connection.sock is not None
            via = str(connection.sock.getsockname()[0])
            connection.request(
                "POST", self.path, b'{"Command":"ServerState"}', {"Content-Type": "application/json"}
            )
            ok = connection.getresponse().read().startswith(b"{")
        except (OSError, http.client.HTTPException):
            ok = False
        finally:
            connection.close()
        say(kind="request", start=start, end=time.monotonic(), ok=ok, via=via)
        with self._lock:
            if ok:
                self._through_since = max(self._through_since, start)
                self._through.set()
                return
            # One begun before the latest that got through says nothing new of the way out.
            first_failure = start > self._through_since and not self._failed.is_set()
            if first_failure:
                self._through.clear()
                self._failed.set()
        if first_failure and self._on_failure(start):
            self._start_one()  # as the register does when way_out says the route moved: once more, at once

    def _start_one(self) -> None:
        threading.Thread(target=self._one, name="request", daemon=True).start()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            if self._failed.is_set():
                self._until_through()
                next_at = time.monotonic()
                continue
            self._start_one()
            next_at += self.every_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _until_through(self) -> None:
        source = route_source(self.host, self.port)
        retry_at = time.monotonic() + self.retry_s
        while not self._stop.is_set() and not self._through.is_set():
            now_source = route_source(self.host, self.port)
            if now_source != source or time.monotonic() >= retry_at:
                source = now_source
                retry_at = time.monotonic() + self.retry_s
                self._start_one()  # on its own thread: a retry into a silent line must not hold the next
            self._stop.wait(0.005)
        self._failed.clear()

    def stop(self) -> None:
        self._stop.set()


Line = dict[str, Any]


class MonitorProcess:
    """The child, from its parent: its lines as they come, and waiting for one of them."""

    def __init__(self, popen: Callable[..., subprocess.Popen[str]], args: list[str]) -> None:
        self.process = popen(
            [sys.executable, "-m", "tests.monitor_child", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.lines: list[Line] = []
        self.ended = False
        threading.Thread(target=self._read, name="monitor-child", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(json.loads(line))
        self.ended = True

    def mark(self) -> int:
        """Where the lines are now, for ``first(..., since=)``."""
        return len(self.lines)

    def first(
        self, test: Callable[[Line], bool], *, since: int = 0, timeout: float = 60, what: str = "a line"
    ) -> tuple[int, Line]:
        """The first line from ``since`` on that passes ``test``, and its index; waits for it."""

        def found() -> tuple[int, Line] | None:
            ended = self.ended  # read before the lines: a line that came before the end is seen
            for index in range(since, len(self.lines)):
                if test(self.lines[index]):
                    return index, self.lines[index]
            if ended:
                raise AssertionError(f"the monitor's process ended, waiting for {what}")
            return None

        return wait_for(found, timeout=timeout, what=what)

    def wake(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("wake\n")
        self.process.stdin.flush()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # the end of its input: it closes the monitor and ends
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.monitor_child")
    parser.add_argument("--url", required=True)
    parser.add_argument("--primary", default="eth0")
    parser.add_argument("--backup", default="wwan0")
    parser.add_argument("--probe-interval", type=float, default=30.0)
    parser.add_argument("--hold-down", type=float, default=30.0)
    parser.add_argument("--requests", action="store_true")
    parser.add_argument("--request-every", type=float, default=0.05)
    parser.add_argument("--request-timeout", type=float, default=1.0)
    parser.add_argument("--ask-on-failure", action="store_true")
    args = parser.parse_args(argv)
    config = UplinksConfig(
        primary=args.primary, backup=args.backup, probe_interval_s=args.probe_interval, hold_down_s=args.hold_down
    )
    monitor = UplinkMonitor(config, args.url, clock=SystemClock(), on_decision=said_decision)
    monitor.start()
    say(kind="ready", netlink=monitor.hears_links)
    requests: Requests | None = None
    if args.requests:
        requests = Requests(
            args.url,
            args.request_every,
            args.request_timeout,
            monitor.way_out if args.ask_on_failure else lambda _since: False,
        )
        threading.Thread(target=requests.run, name="requests", daemon=True).start()
    try:
        for line in sys.stdin:
            if line.strip() == "wake":
                monitor.wake()
    finally:
        if requests is not None:
            requests.stop()
        monitor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
