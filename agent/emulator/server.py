"""The emulator's HTTP face: the tax service's wire protocol on /fs, the control surface on /emulator.

A test double on the standard library's ThreadingHTTPServer (HTTP/1.1, keep-alive). Requests run in
their own threads, but everything that touches the state runs under one lock, one request at a time.
"""

# long module: the HTTP handler and the Emulator it fronts (start/stop, the fault modes, the clock) are one
# surface that tests drive together; the rules live in rules.py and its modules, not here.

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import signal
import socket
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent.emulator import packages
from agent.emulator.errors import QUERY, VALIDATION, FsError, TransportError
from agent.emulator.rules import ControlError, Registry, Reply, iso
from agent.emulator.store import Store
from agent.emulator.tsa import authority_from_file
from agent.secr.signing.base import Signer
from agent.secr.signing.dev import DevSigner
from agent.secr.signing.dstu.identity import dstu_signer_from_file

log = logging.getLogger("agent.emulator")

MAX_BODY = packages.MAX_REQUEST_BYTES  # the tax service's limit, on the uncompressed data
MAX_WIRE = 8 * 1024 * 1024  # what we read at all before refusing
FAULT_MODES = (
    "none",
    "down",
    "slow",
    "error500",
    "drop-reply",
    "reject-next",
    "garbage-200",
    "rollback-session",
)
# "rollback-session": the next /pck is registered and its reply lost, once; the box, asking
# TransactionsRegistrarState with that session's id and seed, gets the close rolled back
# (OfflineSessionRolledBack, agent/emulator/sessions.py) and sends the 103 again.
# What "garbage-200" answers: a maintenance page, as a proxy or a load balancer in front of the server
# gives with status 200. /doc and /pck are registered first (the worst case for the client: the document
# arrived although the reply says nothing of it); /cmd is not run at all.
GARBAGE_PAGE = (
    "<!DOCTYPE html><html><head><title>Технічні роботи</title></head>"
    "<body><h1>Service temporarily unavailable</h1></body></html>"
).encode()
FS_PATHS = ("/fs/cmd", "/fs/doc", "/fs/pck")


