"""How soon after a broker comes back its retained state is current again (target: within 2 s).

A box publishes through the real publisher; the broker (mosquitto without persistence: a restart forgets
every retained message) is stopped for a while, during which the state changes; from the moment the
broker listens again to a fresh subscriber holding the latest state, over several rounds. The box's
reconnect backoff doubles from 0.5 s up to ``[mqtt] reconnect_max_s`` (1.5 s by default), so the figure
is at most that plus a connect.

usage: python bench/mqtt_return.py [--rounds N] [--down S]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace

import common  # noqa: F401  (puts the repository on sys.path)

from agent.clock import SystemClock
from agent.mqtt.link import LinkSettings
from agent.mqtt.publisher import MqttPublisher
from agent.mqtt.topics import Topics
from agent.status import StatusModel
from tests.mosquitto import Broker, Watcher
from tests.test_status_model import register_status
from tests.waiting import wait_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--down", type=float, default=5.0, help="at most this many seconds down each round")
    args = parser.parse_args()
    topics = Topics("bench", "return-box")
    with Broker.start() as broker:
        status = register_status()
        model = StatusModel(SystemClock(), status)
        publisher = MqttPublisher(
            LinkSettings(host="127.0.0.1", port=broker.port(), client_id="bench-return"), topics, now=SystemClock().now
        )
        model.subscribe(publisher.on_status, name="mqtt")
        publisher.start()
        wait_for(lambda: publisher.connected, what="connected")
        figures = []
        for _ in range(args.rounds):
            broker.stop()
            # A random outage: the broker's return falls anywhere in the box's reconnect cycle.
            deadline = time.monotonic() + random.uniform(args.down / 2, args.down)
            while time.monotonic() < deadline:  # changes while it is away; the latest must win
                status = replace(status, next_local_num=status.next_local_num + 1)
                model.set_register(status)
                time.sleep(0.05)
            broker.restart()
            back = time.perf_counter()
            watcher = Watcher(broker, topics.state)
            wait_for(
                lambda n=status.next_local_num, w=watcher: any(
                    m.json()["next_local_num"] == n for m in w.messages(topics.state)
                ),
                timeout=30,
            )
            figures.append(time.perf_counter() - back)
            watcher.close()
        publisher.close()
        model.close()
    print(
        f"broker back -> retained state current ({args.rounds} rounds, {args.down / 2:g} to {args.down:g} s down each): median"
        f" {statistics.median(figures):.2f} s, max {max(figures):.2f} s (target: within 2 s)"
    )


if __name__ == "__main__":
    main()
