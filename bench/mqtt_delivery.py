"""From a state change to its delivery to a subscriber on the broker (target: median under 50 ms).

The path as agent/app.py wires it from the status model on: ``StatusModel.set_register`` (the change),
the model's delivery thread, the MQTT publisher's worker, paho, a real mosquitto, a paho subscriber's
``on_message``. Each change is made after the previous one was heard, as a till's sales are seconds
apart. Over the plain listener and over TLS with a password.

usage: python bench/mqtt_delivery.py [--changes N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from dataclasses import replace

import common  # noqa: F401  (puts the repository on sys.path)
from common import percentile

from agent.clock import SystemClock
from agent.mqtt.link import LinkSettings
from agent.mqtt.publisher import MqttPublisher
from agent.mqtt.topics import Topics
from agent.status import StatusModel
from tests.mosquitto import PASSWORD, USER, Broker, Watcher
from tests.test_status_model import register_status
from tests.waiting import wait_for


def measure(broker: Broker, settings: LinkSettings, changes: int, prefix: str) -> list[float]:
    topics = Topics(prefix, "bench-box")
    status = register_status()
    model = StatusModel(SystemClock(), status)
    publisher = MqttPublisher(settings, topics, now=SystemClock().now)
    model.subscribe(publisher.on_status, name="mqtt")
    publisher.start()
    heard = threading.Condition()
    latest = [0]
    watcher = Watcher(broker, topics.state)

    def on_message(_client: object, _userdata: object, message: object) -> None:
        number = json.loads(message.payload)["next_local_num"]  # type: ignore[attr-defined]
        with heard:
            latest[0] = number
            heard.notify_all()

    watcher.client.on_message = on_message
    wait_for(lambda: latest[0] == status.next_local_num, what="the first state")
    delays = []
    for _ in range(changes):
        status = replace(status, next_local_num=status.next_local_num + 1)
        start = time.perf_counter()
        model.set_register(status)
        with heard:
            assert heard.wait_for(lambda n=status.next_local_num: latest[0] >= n, timeout=10)
        delays.append((time.perf_counter() - start) * 1000)
    watcher.close()
    publisher.close()
    model.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=300)
    args = parser.parse_args()
    with Broker.start() as broker:
        plain = LinkSettings(host="127.0.0.1", port=broker.port(), client_id="bench-plain")
        tls = replace(
            plain, port=broker.port("tls"), client_id="bench-tls", tls=True, ca_file=broker.ca_file,
            username=USER, password=PASSWORD,
        )
        for name, settings in (("plain", plain), ("TLS + password", tls)):
            delays = measure(broker, settings, args.changes, f"bench-{name.split()[0].lower()}")
            print(
                f"state change -> subscriber on mosquitto, {name} ({args.changes} changes): median"
                f" {statistics.median(delays):.2f} ms, p99 {percentile(delays, 99):.2f} ms (target: median < 50)"
            )


if __name__ == "__main__":
    main()
