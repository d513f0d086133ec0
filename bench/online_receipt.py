"""Per receipt against the emulator on loopback, over N receipts (default 1000):
end-to-end time, and the box's own share (build, sign, journal with fsync, parse the reply) =
end-to-end minus the emulator's own time to answer (its X-Emulator-Time-Ms header); median and p99;
peak RSS of the box's process. The emulator runs in its own process so it does not share our GIL.

usage: python bench/online_receipt.py [--receipts N]
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.clock import SystemClock
from agent.secr import documents as docs
from agent.secr.journal import Journal
from agent.secr.register import CashRegister, Registrar
from agent.secr.server import FiscalServerClient
from agent.secr.signing import DevSigner

REGISTRAR = {"fiscal_number": "4000000001", "local_number": 1, "tin": "34554362", "offline_allowed": True}
TAXES = {1: docs.Tax(1, "А", Decimal("20.00"), "ПДВ"), 2: docs.Tax(2, "Б", Decimal("7.00"), "ПДВ")}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-online-"))
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
        request = urllib.request.Request(
            f"{url}/emulator/registrars",
            data=json.dumps(REGISTRAR).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).read()
        signer = DevSigner.generate()
        client = FiscalServerClient(f"{url}/fs", signer, timeout_s=10)
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
        total_guess = Decimal("1000.00")
        end_to_end: list[float] = []
        box_share: list[float] = []
        for _ in range(args.receipts):
            server_ms.clear()
            start = time.perf_counter()
            register.sell(items, [docs.Payment(docs.PayForm.CASH, "ГОТІВКА", total_guess)])
            elapsed = (time.perf_counter() - start) * 1000
            end_to_end.append(elapsed)
            box_share.append(elapsed - sum(server_ms))
        register.close_shift()
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"receipts: {args.receipts} (5 lines each, online, against the emulator on loopback)")
        print(
            f"end-to-end ms: median {statistics.median(end_to_end):.2f}, p99 {percentile(end_to_end, 99):.2f}"
        )
        print(
            f"box's own share ms: median {statistics.median(box_share):.2f}, p99 {percentile(box_share, 99):.2f}"
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