class _Server(ThreadingHTTPServer):
    # Non-daemon threads joined on close, and every open connection tracked, so stop() leaves nothing.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator, family: int) -> None:
        self.address_family = family
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _CloseWithoutReply(Exception):
    """The fault modes that end a request by dropping the connection."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fiscal-box-emulator/1"
    timeout = 120  # an idle keep-alive connection is closed after this
    # Headers and body leave in separate writes; with Nagle on, the client's delayed ACK adds ~40 ms to each.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # --- plumbing ------------------------------------------------------------------------------------

    @property
    def emu(self) -> Emulator:
        return self.server.emulator

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_WIRE:
                    raise TransportError(416, "Розмір повідомлення перевищує допустимий")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_WIRE:
            self.close_connection = True
            raise TransportError(416, "Розмір повідомлення перевищує допустимий (200 КБ)")
        return self.rfile.read(length) if length > 0 else b""

    def _decoded(self, body: bytes) -> bytes:
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("", "identity"):
            data = body
        elif encoding in ("gzip", "deflate", "x-gzip"):
            try:
                # The real server is lenient about gzip vs zlib (reference §1.2); so are we.
                inflater = zlib.decompressobj(wbits=47)
                data = inflater.decompress(body, MAX_BODY + 1)
            except zlib.error:
                try:
                    data = gzip.decompress(body)[: MAX_BODY + 1]
                except (OSError, EOFError) as exc:
                    raise TransportError(400, f"Не вдалося розпакувати тіло запиту: {exc}") from exc
        else:
            raise TransportError(415, f"Непідтримуване кодування {encoding}")
        if len(data) > MAX_BODY:
            raise TransportError(416, "Розмір повідомлення перевищує допустимий (200 КБ)")
        return data

    def _send(self, status: int, content_type: str, body: bytes, started: float) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.send_header("X-Emulator-Time-Ms", f"{elapsed_ms:.3f}")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_text(self, status: int, text: str, started: float) -> None:
        self._send(status, "text/plain; charset=utf-8", text.encode(), started)

    def _send_json(self, status: int, data: Any, started: float) -> None:
        self._send(
            status, "application/json; charset=utf-8", json.dumps(data, ensure_ascii=False).encode(), started
        )

    def _is_loopback(self) -> bool:
        host = str(self.client_address[0])
        return host == "::1" or host.startswith("127.") or host.startswith("::ffff:127.")

    # --- methods -------------------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.perf_counter()
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            body = self._read_body()
        except (TransportError, ValueError) as exc:
            self.close_connection = True
            status = exc.http_status if isinstance(exc, TransportError) else 400
            self._send_text(status, str(exc), started)
            return
        started = time.perf_counter()
        try:
            if path == "/fs" or path.startswith("/fs/"):
                self._fs(path, body, started)
            elif path.startswith("/emulator/"):
                self._control(path, body, started)
            elif path == "/tsa":
                self._tsa(body, started)
            else:
                self._send_text(403, "Невірна адреса запиту", started)
        except _CloseWithoutReply:
            self.close_connection = True
        except TransportError as exc:
            self._send_text(exc.http_status, exc.text, started)
        except Exception:  # a bug in the emulator must not kill the thread silently
            log.exception("emulator: unexpected error on %s %s", self.command, self.path)
            self._send_text(500, "Внутрішня помилка сервера", started)

    # --- /fs -----------------------------------------------------------------------------------------

    def _fs(self, path: str, body: bytes, started: float) -> None:
        if path not in FS_PATHS:
            raise TransportError(403, "Невірна адреса запиту")
        if self.command != "POST":
            self.send_response(405)
            self.send_header("Allow", "POST")
            self.send_header("Content-Length", "0")
            self.send_header("X-Emulator-Time-Ms", f"{(time.perf_counter() - started) * 1000:.3f}")
            self.end_headers()
            return
        fault = self.emu.take_fault(path)
        if fault == "down":
            raise _CloseWithoutReply
        if fault == "error500":
            self._send_text(500, "Внутрішня помилка сервера (емулятор: error500)", started)
            return
        if fault == "garbage-200" and path == "/fs/cmd":
            self._send(200, "text/html; charset=utf-8", GARBAGE_PAGE, started)
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if path == "/fs/cmd":
                reply = self._cmd(content_type, body)
            else:
                if content_type != "application/octet-stream":
                    raise TransportError(
                        415, "Непідтримуваний тип вмісту; очікується application/octet-stream"
                    )
                data = self._decoded(body)
                if fault == "reject-next":
                    raise FsError(VALIDATION, "Документ відхилено (емулятор: режим reject-next)")
                reply = self.emu.doc(data) if path == "/fs/doc" else self.emu.pck(data)
        except FsError as exc:
            reply = Reply(exc.http_status, "text/plain; charset=utf-8", exc.body())
        if fault in ("drop-reply", "rollback-session") and path != "/fs/cmd":
            raise _CloseWithoutReply
        if fault == "garbage-200":
            self._send(200, "text/html; charset=utf-8", GARBAGE_PAGE, started)
            return
        self._send(reply.status, reply.content_type, reply.body, started)

    def _cmd(self, content_type: str, body: bytes) -> Reply:
        if content_type == "application/json":
            data = self._decoded(body)
            skid = None
        elif content_type == "application/octet-stream":
            data = self._decoded(body)
            verified = self.emu.verify(data)
            data, skid = verified.content, verified.subject_key_id
        else:
            raise TransportError(
                415, "Непідтримуваний тип вмісту; очікується application/json або octet-stream"
            )
        try:
            payload = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FsError(QUERY, f"Тіло команди не є JSON: {exc}") from exc
        return self.emu.cmd(payload, skid)

    # --- /tsa ----------------------------------------------------------------------------------------

    def _tsa(self, body: bytes, started: float) -> None:
        if self.command != "POST":
            raise TransportError(405, "POST only")
        # The fault is looked at, not taken: a count set for /fs requests must not be used up by stamps.
        fault = self.emu.fault()
        if fault["mode"] == "down":
            raise _CloseWithoutReply
        if fault["mode"] == "error500":
            self._send_text(500, "Внутрішня помилка сервера (емулятор: error500)", started)
            return
        if fault["mode"] == "slow":
            self.emu._stopping.wait(float(fault["delay_s"] if fault.get("delay_s") is not None else 10))
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        # jkurwa sends the pre-RFC name application/tsp-request.
        if content_type not in ("application/timestamp-query", "application/tsp-request"):
            raise TransportError(415, "Непідтримуваний тип вмісту; очікується application/timestamp-query")
        authority = authority_from_file(self.emu.state_dir / "tsa-dstu.json")
        self._send(200, "application/timestamp-reply", authority.respond(body), started)

    # --- /emulator -----------------------------------------------------------------------------------

    def _control(self, path: str, body: bytes, started: float) -> None:
        if not self._is_loopback():
            self._send_json(403, {"error": "the control surface answers loopback clients only"}, started)
            return
        route = (self.command, path)
        emu = self.emu
        try:
            if route == ("GET", "/emulator/state"):
                self._send_json(200, emu.states(), started)
            elif route == ("GET", "/emulator/documents"):
                query = parse_qs(urlsplit(self.path).query)
                registrar = query["registrar"][0] if query.get("registrar") else None
                self._send_json(200, emu.documents(registrar), started)
            elif route == ("GET", "/emulator/fault"):
                self._send_json(200, emu.fault(), started)
            elif self.command == "POST" and path in (
                "/emulator/registrars",
                "/emulator/fault",
                "/emulator/clock",
                "/emulator/partial-package",
            ):
                try:
                    data = json.loads(body.decode("utf-8-sig") or "null")
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ControlError("body", f"not JSON: {exc}") from exc
                if path == "/emulator/registrars":
                    self._send_json(200, emu.upsert_registrar(data), started)
                elif path == "/emulator/fault":
                    self._send_json(200, emu.set_fault(data), started)
                elif path == "/emulator/partial-package":
                    self._send_json(200, emu.set_partial_package(data), started)
                else:
                    self._send_json(200, emu.set_clock(data), started)
            else:
                self._send_json(404, {"error": f"no such endpoint: {self.command} {path}"}, started)
        except ControlError as exc:
            self._send_json(400, {"error": exc.message, "field": exc.field}, started)


class Emulator:
    """The fiscal server emulator, in-process: ``with Emulator(tmp) as emu: httpx.post(emu.fs_url + "/cmd", …)``."""

    def __init__(
        self,
        state_dir: Path,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        strict: bool = False,
        lax_readings: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.listen = listen
        self.strict = strict
        self.lax_readings = lax_readings
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._registry: Registry | None = None

    # --- life ----------------------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._store = Store(self.state_dir)
        # Strict mode seals tickets as the real server does, with a qualified ДСТУ 4145 signature.
        signer: Signer = (
            dstu_signer_from_file(self.state_dir / "server-dstu.json", "Емулятор фіскального сервера ДПС")
            if self.strict
            else DevSigner.from_file(
                self.state_dir / "server-key.pem", common_name="Емулятор фіскального сервера ДПС"
            )
        )
        self._registry = Registry(self._store, signer, strict=self.strict, lax_readings=self.lax_readings)
        host, port = self.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._server = _Server((host, port), self, family)
        except OSError:
            self._store.close()
            self._store = None
            raise
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="fs-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.drop_connections()
        server.server_close()  # joins the request threads
        if thread is not None:
            thread.join()
        self._server = self._thread = None
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None
            self._registry = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        addr = self._server.server_address
        return str(addr[0]), int(addr[1])

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def fs_url(self) -> str:
        return self.url + "/fs"

    @property
    def tsa_url(self) -> str:
        return self.url + "/tsa"

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            raise RuntimeError("the emulator is not running")
        return self._registry

    # --- operations (each under the lock) ------------------------------------------------------------

    def verify(self, body: bytes) -> Any:
        with self._lock:
            return self.registry.verify(body)

    def doc(self, body: bytes) -> Reply:
        with self._lock:
            accepted = self.registry.register_online(body)
            return Reply(200, "application/octet-stream", self.registry.ticket(accepted))

    def pck(self, body: bytes) -> Reply:
        with self._lock:
            try:
                next_session = self.registry.register_package(body)
            except packages.ReplyLost as exc:
                raise _CloseWithoutReply from exc
        if next_session is None:
            return Reply(200, "text/plain; charset=utf-8", b"OK")
        return Reply.json({"OfflineSessionId": next_session[0], "OfflineSeed": next_session[1]})

    def cmd(self, payload: Any, signer_skid: str | None) -> Reply:
        with self._lock:
            return self.registry.command(payload, signer_skid)

    def states(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.registry.all_states()

    def documents(self, registrar: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return self.registry.documents_json(registrar)

    def upsert_registrar(self, data: Any) -> dict[str, Any]:
        with self._lock:
            return self.registry.upsert_registrar(data)

    def fault(self) -> dict[str, Any]:
        with self._lock:
            return dict(
                self.registry.store.get_meta("fault", {"mode": "none", "delay_s": None, "count": None})
            )

    def set_fault(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ControlError("body", "expected a JSON object")
        for key in data:
            if key not in ("mode", "delay_s", "count", "then"):
                raise ControlError(key, "unknown field (known: mode, delay_s, count, then)")
        mode = data.get("mode")
        if mode not in FAULT_MODES:
            raise ControlError("mode", f"one of {', '.join(FAULT_MODES)}")
        delay = data.get("delay_s", 10 if mode == "slow" else None)
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0):
            raise ControlError("delay_s", "a non-negative number of seconds")
        count = data.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ControlError("count", "null (until changed) or a positive integer")
        # What follows when count is used up: "drop-reply" then "down" is a lost reply followed by an outage.
        then = data.get("then", "none")
        if (
            then not in FAULT_MODES
            or then in ("slow", "reject-next", "rollback-session")
            or (then != "none" and count is None)
        ):
            raise ControlError("then", "none, down, error500 or drop-reply, and only with a count")
        fault = {"mode": mode, "delay_s": delay, "count": count}
        if then != "none":
            fault["then"] = then
        with self._lock, self.registry.store.transaction():
            self.registry.store.set_meta("fault", fault)
        return fault

    def set_partial_package(self, data: Any) -> dict[str, Any]:
        with self._lock:
            return packages.set_partial(self.registry.store, data)

    def set_clock(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or set(data) != {"offset_s"}:
            raise ControlError("offset_s", 'expected {"offset_s": N}')
        offset = data["offset_s"]
        if isinstance(offset, bool) or not isinstance(offset, int | float):
            raise ControlError("offset_s", "a number of seconds")
        with self._lock:
            with self.registry.store.transaction():
                self.registry.store.set_meta("clock_offset_s", offset)
            return {"offset_s": offset, "now": iso(self.registry.now())}

    def take_fault(self, path: str) -> str | None:
        """The fault that applies to this /fs request (consuming one of ``count``), or None."""
        with self._lock:
            store = self.registry.store
            fault = store.get_meta("fault")
            if not fault or fault["mode"] == "none":
                return None
            mode = str(fault["mode"])
            if mode == "drop-reply" and path == "/fs/cmd":
                return None  # clients reconcile through /cmd while replies to documents are lost
            delay = float(fault["delay_s"] if fault.get("delay_s") is not None else 10)
            if mode in ("reject-next", "rollback-session"):
                if path != ("/fs/doc" if mode == "reject-next" else "/fs/pck"):
                    return None
                fault = {"mode": "none", "delay_s": None, "count": None}
            elif fault["count"] is not None:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    fault = {"mode": fault.get("then", "none"), "delay_s": None, "count": None}
            with store.transaction():
                store.set_meta("fault", fault)
        if mode == "slow":
            # Outside the lock, and interruptible by stop(): other requests wait on the lock, not on us.
            self._stopping.wait(delay)
            return None
        return mode


def _parse_listen(listen: str) -> tuple[str, int]:
    text = listen.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen must be HOST:PORT, got {listen!r}")
    return host, int(port)


def main_serve(listen: str, state_dir: Path, strict: bool, lax_readings: bool = False) -> int:
    """Run in the foreground until SIGTERM/SIGINT; print the URL first so callers can find the port."""
    try:
        address = _parse_listen(listen)
    except ValueError as exc:
        print(f"fiscal-box emulator: {exc}", file=sys.stderr)
        return 2
    emulator = Emulator(Path(state_dir), listen=address, strict=strict, lax_readings=lax_readings)
    try:
        emulator.start()
    except OSError as exc:
        print(f"fiscal-box emulator: cannot listen on {listen}: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(f"listening on {emulator.url}", flush=True)
        print(f"fiscal server URL: {emulator.fs_url}  state: {state_dir}  strict: {strict}", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
