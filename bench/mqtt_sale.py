"""A sale's own time with MQTT attached: the broker up, the broker down, and no MQTT at all.

The wiring of agent/app.py: the register publishes its events to the event stream and tells the
register's coordinator (the agent's cooldown) of each change; the status model feeds the MQTT publisher,
as the stream does. Offline sales back to back (the box's own figures, not the emulator's), 5 lines,
cash. The claim: a broker that is down costs a sale nothing over one that is up.

usage: python bench/mqtt_sale.py [--sales N]
"""

from __future__ import annotations

import argparse
import statistics

from common import back_to_back, box_against_emulator, cash, items, percentile

from agent.app import REGISTER_REFRESH_COOLDOWN_S
from agent.clock import SystemClock
from agent.mqtt.link import LinkSettings
from agent.mqtt.publisher import MqttPublisher
from agent.mqtt.topics import Topics
from agent.status import Coordinator, EventStream, StatusModel
from tests.mosquitto import Broker
from tests.waiting import wait_for


def line(name: str, timings: list[float]) -> str:
    return f"{name}: median {statistics.median(timings):.2f} ms, p99 {percentile(timings, 99):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=500)
    args = parser.parse_args()
    stream = EventStream()
    with Broker.start() as broker, box_against_emulator(
        "mqtt", auto_sync=False, probe_freshness_s=3600, events=stream.publish
    ) as bench:
        register = bench.register
        register.open_shift(cashier="Бенчмарк")
        bench.fault("down")
        assert register.sell(items(5), cash("1000.00")).offline  # takes the box offline: not measured
        model = StatusModel(SystemClock(), register.status(), events=stream.publish)
        part = Coordinator(
            "register", register.status, model.set_register, interval_s=None, cooldown_s=REGISTER_REFRESH_COOLDOWN_S
        ).start()
        register.add_listener(part.request_refresh)
        back_to_back(register, 50)  # warm-up
        without = back_to_back(register, args.sales)

        settings = LinkSettings(host="127.0.0.1", port=broker.port(), client_id="bench-sale")
        publisher = MqttPublisher(settings, Topics("bench", "sale-box"), now=SystemClock().now)
        model.subscribe(publisher.on_status, name="mqtt")
        stream.subscribe(publisher.on_event, name="mqtt")
        publisher.start()
        wait_for(lambda: publisher.connected, what="the publisher connected")
        up = back_to_back(register, args.sales)
        broker.stop()
        wait_for(lambda: not publisher.connected, what="the publisher noticing")
        down = back_to_back(register, args.sales)
        print(f"offline sales back to back, 5 lines, cash ({args.sales} each):")
        print(line("  without MQTT      ", without))
        print(line("  broker up         ", up))
        print(line("  broker down       ", down))
        print(
            f"  while down: {publisher.events_lost} events dropped beyond the buffer of 1000,"
            f" {publisher.pending_events} kept; the state is one string"
        )
        publisher.close()
        part.close()
        model.close()
        stream.close()


if __name__ == "__main__":
    main()
