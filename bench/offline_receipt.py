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
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def post_json(url: str, payload: dict[str, object]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=5000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-offline-"))
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
        client = FiscalServerClient(f"{url}/fs", signer, timeout_s=10)
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
                f"Товар {i}",
                Decimal("1.5") if i % 3 else Decimal("2"),
                Decimal("19.99") + i,
                (1 if i % 2 else 2,),
            )
            for i in range(5)
        ]
        payments = [docs.Payment(docs.PayForm.CASH, "ГОТІВКА", Decimal("1000.00"))]
        post_json(f"{url}/emulator/fault", {"mode": "down"})
        first = register.sell(items, payments)  # takes the box offline: not measured
        assert first.offline, "the first sale after the fault should have been made offline"
        timings: list[float] = []
        for _ in range(args.receipts):
            start = time.perf_counter()
            result = register.sell(items, payments)
            timings.append((time.perf_counter() - start) * 1000)
            assert result.offline
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"receipts: {args.receipts} (5 lines each, cash, offline; journal with fsync in a temp dir on disk)"
        )
        print("probe answers from the cache (probe_freshness_s=3600): probe waits are not in the figures")
        print(
            f"per offline receipt ms: median {statistics.median(timings):.2f}, p99 {percentile(timings, 99):.2f}"
            " (target: median < 5, p99 < 20)"
        )
        print(f"peak RSS of the box process: {peak_rss_mb:.1f} MB")
        register.close()
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
