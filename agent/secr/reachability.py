"""Does the fiscal server answer: the last probe's result and age, and since when it has answered.

Offline documents are legal only while the server cannot be reached, so the regulation asks for a check
before each one; that check must not hold the sale up, so it is bounded by a budget and a fresh answer
counts instead (``before_document``).
"""

from __future__ import annotations

import threading

from agent.secr.context import Core
from agent.secr.errors import FiscalBoxError


class Reachability:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._lock = threading.Lock()  # its own: probes run beside operations that hold the register lock
        self._thread: threading.Thread | None = None
        self._ok: bool | None = None
        self._at: float | None = None
        self._since: float | None = None

    @property
    def last_ok(self) -> bool | None:
        """What the last probe (or request) found; None before the first."""
        return self._ok

    def reachable_for(self) -> float | None:
        """Seconds the server has answered without a failure in between; None while it does not."""
        since = self._since
        return None if since is None else self.core.clock.monotonic() - since

    def forget(self) -> None:
        """The way to the server changed (a failover, a link back): the last answer says nothing of the new
        way, so the next document asks afresh instead of trusting it for ``probe_freshness_s``."""
        with self._lock:
            self._at = None

    def record(self, ok: bool) -> None:
        now = self.core.clock.monotonic()
        with self._lock:
            flipped = ok != self._ok
            self._ok, self._at = ok, now
            if ok and self._since is None:
                self._since = now
            elif not ok:
                self._since = None
        if flipped:
            self.core.changed()

    def probe(self, timeout: float | None = None) -> bool:
        try:
            self.core.server.server_state(timeout=timeout)
        except FiscalBoxError:  # retry later, or an answer that is no answer
            self.record(False)
            return False
        self.record(True)
        return True

    def before_document(self) -> bool:
        """The check before an offline document: does the server answer?

        A fresh answer counts; a probe already under way counts as checking; otherwise one is started
        and awaited for at most the budget, and left to finish in the background. What to do when the
        server answers (finish the session first) is the upload's (upload.Upload.before_offline_document)."""
        settings = self.core.settings
        now = self.core.clock.monotonic()
        with self._lock:
            fresh = self._at is not None and now - self._at < settings.probe_freshness_s
            reachable = bool(self._ok) if fresh else False
            running = self._thread is not None and self._thread.is_alive()
            if not fresh and not running:
                thread = threading.Thread(target=self.probe, name="fiscal-box-probe", daemon=True)
                self._thread = thread
                thread.start()
            else:
                thread = None
        if thread is not None:
            thread.join(settings.probe_budget_s)
            with self._lock:
                reachable = bool(self._ok) and not thread.is_alive()
        return reachable

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout=timeout)


__all__ = ["Reachability"]
