"""Run the cash register and its print service in their own process, so tests can SIGKILL it between a
document becoming fiscal and its receipt reaching paper, and restart it.

usage: python tests/print_harness.py STATE_DIR FS_URL PAPER [--open] [--sell N] [--kill {failed,printed}]

PAPER is a file printer's path (a missing directory: the printer is offline). ``--kill failed``: SIGKILL
once the printer failed on the queued receipts; ``--kill printed``: SIGKILL right after they were printed
(no clean shutdown either way). Without ``--kill`` the process prints what is queued and exits.
Prints one JSON line before it dies or exits: the fiscal numbers sold and what is left unprinted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.printing import PrintService
from drivers.drawer import CashDrawer
from drivers.printer import ReceiptPrinter
from tests.conftest import Box, cash, item


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("fs_url")
    parser.add_argument("paper", type=Path)
    parser.add_argument("--open", action="store_true")
    parser.add_argument("--sell", type=int, default=0)
    parser.add_argument("--kill", choices=["failed", "printed"])
    args = parser.parse_args()

    box = Box(args.state_dir, args.fs_url, print_documents=True)
    box.register.start()
    printer = ReceiptPrinter("file", path=args.paper, width_mm=58)
    service = PrintService(
        printer, CashDrawer("printer", printer=printer), journal=box.journal, clock=box.register.clock
    )
    box.recorder.forward_to(service.on_event)
    if args.open:
        box.register.open_shift(cashier="Тест")
    sales = [box.register.sell([item(price="12.34")], [cash("12.34")]) for _ in range(args.sell)]
    printed = service.drain(timeout=30)
    report = {
        "sold": [r.fiscal_num for r in sales],
        "printed": printed,
        "unprinted": [job.doc_id for job in box.journal.unprinted()],
        "last_error": service.last_error,
    }
    print(json.dumps(report), flush=True)
    if args.kill == ("printed" if printed else "failed"):
        os.kill(os.getpid(), signal.SIGKILL)
    service.close()
    box.close()
    return 0 if args.kill is None else 3  # asked to die at a point this run never reached


if __name__ == "__main__":
    sys.exit(main())
