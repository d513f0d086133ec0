"""One delivery thread per subscriber, fed through a bounded queue.

The producer's side (``offer``) only appends to a deque under a lock and wakes the thread, so a sale that
changes the status never waits on a consumer; a consumer that raises or takes seconds only delays itself.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

#: how long ``Subscription.__call__`` waits for a callback that is running to return
UNSUBSCRIBE_WAIT_S = 1.0


class Subscription(Generic[T]):
    """A subscriber's queue and thread; calling it unsubscribes (the ``unsubscribe`` of ``subscribe``).

    When the queue is full the oldest waiting item is dropped and counted in ``dropped``: for the status
    the newest state is what matters, for events the recent ones.
    """

    def __init__(
        self,
        callback: Callable[[T], object],
        *,
        name: str,
        maxsize: int,
        on_close: Callable[[Subscription[T]], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("a subscriber's queue holds at least one item")
        self.name = name
        self.maxsize = maxsize
        self.dropped = 0
        self.delivered = 0
        self.failures = 0
        self._callback = callback
        self._on_close = on_close
        self._items: deque[T] = deque()
        self._wake = threading.Condition(threading.Lock())
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def active(self) -> bool:
        """False once unsubscribed and the delivery thread has ended."""
        return self._thread.is_alive()

    @property
    def pending(self) -> int:
        with self._wake:
            return len(self._items)

    def offer(self, item: T) -> None:
        """Queue ``item`` for delivery; never blocks beyond a short lock, never raises."""
        with self._wake:
            if self._closed:
                return
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._wake.notify()

    def __call__(self) -> None:
        self.close()

    def close(self, timeout: float = UNSUBSCRIBE_WAIT_S) -> None:
        """Stop delivering: nothing queued is delivered after this returns; a callback already running
        is given ``timeout`` seconds to return (its thread ends right after it, whatever it takes)."""
        with self._wake:
            if self._closed:
                return
            self._closed = True
            self._items.clear()
            self._wake.notify()
        if self._on_close is not None:
            self._on_close(self)
        # A callback may unsubscribe itself: its own thread cannot wait for itself.
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _next(self) -> list[T]:
        """The next item, or nothing once closed."""
        with self._wake:
            while not self._items and not self._closed:
                self._wake.wait()
            return [] if self._closed else [self._items.popleft()]

    def _run(self) -> None:
        while True:
            batch = self._next()
            if not batch:
                return
            try:
                self._callback(batch[0])
            except Exception:
                self.failures += 1
                log.exception("subscriber %s failed; it keeps its subscription", self.name)
            else:
                self.delivered += 1


class Subscribers(Generic[T]):
    """The set of subscriptions of one publisher, safe to change while it publishes."""

    def __init__(self, kind: str, default_maxsize: int) -> None:
        self._kind = kind
        self._default_maxsize = default_maxsize
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription[T]] = []
        self._count = 0

    def add(
        self, callback: Callable[[T], object], *, name: str | None = None, maxsize: int | None = None
    ) -> Subscription[T]:
        with self._lock:
            self._count += 1
            label = name or getattr(callback, "__qualname__", None) or f"#{self._count}"
        subscription = Subscription(
            callback,
            name=f"{self._kind}:{label}",
            maxsize=maxsize or self._default_maxsize,
            on_close=self._remove,
        )
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def offer(self, item: T) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.offer(item)

    def all(self) -> list[Subscription[T]]:
        with self._lock:
            return list(self._subscriptions)

    def close_all(self) -> None:
        for subscription in self.all():
            subscription.close()

    def _remove(self, subscription: Subscription[T]) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
