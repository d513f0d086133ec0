"""Per receipt against the emulator on loopback, over N receipts (default 1000): end-to-end time, and the
box's own share (build, sign, journal with fsync, parse the reply) = end-to-end minus the emulator's own
time to answer (its X-Emulator-Time-Ms header); median and p99; peak RSS of the box's process. The
emulator runs in its own process so it does not share our GIL.

usage: python bench/online_receipt.py [--receipts N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import box_against_emulator, cash, items, peak_rss_mb, percentile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=1000)
    args = parser.parse_args()
    with box_against_emulator("online") as bench:
        register = bench.register
        register.open_shift(cashier="Бенчмарк")
        lines, payments = items(5), cash("1000.00")
        end_to_end: list[float] = []
        box_share: list[float] = []
        for _ in range(args.receipts):
            bench.server_ms.clear()
            start = time.perf_counter()
            result = register.sell(lines, payments)
            elapsed = (time.perf_counter() - start) * 1000
            assert not result.offline
            end_to_end.append(elapsed)
            box_share.append(elapsed - sum(bench.server_ms))
        register.close_shift()
    print(f"receipts: {args.receipts} (5 lines each, online, against the emulator on loopback)")
    print(f"end-to-end ms: median {statistics.median(end_to_end):.2f}, p99 {percentile(end_to_end, 99):.2f}")
    print(
        f"box's own share ms: median {statistics.median(box_share):.2f}, p99 {percentile(box_share, 99):.2f}"
        " (target: median < 5, p99 < 20)"
    )
    print(f"peak RSS of the box process: {peak_rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
