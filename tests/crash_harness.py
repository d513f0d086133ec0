"""Run the cash register in its own process so tests can SIGKILL it at a chosen point.

usage: python tests/crash_harness.py STATE_DIR FS_URL {open,sell,close} [--crash POINT] [--request-id ID]
Prints one JSON line with the outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Box, cash, item


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("fs_url")
    parser.add_argument("action", choices=["open", "sell", "close", "go-online"])
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--crash")
    parser.add_argument("--request-id")
    args = parser.parse_args()

    def crashpoint(name: str) -> None:
        if name == args.crash:
            os.kill(os.getpid(), signal.SIGKILL)

    box = Box(args.state_dir, args.fs_url, crashpoint=crashpoint)
    box.register.start()
    if args.action == "open":
        result = box.register.open_shift(cashier="Тест")
    elif args.action == "sell":
        for _ in range(args.count):
            result = box.register.sell([item(price="12.34")], [cash("12.34")], request_id=args.request_id)
    elif args.action == "go-online":
        report = box.register.go_online()
        print(json.dumps({"went_online": report.went_online, "delivered": report.documents_delivered}))
        box.close()
        return 0
    else:
        result = box.register.close_shift()[1]
    print(json.dumps({"local_num": result.local_num, "fiscal_num": result.fiscal_num}))
    box.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
