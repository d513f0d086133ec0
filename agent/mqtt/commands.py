"""Remote actions for ops over MQTT (contract §5): ``go_online``, ``slip``, ``state``, one at a time.

They run on a thread of their own (an upload may take minutes; paho's network thread must never wait on
it), and each is answered on ``…/command/result`` with what happened. They are refused, with the
reason, unless ``[mqtt] commands = true`` *and* the box's connection is authenticated (a password or a
client certificate, so that the broker's ACL decides who may send them). Nothing here can make a fiscal
document or move money: the handlers are the control channel's go-online, slip and status.

A command's payload may be empty or a JSON object; its ``"id"`` (a string or number) is echoed in the
result so that a dashboard can match answers to requests.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from agent.mqtt.topics import COMMANDS
from agent.secr.errors import BadInput, FiscalBoxError, NeedsPerson, RetryLater

log = logging.getLogger(__name__)

Handler = Callable[[], Mapping[str, Any]]
#: commands waiting while one runs; more than this are refused as busy, so a flood holds no memory
QUEUE = 4
MAX_PAYLOAD = 1024


def error_kind(exc: Exception) -> str:
    """The boundary's three answers (Home Assistant's shape): retry later, a person, bad input."""
    if isinstance(exc, RetryLater):
        return "retry_later"
    if isinstance(exc, BadInput):
        return "bad_input"
    if isinstance(exc, NeedsPerson):
        return "needs_person"
    return "needs_person" if isinstance(exc, FiscalBoxError) else "internal"


class RemoteCommands:
    def __init__(
        self,
        handlers: Mapping[str, Handler],
        answer: Callable[[dict[str, Any]], None],
        *,
        now: Callable[[], datetime],
        enabled: bool,
        authenticated: bool,
    ) -> None:
        unknown = set(handlers) - set(COMMANDS)
        if unknown:
            raise ValueError(f"not remote actions of contract §5: {sorted(unknown)}")
        self._handlers = dict(handlers)
        self._answer = answer
        self._now = now
        self.enabled = enabled
        self.authenticated = authenticated
        self._queue: deque[tuple[str, Any]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self.done = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._run, name="mqtt-commands", daemon=True)
        self._thread.start()

    def received(self, name: str, payload: bytes) -> None:
        """From paho's thread: refuse at once, or queue for the command thread. Never blocks."""
        request_id, problem = _request_id(payload)
        refusal = problem or self._refusal(name)
        if refusal is not None:
            self.refused += 1
            log.warning("MQTT: command %s refused: %s", name, refusal)
            self._reply(name, request_id, ok=False, error=refusal, kind="refused")
            return
        with self._wake:
            if len(self._queue) >= QUEUE:
                busy = True
            else:
                busy = False
                self._queue.append((name, request_id))
                self._wake.notify()
        if busy:
            self.refused += 1
            self._reply(name, request_id, ok=False, error="busy: commands are already waiting", kind="retry_later")

    def _refusal(self, name: str) -> str | None:
        if name not in COMMANDS:
            return f"unknown command {name!r}; the box takes {', '.join(COMMANDS)}"
        if not self.enabled:
            return "remote commands are off on this box: set [mqtt] commands = true in its config"
        if not self.authenticated:
            return "remote commands need an authenticated connection (username + password_file, or a client certificate)"
        if name not in self._handlers:
            return f"{name} is not available on this box"
        return None

    def close(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._closed = True
            self._queue.clear()
            self._wake.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                name, request_id = self._queue.popleft()
            self._execute(name, request_id)

    def _execute(self, name: str, request_id: Any) -> None:
        log.info("MQTT: running the remote command %s", name)
        try:
            result = dict(self._handlers[name]())
        except Exception as exc:
            if not isinstance(exc, FiscalBoxError):
                log.exception("MQTT: the remote command %s failed", name)
            self._reply(name, request_id, ok=False, error=str(exc), kind=error_kind(exc))
            return
        self.done += 1
        self._reply(name, request_id, ok=True, result=result)

    def _reply(self, name: str, request_id: Any, *, ok: bool, **detail: Any) -> None:
        answer = {"command": name, "id": request_id, "ok": ok, "at": self._now().isoformat(), **detail}
        try:
            self._answer(answer)
        except Exception:
            log.exception("MQTT: could not queue the answer to %s", name)


def _request_id(payload: bytes) -> tuple[Any, str | None]:
    """The request's id (None when none is given), or a reason to refuse the payload."""
    if not payload.strip():
        return None, None
    if len(payload) > MAX_PAYLOAD:
        return None, f"the payload is over {MAX_PAYLOAD} bytes; send {{}} or {{\"id\": ...}}"
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None, 'the payload is not JSON; send nothing, {} or {"id": "..."}'
    if not isinstance(data, dict):
        return None, 'the payload must be a JSON object, e.g. {"id": "..."}'
    request_id = data.get("id")
    if request_id is not None and not isinstance(request_id, str | int):
        return None, '"id" must be a string or a number'
    return request_id, None
