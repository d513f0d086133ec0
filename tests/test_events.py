"""The event stream: bounded, counting what it drops, fanned out to subscribers on threads of their
own, with the log as a consumer."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from agent.events import Event, EventKind, EventSink
from agent.status import EventStream, Subscription, describe, log_events
from tests.waiting import wait_for

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def event(n: int, kind: EventKind = EventKind.FISCALIZED) -> Event:
    return Event(kind, NOW + timedelta(seconds=n), {"local_num": n})


class Collector:
    def __init__(self) -> None:
        self.got: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, item: Event) -> None:
        with self._cond:
            self.got.append(item)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Event]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.got) >= count, timeout), (
                f"got {len(self.got)} events, waited for {count}"
            )
            return list(self.got)


def test_the_stream_is_an_event_sink_keeping_the_recent_ones() -> None:
    stream = EventStream(capacity=5)
    sink: EventSink = stream.publish
    for n in range(8):
        sink(event(n))
    assert [e.detail["local_num"] for e in stream.recent()] == [3, 4, 5, 6, 7]
    assert [e.detail["local_num"] for e in stream.recent(2)] == [6, 7]
    assert stream.recent(0) == []
    assert stream.dropped == 3 and stream.published == 8


def test_each_subscriber_gets_every_event_once_in_order() -> None:
    stream = EventStream()
    first, second = Collector(), Collector()
    stream.subscribe(first)
    stream.publish(event(0))  # before the second subscribed: not for it
    stream.subscribe(second)
    for n in range(1, 101):
        stream.publish(event(n))
    assert [e.detail["local_num"] for e in first.wait_for(101)] == list(range(101))
    assert [e.detail["local_num"] for e in second.wait_for(100)] == list(range(1, 101))
    stream.close()
    assert len(first.got) == 101 and len(second.got) == 100


def test_a_raising_and_a_sleeping_subscriber_neither_delay_publish_nor_starve_others() -> None:
    stream = EventStream()
    release, sleeping = threading.Event(), threading.Event()

    def sleeps(item: Event) -> None:
        sleeping.set()
        release.wait()  # held until the test is over

    def raises(item: Event) -> None:
        raise RuntimeError("a broken consumer")

    slow = stream.subscribe(sleeps, name="slow")
    broken = stream.subscribe(raises, name="broken")
    good = Collector()
    stream.subscribe(good)
    try:
        stream.publish(event(0))
        assert sleeping.wait(30)
        published: list[int] = []

        def publish() -> None:
            for n in range(1, 50):
                stream.publish(event(n))
                published.append(n)

        # the slow subscriber holds its first event until the end: publishing that waited on it never ends
        threading.Thread(target=publish, daemon=True).start()
        wait_for(lambda: len(published) == 49, what="49 events published past a held subscriber")
        assert len(good.wait_for(50)) == 50
        assert wait_for(lambda: broken.failures == 50) and broken.active
        assert slow.delivered == 0 and slow.pending == 49
    finally:
        release.set()
        stream.close()


def test_a_full_subscriber_queue_drops_its_oldest_and_counts() -> None:
    stream = EventStream()
    entered, release = threading.Event(), threading.Event()
    got = Collector()

    def stuck(item: Event) -> None:
        got(item)
        entered.set()
        release.wait(5)

    subscription = stream.subscribe(stuck, maxsize=4)
    other = Collector()
    stream.subscribe(other)
    stream.publish(event(0))
    assert entered.wait(5)
    for n in range(1, 21):
        stream.publish(event(n))
    assert subscription.dropped == 16 and subscription.pending == 4
    release.set()
    assert [e.detail["local_num"] for e in got.wait_for(5)] == [0, 17, 18, 19, 20]
    assert len(other.wait_for(21)) == 21  # the other subscriber lost nothing
    assert stream.dropped == 0  # the ring of recent events is a separate count
    stream.close()


def test_unsubscribe_stops_delivery_and_ends_the_thread() -> None:
    stream = EventStream()
    gone, stays = Collector(), Collector()
    unsubscribe: Subscription[Event] = stream.subscribe(gone)
    stream.subscribe(stays)
    stream.publish(event(0))
    gone.wait_for(1)
    unsubscribe()
    assert not unsubscribe.active
    stream.publish(event(1))
    stays.wait_for(2)
    assert len(gone.got) == 1 and unsubscribe not in stream.subscriptions()
    stream.close()
    assert stream.subscriptions() == []


def test_publish_never_raises_into_the_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = EventStream()
    subscription = stream.subscribe(Collector())

    def broken(item: Event) -> None:
        raise RuntimeError("the queue is broken")

    monkeypatch.setattr(subscription, "offer", broken)
    stream.publish(event(1))  # logged, not raised
    monkeypatch.undo()
    stream.close()


def test_the_log_has_one_readable_line_per_event(caplog: pytest.LogCaptureFixture) -> None:
    stream = EventStream()
    logger = logging.getLogger("test.events")
    done = threading.Event()
    subscription = log_events(stream, logger)
    stream.subscribe(lambda item: done.set() if item.kind == EventKind.PRINTER_FAULT else None)
    with caplog.at_level(logging.INFO, logger="test.events"):
        stream.publish(Event(EventKind.WENT_OFFLINE, NOW, {"session_id": "S-1", "reason": "timeout"}))
        stream.publish(Event(EventKind.WENT_ONLINE, NOW))
        stream.publish(Event(EventKind.SYNC_FAILED, NOW, {"error": "refused"}))
        stream.publish(Event(EventKind.BLOCKED, NOW, {"reason": "offline_prohibited", "error": "no"}))
        stream.publish(Event(EventKind.PRINTER_FAULT, NOW, {"error": "paper out"}))
        assert done.wait(5)
        assert wait_for(lambda: subscription.delivered == 5)
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "test.events"]
    assert records == [
        ("INFO", "event went_offline: session_id=S-1 reason=timeout"),
        ("INFO", "event went_online"),
        ("WARNING", "event sync_failed: error=refused"),
        ("WARNING", "event blocked: reason=offline_prohibited error=no"),
        ("WARNING", "event printer_fault: error=paper out"),
    ]
    line = describe(Event(EventKind.SYNC_FAILED, NOW, {"error": "refused:\n  package 2", "documents": 3}))
    assert line == "sync_failed: error=refused: package 2 documents=3"
    stream.close()
