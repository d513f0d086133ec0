"""Issue 9, scenario 9: what the start-up check finds sticks, and the server's identity wins.

A cancelled registration, or registration data in the config that differ from the server's, keep the box
from selling until a check finds them resolved, across restarts too (also when the restart cannot ask the
server); documents made offline carry the identity the server gave, not what the config says since; and a
fault that only kept the check from being made (the network, a reply that is no answer) is checked again by
the agent's loop instead of being latched as a refusal until the next restart. With the emulator, restarts
of the register on its journal, and of the agent process itself."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from agent.clock import FakeClock
from agent.secr.errors import JournalMismatch, NeedsPerson
from agent.secr.identity import Registrar
from agent.secr.register import Fiscalized, Mode
from tests.conftest import FISCAL_NUMBER, Box, EmulatorHandle, cash, item, post_json
from tests.httpstub import Served
from tests.test_offline import Link
from tests.test_owner import Agent, Till, agents, live_status, start_box  # noqa: F401 (agents: a fixture)
from tests.waiting import wait_for


def registrar(emulator: EmulatorHandle, **fields: object) -> None:
    post_json(f"{emulator.url}/emulator/registrars", {"fiscal_number": FISCAL_NUMBER, **fields})


def sale(box: Box) -> Fiscalized:
    return box.register.sell([item()], [cash("10.00")])


def first_run(state: Path, fs_url: str, clock: FakeClock) -> None:
    """A box that has been online: its shift open, a sale made, the server's data and range journaled."""
    box = Box(state, fs_url, clock=clock, timeout_s=2)
    box.register.start()
    box.register.open_shift()
    sale(box)
    box.close()


def loop_turn(box: Box, clock: FakeClock) -> None:
    """One turn of the agent's loop once its start-up retry is due."""
    clock.advance(seconds=61)
    box.register.maintain()


# --- a cancelled registration -------------------------------------------------------------------------


