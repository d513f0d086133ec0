"""POST receipts/sell end-to-end on loopback through the till API: median and p99 online (against the
emulator) and offline; and the receipts per second four concurrent tills get offline.

The box (register + till API) runs in this process, the emulator in its own, and the tills in a third
(`--client`), so neither the server nor the fiscal server shares the tills' GIL.

usage: python bench/api_receipt.py [--online N] [--offline N] [--concurrent N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import httpx
from common import box_against_emulator, peak_rss_mb, percentile

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from common import TAXES

from agent.clock import SystemClock
from agent.config import Cashier
from agent.till_api.app import ApiContext, create_app
from agent.till_api.auth import Sessions
from agent.till_api.server import ApiServer

LICENSE = "bench-licence"


def receipt() -> dict[str, Any]:
    goods = [
        {
            "good": {"code": f"g{i}", "name": f"Товар {i}", "price": 1999 + i, "tax": [1 if i % 2 else 2]},
            "quantity": 1000,
        }
        for i in range(5)
    ]
    total = sum(1999 + i for i in range(5))
    return {"id": str(uuid.uuid4()), "goods": goods, "payments": [{"type": "CASH", "value": total}]}


def client(url: str, token: str, count: int, threads: int) -> None:
    """The tills: `threads` of them, `count` receipts each; prints timings (ms) and wall time as JSON."""
    headers = {"Authorization": f"Bearer {token}", "X-License-Key": LICENSE}
    timings: list[float] = []
    lock = threading.Lock()

    def till() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            for _ in range(count):
                body = receipt()
                start = time.perf_counter()
                response = http.post("/api/v1/receipts/sell", json=body, headers={"x-request-id": body["id"]})
                elapsed = (time.perf_counter() - start) * 1000
                response.raise_for_status()
                with lock:
                    timings.append(elapsed)

    started = time.perf_counter()
    workers = [threading.Thread(target=till) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({"timings": timings, "wall_s": time.perf_counter() - started}))


def run_tills(url: str, token: str, count: int, threads: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", url, token, str(count), str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--online", type=int, default=500)
    parser.add_argument("--offline", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=250, help="receipts per till, four tills")
    parser.add_argument("--client", nargs=4, metavar=("URL", "TOKEN", "COUNT", "THREADS"))
    args = parser.parse_args()
    if args.client:
        url, token, count, threads = args.client
        client(url, token, int(count), int(threads))
        return
    with box_against_emulator("api", auto_sync=False, probe_freshness_s=3600) as bench:
        clock = SystemClock()
        context = ApiContext(
            register=bench.register,
            sessions=Sessions([Cashier(name="Бенчмарк", login="bench", pin="1234")], clock, ttl_s=3600),
            license_key=LICENSE,
            taxes=TAXES,
            fiscal_number="4000000001",
            clock=clock,
            box_status=dict,
        )
        with ApiServer(create_app(context)) as server:
            token = httpx.post(
                f"{server.url}/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}", "X-License-Key": LICENSE}
            httpx.post(f"{server.url}/api/v1/shifts", json={}, headers=headers).raise_for_status()
            online = run_tills(server.url, token, args.online, 1)
            bench.fault("down")
            httpx.post(f"{server.url}/api/v1/receipts/sell", json=receipt(), headers=headers, timeout=30)
            offline = run_tills(server.url, token, args.offline, 1)
            concurrent = run_tills(server.url, token, args.concurrent, 4)
    print("till API, POST receipts/sell (5 lines, cash), end-to-end on loopback")
    for label, result in (("online", online), ("offline", offline)):
        t = result["timings"]
        print(
            f"{label}: {len(t)} receipts, median {statistics.median(t):.2f} ms, p99 {percentile(t, 99):.2f} ms"
        )
    rate = len(concurrent["timings"]) / concurrent["wall_s"]
    print(
        f"four concurrent tills offline: {len(concurrent['timings'])} receipts in {concurrent['wall_s']:.2f} s ="
        f" {rate:.0f} receipts/s (target: offline p99 < 30 ms; at least 50 receipts/s)"
    )
    print(f"peak RSS of the box process: {peak_rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
