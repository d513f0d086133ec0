"""A full disk and a locked journal, for real (issue 9, scenario 5).

The journal lives on a small tmpfs mounted for the test (we are root here and in CI; the tests skip,
saying why, where mount is refused), filled up with a file until the kernel says ENOSPC; the lock is held
by a second process with BEGIN EXCLUSIVE. Sales are refused saying why with nothing half-written, the
journal stays intact, and selling resumes by itself once space or the lock is back.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from agent.app import Agent
from agent.clock import SystemClock
from agent.config import load_config
from agent.secr import journal as journal_module
from agent.secr.errors import JournalFull, JournalLocked, SalesBlocked
from agent.secr.journal import LIVE_STATES, Journal
from agent.secr.register import Mode
from tests.conftest import Box, EmulatorHandle, cash, item
from tests.test_cli import write_config
from tests.test_offline import Link
from tests.waiting import wait_for


class SmallDisk:
    """A tmpfs of ``size`` at ``path``; ``fill()`` takes every free byte, ``free()`` gives them back."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        self.filler = path / "filler"
        path.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            pytest.skip("no mount command here: a full filesystem cannot be made for the journal")
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs for the journal was refused ({done.stderr.strip()}): needs root")

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == 28  # ENOSPC: the disk is full for real
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)


@pytest.fixture()
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    small = SmallDisk(tmp_path / "box", "16m")
    yield small
    small.unmount()


