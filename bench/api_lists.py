"""GET receipts / receipts/search / shifts / reports through the till API over a journal of N receipts
(default 5000, in 10 shifts with a Z each): median and p99 per page of 25, at the start, deep in the list,
newest first, by fiscal code and in a date window. Each result is a whole ReceiptModel (its own GET's
answer), so the figure is the cost a till pays for a page, on loopback.

Set-up (not measured): the register makes the receipts straight (no HTTP), offline after the first shift so
that the journal is written at the box's offline pace; the emulator runs in its own process, and so does
the till (`--client`), so that it does not share the box's GIL.

usage: python bench/api_lists.py [--receipts N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
from common import TAXES, box_against_emulator, cash, items, percentile, timed

from agent.clock import SystemClock
from agent.config import Cashier
from agent.till_api.app import ApiContext, create_app
from agent.till_api.auth import Sessions
from agent.till_api.server import ApiServer

LICENSE = "bench-licence"
SHIFTS = 10


def client(url: str, token: str, runs: int, cases: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """The till: each case `runs` times; prints the timings (ms) per case as JSON."""
    headers = {"Authorization": f"Bearer {token}", "X-License-Key": LICENSE}
    figures: dict[str, list[float]] = {}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=30) as http:

        def page(path: str, params: dict[str, Any]) -> Callable[[], object]:
            def get() -> object:
                answer = http.get(path, params=params)
                answer.raise_for_status()
                return answer

            return get

        for label, (path, params) in cases.items():
            figures[label] = timed(runs, page(path, params))
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--client", nargs=4, metavar=("URL", "TOKEN", "RUNS", "CASES"))
    args = parser.parse_args()
    if args.client:
        url, token, runs, cases = args.client
        client(url, token, int(runs), json.loads(cases))
        return
    with box_against_emulator("lists", auto_sync=False, probe_freshness_s=3600) as bench:
        register = bench.register
        lines, payments = items(5), cash("1000.00")
        per_shift = args.receipts // SHIFTS
        made: list[Any] = []
        for shift in range(SHIFTS):
            register.open_shift(cashier="Бенчмарк")
            if shift == 1:
                bench.fault("down")
            made += [register.sell(lines, payments) for _ in range(per_shift)]
            register.close_shift(cashier="Бенчмарк")
        clock = SystemClock()
        context = ApiContext(
            register=register,
            sessions=Sessions([Cashier(name="Бенчмарк", login="bench", pin="1234")], clock, ttl_s=3600),
            license_key=LICENSE,
            taxes=TAXES,
            fiscal_number="4000000001",
            clock=clock,
            box_status=dict,
        )
        middle = made[len(made) // 2]
        assert middle.document.head.when is not None
        day = middle.document.head.when.isoformat()
        with ApiServer(create_app(context)) as server:
            token = httpx.post(
                f"{server.url}/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}
            ).json()["access_token"]
            cases = {
                "receipts, first page": ("/receipts", {"limit": 25}),
                "receipts, deep (offset N-50)": ("/receipts", {"limit": 25, "offset": len(made) - 50}),
                "receipts, newest first": ("/receipts", {"limit": 25, "desc": True}),
                "receipts, by fiscal code": ("/receipts", {"fiscal_code": middle.fiscal_num}),
                "receipts/search, a date window": ("/receipts/search", {"from_date": day, "to_date": day}),
                "shifts, page of 10": ("/shifts", {"limit": 10}),
                "GET tax (for scale)": ("/tax", {}),
                "GET receipts/{id} (for scale)": (f"/receipts/{middle.request_id or middle.uid}", {}),
                "reports, Z only, page of 10": ("/reports/search", {"is_z_report": True, "limit": 10}),
            }
            out = subprocess.run(
                [sys.executable, __file__, "--client", server.url, token, str(args.runs), json.dumps(cases)],
                capture_output=True,
                text=True,
                check=True,
            )
            figures: dict[str, list[float]] = json.loads(out.stdout)
    print(f"till API lists over {len(made)} receipts in {SHIFTS} shifts (journal on disk), {args.runs} runs each")
    for label, timings in figures.items():
        print(f"{label}: median {statistics.median(timings):.2f} ms, p99 {percentile(timings, 99):.2f} ms")


if __name__ == "__main__":
    main()
