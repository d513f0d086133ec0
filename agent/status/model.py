"""The one status model: producers set their part, subscribers hear of every change once.

A change is a snapshot whose ``change_key`` differs from the last one published: the §5 projection
without ``updated_at``, with the age of the oldest pending document counted in whole minutes (see
``StatusModel``). Everything a producer's ``set_*`` does happens under one short lock and without I/O:
build the snapshot, compare, queue it for each subscriber's own thread, publish blocked/unblocked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from agent.clock import Clock
from agent.events import Event, EventKind, EventSink, discard
from agent.secr.register import RegisterStatus
from agent.status.delivery import Subscribers, Subscription
from agent.status.snapshot import (
    PRINTER_STATES,
    UPLINKS,
    CertificatePart,
    ModemPart,
    MqttPart,
    NetworkPart,
    PrinterPart,
    Snapshot,
)

log = logging.getLogger(__name__)

#: a status subscriber's queue: deep enough that a slow one loses nothing in a burst of sales, small
#: enough that one that hangs holds little; when full it keeps the newest snapshots
SUBSCRIBER_QUEUE = 64


class StatusModel:
    """Thread-safe; time comes from ``clock``; ``events`` receives ``blocked`` and ``unblocked``.

    ``oldest_pending_age_s`` grows with the clock alone, so a refresh that finds nothing new would
    otherwise always be a change. The projection keeps the exact age in seconds (as of the snapshot's
    ``updated_at``), but only a step of ``age_resolution_s`` (a minute) in it counts as a change: while
    documents wait, subscribers (the status file, MQTT) see the age at most a minute plus the register's
    refresh interval old, and the file is rewritten at most once a minute for it, the cadence at which
    ``offline.session_minutes`` already changes while offline. Nothing else in the projection moves
    with the clock except ``certificate.days_left``, once a day, which is a real change.

    ``snapshot()`` is the latest state (as of the latest ``set_*``, changed or not); subscribers get the
    snapshot that made each change, so its ``updated_at`` is when the state last changed.
    """

    def __init__(
        self,
        clock: Clock,
        register: RegisterStatus,
        *,
        events: EventSink = discard,
        age_resolution_s: int = 60,
        queue_size: int = SUBSCRIBER_QUEUE,
    ) -> None:
        if age_resolution_s < 1:
            raise ValueError("age_resolution_s is at least one second")
        self._clock = clock
        self._events = events
        self._age_resolution_s = age_resolution_s
        self._lock = threading.Lock()
        self._subscribers: Subscribers[Snapshot] = Subscribers("status", queue_size)
        self._latest = Snapshot(register=register, at=clock.now())
        self._published = self._latest
        self._published_key = self._latest.change_key(age_resolution_s)
        #: how many changes were published (the first state included)
        self.changes = 1
        # The model starts from nothing: a box that starts blocked says so, once.
        self._announce(None, self._latest)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._latest

    def subscribe(
        self, callback: Callable[[Snapshot], object], *, name: str | None = None, maxsize: int | None = None
    ) -> Subscription[Snapshot]:
        """``callback`` gets the current snapshot at once, then every change once, on its own thread.
        The returned ``Subscription`` is the unsubscribe callable (and counts what it dropped)."""
        # Under the model's lock, so that no change falls between the current state and the next one.
        with self._lock:
            subscription = self._subscribers.add(callback, name=name, maxsize=maxsize)
            subscription.offer(self._published)
        return subscription

    def set_register(self, status: RegisterStatus) -> None:
        self._update(register=status)

    def set_printer(self, state: str | None, error: str | None = None, warning: str | None = None) -> None:
        """``state`` None: the box has no printer (the projection says null). ``warning``: what the printer
        warns of while it prints (``paper_near_end``)."""
        if state is not None and state not in PRINTER_STATES:
            raise ValueError(f"printer state {state!r} is not one of {sorted(PRINTER_STATES)}")
        self._update(printer=PrinterPart(state, error, warning) if state is not None else None)

    def set_certificate(self, certificate: CertificatePart | None) -> None:
        """Once at start is enough: the days left are counted again from the clock at every update."""
        self._update(certificate=certificate)

    def set_agent_errors(self, errors: Iterable[str]) -> None:
        self._update(agent_errors=tuple(errors))

    def set_uplink(self, uplink: str | None) -> None:
        if uplink is not None and uplink not in UPLINKS:
            raise ValueError(f"uplink {uplink!r} is not one of {sorted(UPLINKS)}")
        self._update(uplink=uplink)

    def set_modem(self, modem: ModemPart | None) -> None:
        self._update(modem=modem)

    def set_network(self, uplink: str | None, network: NetworkPart | None) -> None:
        """The uplinks' verdict: the active uplink and why the server is not reached as it should be."""
        if uplink is not None and uplink not in UPLINKS:
            raise ValueError(f"uplink {uplink!r} is not one of {sorted(UPLINKS)}")
        self._update(uplink=uplink, network=network)

    def set_mqtt(self, mqtt: MqttPart | None) -> None:
        self._update(mqtt=mqtt)

    def refresh(self) -> None:
        """Rebuild at the clock's time without a new part (the time-derived fields move)."""
        self._update()

    def subscriptions(self) -> list[Subscription[Snapshot]]:
        return self._subscribers.all()

    def close(self) -> None:
        """Unsubscribe everyone (their threads end)."""
        self._subscribers.close_all()

    def _update(self, **parts: Any) -> None:
        with self._lock:
            now = self._clock.now()
            certificate = parts.get("certificate", self._latest.certificate)
            if certificate is not None:
                parts["certificate"] = certificate.at(now)
            snapshot = replace(self._latest, at=now, **parts)
            self._latest = snapshot
            key = snapshot.change_key(self._age_resolution_s)
            if key == self._published_key:
                return
            previous = self._published
            self._published, self._published_key = snapshot, key
            self.changes += 1
            self._subscribers.offer(snapshot)
            # Under the lock, so that blocked and unblocked reach the stream in the order they happened.
            self._announce(previous.blocked_reason, snapshot)

    def _announce(self, was: str | None, snapshot: Snapshot) -> None:
        reason = snapshot.blocked_reason
        if reason == was:
            return
        if reason is None:
            event = Event(EventKind.UNBLOCKED, snapshot.at, {"previous_reason": was})
        else:
            errors = snapshot.errors
            detail: dict[str, Any] = {"reason": reason, "error": errors[0] if errors else None}
            if was is not None:
                detail["previous_reason"] = was
            event = Event(EventKind.BLOCKED, snapshot.at, detail)
        try:
            self._events(event)
        except Exception:  # a sink must not raise; if one does, the producer still must not see it
            log.exception("the event sink failed on %s", event.kind.value)
