"""Uploading N offline documents (default 10000) to the emulator on loopback with `go_online()`:
total time, and the memory of the box's process (the emulator runs in its own process and its memory
is not counted). The memory should stay flat as N grows: `--sweep` runs the sync for 1000, 5000 and
10000 documents, each in a fresh process, and prints one line per count.

Set-up (timed and printed, but not part of the sync figure): the emulator starts, the register starts
and opens its shift online, the emulator's fault mode is set to "down", and N sales (2 lines each,
cash) are made: the first takes the box offline (102 and the sale again offline), the rest are made
offline. The register is built with probe_freshness_s=3600, so the failed probe recorded when the box
went offline is reused and building the backlog does not wait on probes. Then the fault mode is set
back to "none" and `register.go_online()` is timed: it closes the session (103) and uploads the
packages (at most 100 documents / 200 KB each) to /fs/pck.

Memory: ru_maxrss is a high-water mark of the whole process, backlog building included; so VmRSS
(/proc/self/status) is also read before and after the sync and sampled every 50 ms in a background
thread during it, giving the peak during the sync and its growth over the level before it.

usage: python bench/sync.py [--documents N] [--sweep]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import box_against_emulator, cash, items, peak_rss_mb

SWEEP = (1000, 5000, 10000)


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class RssSampler:
    """The highest VmRSS seen every `interval_s` while running."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_mb = vm_rss_mb()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, vm_rss_mb())
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, vm_rss_mb())


def sweep() -> None:
    print(f"sweep: sync of {', '.join(map(str, SWEEP))} offline documents, each in a fresh process")
    for count in SWEEP:
        child = subprocess.run(
            [sys.executable, __file__, "--documents", str(count), "--brief"],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            print(f"documents {count}: FAILED (exit {child.returncode})\n{child.stderr}")
            continue
        print(child.stdout.strip())


def run(count: int, brief: bool) -> None:
    with box_against_emulator("sync", timeout_s=30, auto_sync=False, probe_freshness_s=3600) as bench:
        register = bench.register
        register.open_shift(cashier="Бенчмарк")
        lines, payments = items(2), cash("100.00")
        bench.fault("down")
        start = time.perf_counter()
        for i in range(count):
            result = register.sell(lines, payments)
            assert result.offline, f"sale {i + 1} was not made offline"
        build_s = time.perf_counter() - start
        bench.fault("none")

        bench.server_ms.clear()
        rss_before = vm_rss_mb()
        with RssSampler(0.05) as sampler:
            start = time.perf_counter()
            report = register.go_online()
            sync_s = time.perf_counter() - start
        rss_after = vm_rss_mb()
        whole_peak = peak_rss_mb()
        assert report.went_online, f"go_online did not go online: {report}"
        expected = count + 2
        server_s = sum(bench.server_ms) / 1000
        if brief:
            print(
                f"documents {count}: sync {sync_s:.2f} s, VmRSS before {rss_before:.1f} MB, peak during sync"
                f" {sampler.peak_mb:.1f} MB (+{sampler.peak_mb - rss_before:.1f}), emulator's own time {server_s:.2f} s, packages {report.packages_sent},"
                f" delivered {report.documents_delivered}, whole-process peak (ru_maxrss) {whole_peak:.1f} MB"
            )
        else:
            print(f"offline sales: {count} (2 lines each, cash), made while the emulator was down")
            print(
                f"building the backlog: {build_s:.1f} s ({build_s / count * 1000:.2f} ms per sale;"
                " not part of the sync figure; probe answers from the cache, probe_freshness_s=3600)"
            )
            print(
                f"go_online: went_online {report.went_online}, mode {report.mode}, packages sent"
                f" {report.packages_sent}, documents delivered {report.documents_delivered} (expected"
                f" {expected}: the sales, 102 and 103)"
            )
            print(
                f"sync time: {sync_s:.2f} s (target: under 60 s for 10,000), of which the emulator's own time"
                f" answering {server_s:.2f} s ({len(bench.server_ms)} requests; its X-Emulator-Time-Ms header)"
            )
            print(
                f"VmRSS of the box process: before sync {rss_before:.1f} MB, after {rss_after:.1f} MB,"
                f" peak during sync {sampler.peak_mb:.1f} MB (+{sampler.peak_mb - rss_before:.1f} MB;"
                f" {sampler.samples} samples every 50 ms)"
            )
            print(
                f"peak RSS of the box process (ru_maxrss, backlog building included): {whole_peak:.1f} MB"
                " (target: under 100 MB for 10,000)"
            )
        if report.documents_delivered != expected:
            print(f"note: {report.documents_delivered} documents delivered, expected {expected}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10000)
    parser.add_argument("--sweep", action="store_true", help="sync 1000, 5000 and 10000 in fresh processes")
    parser.add_argument("--brief", action="store_true", help="print one line (used by --sweep)")
    args = parser.parse_args()
    if args.sweep:
        sweep()
    else:
        run(args.documents, args.brief)


if __name__ == "__main__":
    main()
