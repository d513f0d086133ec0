"""The event stream: the box's events in a bounded ring of recent ones, fanned out to subscribers.

``publish`` is the ``EventSink`` the producers (the register, printing, the status model) are given: it
appends under a short lock and queues for each subscriber's own thread, so it returns at once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from agent.events import Event, EventKind
from agent.status.delivery import Subscribers, Subscription

log = logging.getLogger(__name__)

#: recent events kept for a reader that comes late (the slip, `fiscal-box status`): a day of a busy shop's
#: state changes, a few hours of its receipts
RECENT_EVENTS = 1000
#: per subscriber; MQTT keeps its own buffer for a broker that is down, so this only rides out a stall
SUBSCRIBER_QUEUE = 1000


class EventStream:
    def __init__(self, capacity: int = RECENT_EVENTS, *, queue_size: int = SUBSCRIBER_QUEUE) -> None:
        if capacity < 1:
            raise ValueError("the stream keeps at least one event")
        self._lock = threading.Lock()
        self._recent: deque[Event] = deque(maxlen=capacity)
        self._subscribers: Subscribers[Event] = Subscribers("events", queue_size)
        #: events that fell out of the ring of recent ones
        self.dropped = 0
        self.published = 0

    def publish(self, event: Event) -> None:
        """An ``EventSink``: returns at once and never raises into the producer."""
        try:
            with self._lock:
                if len(self._recent) == self._recent.maxlen:
                    self.dropped += 1
                self._recent.append(event)
                self.published += 1
                # Under the lock, so that every subscriber sees the events in the order of the ring.
                self._subscribers.offer(event)
        except Exception:
            log.exception("the event stream could not take %r", event)

    __call__ = publish

    def recent(self, n: int | None = None) -> list[Event]:
        """The last ``n`` events (all that are kept when None), oldest first."""
        with self._lock:
            events = list(self._recent)
        return events if n is None else events[-n:] if n > 0 else []

    def subscribe(
        self, callback: Callable[[Event], object], *, name: str | None = None, maxsize: int | None = None
    ) -> Subscription[Event]:
        """Every event published from now on, once, on the subscriber's own thread; the returned
        ``Subscription`` is the unsubscribe callable and counts the events it dropped."""
        return self._subscribers.add(callback, name=name, maxsize=maxsize)

    def subscriptions(self) -> list[Subscription[Event]]:
        return self._subscribers.all()

    def close(self) -> None:
        self._subscribers.close_all()


#: the events a person should look at soon
WARNING_EVENTS = frozenset({EventKind.SYNC_FAILED, EventKind.BLOCKED, EventKind.PRINTER_FAULT})


def describe(event: Event) -> str:
    """One readable line: the kind, then the detail as key=value."""
    # An error text from a server or a driver may span lines; a log line must not.
    detail = " ".join(f"{key}={' '.join(str(value).split())}" for key, value in event.detail.items())
    return f"{event.kind.value}: {detail}" if detail else event.kind.value


def log_events(stream: EventStream, logger: logging.Logger) -> Subscription[Event]:
    """The log as a consumer of the stream: one line per event, WARNING for those needing a person."""

    def write(event: Event) -> None:
        level = logging.WARNING if event.kind in WARNING_EVENTS else logging.INFO
        logger.log(level, "event %s", describe(event))

    return stream.subscribe(write, name="log")
