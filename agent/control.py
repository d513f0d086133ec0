"""The local control channel to the running agent (contract §1): state_dir/control.sock.

Who owns the state directory (agent.lock) and how the CLI and the agent share it: agent/ownership.py.

``state_dir/control.sock``, a Unix stream socket of mode 0600 (chmod before listen(): nobody can
connect until the mode is right), served by the agent on its own thread. The agent removes a socket
file left by a killed agent before it binds: it holds the lock, so no live agent can own that file.

One request per connection: a JSON object on one line (ended by ``\\n`` or by the client shutting
down its writing side), at most ``MAX_REQUEST_BYTES``, arriving within ``READ_TIMEOUT_S``::

    {"command": "status" | "go_online" | "slip", "args": {}}

One answer, one JSON line, then the agent closes the connection::

    {"ok": true, "result": {...}}
    {"ok": false, "error": "why", "what_to_do": "what next", "kind": "retry_later|needs_person|bad_input"}

``kind`` follows the box's error tree (agent/secr/errors.py); a malformed, oversized, slow or unknown
request is ``bad_input`` and never harms the agent. Results:

* ``status``: the contract §5 status dict (what ``fiscal-box status --json`` prints).
* ``go_online``: ``{"reachable", "went_online", "packages_sent", "documents_delivered", "mode",
  "error", "revoked_online_fiscal_num", "pending_documents"}``, from ``register.go_online()`` run on the
  agent's own register (one register per journal is what keeps numbering continuous).
* ``slip``: ``{"printed": true}``; a disabled or failing printer is an error answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from agent.receipts import Layout
from agent.secr.errors import BadInput, FiscalBoxError, NeedsPerson, RetryLater
from agent.secr.register import CashRegister
from drivers.printer import PrinterError

log = logging.getLogger(__name__)

SOCKET_FILE = "control.sock"
MAX_REQUEST_BYTES = 64 * 1024
MAX_ANSWER_BYTES = 4 * 1024 * 1024
READ_TIMEOUT_S = 5.0
# Enough for a technician and a script at once; more only means something is looping on the socket.
MAX_CONNECTIONS = 8
CONNECT_TIMEOUT_S = 5.0
# sun_path holds 108 bytes; a deeper state_dir is reached through its directory descriptor instead.
_SUN_PATH_ROOM = 100
_POLL_S = 0.05

Handler = Callable[[dict[str, Any]], dict[str, Any]]


# --- socket paths of any length ------------------------------------------------------------------


@contextlib.contextmanager
def _socket_path(path: Path) -> Iterator[str]:
    """A name for `path` that fits sun_path: itself, or /proc/self/fd/N/name through its directory."""
    if len(os.fsencode(path)) < _SUN_PATH_ROOM:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _answer_error(error: str, what_to_do: str, kind: str) -> dict[str, Any]:
    return {"ok": False, "error": error, "what_to_do": what_to_do, "kind": kind}


def error_answer(exc: FiscalBoxError) -> dict[str, Any]:
    if isinstance(exc, RetryLater):
        kind = "retry_later"
    elif isinstance(exc, BadInput):
        kind = "bad_input"
    else:
        kind = "needs_person"
    return _answer_error(exc.message, exc.what_to_do or "", kind)


class _BadRequest(Exception):
    pass


def _peer(conn: socket.socket) -> str:
    """Who is asking, from the kernel (SO_PEERCRED), for the log."""
    try:
        pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return "an unknown process"
    return f"PID {pid} (uid {uid})"


# --- the agent's side ------------------------------------------------------------------------------


class ControlServer:
    """Serves state_dir/control.sock on a thread; each connection gets a thread of its own, so a slow
    go-online does not hold up a status, and a stuck client only ever holds its own connection."""

    def __init__(
        self,
        state_dir: Path,
        handlers: Mapping[str, Handler],
        *,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        read_timeout_s: float = READ_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.path = state_dir / SOCKET_FILE
        self._handlers = dict(handlers)
        self._max_request = max_request_bytes
        self._read_timeout = read_timeout_s
        self._max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._connections: set[threading.Thread] = set()
        self._guard = threading.Lock()

    def start(self) -> ControlServer:
        """Call only while holding the state_dir's lock: that is what makes an existing file stale."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _socket_path(self.path) as name:
                listener.bind(name)
            # bind() made the file with the umask's mode; connecting needs listen(), so no one gets in
            # before the mode is 0600.
            os.chmod(self.path, 0o600)
            listener.listen(16)
        except OSError as exc:
            listener.close()
            raise NeedsPerson(
                f"the control socket {self.path} cannot be served: {exc.strerror or exc}",
                what_to_do="check that [box] state_dir is a local directory the agent can write",
            ) from exc
        listener.setblocking(False)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name="control", daemon=True)
        self._thread.start()
        log.info("control socket at %s", self.path)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking requests; wait (bounded) for those in hand so the register is not closed under
        them; remove the socket file."""
        if self._listener is None:
            return
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._listener.close()
        self._listener = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        deadline = time.monotonic() + timeout_s
        with self._guard:
            pending = list(self._connections)
        for thread in pending:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._wake_r.close()
        self._wake_w.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_r in ready:
                    return
                try:
                    conn, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:  # EMFILE and friends: say so, keep serving
                    log.warning("control socket: accept failed: %s", exc)
                    time.sleep(_POLL_S)
                    continue
                self._hand_off(conn)

    def _hand_off(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        if not self._slots.acquire(blocking=False):
            self._answer_and_close(
                conn,
                _answer_error(
                    f"the agent is already serving {self._max_connections} control requests",
                    "try again in a moment",
                    "retry_later",
                ),
            )
            return
        thread = threading.Thread(target=self._serve, args=(conn,), name="control-request", daemon=True)
        with self._guard:
            self._connections.add(thread)
        thread.start()

    def _serve(self, conn: socket.socket) -> None:
        released = threading.Event()

        def release() -> None:
            # The slot bounds the requests being worked on: a client holding its answer may ask again at
            # once, so the slot goes back as the answer leaves, not after the connection's teardown.
            if not released.is_set():
                released.set()
                self._slots.release()

        try:
            try:
                answer = self._dispatch(self._read_request(conn), _peer(conn))
            except _BadRequest as exc:
                answer = _answer_error(
                    str(exc),
                    f'send one JSON object on one line: {{"command": one of {sorted(self._handlers)}, "args": {{}}}}',
                    "bad_input",
                )
            self._answer_and_close(conn, answer, sent=release)
        except Exception:  # a request must never take the agent (or this server) down
            log.exception("control socket: request failed")
            conn.close()
        finally:
            release()
            with self._guard:
                self._connections.discard(threading.current_thread())

    def _read_request(self, conn: socket.socket) -> dict[str, Any]:
        deadline = time.monotonic() + self._read_timeout
        data = bytearray()
        while b"\n" not in data and len(data) <= self._max_request:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _BadRequest(f"no complete request within {self._read_timeout:.0f} s")
            conn.settimeout(remaining)
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                raise _BadRequest(f"no complete request within {self._read_timeout:.0f} s") from None
            if not chunk:
                break
            data += chunk
        line = bytes(data).split(b"\n", 1)[0]
        if len(line) > self._max_request:
            raise _BadRequest(f"the request is larger than {self._max_request} bytes")
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _BadRequest(f"the request is not JSON: {exc}") from None
        if not isinstance(request, dict):
            raise _BadRequest("the request is not a JSON object")
        return request

    def _dispatch(self, request: dict[str, Any], peer: str) -> dict[str, Any]:
        command = request.get("command")
        args = request.get("args", {})
        if not isinstance(command, str) or command not in self._handlers:
            raise _BadRequest(f"unknown command {command!r}")
        if not isinstance(args, dict):
            raise _BadRequest("args must be a JSON object")
        # go-online and the slip are a person's actions on the box: worth a line in its log
        log.log(logging.DEBUG if command == "status" else logging.INFO, "control: %s from %s", command, peer)
        try:
            result = self._handlers[command](args)
            json.dumps(result)  # a result that cannot be sent is the agent's error, answered as one
        except FiscalBoxError as exc:
            return error_answer(exc)
        except Exception as exc:
            log.exception("control socket: %s failed", command)
            return _answer_error(
                f"the agent failed on {command}: {type(exc).__name__}: {exc}",
                "see the agent's log (journalctl -u fiscal-box)",
                "needs_person",
            )
        return {"ok": True, "result": result}

    def _answer_and_close(
        self, conn: socket.socket, answer: dict[str, Any], *, sent: Callable[[], None] | None = None
    ) -> None:
        with conn:
            conn.settimeout(self._read_timeout)
            payload = json.dumps(answer, ensure_ascii=False).encode("utf-8") + b"\n"
            if sent is not None:
                sent()  # before the client can hold the answer
            try:
                conn.sendall(payload)
                conn.shutdown(socket.SHUT_WR)
                # Read what the client may still be sending (an oversized request) so that closing
                # does not reset the connection before it has read the answer.
                drained, deadline = 0, time.monotonic() + 1.0
                while drained < MAX_REQUEST_BYTES * 16 and time.monotonic() < deadline:
                    conn.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    drained += len(chunk)
            except OSError:
                pass  # the client went away: nobody is left to tell


# --- what the commands do inside the agent -------------------------------------------------------


class SlipPrinter(Protocol):
    """What a slip needs of agent.printing.PrintService."""

    @property
    def width(self) -> int: ...

    def print_now(self, layout: Layout) -> None: ...


def go_online_answer(register: CashRegister) -> dict[str, Any]:
    """register.go_online() and what the CLI reports of it; the same on the agent's register and on
    one the CLI built itself while no agent runs."""
    report = register.go_online()
    return {
        "reachable": report.reachable,
        "went_online": report.went_online,
        "packages_sent": report.packages_sent,
        "documents_delivered": report.documents_delivered,
        "mode": report.mode.value,
        "error": report.error,
        "revoked_online_fiscal_num": report.revoked_online_fiscal_num,
        "pending_documents": register.status().pending_documents,
    }


def slip_answer(printing: SlipPrinter | None, layout_for: Callable[[int], Layout]) -> dict[str, Any]:
    """Print the status slip now; `layout_for(width)` lays it out for the printer's width."""
    if printing is None:
        raise NeedsPerson(
            "the printer is disabled in the config ([printer] enabled = false)",
            what_to_do="enable and configure [printer] to print the slip",
        )
    try:
        printing.print_now(layout_for(printing.width))
    except PrinterError as exc:
        raise NeedsPerson(
            f"the printer failed: {exc}",
            what_to_do="check the printer's power, cable, paper and cover, then run fiscal-box slip again",
        ) from exc
    return {"printed": True}


