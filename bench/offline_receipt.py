"""Per offline receipt, over N receipts (default 5000): the box's own time to make one (offline fiscal
number and control number, hash chain, CMS signature, journal with fsync); median and p99; peak RSS of
the box's process. The journal is kept in a temp dir on disk, so fsync is part of the cost.

Set-up (not measured): the emulator runs in its own process; the register starts, opens its shift
online, the emulator's fault mode is set to "down", and one sale takes the box offline (102 and the
sale again offline). The register is built with probe_freshness_s=3600, so the failed probe recorded
when the box went offline counts as a fresh answer for every later receipt: the figures are the box's
own offline cost, without waiting on probes of the server (probe_budget_s).

usage: python bench/offline_receipt.py [--receipts N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import box_against_emulator, cash, items, peak_rss_mb, percentile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=5000)
    args = parser.parse_args()
    with box_against_emulator("offline", auto_sync=False, probe_freshness_s=3600) as bench:
        register = bench.register
        register.open_shift(cashier="Бенчмарк")
        lines, payments = items(5), cash("1000.00")
        bench.fault("down")
        first = register.sell(lines, payments)  # takes the box offline: not measured
        assert first.offline, "the first sale after the fault should have been made offline"
        timings: list[float] = []
        for _ in range(args.receipts):
            start = time.perf_counter()
            result = register.sell(lines, payments)
            timings.append((time.perf_counter() - start) * 1000)
            assert result.offline
    print(
        f"receipts: {args.receipts} (5 lines each, cash, offline; journal with fsync in a temp dir on disk)"
    )
    print("probe answers from the cache (probe_freshness_s=3600): probe waits are not in the figures")
    print(
        f"per offline receipt ms: median {statistics.median(timings):.2f}, p99 {percentile(timings, 99):.2f}"
        " (target: median < 5, p99 < 20)"
    )
    print(f"peak RSS of the box process: {peak_rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
