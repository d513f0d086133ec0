"""The box on MQTT: a status subscriber and an event subscriber that publish through one ``MqttLink``.

What a dashboard sees (contract §5):

- ``availability``: ``online`` retained on every connect; ``offline`` as the last will (the broker says
  it when the box dies) and retained before a clean stop;
- ``state``: the §5 JSON, retained, on every change and again on every connect (a broker without
  persistence forgets retained messages when it restarts);
- ``events``: one JSON per event, not retained, in the order they happened;
- Home Assistant discovery configs on every connect and whenever Home Assistant says ``online`` on
  ``<discovery_prefix>/status``;
- answers to remote actions on ``command/result``.

A sale never waits on any of it: ``on_status`` and ``on_event`` run on the status model's and the event
stream's delivery threads and only store under a short lock; one worker thread publishes, and only while
connected. While the broker is away memory stays bounded: the state is one string (the latest wins), the
events a ring of ``event_buffer`` (the oldest dropped and counted; an ``events_dropped`` event says how
many once the broker is back), the answers a ring of a few.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from agent.events import Event
from agent.mqtt.link import LinkSettings, MqttLink, Will
from agent.mqtt.topics import AVAILABLE, NOT_AVAILABLE, Topics
from agent.status.snapshot import MqttPart, Snapshot

log = logging.getLogger(__name__)

#: answers to remote actions waiting for the broker; a handful is all a person sends
RESULT_BUFFER = 16
DEFAULT_EVENT_BUFFER = 1000
#: the pause after a publish paho could not take while connected
PUBLISH_RETRY_S = 0.05


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class MqttPublisher:
    def __init__(
        self,
        settings: LinkSettings,
        topics: Topics,
        *,
        now: Callable[[], datetime],
        discovery: Sequence[tuple[str, str]] = (),
        event_buffer: int = DEFAULT_EVENT_BUFFER,
        on_command: Callable[[str, bytes], None] | None = None,
        on_link_change: Callable[[MqttPart], None] | None = None,
    ) -> None:
        """``discovery``: (topic, payload) pairs published retained on every connect; ``on_command``:
        given (name, payload) for each message on the command topics (None: not subscribed);
        ``on_link_change``: the connection's state whenever it changes (``StatusModel.set_mqtt``)."""
        if event_buffer < 1:
            raise ValueError("event_buffer holds at least one event")
        self.topics = topics
        self._now = now
        self._discovery = tuple(discovery)
        self._on_command = on_command
        self._event_buffer = event_buffer
        settings = _with_will(settings, topics)
        self._on_link_change = on_link_change
        self.link = MqttLink(
            settings,
            on_connect=self._connected,
            on_disconnect=self._disconnected,
            on_message=self._message,
            on_change=self._link_changed,
        )
        self._wake = threading.Condition(threading.Lock())
        self._state: dict[str, Any] | None = None
        self._state_due = False
        self._fresh = False  # a new connection: availability, discovery and state again
        self._discovery_due = False
        self._events: deque[str] = deque()
        self._results: deque[str] = deque(maxlen=RESULT_BUFFER)
        self._drops_to_report = 0
        # events lost before they reached on_event (the stream's queue for this subscriber overflowed)
        self._upstream_drops: Callable[[], int] = lambda: 0
        self._upstream_reported = 0
        self._stop = False
        #: events that did not fit the buffer while the broker was away
        self.events_dropped = 0
        self.states_published = 0
        self.events_published = 0
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)

    # --- the subscribers' side: store and wake, never wait ---------------------------------------------

    def on_status(self, snapshot: Snapshot) -> None:
        """A status subscriber (``model.subscribe(publisher.on_status)``)."""
        self.set_state(snapshot.to_dict())

    def set_state(self, state: dict[str, Any]) -> None:
        with self._wake:
            self._state = state
            self._state_due = True
            self._wake.notify()

    def on_event(self, event: Event) -> None:
        """An event subscriber (``stream.subscribe(publisher.on_event)``)."""
        payload = _json(event.to_json())
        with self._wake:
            if len(self._events) >= self._event_buffer:
                self._events.popleft()
                self.events_dropped += 1
                self._drops_to_report += 1
            self._events.append(payload)
            self._wake.notify()

    def count_upstream_drops(self, dropped: Callable[[], int]) -> None:
        """Events the feeding subscription dropped count as dropped too (``Subscription.dropped``)."""
        self._upstream_drops = dropped

    @property
    def events_lost(self) -> int:
        """Every event that never reached the broker's queue: dropped here, or before reaching here."""
        return self.events_dropped + self._upstream_drops()

    def answer(self, result: dict[str, Any]) -> None:
        """A remote action's answer, published on ``command/result`` (kept for a while if offline)."""
        with self._wake:
            self._results.append(_json(result))
            self._wake.notify()

    @property
    def connected(self) -> bool:
        return self.link.connected

    def link_part(self) -> MqttPart:
        link = self.link
        connected = link.connected
        return MqttPart(link.settings.address, connected, None if connected else link.last_error)

    def _link_changed(self) -> None:
        if self._on_link_change is not None:
            self._on_link_change(self.link_part())

    @property
    def pending_events(self) -> int:
        with self._wake:
            return len(self._events)

    def start(self) -> MqttPublisher:
        self._thread.start()
        self.link.start()
        return self

    def close(self, timeout: float = 3.0) -> None:
        """Publish what is due if connected, say ``offline``, disconnect."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.link.stop(goodbye=(self.topics.availability, NOT_AVAILABLE))

    # --- paho's thread ----------------------------------------------------------------------------------

    def _connected(self) -> None:
        topics = [self.topics.home_assistant_status] if self._discovery else []
        if self._on_command is not None:
            topics.append(self.topics.commands)
        self.link.subscribe(*topics)
        with self._wake:
            self._fresh = True
            self._wake.notify()

    def _disconnected(self, _reason: str) -> None:
        with self._wake:
            self._wake.notify()

    def _message(self, topic: str, payload: bytes) -> None:
        if topic == self.topics.home_assistant_status:
            if payload.strip() == b"online":
                with self._wake:
                    self._discovery_due = True
                    self._state_due = self._state is not None
                    self._wake.notify()
            return
        name = self.topics.command_name(topic)
        if name is not None and self._on_command is not None:
            self._on_command(name, payload)

    # --- the worker -------------------------------------------------------------------------------------

    def _has_work(self) -> bool:
        return bool(self._fresh or self._state_due or self._discovery_due or self._events or self._results)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stop and not (self._has_work() and self.link.connected):
                    self._wake.wait(1.0)  # also notices a connection paho made while nobody woke us
                if self._stop and not (self._has_work() and self.link.connected):
                    return
                fresh, self._fresh = self._fresh, False
            try:
                done = self._publish_due(fresh)
            except Exception:  # the worker must outlive a surprise; what was due is tried again
                log.exception("MQTT: publishing failed")
                done = False
            if self._stop:
                return
            if not done:
                # paho's queue is full (a burst after an outage) or the connection just went: a pause
                # instead of a busy loop; a new connection or a stop wakes it early.
                with self._wake:
                    self._wake.wait(PUBLISH_RETRY_S)

    def _publish_due(self, fresh: bool) -> bool:
        """True when everything that was due went to paho."""
        link = self.link
        if fresh and not link.publish(self.topics.availability, AVAILABLE, retain=True):
            self._again(fresh=True)
            return False
        if fresh or self._take("_discovery_due"):
            for topic, payload in self._discovery:
                if not link.publish(topic, payload, retain=True):
                    self._again(fresh=fresh, discovery=True)
                    return False
        if (fresh or self._take("_state_due")) and not self._publish_state():
            return False
        return self._publish_events() and self._publish_results()

    def _take(self, flag: str) -> bool:
        with self._wake:
            value = bool(getattr(self, flag))
            setattr(self, flag, False)
            return value

    def _again(self, *, fresh: bool = False, discovery: bool = False, state: bool = False) -> None:
        """What could not be published (the connection went) is due again on the next connect."""
        with self._wake:
            self._fresh = self._fresh or fresh
            self._discovery_due = self._discovery_due or discovery
            self._state_due = self._state_due or state

    def _publish_state(self) -> bool:
        with self._wake:
            state = self._state
            self._state_due = False
        if state is None:
            return True
        if state.get("mqtt") is not None:
            # The snapshot may predate this connection (it came while the broker was away): what is
            # published says what is true as it goes out, that the box is connected.
            state = {**state, "mqtt": self.link_part().to_dict()}
        payload = _json(state)
        if not self.link.publish(self.topics.state, payload, retain=True):
            self._again(state=True)
            return False
        self.states_published += 1
        return True

    def _publish_events(self) -> bool:
        with self._wake:
            own, reported, upstream = self._drops_to_report, self._upstream_reported, self._upstream_drops()
            self._drops_to_report, self._upstream_reported = 0, upstream
        dropped = own + upstream - reported
        if dropped:
            note = _json({"kind": "events_dropped", "at": self._now().isoformat(), "count": dropped})
            if not self.link.publish(self.topics.events, note):
                with self._wake:  # said with the next note
                    self._drops_to_report += own
                    self._upstream_reported = reported
                return False
            log.warning("MQTT: %d events did not fit the buffer while the broker was away", dropped)
        while True:
            with self._wake:
                if not self._events:
                    return True
                payload = self._events[0]
            if not self.link.publish(self.topics.events, payload):
                return False
            with self._wake:
                # A drop while publishing may have taken it already; only pop what was sent.
                if self._events and self._events[0] is payload:
                    self._events.popleft()
            self.events_published += 1

    def _publish_results(self) -> bool:
        while True:
            with self._wake:
                if not self._results:
                    return True
                payload = self._results[0]
            if not self.link.publish(self.topics.command_result, payload):
                return False
            with self._wake:
                if self._results and self._results[0] is payload:
                    self._results.popleft()


def _with_will(settings: LinkSettings, topics: Topics) -> LinkSettings:
    return replace(settings, will=Will(topics.availability, NOT_AVAILABLE))
