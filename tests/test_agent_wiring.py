"""The agent as app.py wires it, in-process: the register feeds the status model and the event stream,
printing follows every fiscal document, subscribers never sit in the sale path."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from agent.app import Agent
from agent.clock import SystemClock
from agent.config import load_config
from agent.events import Event, EventKind
from agent.status import Snapshot
from tests.conftest import EmulatorHandle, cash, item
from tests.escpos_decode import decode
from tests.test_cli import write_config
from tests.waiting import wait_for

T = TypeVar("T")


@pytest.fixture()
def agent(tmp_path: Path, emulator: EmulatorHandle) -> Iterator[Agent]:
    paper = tmp_path / "paper.escpos"
    config = write_config(
        tmp_path / "config.toml",
        emulator.fs_url,
        **{"[printer]\nenabled = false": f'[printer]\nkind = "file"\npath = "{paper}"\nwidth_mm = 58'},
    )
    box = Agent(load_config(config), SystemClock())
    box.start()
    yield box
    box.close()


def paper_of(agent: Agent) -> bytes:
    path = agent.settings.printer.path
    assert path is not None
    return path.read_bytes() if path.exists() else b""


def test_a_sale_made_on_the_register_reaches_status_events_and_paper(agent: Agent) -> None:
    events: list[Event] = []
    agent.events.subscribe(events.append, name="test")
    assert agent.status is not None
    seen: list[Snapshot] = []
    agent.status.subscribe(seen.append, name="test")
    agent.register.open_shift(cashier="Тест")
    sale = agent.register.sell([item(price="12.34")], [cash("12.34")])
    # Not made through the till API, and printed all the same.
    wait_for(lambda: sale.fiscal_num.encode() in paper_of(agent), what="the receipt on paper")
    assert sum(1 for line in decode(paper_of(agent)).texts if "ФIСКАЛЬНИЙ ЧЕК" in line) == 1
    wait_for(
        lambda: any(
            e.kind == EventKind.FISCALIZED and e.detail["fiscal_num"] == sale.fiscal_num for e in events
        )
    )
    wait_for(lambda: seen and seen[-1].to_dict()["shift"] == "open", what="the open shift in status")
    assert agent.status_dict()["next_local_num"] == sale.local_num + 1
    status_file = agent.settings.box.state_dir / "status.json"
    wait_for(
        lambda: status_file.exists() and f'"next_local_num": {sale.local_num + 1}' in status_file.read_text()
    )


def test_a_slow_and_a_failing_subscriber_neither_delay_a_sale_nor_stop_the_others(agent: Agent) -> None:
    model = agent.status
    assert model is not None
    sleeping, release = threading.Event(), threading.Event()

    def sleeper(_: Snapshot) -> None:
        # Slower than any sleep: it returns only when the test lets it.
        sleeping.set()
        release.wait(60)

    def failing(_: Snapshot) -> None:
        raise RuntimeError("a dashboard with a bug")

    seen: list[Snapshot] = []
    model.subscribe(sleeper, name="slow")
    model.subscribe(failing, name="failing")
    model.subscribe(seen.append, name="fast")
    assert sleeping.wait(10)  # the slow one is inside its first callback
    agent.register.open_shift(cashier="Тест")
    sales = [agent.register.sell([item(price="1.00")], [cash("1.00")]) for _ in range(3)]
    expected = sales[-1].local_num + 1
    # All of it happens while the slow subscriber is still stuck in its first callback.
    wait_for(
        lambda: seen and seen[-1].to_dict()["next_local_num"] == expected, what="the last sale in status"
    )
    release.set()
