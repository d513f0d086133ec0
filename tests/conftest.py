from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from agent.clock import Clock, FakeClock, SystemClock
from agent.demo import get_json, post_json
from agent.emulator import Emulator
from agent.events import Event, EventSink
from agent.secr import documents as docs
from agent.secr.journal import Journal
from agent.secr.offline import Limits
from agent.secr.register import CashRegister, Crashpoint, Registrar
from agent.secr.server import FiscalServerClient
from agent.secr.signing import DevSigner, Signer

FISCAL_NUMBER = "4000000001"
REGISTRAR = {
    "fiscal_number": FISCAL_NUMBER,
    "local_number": 1,
    "tin": "34554362",
    "ipn": "345543620000",
    "org_name": 'ТОВ "ТЕСТ"',
    "point_name": "Магазин",
    "point_address": "м. Київ, вул. Тестова, 1",
    "offline_allowed": True,
    "offline_reserve": None,
}
TAXES = {
    1: docs.Tax(code=1, letter="А", rate=Decimal("20.00"), name="ПДВ"),
    2: docs.Tax(code=2, letter="Б", rate=Decimal("7.00"), name="ПДВ"),
}


class EmulatorHandle:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.url = emulator.url
        self.fs_url = emulator.fs_url

    def fault(self, mode: str, **extra: Any) -> None:
        post_json(f"{self.url}/emulator/fault", {"mode": mode, **extra})

    def documents(self, registrar: str = FISCAL_NUMBER) -> list[dict[str, Any]]:
        return list(get_json(f"{self.url}/emulator/documents?registrar={registrar}"))

    def xml_of(self, document: dict[str, Any]) -> bytes:
        return base64.b64decode(document["xml_base64"])


@pytest.fixture()
def emulator(tmp_path: Path) -> Iterator[EmulatorHandle]:
    with Emulator(tmp_path / "emulator") as emu:
        post_json(f"{emu.url}/emulator/registrars", REGISTRAR)
        yield EmulatorHandle(emu)


class Recorder:
    """An event sink that keeps what it is given, in order, and hands it on to the sinks that follow
    it (as the agent's event stream feeds the print worker)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.followers: list[EventSink] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        for follower in self.followers:
            follower(event)

    def forward_to(self, sink: EventSink) -> None:
        self.followers.append(sink)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


class Box:
    """One cash register with its own journal and key, as the agent would build it; its events are
    recorded in ``recorder`` unless another sink is given."""

    def __init__(
        self,
        state_dir: Path,
        fs_url: str,
        *,
        crashpoint: Crashpoint | None = None,
        timeout_s: float = 5,
        clock: Clock | None = None,
        limits: Limits | None = None,
        auto_sync: bool = False,
        probe_budget_s: float = 0.3,
        signer: Signer | None = None,
        online_signer: Callable[[bytes], bytes] | None = None,
        print_documents: bool = False,
        events: EventSink | None = None,
        registrar: Registrar | None = None,
        clock_tolerance_s: float | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.recorder = Recorder()
        self.signer: Signer = signer or DevSigner.from_file(
            state_dir / "dev-key.pem", common_name="Тест Касир"
        )
        self.client = FiscalServerClient(
            fs_url, self.signer, timeout_s=timeout_s, connect_timeout_s=timeout_s
        )
        self.journal = Journal(state_dir / "journal.sqlite")
        kwargs: dict[str, Any] = {"crashpoint": crashpoint} if crashpoint else {}
        if clock_tolerance_s is not None:
            kwargs["clock_tolerance_s"] = clock_tolerance_s
        self.register = CashRegister(
            journal=self.journal,
            server=self.client,
            signer=self.signer,
            registrar=registrar or Registrar(fiscal_number=FISCAL_NUMBER),
            taxes=TAXES,
            clock=clock or SystemClock(),
            limits=limits,
            auto_sync=auto_sync,
            probe_budget_s=probe_budget_s,
            online_signer=online_signer,
            events=events or self.recorder,
            print_documents=print_documents,
            **kwargs,
        )

    def close(self) -> None:
        self.register.close()


@pytest.fixture()
def factory() -> Iterator[MockFactory]:
    """gpiozero's mock pins for the LED and the button; a fresh one per test: a MockFactory keeps its pins
    and their reservations."""
    factory = MockFactory()
    yield factory
    factory.close()


@pytest.fixture()
def clock() -> FakeClock:
    """A test clock on a Monday morning in November (Kyiv: 10:00), for the 36 h and 168 h limits."""
    return FakeClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))


@pytest.fixture()
def obox(tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock) -> Iterator[Box]:
    """A started register on the test clock, its requests given up after 2 s."""
    b = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2)
    b.register.start()
    yield b
    b.close()


@pytest.fixture()
def box(tmp_path: Path, emulator: EmulatorHandle, request: pytest.FixtureRequest) -> Iterator[Box]:
    """A started register. Marked ``print_documents`` (a module's ``pytestmark``), it queues its documents
    for paper, as the agent builds it when a printer is set."""
    prints = request.node.get_closest_marker("print_documents") is not None
    b = Box(tmp_path / "box", emulator.fs_url, print_documents=prints)
    b.register.start()
    yield b
    b.close()


def item(name: str = "Хліб", qty: str = "1", price: str = "10.00", tax: int = 1) -> docs.Item:
    return docs.Item(name=name, quantity=Decimal(qty), price=Decimal(price), tax_codes=(tax,))


def cash(amount: str) -> docs.Payment:
    return docs.Payment(form=docs.PayForm.CASH, name="ГОТІВКА", amount=Decimal(amount))


def card(amount: str) -> docs.Payment:
    return docs.Payment(
        form=docs.PayForm.CARD,
        name="КАРТКА",
        amount=Decimal(amount),
        payment_system="VISA",
        card_mask="4111****1111",
    )
