"""The box on a real mosquitto: retained state and availability, events, reconnects and restarts, the
password and TLS listeners, and a broker that is down never holding a sale or growing memory.

The status model and the event stream are the real ones; the publisher is what agent/app.py wires. Each
test has its own topic prefix on a broker shared by the module (a restart test has its own broker).
"""

from __future__ import annotations

import gc
import itertools
import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.clock import FakeClock
from agent.events import Event, EventKind
from agent.mqtt.link import LinkSettings
from agent.mqtt.publisher import MqttPublisher
from agent.mqtt.topics import Topics
from agent.status import EventStream, NetworkMonth, NetworkPart, StatusModel
from tests.mosquitto import PASSWORD, USER, Broker, Gate, Watcher, mosquitto_path, retained
from tests.test_status_model import register_status
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")

_prefixes = itertools.count(1)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker.start() as running:
        yield running


@pytest.fixture()
def topics(request: pytest.FixtureRequest) -> Topics:
    # A topic tree of its own per test: retained messages of one test never meet another's.
    return Topics(f"t{next(_prefixes)}-{request.node.name[:40].replace('[', '-').strip(']')}", "shop-1")


class Box:
    """A status model, an event stream and the publisher subscribed to both, as app.py wires them."""

    def __init__(self, settings: LinkSettings, topics: Topics, **options: Any) -> None:
        self.clock = FakeClock()
        self.status = register_status()
        self.model = StatusModel(self.clock, self.status)
        self.stream = EventStream()
        self.publisher = MqttPublisher(settings, topics, now=self.clock.now, **options)
        events = self.stream.subscribe(self.publisher.on_event, name="mqtt")
        self.publisher.count_upstream_drops(lambda: events.dropped)
        self.unsubscribe = [self.model.subscribe(self.publisher.on_status, name="mqtt"), events]
        self.publisher.start()

    def sell(self, n: int = 1) -> None:
        """What a sale changes in the status: the next number."""
        for _ in range(n):
            self.status = replace(self.status, next_local_num=self.status.next_local_num + 1)
            self.model.set_register(self.status)

    def close(self) -> None:
        for unsubscribe in self.unsubscribe:
            unsubscribe()
        self.publisher.close()
        self.model.close()
        self.stream.close()


@pytest.fixture()
def boxes() -> Iterator[list[Box]]:
    made: list[Box] = []
    yield made
    for box in made:
        box.close()


def anonymous(broker: Broker, **changes: Any) -> LinkSettings:
    return replace(
        LinkSettings(host="127.0.0.1", port=broker.port("anonymous"), client_id=f"box-{next(_prefixes)}"),
        **changes,
    )


def state_of(broker: Broker, topics: Topics) -> dict[str, Any] | None:
    found = retained(broker, topics.state)
    return json.loads(found[topics.state].payload) if topics.state in found else None


def test_state_and_availability_are_retained_and_follow_every_change(
    broker: Broker, topics: Topics, boxes: list[Box]
) -> None:
    box = Box(anonymous(broker), topics)
    boxes.append(box)
    wait_for(lambda: (s := state_of(broker, topics)) and s["next_local_num"] == 17, what="the first state")
    assert retained(broker, topics.availability)[topics.availability].text == "online"
    box.sell(3)
    wait_for(lambda: (s := state_of(broker, topics)) and s["next_local_num"] == 20, what="the latest state")
    state = state_of(broker, topics)
    assert state is not None
    assert state["mode"] == "online" and state["shift"] == "open" and set(state) >= {
        "blocked_reason", "uplink", "offline", "pending_documents", "oldest_pending_age_s", "last_sync_at",
        "printer", "modem", "errors", "version", "updated_at",
    }


def test_the_state_carries_the_uplinks_month(broker: Broker, topics: Topics, boxes: list[Box]) -> None:
    box = Box(anonymous(broker), topics)
    boxes.append(box)
    month = NetworkMonth("2026-11", 95, 3, 12, 90)
    box.model.set_network("lte", NetworkPart("ethernet_down", "Ethernet is down.", None, month))
    state = wait_for(
        lambda: (s := state_of(broker, topics)) and s["network"] and s, what="the state with the network part"
    )
    assert state["uplink"] == "lte" and state["network"]["month"] == {
        "month": "2026-11",
        "ethernet_down_minutes": 95,
        "lte_down_minutes": 3,
        "server_down_minutes": 12,
        "offline_saved_minutes": 90,
    }


