"""What every benchmark needs: the emulator in its own process (so it does not share the box's GIL), a
registrar on it, and a cash register against it with its journal on disk. Cleans up after itself."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

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


def timed(runs: int, work: Callable[[], object]) -> list[float]:
    """Milliseconds per call of ``work``, ``runs`` times."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        out.append((time.perf_counter() - start) * 1000)
    return out


def back_to_back(register: CashRegister, count: int) -> list[float]:
    """Milliseconds of each of ``count`` sales made one after another (5 lines, cash), as a busy till makes them."""
    lines, payments = items(5), cash("1000.00")
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        register.sell(lines, payments)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def post_json(url: str, payload: dict[str, object]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).read()


def items(count: int) -> list[docs.Item]:
    return [
        docs.Item(
            f"Товар {i}",
            Decimal("1.5") if i % 3 else Decimal("2"),
            Decimal("19.99") + i,
            (1 if i % 2 else 2,),
        )
        for i in range(count)
    ]


def cash(amount: str) -> list[docs.Payment]:
    return [docs.Payment(docs.PayForm.CASH, "ГОТІВКА", Decimal(amount))]


@dataclass
class Bench:
    url: str
    register: CashRegister
    #: the emulator's own time per answer (its X-Emulator-Time-Ms header), for subtracting it
    server_ms: list[float] = field(default_factory=list)

    def fault(self, mode: str) -> None:
        post_json(f"{self.url}/emulator/fault", {"mode": mode})


@contextmanager
def box_against_emulator(prefix: str, *, timeout_s: float = 10, **register_kwargs: Any) -> Iterator[Bench]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
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
        client = FiscalServerClient(f"{url}/fs", signer, timeout_s=timeout_s)
        register = CashRegister(
            journal=Journal(work / "box" / "journal.sqlite"),
            server=client,
            signer=signer,
            registrar=Registrar(fiscal_number=str(REGISTRAR["fiscal_number"])),
            taxes=TAXES,
            clock=SystemClock(),
            **register_kwargs,
        )
        bench = Bench(url, register)

        def on_response(response: httpx.Response) -> None:
            bench.server_ms.append(float(response.headers.get("X-Emulator-Time-Ms", "0")))

        client.on_response = on_response
        register.start()
        try:
            yield bench
        finally:
            register.close()
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
