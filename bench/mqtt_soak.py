"""The broker away through 10,000 state changes (and as many events): memory, and how soon after its
return the retained state is current (targets: flat; within 2 s).

The publisher as agent/app.py wires it, behind a TCP gate (tests/mosquitto.py ``Gate``) that is shut
for the outage, while the broker itself is restarted (so it forgets every retained message, as a broker
without persistence does). Memory: Python's traced allocations after the buffers filled (1,000 changes)
and after 10,000, and the process's peak RSS. The return: from the gate opening to a fresh subscriber
holding the latest state.

usage: python bench/mqtt_soak.py [--changes N]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from dataclasses import replace

from common import peak_rss_mb

from agent.clock import SystemClock
from agent.events import Event, EventKind
from agent.mqtt.link import LinkSettings
from agent.mqtt.publisher import MqttPublisher
from agent.mqtt.topics import Topics
from agent.status import EventStream, StatusModel
from tests.mosquitto import Broker, Gate, retained
from tests.test_status_model import register_status
from tests.waiting import wait_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=10_000)
    args = parser.parse_args()
    topics = Topics("bench", "soak-box")
    clock = SystemClock()
    with Broker.start() as broker:
        gate = Gate(broker.port())
        status = register_status()
        model, stream = StatusModel(clock, status), EventStream()
        publisher = MqttPublisher(
            LinkSettings(host="127.0.0.1", port=gate.port, client_id="bench-soak"), topics, now=clock.now
        )
        model.subscribe(publisher.on_status, name="mqtt")
        events = stream.subscribe(publisher.on_event, name="mqtt")
        publisher.count_upstream_drops(lambda: events.dropped)
        publisher.start()
        wait_for(lambda: publisher.connected, what="connected")
        gate.shut()
        wait_for(lambda: not publisher.connected, what="the outage noticed")
        broker.restart()
        tracemalloc.start()
        rss_before = 0.0
        before = 0
        for n in range(args.changes):
            status = replace(status, next_local_num=status.next_local_num + 1, pending_documents=n)
            model.set_register(status)
            stream.publish(Event(EventKind.FISCALIZED, clock.now(), {"n": n}))
            if n == 999:
                wait_for(lambda: model.subscriptions()[0].pending == 0 and events.pending == 0)
                gc.collect()
                before, rss_before = tracemalloc.get_traced_memory()[0], peak_rss_mb()
        wait_for(lambda: model.subscriptions()[0].pending == 0 and events.pending == 0)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        gate.open()
        back = time.perf_counter()
        wait_for(
            lambda: (r := retained(broker, topics.state).get(topics.state))
            and json.loads(r.payload)["next_local_num"] == status.next_local_num,
            timeout=30,
        )
        current_s = time.perf_counter() - back
        publisher.close()
        gate.shut()
    print(
        f"broker away through {args.changes} state changes and events: traced memory {before / 1024:.0f} KiB"
        f" after 1000, {after / 1024:.0f} KiB after {args.changes} ({(after - before) / 1024:+.0f} KiB);"
        f" peak RSS {rss_before:.1f} -> {peak_rss_mb():.1f} MB; {publisher.events_lost} events dropped"
        f" (buffer 1000); back -> retained state current in {current_s:.2f} s (target: within 2 s)"
    )


if __name__ == "__main__":
    main()