def assert_intact(path: Path) -> list[int]:
    """integrity_check passes and the live local numbers run 1, 2, 3, ... without a gap or a repeat."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        states = ",".join("?" * len(LIVE_STATES))
        nums = [
            row[0]
            for row in conn.execute(
                f"SELECT local_num FROM documents WHERE state IN ({states}) ORDER BY local_num", LIVE_STATES
            )
        ]
    assert nums == list(range(1, len(nums) + 1)), nums
    return nums


def snapshot(journal: Journal) -> tuple[int, int, str | None, str | None]:
    return journal.count(), journal.next_local_num(), journal.get("mode"), journal.get("session.next_n")


def test_a_full_disk_refuses_sales_with_nothing_half_written_and_selling_resumes(
    disk: SmallDisk, emulator: EmulatorHandle
) -> None:
    box = Box(disk.path, emulator.fs_url, timeout_s=2)
    reg = box.register
    reg.start()
    reg.open_shift()
    reg.sell([item(price="10.00")], [cash("10.00")])
    disk.fill()
    before = snapshot(box.journal)
    big = [item(name=f"Товар {i} " + "х" * 200, price="1.00") for i in range(40)]
    for _ in range(2):  # the same refusal, whatever the till retries
        with pytest.raises(JournalFull, match="full") as refused:
            reg.sell(big, [cash("40.00")], request_id="full")
        assert isinstance(refused.value, SalesBlocked) and refused.value.what_to_do
    assert snapshot(box.journal) == before
    assert reg.status().blocked_reason == "disk_full"
    # Nor does the box go offline for it: the server answers; and offline it is refused the same way.
    assert reg.status().mode == Mode.ONLINE
    link = Link(box)
    link.cut()
    with pytest.raises(JournalFull):
        reg.sell([item()], [cash("10.00")])
    assert snapshot(box.journal) == before  # no 102 either
    link.restore()
    assert_intact(disk.path / "journal.sqlite")
    disk.free()
    assert box.journal.recheck()  # what the agent's loop does: the status clears before the next sale
    assert reg.status().blocked_reason is None
    sale = reg.sell(big, [cash("40.00")], request_id="full")
    assert not sale.offline and sale.local_num == before[1]
    assert assert_intact(disk.path / "journal.sqlite")[-1] == sale.local_num
    box.close()


def test_sqlite_full_at_commit_rolls_back_and_the_meta_cache_with_it(
    disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the box's own margin, SQLite itself meets the full disk (at an INSERT or at COMMIT).
    monkeypatch.setattr(journal_module, "MIN_FREE_BYTES", 0, raising=False)
    journal = Journal(disk.path / "journal.sqlite")
    journal.set("mode", "online")
    disk.fill()
    blob = os.urandom(4 << 20)
    with pytest.raises(JournalFull), journal.transaction():
        journal.set("mode", "offline")
        journal.add(
            local_num=1,
            uid="u1",
            doc_class="CHECK",
            doc_type=0,
            doc_subtype=0,
            shift_id=None,
            xml=blob,
            signed=blob,
            created_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        )
    assert journal.fault is not None and journal.fault.reason == "disk_full"
    assert journal.get("mode") == "online" and journal.next_local_num() == 1 and journal.count() == 0
    disk.free()
    assert journal.recheck() and journal.fault is None
    journal.close()
    reopened = Journal(disk.path / "journal.sqlite")
    assert reopened.get("mode") == "online" and reopened.count() == 0
    reopened.close()


class Locker:
    """A second process that holds the journal's write lock (BEGIN EXCLUSIVE) until released."""

    def __init__(self, path: Path) -> None:
        script = (
            "import sqlite3, sys\n"
            f"conn = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "conn.execute('BEGIN EXCLUSIVE')\n"
            "print('held', flush=True)\n"
            "sys.stdin.readline()\n"
            "conn.execute('ROLLBACK')\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            self.process.wait(10)


def test_a_journal_locked_by_another_process_refuses_sales_until_it_is_released(
    tmp_path: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "BUSY_TIMEOUT_S", 0.2, raising=False)
    box = Box(tmp_path / "box", emulator.fs_url, timeout_s=2)
    reg = box.register
    reg.start()
    reg.open_shift()
    reg.sell([item()], [cash("10.00")])
    before = snapshot(box.journal)
    locker = Locker(tmp_path / "box" / "journal.sqlite")
    try:
        with pytest.raises(JournalLocked, match="another process") as refused:
            reg.sell([item()], [cash("10.00")], request_id="locked")
        assert isinstance(refused.value, SalesBlocked)
        status = reg.status()  # the journal can still be read: the status says why
        assert status.blocked_reason == "journal_locked" and status.mode == Mode.ONLINE
        assert not box.journal.recheck()
    finally:
        locker.release()
    assert snapshot(box.journal) == before
    sale = reg.sell([item()], [cash("10.00")], request_id="locked")
    assert sale.local_num == before[1] and reg.status().blocked_reason is None
    assert_intact(tmp_path / "box" / "journal.sqlite")
    assert [d["local_number"] for d in emulator.documents()] == list(range(1, sale.local_num + 1))
    box.close()


def test_the_agent_starts_on_a_locked_journal_and_sells_once_it_is_free(
    tmp_path: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "BUSY_TIMEOUT_S", 0.2, raising=False)
    config = load_config(write_config(tmp_path / "config.toml", emulator.fs_url))
    first = Agent(config, SystemClock())
    first.start()
    first.register.open_shift()
    first.close()
    locker = Locker(config.box.state_dir / "journal.sqlite")
    try:
        agent = Agent(config, SystemClock())
        agent.start()  # systemd would restart an agent that died here, in a loop
    finally:
        locker.release()
    try:
        assert agent.status_dict()["blocked_reason"] == "journal_locked"
        agent.tick()  # start-up again, the journal free now
        wait_for(lambda: agent.status_dict()["blocked_reason"] is None, what="the status to clear")
        sale = agent.register.sell([item()], [cash("10.00")])
        assert sale.local_num == 2 and not sale.offline
    finally:
        agent.close()


def test_the_agent_on_a_full_disk_answers_the_till_and_says_why(
    disk: SmallDisk, emulator: EmulatorHandle
) -> None:
    config = load_config(write_config(disk.path / "config.toml", emulator.fs_url))  # state_dir on the tmpfs
    agent = Agent(config, SystemClock())
    agent.start()
    try:
        agent.register.open_shift()
        api = f"http://{config.api.listen}/api/v1"
        token = httpx.post(f"{api}/cashier/signinPinCode", json={"pin_code": "1234"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-License-Key": "test-key"}
        sale = {"goods": [{"good": {"code": "1", "name": "Хліб", "price": 1000, "tax": [1]}, "quantity": 1000}]}
        sale["payments"] = [{"type": "CASH", "value": 1000}]  # type: ignore[list-item]
        disk.fill()
        answer = httpx.post(f"{api}/receipts/sell", json=sale, headers=headers)
        assert answer.status_code == 409 and answer.json()["code"] == "sales_blocked.disk_full"
        agent.tick()  # status.json cannot be written either: the loop goes on
        assert agent.status_dict()["blocked_reason"] == "disk_full"
        disk.free()
        agent.tick()
        wait_for(lambda: agent.status_dict()["blocked_reason"] is None, what="the status to clear")
        answer = httpx.post(f"{api}/receipts/sell", json=sale, headers=headers)
        assert answer.status_code == 201, answer.text
    finally:
        agent.close()
