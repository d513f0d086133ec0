"""The console script as a person (or systemd) runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from agent.commands import show_status
from tests.conftest import FISCAL_NUMBER, Box, EmulatorHandle, cash, item
from tests.escpos_decode import decode
from tests.waiting import wait_for

CLI = [sys.executable, "-m", "agent.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, fs_url: str, *, api_port: int | None = None, **overrides: str) -> Path:
    api_port = api_port or free_port()
    text = f"""
[box]
id = "test-box"
state_dir = "{path.parent / "state"}"
[registrar]
fiscal_number = "{FISCAL_NUMBER}"
[fiscal_server]
url = "{fs_url}"
timeout_s = 2
[offline]
check_interval_s = 10
[api]
listen = "127.0.0.1:{api_port}"
license_key = "test-key"
[[cashiers]]
name = "Тест Касир"
login = "test"
pin = "1234"
[[taxes]]
code = 1
letter = "А"
rate = "20.00"
name = "ПДВ"
[printer]
enabled = false
[led]
enabled = false
[mqtt]
enabled = false
[uplinks]
enabled = false
[modem]
enabled = false
"""
    for old, new in overrides.items():
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.toml", "http://127.0.0.1:1/fs", **{"check_interval_s = 10": "check_interval_s = 1"}
    )
    result = subprocess.run(
        [*CLI, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "offline.check_interval_s" in result.stderr


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "status", "--config", str(tmp_path / "nope.toml")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "nope.toml" in result.stderr


def test_usage_error_exits_2() -> None:
    result = subprocess.run([*CLI, "frobnicate"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2


def test_slip_before_the_agent_ran_says_why(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", "http://127.0.0.1:1/fs")
    result = subprocess.run(
        [*CLI, "slip", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "not written its status" in result.stderr


def test_run_writes_status_and_stops_on_sigterm(tmp_path: Path, emulator: EmulatorHandle) -> None:
    port = free_port()
    paper = tmp_path / "printer.bin"
    config = write_config(
        tmp_path / "config.toml",
        emulator.fs_url,
        api_port=port,
        **{"[printer]\nenabled = false": f'[printer]\nkind = "file"\npath = "{paper}"\nwidth_mm = 58'},
    )
    agent = subprocess.Popen([*CLI, "run", "--config", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        status_file = tmp_path / "state" / "status.json"
        wait_for(status_file.exists, what="the agent's status.json")
        status = subprocess.run(
            [*CLI, "status", "--json", "--config", str(config)], capture_output=True, text=True, timeout=60
        )
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["mode"] == "online" and data["shift"] == "closed" and data["pending_documents"] == 0
        assert (tmp_path / "state" / "dev-key.pem").stat().st_mode & 0o777 == 0o600
        # the till API answers on the configured address
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as api:
            token = api.post("/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).json()[
                "access_token"
            ]
            me = api.get(
                "/api/v1/box/status",
                headers={"Authorization": f"Bearer {token}", "X-License-Key": "test-key"},
            )
            assert me.status_code == 200 and me.json()["mode"] == "online" and me.json()["printer"] == "ok"
        slip = subprocess.run(
            [*CLI, "slip", "--config", str(config)], capture_output=True, text=True, timeout=60
        )
        assert slip.returncode == 0, slip.stderr
        printed = decode(paper.read_bytes())
        assert "СЛУЖБОВИЙ СТАН" in printed.texts[0] and "test-box" in "\n".join(printed.texts)
    finally:
        os.kill(agent.pid, signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    assert agent.returncode == 0, stderr
    assert "led: disabled in config" in stderr


def test_demo_tells_the_story(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "demo", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "close-shift: fiscal №" in result.stdout
    assert (
        "the emulator holds 18 documents (1 revoked), each local number once; the journal 18" in result.stdout
    )
    assert "ОФЛАЙН" in result.stdout and "REVOKELASTONLINEDOC" in result.stdout
    # the offline LED through the story: dark online, slow blink through the outage, dark again
    leds = [line.split("LED: ", 1)[1] for line in result.stdout.splitlines() if "LED: " in line]
    assert [led.split(" (")[0] for led in leds] == ["off", "slow blink", "off"]
    # 18 documents less the 102, the 103 and the revoked online copy of the sale lost at the outage
    assert len(list((tmp_path / "receipts").glob("*.xml"))) == 15
    printed = decode((tmp_path / "printer.escpos").read_bytes())
    # eight sales (the return is a ВИДАТКОВИЙ ЧЕК); CP866 prints І as I
    assert sum(1 for line in printed.texts if "ФIСКАЛЬНИЙ ЧЕК" in line) == 8
    assert any("X-ЗВIТ" in line for line in printed.texts)
    # documents made on the register directly (not through the till API) reach paper too
    assert sum(1 for line in printed.texts if "Z-ЗВIТ" in line) == 1
    # and it leaves pictures of the paper, saying where, as wide as the 58 mm paper's 384 dots
    said = result.stdout[result.stdout.index("pictures of the paper") :]
    for name in ("online-receipt", "offline-receipt", "z-report", "slip"):
        path = tmp_path / "receipts" / f"{name}.png"
        assert f"{name}: {path}" in said
        with Image.open(path) as picture:
            picture.load()
            assert picture.format == "PNG" and picture.width == 384 and picture.height > 300


def test_go_online_delivers_what_the_agent_left(tmp_path: Path, emulator: EmulatorHandle) -> None:
    config = write_config(tmp_path / "config.toml", emulator.fs_url)
    state = tmp_path / "state"
    box = Box(state, emulator.fs_url)
    box.register.start()
    box.register.open_shift()
    emulator.fault("down")
    assert box.register.sell([item()], [cash("10.00")]).offline
    box.close()
    still_down = subprocess.run(
        [*CLI, "go-online", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert still_down.returncode == 1 and "does not answer" in still_down.stderr
    emulator.fault("none")
    result = subprocess.run(
        [*CLI, "go-online", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "mode now online" in result.stdout and "revoked" in result.stdout
    assert len(emulator.documents()) == 5  # open, the lost sale (revoked), 102, the sale, 103


def test_run_with_the_api_port_taken_says_so(tmp_path: Path, emulator: EmulatorHandle) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = write_config(tmp_path / "config.toml", emulator.fs_url, api_port=taken.getsockname()[1])
        result = subprocess.run(
            [*CLI, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1:" in result.stderr and "Traceback" not in result.stderr


def test_status_in_words_says_the_uplink_why_and_the_month(capsys: pytest.CaptureFixture[str]) -> None:
    status = {
        "mode": "online", "shift": "open", "pending_documents": 0, "next_local_num": 7,
        "updated_at": "2026-12-01T10:00:00+02:00", "uplink": "lte", "errors": [],
        "network": {
            "cause": "ethernet_no_route", "message": "Ethernet is up but ...; online over LTE.",
            "route_error": None,
            "month": {
                "month": "2026-12", "ethernet_down_minutes": 95, "lte_down_minutes": 3,
                "server_down_minutes": 12, "offline_saved_minutes": 90,
            },
            "addresses": {"ethernet": ["192.168.1.20/24"], "lte": []},
        },
    }  # fmt: skip
    show_status(status, as_json=False)
    out = capsys.readouterr().out
    assert "uplink: lte  (Ethernet is up but ...; online over LTE.)" in out
    assert "addresses: ethernet 192.168.1.20/24; lte none" in out
    assert "Ethernet down 95 min" in out and "tax server down 12 min" in out and "offline time saved 90 min" in out
