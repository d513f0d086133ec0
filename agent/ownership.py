"""Who owns the state directory: the running agent, through an exclusive flock on state_dir/agent.lock.

The running agent holds an exclusive ``flock`` on ``state_dir/agent.lock`` for its whole life. The
file says who holds it, one JSON line: ``{"pid": 123, "role": "agent", "command": "run",
"started_at": "2025-01-31T09:00:00+00:00"}`` (the content is only for messages; the flock alone
decides). The kernel drops the lock when its holder dies, SIGKILL included, so a crash never leaves
the box locked; the file itself is never deleted (unlinking a lock file races with the next locker).

* A second ``fiscal-box run`` on the same state_dir exits 1 naming the PID that holds it.
* A CLI command (``status``, ``go-online``, ``slip``) that finds no agent takes the same lock, as
  ``role: "cli"``, for as long as it works on the journal itself.
* An agent that starts while a CLI command holds the lock *waits* for it (up to
  ``AGENT_WAITS_FOR_CLI_S``), because those commands are short and refusing would only make systemd
  restart the agent a moment later; past that bound it exits 1 naming the command's PID.
* A CLI command that finds the lock held but no socket answering (an agent starting up) waits for the
  socket up to ``CLI_WAITS_FOR_AGENT_S`` and then exits 1 saying so (see agent/commands.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from agent.secr.errors import NeedsPerson

log = logging.getLogger(__name__)

LOCK_FILE = "agent.lock"
AGENT_WAITS_FOR_CLI_S = 30.0
CLI_WAITS_FOR_AGENT_S = 15.0
_POLL_S = 0.05


@dataclass(frozen=True)
class Holder:
    """What agent.lock says about the process holding it (None: it has not written it yet)."""

    pid: int | None
    role: str | None
    command: str | None
    started_at: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another process (it has not written its PID yet)"
        since = f", since {self.started_at}" if self.started_at else ""
        if self.role == "agent":
            return f"the fiscal-box agent (PID {self.pid}{since})"
        return f"`fiscal-box {self.command or '?'}` (PID {self.pid}{since})"


class StateDirBusy(NeedsPerson):
    code = "state_dir_busy"

    def __init__(self, message: str, *, holder: Holder, what_to_do: str) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.holder = holder


def read_holder(state_dir: Path) -> Holder:
    try:
        data = json.loads((state_dir / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        return Holder(None, None, None, None)
    pid = data.get("pid")
    return Holder(
        pid if isinstance(pid, int) else None,
        str(data["role"]) if "role" in data else None,
        str(data["command"]) if "command" in data else None,
        str(data["started_at"]) if "started_at" in data else None,
    )


class StateLock:
    """The exclusive flock on state_dir/agent.lock; held until release() or the process dies."""

    def __init__(self, state_dir: Path, fd: int) -> None:
        self.state_dir = state_dir
        self._fd: int | None = fd

    @classmethod
    def try_acquire(cls, state_dir: Path, *, role: str, command: str) -> StateLock | None:
        """The lock, or None when another process holds it. Never blocks."""
        path = state_dir / LOCK_FILE
        try:
            # No O_TRUNC: the file is emptied only once the lock is ours, so the holder's PID stays readable.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise NeedsPerson(
                f"cannot open {path}: {exc.strerror or exc}",
                what_to_do="run the command as the user the agent runs as (root: sudo fiscal-box ...), and"
                " check [box] state_dir",
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        started = datetime.now(UTC).isoformat(timespec="seconds")
        line = json.dumps({"pid": os.getpid(), "role": role, "command": command, "started_at": started})
        os.ftruncate(fd, 0)
        os.pwrite(fd, (line + "\n").encode(), 0)
        return cls(state_dir, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # a reader after this sees nobody, not a PID that is gone
        os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> StateLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def own_state_dir(state_dir: Path, *, wait_for_cli_s: float = AGENT_WAITS_FOR_CLI_S) -> StateLock:
    """The agent's lock on state_dir: waits out a short CLI command, refuses a second agent."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeedsPerson(
            f"[box] state_dir {state_dir} cannot be created: {exc.strerror or exc}",
            what_to_do="create it for the agent's user, or point [box] state_dir elsewhere",
        ) from exc
    start = time.monotonic()
    announced: Holder | None = None
    while True:
        lock = StateLock.try_acquire(state_dir, role="agent", command="run")
        if lock is not None:
            if announced is not None:
                log.info("%s is done with %s: starting", announced.describe(), state_dir)
            return lock
        holder = read_holder(state_dir)
        waited = time.monotonic() - start
        # A holder without a PID is between its flock and its write: give it a moment to say who it is.
        waitable = holder.role == "cli" or (holder.pid is None and waited < 1.0)
        if not waitable or waited >= wait_for_cli_s:
            raise _busy(state_dir, holder, waited)
        if holder.pid is not None and announced is None:
            log.info(
                "%s is using %s: waiting up to %.0f s for it to finish",
                holder.describe(),
                state_dir,
                wait_for_cli_s,
            )
            announced = holder
        time.sleep(_POLL_S)


def _busy(state_dir: Path, holder: Holder, waited: float) -> StateDirBusy:
    if holder.role == "cli":
        return StateDirBusy(
            f"{holder.describe()} has held {state_dir / LOCK_FILE} for over {waited:.0f} s",
            holder=holder,
            what_to_do=f"let it finish or stop it (kill {holder.pid}); systemd starts the agent again by itself",
        )
    stop = f"kill {holder.pid}" if holder.pid is not None else "see `fuser -v` on the lock file"
    return StateDirBusy(
        f"{holder.describe()} already owns {state_dir} ({LOCK_FILE}): one journal has one agent",
        holder=holder,
        what_to_do=f"stop that one first (systemctl stop fiscal-box, or {stop}) or give this one"
        " its own [box] state_dir",
    )
