"""The uplinks' loop: reads both links, probes the fiscal server through each, feeds the pure policy, and
acts on its decision — moves the default route, tells the event stream, hands the decision on.

The I/O is injected (``drivers/uplinks.py`` by default), so the loop is tested with scripted links and
probes and a fake clock; the network namespaces test the drivers themselves. Cadence: both links are
probed every ``probe_interval_s``; a link whose verdict hangs on its next probe (``probe_soon``: a first
failure, an unproven backup) every ``DEGRADED_PROBE_S`` counted from the start of the last round that
probed, and the primary again when its hold-down ends.
Between rounds the loop waits on the kernel's rtnetlink (``drivers.uplinks.LinkWatcher``): a link or
address change (a pulled cable) starts a round at once, and the policy switches on a lost carrier in
that round; where netlink cannot be opened the loop says so once and keeps only its timed cadence.
``wake()`` starts a round with both links probed at once, from any thread. Within a round both links are
read and probed at the same time, so a round costs the slower probe, not the sum of both timeouts.

``check()`` is the loop's body (synchronous: it returns the round's decision), ``start()`` runs it on
its own thread, ``close()`` ends that thread; ``way_out(since)`` is the register's question before it
goes offline, ``signing(ok)`` tells it whether the register's signatures get through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Protocol

from agent.clock import Clock
from agent.config import UplinksConfig
from agent.events import EventSink, discard
from agent.uplinks.policy import UPLINK_OF, Decision, LinkObservation, Role, UplinkPolicy
from drivers.uplinks import (
    LinkReading,
    LinkWatcher,
    ProbeResult,
    UplinkError,
    prefer,
    probe_server,
    read_link,
)

log = logging.getLogger(__name__)

#: how often a link whose verdict hangs on its next probe is probed (the policy's "degraded cadence"),
#: counted from the start of the round that probed last: a probe that ran into its timeout (a gateway
#: that drops packets silently) has waited longer than this already (waiting again after it was 0.45 s
#: of a silent gateway's 3.55 s in bench/failover.py). With two failed probes to switch, a gateway that
#: answers "unreachable" is left in about this long (0.54 s measured), a silent one in two timeouts.
#: Not shorter: that is already within the second aimed at, and the spacing is what makes the second
#: probe a filter for a one-off loss.
DEGRADED_PROBE_S = 0.5
#: each step of a probe (connect, each read). Not lowered for speed: a SYN's first retransmission comes
#: after 1 s, and an LTE link's round trip under load reaches hundreds of ms -- a shorter timeout would
#: fail a working backup, which the policy then will not switch to. The namespaces' round trips are
#: microseconds, so nothing measured there can justify a shorter one.
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
        watcher: LinkWatcher | None = None,
    ) -> None:
        """``watcher``: what the loop waits on between rounds; by default one on the kernel's rtnetlink,
        opened by ``start()`` (a monitor only ever ``check()``-ed opens no socket)."""
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
        #: each link's IPv4 addresses as the last round read them, by the status's name of the link
        #: ("ethernet", "lte"): the status and the technician's slip show where the box is reachable
        self.addresses: dict[str, tuple[str, ...]] = {}
        self._decided = threading.Condition()  # notified after every check
        self._begun = 0  # checks begun, and the one that made ``decision``
        self._decided_by = 0
        self._signing_ok = True
        self._request_failed = False  # way_out: the register's request through the route just failed
        self._stop = threading.Event()
        self._woken = threading.Event()  # wake() asked for a round with both links probed
        self._watcher = watcher
        self._probed_at = -DEGRADED_PROBE_S  # monotonic: when the last round that probed began
        self._thread = threading.Thread(target=self._run, name="uplinks", daemon=True)

    def _interface(self, role: Role) -> str:
        return self.config.primary if role == "primary" else self.config.backup

    def _due(self, now: float) -> set[Role]:
        if now >= self._next_full:
            self._next_full = now + self.config.probe_interval_s
            return {"primary", "backup"}
        due: set[Role] = set()
        if self.decision is not None and now >= self._probed_at + DEGRADED_PROBE_S:
            # Not sooner, though a netlink message or the hold-down's end starts a round before: two
            # probes ms apart would make the second failed probe no filter for a one-off loss at all.
            due = set(self.decision.probe_soon)
        if self.decision is not None and self.decision.fail_back_at is not None and now >= self.decision.fail_back_at:
            due.add("primary")
        return due

    def _observe(self, role: Role, probe: bool) -> tuple[LinkObservation, tuple[str, ...]]:
        """The policy's look at the link, and its addresses (which the policy does not need)."""
        interface = self._interface(role)
        reading = self._links(interface)
        probe_ok: bool | None = None
        if probe and reading.carrier and reading.has_address:
            probe_ok = self._probe(self.fs_url, interface, self._probe_timeout_s).ok
        elif probe:
            probe_ok = False  # no carrier or no address: the answer is known without sending it
        observation = LinkObservation(
            carrier=reading.carrier,
            has_address=reading.has_address,
            probe_ok=probe_ok,
            at=self._clock.monotonic(),
        )
        return observation, reading.addresses

    def _observe_both(
        self, due: set[Role]
    ) -> tuple[tuple[LinkObservation, tuple[str, ...]], tuple[LinkObservation, tuple[str, ...]]]:
        """Both links at once: the backup on a thread of its own, the primary on the caller's. A gateway
        that drops packets costs its probe's whole timeout; the other link's answer need not wait behind it."""
        if due:
            self._probed_at = self._clock.monotonic()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="uplinks-probe") as pool:
            backup = pool.submit(self._observe, "backup", "backup" in due)
            primary = self._observe("primary", "primary" in due)
            return primary, backup.result()

    def check(self) -> Decision:
        """One round: observe, decide, act. Never raises for the network's sake."""
        with self._decided:
            self._begun += 1
            begun = self._begun
            request_failed, self._request_failed = self._request_failed, False
        now = self._clock.monotonic()
        due = self._due(now)
        (primary, primary_addresses), (backup, backup_addresses) = self._observe_both(due)
        addresses: dict[str, tuple[str, ...]] = {
            UPLINK_OF["primary"]: primary_addresses,
            UPLINK_OF["backup"]: backup_addresses,
        }
        if request_failed:  # the register's request went where the route points
            if self.policy.state.route == "primary":
                primary = replace(primary, failed_requests=1)
            else:
                backup = replace(backup, failed_requests=1)
        decision = self.policy.observe(
            self._clock.monotonic(), primary=primary, backup=backup, signing_ok=self._signing_ok
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
            self.addresses = addresses
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

    def way_out(self, since: float) -> bool:
        """The register's question before it goes offline (agent/secr/context.py Uplinks): has the route
        moved, since ``since``, onto a link that reaches the server? Checks at once and waits at most
        ``failover_wait_s`` for a verdict still hanging on a probe; False as soon as the verdicts are
        in and nothing moved (both links failing, or the link in use answering: the failure was not the
        network's), so a sale that must go offline is not held up for nothing."""
        # How long this thread blocks is real time, whatever clock the decisions are dated by.
        deadline = time.monotonic() + self.config.failover_wait_s
        with self._decided:
            asked = self._begun  # only a check begun after this saw what the register just met
            self._request_failed = True
        self.wake()
        with self._decided:
            while True:
                if self._moved_since(since):
                    return True
                decision = self.decision
                if decision is not None and self._decided_by > asked and not decision.probe_soon:
                    return False
                left = deadline - time.monotonic()
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
        now = self._clock.monotonic()
        if decision is not None and decision.probe_soon:
            return max(0.0, self._probed_at + DEGRADED_PROBE_S - now)
        waits = [self._next_full - now]
        if decision is not None and decision.fail_back_at is not None:
            waits.append(decision.fail_back_at - now)
        return max(0.0, min(waits))

    def start(self) -> UplinkMonitor:
        if self._watcher is None:
            self._watcher = LinkWatcher()
            if not self._watcher.netlink:
                log.warning(
                    "uplinks: cannot listen to the kernel's link changes (%s): a pulled cable is noticed"
                    " at the next probe round only", self._watcher.netlink_error,
                )  # fmt: skip
        self._thread.start()
        return self

    @property
    def hears_links(self) -> bool:
        """Whether the loop hears the kernel's link changes (netlink) between rounds: False before
        ``start()``, or where netlink cannot be opened (the log said why at start)."""
        return self._watcher is not None and self._watcher.netlink

    def wake(self) -> None:
        """Have the loop run a round with both links probed at once; safe from any thread. A round under
        way when this is called finishes first, then the asked one runs."""
        self._woken.set()
        watcher = self._watcher
        if watcher is not None:
            watcher.wake()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        watcher = self._watcher
        if watcher is not None:
            watcher.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if watcher is not None and not self._thread.is_alive():
            watcher.close()  # else the loop closes it on its way out, once its probe returns

    def _run(self) -> None:
        watcher = self._watcher
        assert watcher is not None  # start() made it
        try:
            while not self._stop.is_set():
                if self._woken.is_set():
                    self._woken.clear()
                    self._next_full = 0.0  # due now: _due probes both links in this round
                try:
                    self.check()
                except Exception:  # the loop must outlive a surprise
                    log.exception("uplinks: a check failed")
                watcher.wait(max(0.05, self.next_wait()))
        finally:
            watcher.close()
