"""One owner of the journal, with real processes: the agent holds state_dir, the CLI talks to it over
control.sock, and works alone (under the lock) only while no agent runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent import commands, control, ownership
from agent.secr.errors import RetryLater
from tests.conftest import Box, EmulatorHandle, cash, item
from tests.escpos_decode import decode
from tests.test_cli import CLI, free_port, write_config
from tests.test_control import raw_exchange
from tests.test_till_api import good
from tests.waiting import wait_for

DOC_OFFLINE_BEGIN = 102
DOC_OFFLINE_END = 103
FAKE_STATUS = {
    "mode": "online",
    "shift": "closed",
    "pending_documents": 0,
    "updated_at": "2025-01-01T00:00:00+00:00",
}


def file_printer(path: Path) -> dict[str, str]:
    return {"[printer]\nenabled = false": f'[printer]\nkind = "file"\npath = "{path}"\nwidth_mm = 58'}


def cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return subprocess.run(
        [*CLI, command, "--config", str(config), *rest], capture_output=True, text=True, timeout=timeout
    )


def answers(state_dir: Path) -> bool:
    try:
        control.request(state_dir, "status", timeout_s=30)
    except control.AgentNotRunning:
        return False
    return True


class Agent:
    """`fiscal-box run` in its own process, its stderr in a file the test can read while it runs."""

    def __init__(self, config: Path, state_dir: Path, log: Path) -> None:
        self.state_dir = state_dir
        self.log = log
        with log.open("w") as err:
            self.proc = subprocess.Popen(
                [*CLI, "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=err
            )

    @property
    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def wait_ready(self) -> Agent:
        wait_for(
            lambda: self.proc.poll() is not None or answers(self.state_dir), what="the agent's control socket"
        )
        assert self.proc.poll() is None, self.stderr
        return self

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture()
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.kill()


class Till:
    """A till on the agent's API, over real HTTP."""

    def __init__(self, port: int) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        token = self.http.post("/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).json()[
            "access_token"
        ]
        self.http.headers.update({"Authorization": f"Bearer {token}", "X-License-Key": "test-key"})
        self.refusals = 0

    def open_shift(self) -> None:
        response = self.http.post("/api/v1/shifts", json={})
        assert response.status_code == 202, response.text

    def sell(self, i: int, receipt_id: str | None = None) -> dict[str, Any]:
        response = self._post_sale(i, receipt_id or str(uuid.uuid4()))
        assert response.status_code == 201, response.text
        receipt: dict[str, Any] = response.json()
        assert receipt["status"] == "DONE"
        return receipt

    def sell_until_taken(self, i: int) -> dict[str, Any]:
        """As a till does: while the box says the last offline package is on its way (nothing was
        numbered), try the same receipt again."""
        receipt_id = str(uuid.uuid4())
        deadline = time.monotonic() + 60
        while True:
            response = self._post_sale(i, receipt_id)
            if response.status_code != 409 or response.json()["code"] != "sales_blocked.upload_in_progress":
                break
            assert time.monotonic() < deadline, response.text
            self.refusals += 1
            time.sleep(0.1)
        assert response.status_code == 201, response.text
        receipt: dict[str, Any] = response.json()
        return receipt

    def _post_sale(self, i: int, receipt_id: str) -> httpx.Response:
        body = {
            "id": receipt_id,
            "goods": [good(f"Товар {i}", 1000 + i)],
            "payments": [{"type": "CASH", "value": 1000 + i}],
        }
        return self.http.post("/api/v1/receipts/sell", json=body)


def start_box(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent], **overrides: str
) -> tuple[Path, Path, Agent, int]:
    port = free_port()
    config = write_config(tmp_path / "config.toml", emulator.fs_url, api_port=port, **overrides)
    state = tmp_path / "state"
    agent = Agent(config, state, tmp_path / f"agent-{len(agents)}.log")
    agents.append(agent)
    return config, state, agent.wait_ready(), port


