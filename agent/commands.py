"""`fiscal-box status | go-online | slip`: through the running agent, or alone while none runs.

The running agent alone writes the journal, so each command first asks it over state_dir/control.sock
(agent/control.py, agent/ownership.py). Only when nothing answers there *and* agent.lock can be taken does the command
open the journal itself, holding the lock until it is done (an agent starting meanwhile waits for
it). The lock held with no socket answering is an agent starting up: the command waits for the socket
up to CLI_WAITS_FOR_AGENT_S, then exits 1 saying so.

Either way a command builds the same result (the control protocol's), and prints it the same way.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from agent import control, ownership
from agent.builders import JOURNAL_FILE, build_printing, build_register, slip_layout
from agent.clock import SystemClock
from agent.config import Settings, load_config
from agent.secr.errors import NeedsPerson, RetryLater
from agent.status import build_status, certificate_status

# How long a command waits for the agent's answer: a status takes the register's lock (a document in
# flight holds it for up to the server's timeout), a go-online may send many packages.
STATUS_TIMEOUT_S = 60.0
GO_ONLINE_TIMEOUT_S = 600.0
SLIP_TIMEOUT_S = 120.0
NOT_RUNNING = "the agent is not running"
_POLL_S = 0.1


def status_command(
    config_path: str | Path, *, as_json: bool, wait_s: float = ownership.CLI_WAITS_FOR_AGENT_S
) -> int:
    settings = load_config(config_path)
    status = through_agent(
        settings, "status", STATUS_TIMEOUT_S, alone=lambda: _journal_status(settings), wait_s=wait_s
    )
    show_status(status, as_json=as_json)
    return 0


def go_online_command(config_path: str | Path, *, wait_s: float = ownership.CLI_WAITS_FOR_AGENT_S) -> int:
    """Probe now, deliver what is pending, say what happened."""
    settings = load_config(config_path)
    report = through_agent(
        settings, "go_online", GO_ONLINE_TIMEOUT_S, alone=lambda: _go_online_alone(settings), wait_s=wait_s
    )
    return show_go_online(report)


def slip_command(config_path: str | Path, *, wait_s: float = ownership.CLI_WAITS_FOR_AGENT_S) -> int:
    """The technician's status slip on the box's printer; exit 1 when nothing was printed."""
    settings = load_config(config_path)
    through_agent(settings, "slip", SLIP_TIMEOUT_S, alone=lambda: _slip_alone(settings), wait_s=wait_s)
    print("status slip printed")
    return 0


def through_agent(
    settings: Settings,
    command: str,
    timeout_s: float,
    *,
    alone: Callable[[], dict[str, Any]],
    wait_s: float,
) -> dict[str, Any]:
    """The agent's result for `command`, or `alone()`'s under agent.lock when no agent runs."""
    state_dir = settings.box.state_dir
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return control.request(state_dir, command, timeout_s=timeout_s)
        except control.AgentNotRunning:
            pass
        if not state_dir.is_dir():
            return alone()  # no agent ever ran here: alone() says so without creating anything
        lock = ownership.StateLock.try_acquire(state_dir, role="cli", command=command.replace("_", "-"))
        if lock is not None:
            with lock:
                return alone()
        if time.monotonic() >= deadline:
            holder = ownership.read_holder(state_dir)
            raise RetryLater(
                f"{holder.describe()} holds {state_dir} but does not answer on {control.SOCKET_FILE}"
                f" after {wait_s:.0f} s",
                what_to_do="an agent may still be starting: try again in a moment; if it stays so, see"
                " journalctl -u fiscal-box (systemctl restart fiscal-box restarts a stuck agent)",
            )
        time.sleep(_POLL_S)


def _never_ran(settings: Settings) -> NeedsPerson | None:
    state_dir = settings.box.state_dir
    if (state_dir / JOURNAL_FILE).exists():
        return None
    return NeedsPerson(
        f"the agent has not written its status yet: there is no journal in {state_dir}",
        what_to_do="start the agent (systemctl start fiscal-box), or check [box] state_dir in the config",
    )


def _journal_status(settings: Settings) -> dict[str, Any]:
    """The status read from the journal by a register this command builds (the lock is ours)."""
    if (error := _never_ran(settings)) is not None:
        raise error
    register = build_register(settings)
    try:
        now = SystemClock().now()
        return build_status(
            register.status(),
            now=now,
            errors=[NOT_RUNNING],
            certificate=certificate_status(register.signer, now),
        )
    finally:
        register.close()


def _go_online_alone(settings: Settings) -> dict[str, Any]:
    if (error := _never_ran(settings)) is not None:
        raise error
    register = build_register(settings)
    try:
        return control.go_online_answer(register)
    finally:
        register.close()


def _slip_alone(settings: Settings) -> dict[str, Any]:
    status = _journal_status(settings)
    printing = build_printing(settings)
    try:
        return control.slip_answer(printing, lambda width: slip_layout(settings, status, width))
    finally:
        if printing is not None:
            printing.close()


def show_status(status: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return
    updated = datetime.fromisoformat(status["updated_at"]).strftime("%Y-%m-%d %H:%M:%S %z")
    print(f"mode: {status['mode']}  shift: {status['shift']}  pending documents: {status['pending_documents']}")
    print(f"next local number: {status.get('next_local_num')}  updated: {updated}")
    network = status.get("network")
    if isinstance(network, dict):  # the uplinks are on
        print(f"uplink: {status.get('uplink')}" + (f"  ({network['message']})" if network.get("message") else ""))
        month = network.get("month")
        if isinstance(month, dict):
            print(
                f"this month ({month['month']}): Ethernet down {month['ethernet_down_minutes']} min, LTE down"
                f" {month['lte_down_minutes']} min, tax server down {month['server_down_minutes']} min;"
                f" offline time saved {month['offline_saved_minutes']} min"
            )
        addresses = network.get("addresses")
        if isinstance(addresses, dict) and addresses:
            shown = (f"{link} {', '.join(found) or 'none'}" for link, found in addresses.items())
            print("addresses: " + "; ".join(shown))
        if network.get("route_error"):
            print(f"error: the default route could not be moved: {network['route_error']}")
    for error in status.get("errors") or []:
        print(f"error: {error}")


def show_go_online(report: dict[str, Any]) -> int:
    if not report["reachable"]:
        sys.stderr.write(f"fiscal-box go-online: the fiscal server does not answer: {report['error']}\n")
        return 1
    print(
        f"fiscal server answers; mode now {report['mode']}; packages sent {report['packages_sent']},"
        f" documents delivered {report['documents_delivered']}"
    )
    if report.get("revoked_online_fiscal_num"):
        print(
            f"online document {report['revoked_online_fiscal_num']} lost at the outage was revoked"
            " (made again offline)"
        )
    if report.get("error"):
        sys.stderr.write(f"fiscal-box go-online: {report['error']}\n")
        return 1
    print(f"pending documents: {report['pending_documents']}")
    return 0