# --- the CLI's side ----------------------------------------------------------------------------------


class AgentNotRunning(Exception):
    """Nothing listens on control.sock (no file, or a file a dead agent left)."""


def request(
    state_dir: Path, command: str, args: Mapping[str, Any] | None = None, *, timeout_s: float
) -> dict[str, Any]:
    """One request to the running agent: its result, or the agent's error re-raised as the same kind
    (RetryLater / NeedsPerson / BadInput). AgentNotRunning when no agent listens."""
    path = state_dir / SOCKET_FILE
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            with _socket_path(path) as name:
                sock.connect(name)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
            raise AgentNotRunning(str(exc)) from exc
        except PermissionError as exc:
            raise NeedsPerson(
                f"cannot talk to the agent on {path}: permission denied",
                what_to_do="run the command as the user the agent runs as (root: sudo fiscal-box ...)",
            ) from exc
        except TimeoutError as exc:
            raise RetryLater(
                f"the agent does not take connections on {path}", what_to_do="try again in a moment"
            ) from exc
        payload = json.dumps({"command": command, "args": dict(args or {})}).encode("utf-8") + b"\n"
        line = _exchange(sock, payload, timeout_s, command)
    return _result_of(line, command)


def _exchange(sock: socket.socket, payload: bytes, timeout_s: float, command: str) -> bytes:
    lost = RetryLater(
        f"the agent took the {command} request but gave no answer within {timeout_s:.0f} s",
        what_to_do="it may still be working on it: see fiscal-box status and the agent's log"
        " (journalctl -u fiscal-box)",
    )
    deadline = time.monotonic() + timeout_s
    data = bytearray()
    try:
        sock.settimeout(timeout_s)
        sock.sendall(payload)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        while b"\n" not in data and len(data) <= MAX_ANSWER_BYTES:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError as exc:
        raise lost from exc
    except OSError as exc:
        raise RetryLater(
            f"the connection to the agent broke during {command}: {exc}", what_to_do=lost.what_to_do
        ) from exc
    if b"\n" not in data:
        raise RetryLater(f"the agent closed the connection during {command}", what_to_do=lost.what_to_do)
    return bytes(data).split(b"\n", 1)[0]


def _result_of(line: bytes, command: str) -> dict[str, Any]:
    try:
        answer = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NeedsPerson(
            f"the agent's answer to {command} is not JSON: {exc}",
            what_to_do="the CLI and the agent may be different versions: restart the agent",
        ) from exc
    if not isinstance(answer, dict):
        raise NeedsPerson(f"the agent's answer to {command} is not a JSON object", what_to_do="restart the agent")
    if answer.get("ok") is True and isinstance(answer.get("result"), dict):
        return dict(answer["result"])
    error = str(answer.get("error") or f"the agent refused {command}")
    what_to_do = str(answer.get("what_to_do") or "") or None
    kind = answer.get("kind")
    if kind == "retry_later":
        raise RetryLater(error, what_to_do=what_to_do)
    if kind == "bad_input":
        raise BadInput(error, what_to_do=what_to_do)
    raise NeedsPerson(error, what_to_do=what_to_do)
