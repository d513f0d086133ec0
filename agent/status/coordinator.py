"""A producer on its own cadence (Home Assistant's "data update coordinator" shape).

One ``Coordinator`` per source and cadence: it calls ``fetch`` on its own thread every ``interval_s``
and whenever ``request_refresh()`` is called, and hands the value to ``push`` (a ``StatusModel.set_*``).
``request_refresh`` only sets a flag, so it is a cheap ``ChangeListener`` for the register; a burst of
requests while a fetch runs (or within ``cooldown_s`` of the last one) makes one more fetch, not many.
A fetch that raises is logged, counted and tried again at the next tick or request (after ``RETRY_S``
when there are no ticks); the thread lives on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

#: when a fetch fails and no interval is set, the next attempt comes after this
RETRY_S = 5.0


class Coordinator(Generic[T]):
    def __init__(
        self,
        name: str,
        fetch: Callable[[], T],
        push: Callable[[T], object],
        *,
        interval_s: float | None,
        cooldown_s: float = 0.0,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """``interval_s`` None: only on request (and once at start). ``on_error`` hears every failure
        (after it is logged), e.g. to put it among the agent's errors."""
        if interval_s is not None and interval_s <= 0:
            raise ValueError("interval_s is positive, or None for refreshes on request only")
        self.name = name
        self.interval_s = interval_s
        self.cooldown_s = cooldown_s
        self._fetch = fetch
        self._push = push
        self._on_error = on_error
        self._wake = threading.Event()
        self._stop = threading.Event()
        # One fetch-and-push at a time: an older value must never be pushed after a newer one.
        self._serial = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"coordinator:{name}", daemon=True)
        self.refreshes = 0  # fetches that succeeded and were pushed
        self.failures = 0
        self.last_error: str | None = None

    def start(self) -> Coordinator[T]:
        """Start the thread; it refreshes at once."""
        self._wake.set()
        self._thread.start()
        return self

    def request_refresh(self) -> None:
        """A refresh soon, on the coordinator's thread; returns at once (a ``ChangeListener``)."""
        self._wake.set()

    def refresh(self) -> bool:
        """Fetch and push now, on the caller's thread; False when the fetch or the push failed."""
        with self._serial:
            try:
                value = self._fetch()
                self._push(value)
            except Exception as exc:
                self._failed(exc)
                return False
            if self.last_error is not None:
                log.info("%s: refreshed again after %d failures", self.name, self.failures)
                self.last_error = None
            self.refreshes += 1
            return True

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        error = f"{type(exc).__name__}: {exc}"
        if error != self.last_error:  # the same failure every tick is said once, with its traceback
            log.warning("%s: refresh failed: %s", self.name, error, exc_info=exc)
        self.last_error = error
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                log.exception("%s: the error handler failed", self.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.interval_s
            if wait is None and self.last_error is not None:
                wait = RETRY_S
            self._wake.wait(wait)
            if self._stop.is_set():
                return
            # Cleared before the fetch: a request made while it runs asks for one more.
            self._wake.clear()
            started = time.monotonic()
            self.refresh()
            rest = self.cooldown_s - (time.monotonic() - started)
            if rest > 0 and self._stop.wait(rest):
                return