def journal_rows(state: Path) -> list[sqlite3.Row]:
    """The journal as the stopped agent left it (read-only: the test never writes it)."""
    with sqlite3.connect(f"file:{state / 'journal.sqlite'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute("SELECT local_num, state, fiscal_num, error FROM documents ORDER BY id"))


def assert_journal_and_emulator_agree(state: Path, emulator: EmulatorHandle, next_local_num: int) -> None:
    registered = emulator.documents()
    numbers = [d["local_number"] for d in registered]
    assert sorted(numbers) == list(range(1, len(registered) + 1)), numbers  # each local number once
    assert next_local_num == len(registered) + 1  # and the box goes on from the last
    rows = journal_rows(state)
    assert not [dict(r) for r in rows if r["state"] in ("rejected", "pending", "offline", "superseded")]
    ours = {r["local_num"]: r["fiscal_num"] for r in rows if r["state"] in ("registered", "revoked")}
    assert ours == {d["local_number"]: d["fiscal_number"] for d in registered}


def assert_nothing_after_the_103(emulator: EmulatorHandle) -> None:
    documents = sorted(emulator.documents(), key=lambda d: d["local_number"])
    sessions = {d["offline_session_id"] for d in documents if d["offline"]}
    assert sessions, "the box never went offline"
    for session in sessions:
        ours = [d for d in documents if d["offline"] and d["offline_session_id"] == session]
        assert ours[0]["doc_type"] == DOC_OFFLINE_BEGIN and ours[-1]["doc_type"] == DOC_OFFLINE_END, ours
        end = ours[-1]["local_number"]
        later = [d for d in documents if d["local_number"] > end]
        assert all(not d["offline"] for d in later), later


def live_status(state: Path) -> dict[str, Any]:
    return control.request(state, "status", timeout_s=60)


# --- one agent per state_dir ---------------------------------------------------------------------


def test_a_second_agent_is_refused_and_a_killed_one_is_replaced(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    config, state, first, _ = start_box(tmp_path, emulator, agents)
    second = cli(config, "run", timeout=60)
    assert second.returncode == 1, second.stderr
    assert f"PID {first.proc.pid}" in second.stderr and "already owns" in second.stderr
    assert "systemctl stop fiscal-box" in second.stderr and "Traceback" not in second.stderr
    assert first.proc.poll() is None and answers(state)  # the first one never noticed

    first.kill()  # SIGKILL: no clean-up at all, the kernel drops the flock
    assert (state / "control.sock").exists()  # stale, and nobody listens on it
    assert ownership.read_holder(state).pid == first.proc.pid  # the file still says who it was
    with pytest.raises(control.AgentNotRunning):
        control.request(state, "status", timeout_s=10)
    third = Agent(config, state, tmp_path / "agent-third.log")
    agents.append(third)
    third.wait_ready()
    assert ownership.read_holder(state).pid == third.proc.pid
    assert stat.S_IMODE((state / "control.sock").stat().st_mode) == 0o600
    assert third.stop() == 0, third.stderr
    assert not (state / "control.sock").exists() and ownership.read_holder(state).pid is None


def test_an_agent_waits_for_a_cli_command_holding_the_lock(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    config = write_config(tmp_path / "config.toml", emulator.fs_url)
    held = ownership.StateLock.try_acquire(state, role="cli", command="go-online")
    assert held is not None
    try:
        agent = Agent(config, state, tmp_path / "agent.log")
        agents.append(agent)
        wait_for(
            lambda: "waiting up to" in agent.stderr or agent.proc.poll() is not None, what="the agent to wait"
        )
        assert f"`fiscal-box go-online` (PID {os.getpid()}" in agent.stderr
        assert agent.proc.poll() is None and not (state / "control.sock").exists()
    finally:
        held.release()
    agent.wait_ready()
    assert ownership.read_holder(state).pid == agent.proc.pid


def test_a_cli_waits_for_a_starting_agent_within_a_bound(
    tmp_path: Path, emulator: EmulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    config = write_config(tmp_path / "config.toml", emulator.fs_url)
    starting = ownership.StateLock.try_acquire(state, role="agent", command="run")  # no socket yet
    assert starting is not None
    try:
        with pytest.raises(RetryLater) as stuck:
            commands.status_command(config, as_json=True, wait_s=0.5)
        assert f"the fiscal-box agent (PID {os.getpid()}" in str(stuck.value)
        assert "does not answer on control.sock after 0 s" in str(stuck.value)
        assert not (state / "journal.sqlite").exists()  # it never opened the journal behind the agent

        # the agent's socket comes up while the command waits: the answer is the agent's
        served: list[control.ControlServer] = []
        later = threading.Timer(
            0.2,
            lambda: served.append(
                control.ControlServer(state, {"status": lambda _: {**FAKE_STATUS, "mode": "live"}}).start()
            ),
        )
        later.start()
        try:
            assert commands.status_command(config, as_json=True, wait_s=30) == 0
        finally:
            later.join()
            for server in served:
                server.stop()
    finally:
        starting.release()
    assert json.loads(capsys.readouterr().out)["mode"] == "live"


# --- status, slip and go-online, with and without an agent ---------------------------------------


def test_status_slip_and_go_online_through_the_agent(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    paper = tmp_path / "printer.bin"
    config, _, agent, port = start_box(tmp_path, emulator, agents, **file_printer(paper))
    Till(port).open_shift()
    # The printer's part comes once the print worker has asked it (its own thread, just after start):
    # until then the status says null, not a guess.
    def asked() -> subprocess.CompletedProcess[str] | None:
        answer = cli(config, "status", "--json")
        return answer if answer.returncode != 0 or json.loads(answer.stdout)["printer"] else None

    status = wait_for(asked, what="the printer's first answer in the status")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["mode"] == "online" and data["shift"] == "open" and data["printer"] == "ok"
    assert commands.NOT_RUNNING not in data["errors"] and data["next_local_num"] == 2
    text = cli(config, "status")
    assert text.returncode == 0 and "mode: online  shift: open" in text.stdout

    slip = cli(config, "slip")
    assert slip.returncode == 0, slip.stderr
    assert "status slip printed" in slip.stdout
    printed = decode(paper.read_bytes())
    assert "СЛУЖБОВИЙ СТАН" in printed.texts[0] and "test-box" in "\n".join(printed.texts)

    online = cli(config, "go-online")
    assert online.returncode == 0, online.stderr
    assert "mode now online" in online.stdout and "pending documents: 0" in online.stdout
    assert agent.proc.poll() is None and agent.stop() == 0, agent.stderr


def test_slip_through_the_agent_exits_1_when_the_printer_fails(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    config, _, agent, _ = start_box(tmp_path, emulator, agents, **file_printer(tmp_path / "gone" / "p.bin"))
    slip = cli(config, "slip")
    assert slip.returncode == 1
    assert "the printer failed" in slip.stderr and "paper" in slip.stderr and "Traceback" not in slip.stderr
    assert agent.proc.poll() is None


def make_journal_offline(state: Path, emulator: EmulatorHandle) -> None:
    box = Box(state, emulator.fs_url)
    box.register.start()
    box.register.open_shift()
    emulator.fault("down")
    assert box.register.sell([item()], [cash("10.00")]).offline
    box.close()
    emulator.fault("none")


def test_status_slip_and_go_online_without_an_agent(tmp_path: Path, emulator: EmulatorHandle) -> None:
    state = tmp_path / "state"
    make_journal_offline(state, emulator)
    paper = tmp_path / "printer.bin"
    config = write_config(tmp_path / "config.toml", emulator.fs_url, **file_printer(paper))

    status = cli(config, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["mode"] == "offline" and data["shift"] == "open" and data["pending_documents"] == 2
    assert commands.NOT_RUNNING in data["errors"]

    slip = cli(config, "slip")
    assert slip.returncode == 0, slip.stderr
    printed = "\n".join(decode(paper.read_bytes()).texts)
    assert "СЛУЖБОВИЙ СТАН" in printed and commands.NOT_RUNNING in printed

    missing = write_config(
        tmp_path / "missing.toml", emulator.fs_url, **file_printer(tmp_path / "gone" / "p.bin")
    )
    failed = cli(missing, "slip")
    assert failed.returncode == 1 and "the printer failed" in failed.stderr
    disabled = cli(write_config(tmp_path / "disabled.toml", emulator.fs_url), "slip")
    assert disabled.returncode == 1 and "printer is disabled" in disabled.stderr

    online = cli(config, "go-online")
    assert online.returncode == 0, online.stderr
    assert "mode now online" in online.stdout and "pending documents: 0" in online.stdout
    after = json.loads(cli(config, "status", "--json").stdout)
    assert after["mode"] == "online" and after["pending_documents"] == 0
    # every command let go of the lock: an agent takes it at once
    lock = ownership.StateLock.try_acquire(state, role="agent", command="run")
    assert lock is not None
    lock.release()


# --- go-online while the agent works ---------------------------------------------------------------


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # handed to the test's thread, which asserts on it
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_go_online_while_a_sale_is_in_flight(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    delay = 6.0
    config, state, agent, port = start_box(tmp_path, emulator, agents, **{"timeout_s = 2": "timeout_s = 15"})
    till = Till(port)
    till.open_shift()
    till.sell(0)
    # the next request the server gets (the sale's document) is held for `delay` seconds
    emulator.fault("slow", delay_s=delay, count=1)
    sold_at: list[float] = []
    sale, result = in_thread(lambda: (till.sell(1), sold_at.append(time.monotonic()))[0])
    wait_for(lambda: emulator_fault(emulator) == "none", what="the sale's document to reach the server")
    assert sale.is_alive()
    launched = time.monotonic()
    online = cli(config, "go-online")
    sale.join(60)
    assert not isinstance(result[0], BaseException), result
    assert launched < sold_at[0]  # go-online was asked while the document was in flight
    assert online.returncode == 0, online.stderr
    assert "mode now online" in online.stdout
    assert not result[0]["is_created_offline"]

    after = live_status(state)
    assert after["mode"] == "online" and after["blocked_reason"] is None and after["pending_documents"] == 0
    assert till.sell(2)["fiscal_code"]  # the box is not blocked
    final = live_status(state)
    assert agent.stop() == 0, agent.stderr
    assert_journal_and_emulator_agree(state, emulator, final["next_local_num"])


def emulator_fault(emulator: EmulatorHandle) -> str:
    return str(httpx.get(f"{emulator.url}/emulator/fault", timeout=10).json()["mode"])


def test_go_online_while_selling_offline_and_uploading(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    config, state, agent, port = start_box(tmp_path, emulator, agents)
    till = Till(port)
    till.open_shift()
    emulator.fault("down")
    assert all(till.sell(i)["is_created_offline"] for i in range(5))
    # Back, but slow: the box's own probes (0.3 s budget) still see it away, so the upload is the one
    # go-online starts, and each of its steps leaves time for sales to come in between.
    emulator.fault("slow", delay_s=0.7)
    enough = threading.Event()

    def sell_on() -> list[dict[str, Any]]:
        receipts: list[dict[str, Any]] = []
        while not enough.is_set():
            receipts.append(till.sell_until_taken(10 + len(receipts)))
        return receipts

    seller, sold = in_thread(sell_on)
    reports = [cli(config, "go-online"), cli(config, "go-online")]
    enough.set()
    seller.join(120)
    assert not isinstance(sold[0], BaseException), sold
    # the till sold right through the upload: offline before it, online after it
    assert sold[0][0]["is_created_offline"] and not sold[0][-1]["is_created_offline"]
    for report in reports:
        # a go-online that finds the agent's own upload running says so; none may fail otherwise
        assert report.returncode == 0 or "another upload" in report.stderr, report.stderr
    emulator.fault("none")

    def settled() -> bool:
        if live_status(state)["pending_documents"]:
            control.request(state, "go_online", timeout_s=120)
        return bool(live_status(state)["pending_documents"] == 0)

    wait_for(settled, timeout=120, what="every document delivered")
    final = live_status(state)
    assert final["mode"] == "online" and final["blocked_reason"] is None, final
    assert till.sell(99)["fiscal_code"]
    final = live_status(state)
    assert agent.stop() == 0, agent.stderr
    assert_nothing_after_the_103(emulator)
    assert_journal_and_emulator_agree(state, emulator, final["next_local_num"])


def test_the_agents_socket_takes_garbage_and_goes_on(
    tmp_path: Path, emulator: EmulatorHandle, agents: list[Agent]
) -> None:
    config, state, agent, _ = start_box(tmp_path, emulator, agents)
    sock = state / "control.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    answer = raw_exchange(sock, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer["ok"] is False and answer["kind"] == "bad_input" and "not JSON" in answer["error"]
    unknown = raw_exchange(sock, b'{"command": "sell"}\n')
    assert unknown["kind"] == "bad_input" and "'go_online', 'slip', 'status'" in unknown["what_to_do"]
    huge = raw_exchange(sock, b"{" + b" " * (control.MAX_REQUEST_BYTES + 10))
    assert huge["kind"] == "bad_input" and "larger than" in huge["error"]
    assert agent.proc.poll() is None
    status = cli(config, "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["mode"] == "online"
