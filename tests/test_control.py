"""agent/control.py and agent/ownership.py on their own: the control socket and the lock on
state_dir, with real files, real sockets and real processes, but without an agent behind them."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import control, ownership
from agent.secr.errors import BadInput, NeedsPerson, RetryLater
from tests.waiting import wait_for


def raw_exchange(path: Path, payload: bytes, *, shut: bool = True, timeout: float = 30) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        with control._socket_path(path) as name:
            sock.connect(name)
        sock.sendall(payload)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    answer: dict[str, Any] = json.loads(data)
    return answer


@pytest.fixture()
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


def boom(_: dict[str, Any]) -> dict[str, Any]:
    raise ZeroDivisionError("division by zero")


def refuse(_: dict[str, Any]) -> dict[str, Any]:
    raise RetryLater("the server is away", what_to_do="wait")


@pytest.fixture()
def server(state_dir: Path) -> Iterator[control.ControlServer]:
    release = threading.Event()
    entered = threading.Event()

    def slow(_: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        release.wait(30)
        return {"slow": True}

    handlers: dict[str, control.Handler] = {
        "echo": lambda args: {"args": args},
        "boom": boom,
        "refuse": refuse,
        "slow": slow,
        "bad_result": lambda _: {"when": object()},
    }
    srv = control.ControlServer(
        state_dir, handlers, max_request_bytes=1024, read_timeout_s=2.0, max_connections=2
    ).start()
    srv.release = release  # type: ignore[attr-defined]
    srv.entered = entered  # type: ignore[attr-defined]
    yield srv
    release.set()
    srv.stop()


def test_the_socket_is_0600_and_answers_one_request(state_dir: Path, server: control.ControlServer) -> None:
    mode = (state_dir / "control.sock").stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert control.request(state_dir, "echo", {"n": 1}, timeout_s=10) == {"args": {"n": 1}}
    assert raw_exchange(state_dir / "control.sock", b'{"command": "echo"}\n', shut=False) == {
        "ok": True,
        "result": {"args": {}},
    }


def test_bad_requests_get_clear_answers_and_the_server_goes_on(
    state_dir: Path, server: control.ControlServer
) -> None:
    path = state_dir / "control.sock"
    garbage = raw_exchange(path, b"\x00\xffnot json at all\n")
    assert garbage["ok"] is False and garbage["kind"] == "bad_input"
    assert "not JSON" in garbage["error"] and "command" in garbage["what_to_do"]
    assert raw_exchange(path, b"[1, 2]\n")["error"] == "the request is not a JSON object"
    unknown = raw_exchange(path, b'{"command": "format_disk"}\n')
    assert unknown["kind"] == "bad_input" and "unknown command 'format_disk'" in unknown["error"]
    assert "args must be" in raw_exchange(path, b'{"command": "echo", "args": [1]}\n')["error"]
    huge = raw_exchange(path, b'{"command": "echo", "args": {"x": "' + b"y" * 5000 + b'"}}\n')
    assert huge["kind"] == "bad_input" and "larger than 1024 bytes" in huge["error"]
    # a client that connects and says nothing is cut off at the read timeout
    silent = raw_exchange(path, b"", shut=False)
    assert silent["kind"] == "bad_input" and "no complete request within" in silent["error"]
    # a handler's own failure is an answer, not a dead server
    crashed = raw_exchange(path, b'{"command": "boom"}\n')
    assert crashed["kind"] == "needs_person" and "ZeroDivisionError" in crashed["error"]
    assert "not JSON serializable" in raw_exchange(path, b'{"command": "bad_result"}\n')["error"]
    assert control.request(state_dir, "echo", timeout_s=10) == {"args": {}}


def test_errors_come_back_as_the_same_kind(state_dir: Path, server: control.ControlServer) -> None:
    with pytest.raises(RetryLater) as later:
        control.request(state_dir, "refuse", timeout_s=10)
    assert later.value.message == "the server is away" and later.value.what_to_do == "wait"
    with pytest.raises(BadInput):
        control.request(state_dir, "nope", timeout_s=10)
    with pytest.raises(NeedsPerson):
        control.request(state_dir, "boom", timeout_s=10)


def test_a_slow_request_does_not_hold_up_the_next_and_connections_are_bounded(
    state_dir: Path, server: control.ControlServer
) -> None:
    results: list[dict[str, Any]] = []
    slow = threading.Thread(target=lambda: results.append(control.request(state_dir, "slow", timeout_s=30)))
    slow.start()
    # The slow request holds its slot before the stuck client takes the other: connected first, it could
    # find both slots held (the stuck client and a probe) and be told to retry instead.
    wait_for(server.entered.is_set, what="the slow request to be served")  # type: ignore[attr-defined]
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with control._socket_path(state_dir / "control.sock") as name:
            stuck.connect(name)
        stuck.sendall(b'{"command": "slow"')  # never finished: times out on its own, holding one slot
        # both slots taken now (the slow handler and the stuck client): the next is told to retry
        busy: list[dict[str, Any]] = []

        def is_busy() -> bool:
            answer = raw_exchange(state_dir / "control.sock", b'{"command": "echo"}\n')
            busy.append(answer)
            return answer["ok"] is False

        wait_for(is_busy, what="the server to say it is busy")
        assert busy[-1]["kind"] == "retry_later" and "already serving 2" in busy[-1]["error"]
        # once the stuck client's read timeout frees its slot, a status gets through beside the slow one
        wait_for(
            lambda: raw_exchange(state_dir / "control.sock", b'{"command": "echo"}\n')["ok"], what="a slot"
        )
        assert slow.is_alive()
    finally:
        stuck.close()
        server.release.set()  # type: ignore[attr-defined]
        slow.join(30)
    assert results == [{"slow": True}]


def test_no_agent_is_told_apart_from_a_stale_socket_and_a_long_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    with pytest.raises(control.AgentNotRunning):
        control.request(deep, "echo", timeout_s=5)  # no file at all
    # a file left by a killed agent: nobody listens
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead,
        control._socket_path(deep / "control.sock") as name,
    ):
        dead.bind(name)
    assert (deep / "control.sock").exists()
    with pytest.raises(control.AgentNotRunning):
        control.request(deep, "echo", timeout_s=5)
    # the next owner removes it and serves on the same (too long for sun_path) path
    srv = control.ControlServer(deep, {"echo": lambda args: {"ok": 1}}).start()
    try:
        assert len(str(deep / "control.sock")) > 108
        assert control.request(deep, "echo", timeout_s=10) == {"ok": 1}
    finally:
        srv.stop()
    assert not (deep / "control.sock").exists()


def test_the_lock_names_its_holder_and_is_exclusive(state_dir: Path) -> None:
    lock = ownership.StateLock.try_acquire(state_dir, role="agent", command="run")
    assert lock is not None
    try:
        assert (state_dir / "agent.lock").stat().st_mode & 0o777 == 0o600
        holder = ownership.read_holder(state_dir)
        assert holder.pid == os.getpid() and holder.role == "agent" and holder.started_at
        assert ownership.StateLock.try_acquire(state_dir, role="cli", command="status") is None
        with pytest.raises(ownership.StateDirBusy) as busy:
            ownership.own_state_dir(state_dir, wait_for_cli_s=30)  # an agent holds it: refused at once
        assert f"PID {os.getpid()}" in str(busy.value) and "already owns" in str(busy.value)
    finally:
        lock.release()
    assert ownership.read_holder(state_dir).pid is None  # released, and the file says nobody
    again = ownership.own_state_dir(state_dir)
    again.release()


def test_an_agent_waits_for_a_cli_command_within_a_bound(state_dir: Path) -> None:
    cli = ownership.StateLock.try_acquire(state_dir, role="cli", command="go-online")
    assert cli is not None
    with pytest.raises(ownership.StateDirBusy) as busy:
        ownership.own_state_dir(state_dir, wait_for_cli_s=0.3)
    assert "`fiscal-box go-online`" in str(busy.value) and f"kill {os.getpid()}" in str(busy.value)
    got: list[ownership.StateLock] = []
    waiter = threading.Thread(
        target=lambda: got.append(ownership.own_state_dir(state_dir, wait_for_cli_s=30))
    )
    waiter.start()
    try:
        assert waiter.is_alive()  # it cannot have the lock while the command holds it
    finally:
        cli.release()
    waiter.join(30)
    assert got and ownership.read_holder(state_dir).role == "agent"
    got[0].release()


def test_a_killed_holder_releases_the_lock(state_dir: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from agent import ownership; "
        f"lock = ownership.StateLock.try_acquire(Path({str(state_dir)!r}), role='agent', command='run'); "
        "print('held' if lock else 'busy', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert ownership.read_holder(state_dir).pid == holder.pid
        assert ownership.StateLock.try_acquire(state_dir, role="cli", command="status") is None
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
    lock = ownership.StateLock.try_acquire(state_dir, role="cli", command="status")
    assert lock is not None
    lock.release()