def test_events_are_published_in_order_and_not_retained(
    broker: Broker, topics: Topics, boxes: list[Box]
) -> None:
    watcher = Watcher(broker, topics.events)
    box = Box(anonymous(broker), topics)
    boxes.append(box)
    wait_for(lambda: box.publisher.connected, what="the box connected")
    for n in range(20):
        box.stream.publish(Event(EventKind.FISCALIZED, box.clock.now(), {"fiscal_num": f"F{n}"}))
    wait_for(lambda: len(watcher.messages(topics.events)) == 20, what="20 events")
    heard = watcher.messages(topics.events)
    assert [m.json()["fiscal_num"] for m in heard] == [f"F{n}" for n in range(20)]
    assert all(m.json()["kind"] == "fiscalized" and not m.retain for m in heard)
    assert topics.events not in retained(broker, topics.events)
    watcher.close()


def test_the_password_listener_takes_the_right_password_and_the_box_says_when_it_is_wrong(
    broker: Broker, topics: Topics, boxes: list[Box]
) -> None:
    good = Box(anonymous(broker, port=broker.port("password"), username=USER, password=PASSWORD), topics)
    boxes.append(good)
    wait_for(lambda: state_of(broker, topics), what="the state over the password listener")
    other = Topics(topics.prefix, "shop-2")
    bad = Box(anonymous(broker, port=broker.port("password"), username=USER, password="wrong"), other)
    boxes.append(bad)
    wait_for(lambda: bad.publisher.link.last_error, what="the refusal")
    assert "refused" in (bad.publisher.link.last_error or "")
    bad.sell(5)  # a refusing broker is one that is down: the sale does not notice
    assert not bad.publisher.connected and state_of(broker, other) is None


def test_tls_with_the_ca_and_with_a_client_certificate(
    broker: Broker, topics: Topics, boxes: list[Box]
) -> None:
    box = Box(
        anonymous(broker, port=broker.port("tls"), tls=True, ca_file=broker.ca_file, username=USER, password=PASSWORD),
        topics,
    )
    boxes.append(box)
    wait_for(lambda: state_of(broker, topics), what="the state over TLS")
    cert, key = broker.client_cert("shop-2")
    other = Topics(topics.prefix, "shop-2")
    settings = anonymous(
        broker, port=broker.port("mtls"), tls=True, ca_file=broker.ca_file, cert_file=cert, key_file=key
    )
    assert settings.authenticated
    boxes.append(Box(settings, other))
    wait_for(lambda: state_of(broker, other), what="the state over TLS with a client certificate")
    # A box that does not trust the broker's certificate does not talk to it.
    third = Topics(topics.prefix, "shop-3")
    untrusted = Box(anonymous(broker, port=broker.port("tls"), tls=True, username=USER, password=PASSWORD), third)
    boxes.append(untrusted)
    wait_for(lambda: untrusted.publisher.link.last_error, what="the failed handshake")
    assert state_of(broker, third) is None


def test_a_broker_down_at_start_is_found_when_it_comes(tmp_path: Path, topics: Topics, boxes: list[Box]) -> None:
    broker = Broker.start()
    try:
        broker.stop()
        box = Box(anonymous(broker), topics)  # returns at once: connect_async
        boxes.append(box)
        box.sell(2)
        assert not box.publisher.connected
        broker.restart()
        wait_for(lambda: (s := state_of(broker, topics)) and s["next_local_num"] == 19, what="the state")
    finally:
        box.publisher.close()
        broker.close()


