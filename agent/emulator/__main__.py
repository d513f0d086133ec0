"""``python -m agent.emulator --listen 127.0.0.1:0 --state DIR [--strict]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.emulator.server import main_serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agent.emulator", description="DPS fiscal server emulator"
    )
    parser.add_argument("--listen", default="127.0.0.1:8609", help="HOST:PORT (port 0 = any free port)")
    parser.add_argument("--state", required=True, type=Path, help="state directory (SQLite, server key)")
    parser.add_argument("--strict", action="store_true", help="accept only qualified DSTU 4145 signatures")
    args = parser.parse_args(argv)
    return main_serve(args.listen, args.state, args.strict)


if __name__ == "__main__":
    sys.exit(main())