def test_a_cancelled_registration_found_at_start_sticks(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    state = tmp_path / "box"
    first_run(state, emulator.fs_url, clock)
    registrar(emulator, closed=True)
    box = Box(state, emulator.fs_url, clock=clock, timeout_s=2)
    with pytest.raises(NeedsPerson, match="closed"):
        box.register.start()
    assert box.register.status().blocked_reason == "registrar_closed"
    with pytest.raises(NeedsPerson, match="closed"):
        sale(box)
    numbered = box.journal.next_local_num()
    link = Link(box)
    link.cut()  # the link drops: a cancelled registration is not sold on offline either
    with pytest.raises(NeedsPerson, match="closed"):
        sale(box)
    assert box.journal.next_local_num() == numbered and box.register.status().mode == Mode.ONLINE
    box.close()

    # restarted where the server cannot be asked: what the last check found stands
    box = Box(state, emulator.fs_url, clock=clock, timeout_s=2)
    link = Link(box)
    link.cut()
    with pytest.raises(NeedsPerson, match="closed"):
        box.register.start()
    with pytest.raises(NeedsPerson, match="closed"):
        sale(box)
    status = box.register.status()
    assert status.blocked_reason == "registrar_closed" and "could not be asked again" in (status.problem or "")
    assert box.journal.next_local_num() == numbered

    # the server answers again, still closed: the loop's check finds it so
    link.restore()
    loop_turn(box, clock)
    with pytest.raises(NeedsPerson, match="registration was cancelled"):
        sale(box)
    # the registration is restored on the server's side: the loop's next check lifts the refusal
    registrar(emulator, closed=False)
    loop_turn(box, clock)
    assert box.register.status().blocked_reason is None
    assert not sale(box).offline
    box.close()


# --- registration data: the config against the server's -------------------------------------------------


def test_config_data_that_differ_from_the_servers_stop_sales_until_corrected(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    state = tmp_path / "box"
    first_run(state, emulator.fs_url, clock)
    edited = Registrar(fiscal_number=FISCAL_NUMBER, point_name="Кіоск")
    box = Box(state, emulator.fs_url, clock=clock, timeout_s=2, registrar=edited)
    with pytest.raises(JournalMismatch, match=r"registrar\.point_name: the config says 'Кіоск'"):
        box.register.start()
    with pytest.raises(JournalMismatch, match="point_name"):
        sale(box)
    assert box.register.status().blocked_reason == "identity_mismatch"
    box.close()

    # restarted offline with the same config: still refused
    box = Box(state, emulator.fs_url, clock=clock, timeout_s=2, registrar=edited)
    Link(box).cut()
    with pytest.raises(NeedsPerson, match="point_name"):
        box.register.start()
    with pytest.raises(NeedsPerson, match="point_name"):
        sale(box)
    box.close()

    # the config put right while offline: it agrees with the server's data as journaled, the box sells
    box = Box(state, emulator.fs_url, clock=clock, timeout_s=2)
    link = Link(box)
    link.cut()
    box.register.start()
    made = sale(box)
    assert made.offline and made.document.head.seller.point_name == "Магазин"
    link.restore()
    assert box.register.go_online().went_online
    box.close()


def test_offline_documents_carry_the_identity_the_server_gave(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    state = tmp_path / "box"
    first_run(state, emulator.fs_url, clock)
    # the config is edited while the server cannot be reached
    edited = Registrar(fiscal_number=FISCAL_NUMBER, point_name="Кіоск", org_name='ТОВ "ІНША"')
    box = Box(state, emulator.fs_url, clock=clock, timeout_s=2, registrar=edited)
    link = Link(box)
    link.cut()
    box.register.start()
    made = sale(box)
    seller = made.document.head.seller
    assert made.offline and (seller.point_name, seller.org_name) == ("Магазин", 'ТОВ "ТЕСТ"')
    assert any("registrar.point_name" in e for e in box.register.status().errors)

    # the server answers again: the loop makes the check it owed, and the config's data are refused
    link.restore()
    loop_turn(box, clock)
    assert box.register.status().blocked_reason == "identity_mismatch"
    with pytest.raises(JournalMismatch, match="org_name"):
        sale(box)
    # what was made offline carries the server's data, and is delivered all the same
    assert box.register.status().mode == Mode.ONLINE
    delivered = [d for d in emulator.documents() if d["offline"] and d["doc_type"] == 0]
    assert len(delivered) == 1
    assert "<POINTNM>Магазин</POINTNM>" in emulator.xml_of(delivered[0]).decode("cp1251")
    box.close()


# --- a passing fault is checked again, not latched ------------------------------------------------------


class FlakyProxy:
    """A real HTTP server in front of the emulator that answers its next TransactionsRegistrarState
    requests as ``plan`` says ("empty": 200 with ``{}``; "drop": the connection closed without a reply;
    "pass": the emulator's answer), and passes everything else through."""

    def __init__(self, target: str, plan: list[str]) -> None:
        self.target = target
        self.plan = list(plan)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = "pass"
                if b"TransactionsRegistrarState" in body:
                    with proxy.lock:
                        action = proxy.plan.pop(0) if proxy.plan else "pass"
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "empty":
                    self._answer(200, "application/json", b"{}")
                    return
                reply = httpx.post(
                    proxy.target + self.path.removeprefix("/fs"),
                    content=body,
                    headers={"Content-Type": self.headers.get("Content-Type", "")},
                )
                self._answer(reply.status_code, reply.headers.get("Content-Type", ""), reply.content)

            def _answer(self, status: int, content_type: str, data: bytes) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.served = Served(Handler)
        self.url = self.served.url

    def close(self) -> None:
        self.served.close()


@pytest.fixture()
def proxy(emulator: EmulatorHandle) -> Iterator[FlakyProxy]:
    p = FlakyProxy(emulator.fs_url, [])
    yield p
    p.close()


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param(["empty", "empty"], id="empty-replies"),  # once latched as "the journal is ahead"
        pytest.param(["pass", "drop"], id="dropped-mid-check"),  # once escaped start() altogether
    ],
)
def test_a_passing_fault_at_start_is_checked_again_not_latched(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock, proxy: FlakyProxy, plan: list[str]
) -> None:
    state = tmp_path / "box"
    first_run(state, emulator.fs_url, clock)
    proxy.plan = list(plan)
    box = Box(state, proxy.url, clock=clock, timeout_s=2)
    box.register.start()  # could not check: neither a refusal nor a crash
    proxy.plan = []  # and the fault passes
    status = box.register.status()
    assert status.problem is None and status.blocked_reason is None
    assert not sale(box).offline  # meanwhile the server checks every document it is sent
    # a real disagreement now: something else registered a document on this register
    registrar(emulator, next_local_num=box.journal.next_local_num() + 1)
    loop_turn(box, clock)  # the loop makes the check it owed, and this one sticks
    with pytest.raises(JournalMismatch, match="did not make"):
        sale(box)
    box.close()


# --- the agent itself, restarted ----------------------------------------------------------------------


def test_the_agent_keeps_a_cancelled_registration_refused_across_restarts(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]  # noqa: F811
) -> None:
    config, state, agent, port = start_box(tmp_path, emulator, agents)
    till = Till(port)
    till.open_shift()
    till.sell(1)
    registrar(emulator, closed=True)
    agent.kill()  # SIGKILL
    agent = Agent(config, state, tmp_path / "agent-1.log").wait_ready()
    agents.append(agent)
    refused = Till(port)._post_sale(2, str(uuid.uuid4()))
    assert refused.status_code == 409 and refused.json()["code"] == "registrar_closed", refused.text
    agent.kill()

    emulator.fault("down")  # and restarted while the server does not answer
    agent = Agent(config, state, tmp_path / "agent-2.log").wait_ready()
    agents.append(agent)
    till = Till(port)
    refused = till._post_sale(3, str(uuid.uuid4()))
    assert refused.status_code == 409 and refused.json()["code"] == "registrar_closed", refused.text
    assert "could not be asked again" in refused.json()["message"]
    assert live_status(state)["blocked_reason"] == "registrar_closed"

    emulator.fault("none")
    registrar(emulator, closed=False)  # resolved on the server's side: the agent's loop finds it so
    receipt_id = str(uuid.uuid4())

    def sold() -> httpx.Response | None:
        response = till._post_sale(4, receipt_id)
        assert response.status_code in (201, 409), response.text
        return response if response.status_code == 201 else None

    assert wait_for(sold, timeout=60, what="a sale once the loop has checked again").json()["status"] == "DONE"
    assert live_status(state)["blocked_reason"] is None
    assert agent.stop() == 0
    registered = emulator.documents()
    assert [d["local_number"] for d in registered] == [1, 2, 3]  # open, the first sale, the last one
    assert not any(d["offline"] for d in registered)