def test_after_a_broker_restart_everything_is_published_again(topics: Topics, boxes: list[Box]) -> None:
    broker = Broker.start()
    try:
        discovery = [(f"homeassistant/sensor/{topics.box_id}/mode/config", '{"name": "mode"}')]
        box = Box(anonymous(broker), topics, discovery=discovery)
        boxes.append(box)
        wait_for(lambda: len(retained(broker, "#")) == 3, what="availability, state and discovery")
        broker.restart()  # persistence false: the broker forgot every retained message
        box.sell()
        found = wait_for(lambda: (r := retained(broker, "#")) and len(r) == 3 and r, what="all of it again")
        assert found[topics.availability].text == "online"
        assert json.loads(found[topics.state].payload)["next_local_num"] == 18
        assert json.loads(found[discovery[0][0]].payload) == {"name": "mode"}
        assert box.publisher.link.connects >= 2
    finally:
        box.publisher.close()
        broker.close()


def test_home_assistant_starting_gets_the_discovery_configs_again(
    broker: Broker, topics: Topics, boxes: list[Box]
) -> None:
    ha = Topics(topics.prefix, topics.box_id, discovery_prefix=f"{topics.prefix}-ha")
    config_topic = f"{ha.discovery_prefix}/binary_sensor/{topics.box_id}/sales_blocked/config"
    box = Box(anonymous(broker), ha, discovery=[(config_topic, '{"name": "sales blocked"}')])
    boxes.append(box)
    watcher = Watcher(broker, config_topic)
    watcher.wait(config_topic)
    watcher.publish(config_topic, b"", retain=True)  # the config deleted, as a person may in HA
    watcher.clear()
    watcher.publish(ha.home_assistant_status, "online")
    watcher.wait(config_topic, lambda m: m.payload != b"")
    assert config_topic in retained(broker, config_topic)
    watcher.close()


def test_a_clean_stop_says_offline(broker: Broker, topics: Topics) -> None:
    box = Box(anonymous(broker), topics)
    wait_for(lambda: state_of(broker, topics), what="the state")
    box.close()
    assert retained(broker, topics.availability)[topics.availability].text == "offline"


def test_a_broker_down_through_10000_changes_holds_flat_memory_and_gets_the_latest_state_back(
    topics: Topics, boxes: list[Box]
) -> None:
    broker = Broker.start()
    gate = Gate(broker.port())  # the box's way to the broker; the test's watcher goes straight
    try:
        box = Box(anonymous(broker, port=gate.port), topics, event_buffer=500)
        boxes.append(box)
        wait_for(lambda: state_of(broker, topics), what="the first state")
        gate.shut()
        wait_for(lambda: not box.publisher.connected, what="the box noticing")
        broker.restart()  # and, as a real restart does, the retained state is gone

        def changes(n: int) -> None:
            for _ in range(n):
                box.sell()
                box.stream.publish(Event(EventKind.FISCALIZED, box.clock.now(), {"n": box.status.next_local_num}))

        tracemalloc.start()
        try:
            changes(1000)  # the buffers fill: from here on, memory must not grow
            wait_for(lambda: box.publisher.pending_events == 500, what="the event buffer full")
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            changes(9000)
            wait_for(lambda: box.model.subscriptions()[0].pending == 0, what="the status delivered")
            wait_for(lambda: box.stream.subscriptions()[0].pending == 0, what="the events delivered")
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # 9000 more states of ~1.5 kB and 9000 events kept would be over 10 MB.
        assert grown < 200_000, f"memory grew {grown} bytes while the broker was down"
        assert box.publisher.events_lost == 10_000 - 500
        latest = box.status.next_local_num
        watcher = Watcher(broker, topics.events)
        gate.open()  # the broker is back
        wait_for(
            lambda: (s := state_of(broker, topics)) and s["next_local_num"] == latest,
            timeout=10,
            what="the latest state retained again",
        )
        kept = wait_for(lambda: len(watcher.messages(topics.events)) == 501 and watcher.messages(topics.events))
        # first the note of those that did not fit, then the newest 500 events, in order
        assert kept[0].json()["kind"] == "events_dropped" and kept[0].json()["count"] == 10_000 - 500
        assert [m.json()["n"] for m in kept[1:]] == list(range(latest - 499, latest + 1))
        watcher.close()
    finally:
        box.publisher.close()
        gate.shut()
        broker.close()
