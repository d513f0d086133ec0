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
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.clock import SystemClock
from agent.secr import documents as docs
from agent.secr.journal import Journal
from agent.secr.offline import Limits
from agent.secr.register import CashRegister, Registrar
from agent.secr.server import FiscalServerClient
from agent.secr.signing import DevSigner

REGISTRAR = {"fiscal_number": "4000000001", "local_number": 1, "tin": "34554362", "offline_allowed": True}
TAXES = {1: docs.Tax(1, "А", Decimal("20.00"), "ПДВ"), 2: docs.Tax(2, "Б", Decimal("7.00"), "ПДВ")}
SWEEP = (1000, 5000, 10000)


def post_json(url: str, payload: dict[str, object]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).read()


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
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.emulator",
            "--listen",
            "127.0.0.1:0",
            "--state",
            str(work / "emulator"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
        post_json(f"{url}/emulator/registrars", REGISTRAR)
        signer = DevSigner.generate()
        client = FiscalServerClient(f"{url}/fs", signer, timeout_s=30)
        server_ms: list[float] = []

        def on_response(response: httpx.Response) -> None:
            server_ms.append(float(response.headers.get("X-Emulator-Time-Ms", "0")))

        client.on_response = on_response
        register = CashRegister(
            journal=Journal(work / "box" / "journal.sqlite"),
            server=client,
            signer=signer,
            registrar=Registrar(fiscal_number="4000000001"),
            taxes=TAXES,
            clock=SystemClock(),
            limits=Limits(),
            auto_sync=False,
            probe_budget_s=0.3,
            probe_freshness_s=3600,
        )
        register.start()
        register.open_shift(cashier="Бенчмарк")
        items = [
            docs.Item(
                f"Товар {i}", Decimal("1.5") if i % 2 else Decimal("2"), Decimal("19.99") + i, (i % 2 + 1,)
            )
            for i in range(2)
        ]
        payments = [docs.Payment(docs.PayForm.CASH, "ГОТІВКА", Decimal("100.00"))]
        post_json(f"{url}/emulator/fault", {"mode": "down"})
        start = time.perf_counter()
        for i in range(count):
            result = register.sell(items, payments)
            assert result.offline, f"sale {i + 1} was not made offline"
        build_s = time.perf_counter() - start
        post_json(f"{url}/emulator/fault", {"mode": "none"})

        server_ms.clear()
        rss_before = vm_rss_mb()
        with RssSampler(0.05) as sampler:
            start = time.perf_counter()
            report = register.go_online()
            sync_s = time.perf_counter() - start
        rss_after = vm_rss_mb()
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert report.went_online, f"go_online did not go online: {report}"
        expected = count + 2
        server_s = sum(server_ms) / 1000
        if brief:
            print(
                f"documents {count}: sync {sync_s:.2f} s, VmRSS before {rss_before:.1f} MB, peak during sync"
                f" {sampler.peak_mb:.1f} MB (+{sampler.peak_mb - rss_before:.1f}), emulator's own time {server_s:.2f} s, packages {report.packages_sent},"
                f" delivered {report.documents_delivered}, whole-process peak (ru_maxrss) {peak_rss_mb:.1f} MB"
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
                f" answering {server_s:.2f} s ({len(server_ms)} requests; its X-Emulator-Time-Ms header)"
            )
            print(
                f"VmRSS of the box process: before sync {rss_before:.1f} MB, after {rss_after:.1f} MB,"
                f" peak during sync {sampler.peak_mb:.1f} MB (+{sampler.peak_mb - rss_before:.1f} MB;"
                f" {sampler.samples} samples every 50 ms)"
            )
            print(
                f"peak RSS of the box process (ru_maxrss, backlog building included): {peak_rss_mb:.1f} MB"
                " (target: under 100 MB for 10,000)"
            )
        if report.documents_delivered != expected:
            print(f"note: {report.documents_delivered} documents delivered, expected {expected}")
        register.close()
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


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
