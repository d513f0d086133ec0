"""The uplinks' loop: reads both links, probes the fiscal server through each, feeds the pure policy, and
acts on its decision — moves the default route, tells the event stream, hands the decision on.

The I/O is injected (``drivers/uplinks.py`` by default), so the loop is tested with scripted links and
probes and a fake clock; the network namespaces test the drivers themselves. Cadence: both links are
probed every ``probe_interval_s``; a link whose verdict hangs on its next probe (``probe_soon``: a first
failure, an unproven backup) every ``DEGRADED_PROBE_S``, and the primary again when its hold-down ends.

``check()`` is the loop's body, ``start()`` runs it on its own thread; ``wake()`` asks for a check now,
``way_out(since)`` is the register's question before it goes offline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from agent.clock import Clock
from agent.config import UplinksConfig
from agent.events import EventSink, discard
from agent.uplinks.policy import Decision, LinkObservation, Role, UplinkPolicy
from drivers.uplinks import LinkReading, ProbeResult, UplinkError, prefer, probe_server, read_link

log = logging.getLogger(__name__)

#: how often a link whose verdict hangs on its next probe is probed (the policy's "degraded cadence"):
#: with two failed probes to switch, a lost gateway is left within about a second plus the timeouts
DEGRADED_PROBE_S = 0.5
PROBE_TIMEOUT_S = 1.0


class LinkReader(Protocol):
    def __call__(self, interface: str) -> LinkReading: ...


class Prober(Protocol):
    def __call__(self, fs_url: str, interface: str, timeout_s: float) -> ProbeResult: ...


class UplinkMonitor:
    def __init__(
        self,
        config: UplinksConfig,
        fs_url: str,
        *,
        clock: Clock,
        on_decision: Callable[[Decision], None] = lambda _d: None,
        events: EventSink = discard,
        links: LinkReader = read_link,
        probe: Prober = probe_server,
        route: Callable[[str | None], None] = prefer,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.fs_url = fs_url
        self._clock = clock
        self._on_decision = on_decision
        self._events = events
        self._links = links
        self._probe = probe
        self._route = route
        self._probe_timeout_s = probe_timeout_s
        self.policy = UplinkPolicy(config)
        self.decision: Decision | None = None
        self._next_full = 0.0  # monotonic: both links probed at the first check
        #: why the route could not be moved (no CAP_NET_ADMIN, ip missing), for the status
        self.route_error: str | None = None
        #: when the route last moved as a failover asked (monotonic), for ``way_out``
        self.moved_at: float | None = None
        self._decided = threading.Condition()  # notified after every check
        self._begun = 0  # checks begun, and the one that made ``decision``
        self._decided_by = 0
        self._full_check = False
        self._signing_ok = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uplinks", daemon=True)

    def _interface(self, role: Role) -> str:
        return self.config.primary if role == "primary" else self.config.backup

    def _due(self, now: float) -> set[Role]:
        if now >= self._next_full or self._full_check:
            self._full_check = False
            self._next_full = now + self.config.probe_interval_s
            return {"primary", "backup"}
        due: set[Role] = set(self.decision.probe_soon) if self.decision is not None else set()
        if self.decision is not None and self.decision.fail_back_at is not None and now >= self.decision.fail_back_at:
            due.add("primary")
        return due

    def _observe(self, role: Role, probe: bool) -> LinkObservation:
        interface = self._interface(role)
        reading = self._links(interface)
        result: ProbeResult | None = None
        if probe and reading.carrier and reading.has_address:
            result = self._probe(self.fs_url, interface, self._probe_timeout_s)
        elif probe:
            # No carrier or no address: the probe's answer is known without sending it.
            result = ProbeResult(interface, False, "no carrier" if not reading.carrier else "no address", 0.0)
        return LinkObservation(
            carrier=reading.carrier,
            has_address=reading.has_address,
            probe_ok=result.ok if result is not None else None,
            probe_error=result.error if result is not None else None,
            at=self._clock.monotonic(),
        )

    def check(self, *, signing_ok: bool | None = None) -> Decision:
        """One round: observe, decide, act. Never raises for the network's sake. ``signing_ok``: what
        ``signing()`` last said unless given."""
        if signing_ok is None:
            signing_ok = self._signing_ok
        with self._decided:
            self._begun += 1
            begun = self._begun
        now = self._clock.monotonic()
        due = self._due(now)
        primary = self._observe("primary", "primary" in due)
        backup = self._observe("backup", "backup" in due)
        decision = self.policy.observe(
            self._clock.monotonic(), primary=primary, backup=backup, signing_ok=signing_ok
        )
        moved = False
        if decision.failover is not None:
            moved = self._move_route(decision)
            self._events(decision.failover.event(self._clock.now()))
        elif self.route_error is not None:
            # The policy's route is where traffic should go; until the kernel agrees, ask it again.
            moved = self._move_route(decision)
        with self._decided:  # the move and the decision it carried out are seen together
            if moved:
                self.moved_at = self._clock.monotonic()
            self.decision = decision
            self._decided_by = begun
            self._decided.notify_all()
        try:
            self._on_decision(decision)
        except Exception:  # a listener must not stop the uplinks' loop
            log.exception("uplinks: the decision's listener failed")
        return decision

    def signing(self, ok: bool) -> None:
        """Whether the register's signatures get through (agent/secr/context.py signing_error): a server
        out of reach for that reason is not the network's fault, and the cause must say so."""
        if ok != self._signing_ok:
            self._signing_ok = ok
            self.wake()

    def wake(self) -> None:
        """Check now, probing both links, instead of at the next due time. Thread-safe."""
        self._full_check = True
        self._wake.set()

    def way_out(self, since: float) -> bool:
        """The register's question before it goes offline (agent/secr/context.py Uplinks): has the route
        moved, since ``since``, onto a link that reaches the server? Checks at once and waits at most
        ``failover_wait_s`` for a verdict still hanging on a probe; False as soon as the verdicts are
        in and nothing moved (both links failing, or the link in use answering: the failure was not the
        network's), so a sale that must go offline is not held up for nothing."""
        deadline = self._clock.monotonic() + self.config.failover_wait_s
        with self._decided:
            asked = self._begun  # only a check begun after this saw what the register just met
        self.wake()
        with self._decided:
            while True:
                if self._moved_since(since):
                    return True
                decision = self.decision
                if decision is not None and self._decided_by > asked and not decision.probe_soon:
                    return False
                left = deadline - self._clock.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._decided.wait(min(left, 0.5))

    def _moved_since(self, since: float) -> bool:
        decision = self.decision
        return (
            self.moved_at is not None
            and self.moved_at >= since
            and decision is not None
            and decision.active != "none"
            and self.route_error is None
        )

    def _move_route(self, decision: Decision) -> bool:
        interface = None if decision.route == "primary" else self._interface("backup")
        try:
            self._route(interface)
        except UplinkError as exc:
            if str(exc) != self.route_error:
                log.error("uplinks: cannot move the default route to %s: %s", interface or "the system's", exc)
            self.route_error = str(exc)
            return False
        self.route_error = None
        log.warning(
            "uplinks: the default route now goes out of %s (%s)",
            interface or self.config.primary,
            decision.message,
        )
        return True

    def next_wait(self) -> float:
        """Seconds until the next check is due."""
        decision = self.decision
        if decision is not None and decision.probe_soon:
            return DEGRADED_PROBE_S
        now = self._clock.monotonic()
        waits = [self._next_full - now]
        if decision is not None and decision.fail_back_at is not None:
            waits.append(decision.fail_back_at - now)
        return max(0.0, min(waits))

    def start(self) -> UplinkMonitor:
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # the loop must outlive a surprise
                log.exception("uplinks: a check failed")
            self._wake.wait(max(0.05, self.next_wait()))
            self._wake.clear()
