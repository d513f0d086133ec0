"""From a sale to a status subscriber's callback, and what the status wiring costs the sales.

The whole path as agent/app.py wires it: the register's change notice, the register's coordinator
(with the agent's cooldown, which coalesces a burst of sales into one read) reading `register.status()`
on its own thread, the model's compare, the subscriber's own delivery thread. Offline, so the figures
are the box's own, not the emulator's.

Two figures:
- a sale made when the till has been quiet (at least the cooldown since the last one): from `sell()`
  returning to the subscriber holding a snapshot with that sale in it, median and p99 over N sales;
- sales back to back, as a busy till makes them: the sale's own time without the status model attached
  and with it (the coordinator's reads take the register's lock between sales).

usage: python bench/status_sale.py [--sales N] [--burst N]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from common import back_to_back, box_against_emulator, cash, items, percentile

from agent.app import REGISTER_REFRESH_COOLDOWN_S
from agent.clock import SystemClock
from agent.status import Coordinator, Snapshot, StatusModel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    with box_against_emulator("status", auto_sync=False, probe_freshness_s=3600) as bench:
        register = bench.register
        register.open_shift(cashier="Бенчмарк")
        lines, payments = items(5), cash("1000.00")
        bench.fault("down")
        assert register.sell(lines, payments).offline  # takes the box offline: not measured
        bare = back_to_back(register, args.burst)

        model = StatusModel(SystemClock(), register.status())
        part = Coordinator(
            "register",
            register.status,
            model.set_register,
            interval_s=None,
            cooldown_s=REGISTER_REFRESH_COOLDOWN_S,
        ).start()
        register.add_listener(part.request_refresh)
        seen = threading.Condition()
        latest = [0]

        def subscriber(snapshot: Snapshot) -> None:
            with seen:
                latest[0] = snapshot.register.next_local_num
                seen.notify_all()

        model.subscribe(subscriber, name="bench")
        wired = back_to_back(register, args.burst)
        delays: list[float] = []
        for _ in range(args.sales):
            time.sleep(REGISTER_REFRESH_COOLDOWN_S + 0.05)  # a quiet till: the cooldown has passed
            result = register.sell(lines, payments)
            sold = time.perf_counter()
            with seen:
                assert seen.wait_for(lambda r=result: latest[0] > r.local_num, timeout=10)
            delays.append((time.perf_counter() - sold) * 1000)
        part.close()
        model.close()
    print(f"offline sales, 5 lines, cash; coordinator cooldown {REGISTER_REFRESH_COOLDOWN_S} s (the agent's)")
    print(
        f"a sale after a quiet moment -> status subscriber ms ({args.sales} sales): median"
        f" {statistics.median(delays):.2f}, p99 {percentile(delays, 99):.2f} (target: median < 5)"
    )
    print(
        f"{args.burst} sales back to back, the sale's own ms: without the status model median"
        f" {statistics.median(bare):.2f} (p99 {percentile(bare, 99):.2f}), with it median"
        f" {statistics.median(wired):.2f} (p99 {percentile(wired, 99):.2f})"
    )


if __name__ == "__main__":
    main()
