"""A till selling without pause, run inside a network namespace (the box's: its API listens on the box's
loopback), for tests that break the network under it. One JSON line per receipt on stdout:
``{"i", "began", "ended", "offline", "fiscal_code"}`` (CLOCK_MONOTONIC, shared by every namespace, so the
test can hold the times against its own), or ``{"i", "began", "ended", "error"}``. It opens the shift first and stops when
its stdin closes.

    ip netns exec BOX python -m tests.netns_till --port 8081 --every 0.2
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from tests.test_owner import Till


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--every", type=float, default=0.2, help="seconds between the start of two sales")
    args = parser.parse_args()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    till = Till(args.port)
    till.open_shift()
    i = 0
    while not stop.is_set():
        began = time.monotonic()
        line: dict[str, object] = {"i": i, "began": began}
        try:
            receipt = till.sell_until_taken(i)
        except Exception as exc:  # said, not raised: the test decides what a failed sale means
            line |= {"ended": time.monotonic(), "error": f"{type(exc).__name__}: {exc}"}
        else:
            line |= {
                "ended": time.monotonic(),
                "offline": receipt.get("is_created_offline"),
                "fiscal_code": receipt.get("fiscal_code"),
            }
        print(json.dumps(line), flush=True)
        i += 1
        stop.wait(max(0.0, began + args.every - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
