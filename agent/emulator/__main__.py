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
    parser.add_argument(
        "--lax-readings",
        action="store_true",
        help="also accept the other readings of the ambiguous offline rules (docs/compliance.md)",
    )
    args = parser.parse_args(argv)
    return main_serve(args.listen, args.state, args.strict, args.lax_readings)


if __name__ == "__main__":
    sys.exit(main())
