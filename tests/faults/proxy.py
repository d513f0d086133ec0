"""A real HTTP server between the box and the emulator that makes the replies a real network meets.

It forwards every ``/fs`` request to the emulator as it came and hands the emulator's reply back, unless
a fault is set. The faults are the ones the emulator's own modes do not make (``down``, ``slow``,
``drop-reply`` stay the emulator's):

* ``hold-reply`` — forward, then keep the reply until :meth:`FaultProxy.release` (the server has the
  document, the box waits: the test SIGKILLs the box while its request is *sent*);
* ``html-200`` — answer a maintenance page with status 200 without forwarding (a captive portal);
* ``html-200-after`` — forward (the server registers it), then answer the maintenance page instead;
* ``wrong-json`` — answer ``/cmd`` with JSON of the wrong shape (a list, and a number where text goes);
* ``partial-package`` — forward only the first ``keep`` documents of the next package (re-signed with
  the box's own key, as the emulator checks the sender), then answer 500: the server registered part of
  a package and failed on the rest (reference §4.6 step 3: the client resumes from
  ``OfflineNextLocalNum``);
* ``lose-then-down`` — forward the first request (the server registers it), drop its reply, and from then
  on close every connection without forwarding, until cleared: a reply lost, then an outage;
* ``session-on-ok`` — forward a package; where the emulator answers ``OK`` (no 103 in it), answer a next
  session's id and seed instead (reference §4.8: only the reply to the package with the 103 carries them).

A fault applies to the paths given (all of ``/fs`` by default) for ``count`` requests, then lapses;
``skip`` requests on those paths go through untouched first.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from agent.emulator.offline import split_package
from agent.secr.server import frame_package
from agent.secr.signing import DevSigner
from agent.secr.signing.verify import verify_signed

MAINTENANCE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Technical works</title></head>"
    b"<body><h1>The service is temporarily unavailable</h1></body></html>"
)
WRONG_SHAPES: tuple[bytes, ...] = (
    b"[1, 2, 3]",
    json.dumps({"NextLocalNum": "not a number", "ShiftState": [], "OfflineSessionId": {"x": 1}}).encode(),
)
MODES = (
    "none",
    "hold-reply",
    "html-200",
    "html-200-after",
    "wrong-json",
    "partial-package",
    "lose-then-down",
    "session-on-ok",
)


@dataclass
class Fault:
    mode: str = "none"
    paths: tuple[str, ...] = ("/fs/cmd", "/fs/doc", "/fs/pck")
    count: int | None = None
    keep: int = 1  # partial-package: how many documents of the package reach the server
    key: Path | None = None  # partial-package: the box's dev key, to sign the part it forwards
    skip: int = 0  # requests on the paths let through untouched before the fault applies


@dataclass
class Seen:
    """What went through the proxy, for the tests' conditions."""

    requests: list[str] = field(default_factory=list)
    faulted: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # A relay answers in two writes (headers, body): without TCP_NODELAY the second waits for the
        # box's delayed ACK (Nagle), 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        proxy = self.server.proxy
        fault = proxy.take(path)
        try:
            status, content_type, reply = proxy.answer(fault, path, body, dict(self.headers))
        except _Hang:
            self.close_connection = True
            return
        except httpx.TransportError:
            # The emulator closed on us (its "down" and "drop-reply"): so does the proxy.
            self.close_connection = True
            return
        with contextlib.suppress(OSError):  # the box may be dead by now (SIGKILLed while waiting)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)


class _Hang(Exception):
    """Close the connection without answering (the link is down, or a held reply is given up)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)


class FaultProxy:
    """``with FaultProxy(emulator.fs_url) as proxy: Box(..., proxy.fs_url)``; ``proxy.set(Fault(...))``."""

    def __init__(self, upstream_fs_url: str) -> None:
        self.upstream = upstream_fs_url.rstrip("/")
        nodelay = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(timeout=60, trust_env=False, transport=nodelay)
        self._lock = threading.Condition()
        self._fault = Fault()
        self._held = 0
        self._released = 0
        self._stopping = False
        self.seen = Seen()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="fault-proxy")

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._http.close()

    @property
    def fs_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/fs"

    # --- faults ------------------------------------------------------------------------------------

    def set(self, fault: Fault) -> None:
        if fault.mode not in (*MODES, "down"):
            raise ValueError(f"mode must be one of {MODES}")
        with self._lock:
            self._fault = fault

    def clear(self) -> None:
        self.set(Fault())

    @property
    def holding(self) -> int:
        """How many replies are held now."""
        with self._lock:
            return self._held - self._released

    def release(self) -> None:
        """Let every held reply go (to a box that may be dead by now)."""
        with self._lock:
            self._released = self._held
            self._lock.notify_all()

    def take(self, path: str) -> Fault | None:
        with self._lock:
            self.seen.requests.append(path)
            fault = self._fault
            if fault.mode == "none" or path not in fault.paths:
                return None
            if fault.skip > 0:
                fault.skip -= 1
                return None
            if fault.mode == "lose-then-down":
                # The first request goes through and loses its reply; then the link is down for all.
                self._fault = Fault("down", ("/fs/cmd", "/fs/doc", "/fs/pck"))
            elif fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._fault = Fault()
            self.seen.faulted.append(f"{fault.mode} {path}")
            return Fault(fault.mode, fault.paths, None, fault.keep, fault.key)

    # --- answers -----------------------------------------------------------------------------------

    def forward(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        keep = {k: v for k, v in headers.items() if k.lower() in ("content-type", "content-encoding")}
        response = self._http.post(self.upstream + path.removeprefix("/fs"), content=body, headers=keep)
        return response.status_code, response.headers.get("Content-Type", ""), response.content

    def answer(
        self, fault: Fault | None, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        mode = fault.mode if fault else "none"
        if mode == "down":
            raise _Hang
        if mode == "html-200":
            return 200, "text/html; charset=utf-8", MAINTENANCE_PAGE
        if mode == "wrong-json" and path == "/fs/cmd":
            index = len(self.seen.faulted) % len(WRONG_SHAPES)
            return 200, "application/json; charset=utf-8", WRONG_SHAPES[index]
        if mode == "partial-package" and path == "/fs/pck":
            assert fault is not None
            return self._partial_package(fault, body, headers)
        status, content_type, reply = self.forward(path, body, headers)
        if mode == "lose-then-down":
            raise _Hang
        if mode == "html-200-after":
            return 200, "text/html; charset=utf-8", MAINTENANCE_PAGE
        if mode == "session-on-ok" and path == "/fs/pck" and status == 200 and reply.strip() == b"OK":
            forged = {"OfflineSessionId": 987654321, "OfflineSeed": "1234567890123456"}
            return 200, "application/json; charset=utf-8", json.dumps(forged).encode()
        if mode == "hold-reply":
            self._hold()
        return status, content_type, reply

    def _hold(self) -> None:
        with self._lock:
            self._held += 1
            mine = self._held
            self._lock.wait_for(lambda: self._released >= mine or self._stopping)
            if self._stopping and self._released < mine:
                raise _Hang

    def _partial_package(self, fault: Fault, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        assert fault.key is not None, "partial-package needs the box's key"
        documents = split_package(verify_signed(body).content)
        part = frame_package(documents[: fault.keep])
        signer = DevSigner.from_file(fault.key, common_name="Тест Касир")
        status, _, reply = self.forward("/fs/pck", signer.sign(part), headers)
        assert status == 200, reply
        return 500, "text/plain; charset=utf-8", "Внутрішня помилка сервера (проксі)".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


__all__ = ["MODES", "Fault", "FaultProxy", "free_port"]
