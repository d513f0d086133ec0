"""The fault suite's fixtures, its two lengths, and its figure at the end of the session.

``make test`` runs the short sweep (every crash point once, every odd reply); ``make faults`` runs the
whole sweep (``FISCAL_BOX_SWEEP=full``: every crash point at every document kind it meets).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import EmulatorHandle
from tests.faults.harness import Crash
from tests.faults.invariants import FIGURE
from tests.faults.proxy import FaultProxy
from tests.faults.shop import Shop

FULL = os.environ.get("FISCAL_BOX_SWEEP", "short") == "full"


@pytest.fixture()
def proxy(emulator: EmulatorHandle) -> Iterator[FaultProxy]:
    with FaultProxy(emulator.fs_url) as p:
        yield p


ShopFactory = Callable[..., Shop]


@pytest.fixture()
def shops(tmp_path: Path, emulator: EmulatorHandle, proxy: FaultProxy) -> Iterator[ShopFactory]:
    made: list[Shop] = []

    def make(crashes: Sequence[Crash] = (), *, timeout_s: float = 3.0) -> Shop:
        shop = Shop(tmp_path / f"shop-{len(made)}", emulator, proxy, crashes, timeout_s=timeout_s)
        made.append(shop)
        return shop

    yield make
    for shop in made:
        shop.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURE.cases:
        terminalreporter.section("fault suite")
        for line in FIGURE.lines():
            terminalreporter.write_line(line)
