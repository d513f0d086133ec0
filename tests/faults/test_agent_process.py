"""The same promise with the agent as it runs in a shop: ``fiscal-box run`` in its own process, a till on
its HTTP API, the file printer, the fault proxy in front of the emulator. The agent is SIGKILLed while the
server holds the reply to its sale, and a second agent is started on the same ``state_dir`` while the
first sells (the one-owner rule: the second exits 1 and nothing is made twice)."""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import EmulatorHandle
from tests.faults.invariants import assert_promise_kept, journal_rows
from tests.faults.proxy import Fault, FaultProxy
from tests.faults.shop import Death
from tests.test_cli import free_port, write_config
from tests.test_owner import Agent, Till, agents, cli, file_printer
from tests.waiting import wait_for

__all__ = ["agents"]  # the fixture, from tests/test_owner.py


@dataclass
class Records:
    """What the invariants read (the shape of tests/faults/shop.py ``Shop``) for an agent's shop."""

    emulator: EmulatorHandle
    state_dir: Path
    paper: Path
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    deaths: list[Death] = field(default_factory=list)
    faults: int = 0


def _answer(receipt: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "doc": {"fiscal_num": receipt["fiscal_code"]}}


def _everything_printed(state: Path) -> bool:
    return all(p["printed_at"] is not None for p in journal_rows(state, "prints"))


def _shop(tmp_path: Path, fs_url: str) -> tuple[Path, Path, Path, int]:
    port = free_port()
    paper = tmp_path / "paper.escpos"
    config = write_config(tmp_path / "config.toml", fs_url, api_port=port, **file_printer(paper))
    return config, tmp_path / "state", paper, port


def _start(config: Path, state: Path, log: Path, agents: list[Agent]) -> Agent:
    agent = Agent(config, state, log)
    agents.append(agent)
    return agent.wait_ready()


def test_fiscal_box_run_killed_while_the_server_holds_its_reply(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    with FaultProxy(emulator.fs_url) as proxy:
        config, state, paper, port = _shop(tmp_path, proxy.fs_url)
        records = Records(emulator, state, paper)
        agent = _start(config, state, tmp_path / "agent-0.log", agents)
        till = Till(port)
        till.open_shift()
        records.answers[0] = _answer(till.sell(0))
        wait_for(lambda: _everything_printed(state), what="the first receipt on paper")

        proxy.set(Fault("hold-reply", paths=("/fs/doc",), count=1))
        receipt_id = str(uuid.uuid4())
        in_flight = threading.Thread(target=lambda: _post_ignoring_the_end(till, 1, receipt_id), daemon=True)
        in_flight.start()
        wait_for(lambda: proxy.holding == 1, what="the server to hold the sale's reply")
        agent.proc.send_signal(signal.SIGKILL)
        assert agent.proc.wait(30) == -signal.SIGKILL
        proxy.release()
        proxy.clear()
        in_flight.join(60)
        records.faults, records.deaths = 2, [Death(1, "sent", 1, -signal.SIGKILL)]

        agent = _start(config, state, tmp_path / "agent-1.log", agents)
        again = Till(port)
        records.answers[1] = _answer(_ask_again(again, 1, receipt_id))
        records.answers[2] = _answer(again.sell(2))
        wait_for(lambda: _everything_printed(state), what="every receipt on paper")
        assert agent.stop() == 0, agent.stderr
        assert len(emulator.documents()) == 4  # open shift, three sales
        assert_promise_kept(records, {})  # type: ignore[arg-type]


def _ask_again(till: Till, i: int, receipt_id: str) -> dict[str, Any]:
    """As a Checkbox till does with a receipt it has no answer for: post it again with the same id; told
    that it exists, fetch it by that id."""
    response = till._post_sale(i, receipt_id)
    if response.status_code == 400 and response.json()["code"] == "receipt.already_exists":
        response = till.http.get(f"/api/v1/receipts/{receipt_id}")
    assert response.status_code in (200, 201), response.text
    receipt: dict[str, Any] = response.json()
    assert receipt["status"] == "DONE" and receipt["id"] == receipt_id
    return receipt


def _post_ignoring_the_end(till: Till, i: int, receipt_id: str) -> None:
    try:
        till._post_sale(i, receipt_id)
    except httpx.HTTPError:
        return  # the agent died under the request: the till has no answer


def test_a_second_agent_on_the_same_state_dir_exits_1_and_nothing_is_doubled(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    config, state, paper, port = _shop(tmp_path, emulator.fs_url)
    records = Records(emulator, state, paper)
    first = _start(config, state, tmp_path / "agent-0.log", agents)
    till = Till(port)
    till.open_shift()
    seconds: list[subprocess.CompletedProcess[str]] = []

    def second_agents() -> None:
        for _ in range(2):
            seconds.append(cli(config, "run", timeout=60))

    rival = threading.Thread(target=second_agents, daemon=True)
    rival.start()
    i = 0
    while rival.is_alive() or i < 5:  # the till sells all the while the second agent tries to start
        records.answers[i] = _answer(till.sell(i))
        i += 1
    rival.join()
    assert [s.returncode for s in seconds] == [1, 1], [s.stderr for s in seconds]
    assert all("already owns" in s.stderr and "Traceback" not in s.stderr for s in seconds)
    assert first.proc.poll() is None
    wait_for(lambda: _everything_printed(state), what="every receipt on paper")
    assert first.stop() == 0, first.stderr
    records.faults = len(seconds)
    assert len(emulator.documents()) == i + 1
    assert_promise_kept(records, {})  # type: ignore[arg-type]
