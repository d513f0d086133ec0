"""The one console script: ``fiscal-box run | demo | emulator | status | go-online | slip | fleet``.

Exit codes (contract §1): 0 success, 1 the operation failed (stderr says why and what to do),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from agent import __version__
from agent.secr.errors import BadInput, ConfigError, FiscalBoxError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DEFAULT_CONFIG = "/etc/fiscal-box/config.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fiscal-box", description="fiscal-box: a software cash register box"
    )
    parser.add_argument("--version", action="version", version=f"fiscal-box {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent (what systemd starts)")
    run.add_argument("--config", default=DEFAULT_CONFIG)

    demo = sub.add_parser("demo", help="a scripted story on loopback against the emulator")
    demo.add_argument("--serve", action="store_true", help="keep everything running afterwards")
    demo.add_argument("--workdir", type=Path, help="where to keep the demo's files (default: a temp dir)")

    emulator = sub.add_parser("emulator", help="the fiscal server emulator alone")
    emulator.add_argument("--listen", default="127.0.0.1:8643", metavar="HOST:PORT")
    emulator.add_argument("--state", required=True, type=Path, metavar="DIR")
    emulator.add_argument(
        "--strict", action="store_true", help="accept only qualified (DSTU 4145) signatures"
    )
    emulator.add_argument(
        "--lax-readings",
        action="store_true",
        help="also accept the other readings of the ambiguous offline rules (docs/compliance.md)",
    )

    status = sub.add_parser("status", help="the box's current state")
    status.add_argument("--json", action="store_true")
    status.add_argument("--config", default=DEFAULT_CONFIG)

    go_online = sub.add_parser("go-online", help="probe now, upload pending documents, report")
    go_online.add_argument("--config", default=DEFAULT_CONFIG)

    slip = sub.add_parser("slip", help="print the technician's status slip")
    slip.add_argument("--config", default=DEFAULT_CONFIG)
    _fleet_parser(sub)
    return parser


def _fleet_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = sub.add_parser(
        "fleet",
        help="one line per box seen on an MQTT broker, worst first",
        description="Read every box's retained availability and state under PREFIX/ on the broker and "
        "print one line per box, worst first: down, blocked, unknown, offline with warnings or errors, "
        "offline or uploading, online.",
    )
    fleet.add_argument("--broker", required=True, metavar="HOST[:PORT]", help="port 1883, 8883 with --tls")
    fleet.add_argument(
        "--tls", action="store_true", help="TLS to the broker (the system CAs unless --ca-file)"
    )
    fleet.add_argument(
        "--ca-file", type=Path, metavar="FILE", help="the CA that signed the broker's certificate"
    )
    fleet.add_argument(
        "--cert-file", type=Path, metavar="FILE", help="a client certificate (with --key-file)"
    )
    fleet.add_argument("--key-file", type=Path, metavar="FILE", help="the client certificate's key")
    fleet.add_argument("--username", metavar="USER")
    fleet.add_argument("--password-file", type=Path, metavar="FILE", help="the password, alone in a file")
    fleet.add_argument(
        "--prefix", default="fiscal-box", help="the boxes' [mqtt] topic_prefix (default: %(default)s)"
    )
    fleet.add_argument(
        "--json", action="store_true", help="a JSON list, one object per box, in the same order"
    )
    fleet.add_argument(
        "--watch", action="store_true", help="print again on every change, until Ctrl-C or SIGTERM"
    )
    fleet.add_argument(
        "--wait",
        type=float,
        default=2.0,
        metavar="S",
        help="at most this long for the retained messages (default: %(default)s s)",
    )


def _fleet(args: argparse.Namespace) -> int:
    from agent.mqtt.fleet_client import broker_options, fleet_command

    options = broker_options(
        args.broker,
        prefix=args.prefix,
        tls=args.tls,
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
        username=args.username,
        password_file=args.password_file,
    )
    return fleet_command(options, as_json=args.json, watching=args.watch, wait_s=args.wait)


def _fail(error: FiscalBoxError) -> int:
    sys.stderr.write(f"fiscal-box: {error}\n")
    return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # one line per HTTP request would bury what matters
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        if args.command == "demo":
            from agent.demo import run_demo

            return run_demo(serve=args.serve, workdir=args.workdir)
        if args.command == "emulator":
            from agent.emulator import main_serve

            return main_serve(args.listen, args.state, args.strict, args.lax_readings)
        if args.command == "run":
            from agent.app import run_agent

            return run_agent(args.config)
        if args.command == "status":
            from agent.commands import status_command

            return status_command(args.config, as_json=args.json)
        if args.command == "go-online":
            from agent.commands import go_online_command

            return go_online_command(args.config)
        if args.command == "slip":
            from agent.commands import slip_command

            return slip_command(args.config)
        if args.command == "fleet":
            return _fleet(args)
    except ConfigError as exc:
        return _fail(exc)
    except BadInput as exc:
        return _fail(exc)
    except FiscalBoxError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
