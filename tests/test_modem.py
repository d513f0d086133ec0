"""drivers/modem.py against a fake modem on a real pseudo-terminal (tests/fake_modem.py).

The answers are a Quectel EC25's as read on a box with a Kyivstar SIM (echo on, ``\\r\\n`` framing);
the client is the real one, on pyserial, so the pty's framing, timing and hang-up are real too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app import NOT_BUILT_YET, Agent
from agent.builders import build_modem
from agent.clock import SystemClock
from agent.config import load_config
from drivers.modem import Modem, ModemGone, ModemHealth, ModemRefused, ModemTimeout
from tests.conftest import EmulatorHandle
from tests.fake_modem import FakeModem, Script
from tests.test_cli import write_config
from tests.waiting import wait_for

#: short, so that the silence cases cost a fraction of a second each
TIMEOUT_S = 0.3


def ok(*lines: str) -> str:
    """A modem's answer: each line framed by \\r\\n, then the final OK."""
    return "".join(f"\r\n{line}\r\n" for line in lines) + "\r\nOK\r\n"


EC25: Script = {
    "AT": ok(),
    "ATI": ok("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
    "AT+CPIN?": ok("+CPIN: READY"),
    "AT+CREG?": ok("+CREG: 0,1"),
    "AT+CEREG?": ok('+CEREG: 2,1,"1A2B","01A2B3C4",7'),
    "AT+COPS?": ok('+COPS: 0,0,"Kyivstar",7'),
    "AT+CSQ": ok("+CSQ: 18,99"),
    "AT+CGATT?": ok("+CGATT: 1"),
}

HEALTHY = ModemHealth(
    present=True,
    sim="READY",
    registered=True,
    roaming=False,
    operator="Kyivstar",
    signal_dbm=-77,
    attached=True,
)


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    modem = FakeModem(EC25)
    yield modem
    modem.close()


@pytest.fixture
def client(fake: FakeModem) -> Iterator[Modem]:
    modem = Modem(fake.path, timeout_s=TIMEOUT_S)
    yield modem
    modem.close()


def test_a_command_returns_its_lines_without_echo_or_ok(client: Modem) -> None:
    assert client.command("AT+CSQ") == ["+CSQ: 18,99"]
    assert client.command("AT") == []
    assert client.command("ATI") == ["Quectel", "EC25", "Revision: EC25EFAR06A06M4G"]


def test_health_of_a_registered_modem(client: Modem) -> None:
    assert client.health() == HEALTHY


def test_urcs_before_and_within_an_answer_are_passed_over(fake: FakeModem, client: Modem) -> None:
    fake.script["AT+CSQ"] = "\r\nRING\r\n\r\n+CREG: 5\r\n\r\n+CSQ: 18,99\r\n\r\n^RSSI: 12\r\n\r\nOK\r\n"
    # A +CREG URC (only <stat>; with n=2 <stat>,"lac","ci") inside the query's own answer.
    fake.script["AT+CREG?"] = '\r\n+CREG: 5\r\n\r\n+CREG: 1,"1A2B","01A2B3C4"\r\n\r\n+CREG: 2,1\r\n\r\nOK\r\n'
    fake.urc("^BOOT:10654340,0,0,0,6")
    fake.urc('+CGREG: 1,"1A2B","01A2B3C4",7')
    assert client.command("AT+CSQ") == ["+CSQ: 18,99"]
    assert client.health() == HEALTHY  # registered at home: the roaming URC is not the answer
    fake.urc("RING")
    assert client.command("ATI") == ["Quectel", "EC25", "Revision: EC25EFAR06A06M4G"]


def test_noise_bytes_and_an_answer_split_across_writes(fake: FakeModem, client: Modem) -> None:
    fake.script["AT+CSQ"] = ["\r\n+CS", "Q: 18,", "99\r\n\r\nO", "K\r\n"]
    fake.script["AT+COPS?"] = ok("\udcff\udcfe\x00", '+COPS: 0,0,"Kyivstar",7', "\udc80garbage\udcc3")
    fake.script["AT+CGATT?"] = "\x00\udcff\r\n+CGATT: 1\r\n\r\n\udcffOK\r\n"
    assert client.command("AT+CSQ") == ["+CSQ: 18,99"]
    assert client.command("AT+CGATT?") == ["+CGATT: 1"]
    assert client.health() == HEALTHY


def test_silence_times_out_and_the_next_command_works(fake: FakeModem, client: Modem) -> None:
    fake.go_silent()
    started = time.monotonic()
    with pytest.raises(ModemTimeout, match="AT\\+CSQ: no answer"):
        client.command("AT+CSQ")
    assert TIMEOUT_S <= time.monotonic() - started < TIMEOUT_S + 1
    fake.go_silent(False)
    assert client.command("AT+CSQ") == ["+CSQ: 18,99"]


def test_a_late_answer_is_not_taken_for_the_next_commands(fake: FakeModem, client: Modem) -> None:
    # The modem answers AT+COPS? after the client gave up: flushed before the next command is sent.
    fake.script["AT+COPS?"] = ["", ""]  # nothing in time
    with pytest.raises(ModemTimeout):
        client.command("AT+COPS?")
    fake.send(b'\r\n+COPS: 0,0,"Kyivstar",7\r\n\r\nOK\r\n')
    wait_for(lambda: _pending(client), timeout=2, what="the late answer at the client")
    assert client.command("AT+CSQ") == ["+CSQ: 18,99"]


def _pending(client: Modem) -> bool:
    port = client._serial  # the test looks inside: the late answer must be waiting there
    return port is not None and port.in_waiting > 0


def test_a_silent_modem_is_asked_twice_in_a_health_round_not_six_times(
    fake: FakeModem, client: Modem
) -> None:
    fake.go_silent()
    health = client.health()
    assert health.present and health.sim is None and health.signal_dbm is None
    assert health.error is not None and "not answering" in health.error
    assert len(fake.received) == 2


def test_error_and_cme_error(fake: FakeModem, client: Modem) -> None:
    with pytest.raises(ModemRefused, match="AT\\+NOPE: ERROR") as refused:
        client.command("AT+NOPE")
    assert refused.value.code is None
    fake.script["AT+CPIN?"] = "\r\n+CME ERROR: 10\r\n"
    with pytest.raises(ModemRefused) as refused:
        client.command("AT+CPIN?")
    assert refused.value.code == "10"
    assert client.command("AT+CSQ") == ["+CSQ: 18,99"]


def test_health_without_a_sim(fake: FakeModem, client: Modem) -> None:
    fake.script.update(
        {
            "AT+CPIN?": "\r\n+CME ERROR: 10\r\n",
            "AT+CREG?": ok("+CREG: 0,0"),
            "AT+CEREG?": ok("+CEREG: 0,0"),
            "AT+COPS?": ok("+COPS: 0"),
            "AT+CSQ": ok("+CSQ: 99,99"),
            "AT+CGATT?": ok("+CGATT: 0"),
        }
    )
    assert client.health() == ModemHealth(
        present=True, sim="NOT INSERTED", registered=False, operator=None, signal_dbm=None, attached=False
    )


def test_each_query_failing_alone_leaves_its_field_unknown(fake: FakeModem, client: Modem) -> None:
    fake.script.update(
        {
            "AT+CPIN?": ok("+CPIN: SIM PIN"),
            "AT+CREG?": "\r\nERROR\r\n",
            "AT+CEREG?": ok('+CEREG: 2,5,"1A2B","01A2B3C4",7'),  # roaming
            "AT+COPS?": ok("+COPS: what"),
            "AT+CGATT?": "\r\n+CME ERROR: 3\r\n",
        }
    )
    health = client.health()
    assert (health.sim, health.registered, health.roaming, health.operator) == ("SIM PIN", True, True, None)
    assert (health.signal_dbm, health.attached) == (-77, None)
    assert health.error is not None
    for failed in ("AT+CREG?: ERROR", "AT+COPS?: unexpected answer", "AT+CGATT?: +CME ERROR: 3"):
        assert failed in health.error


def test_an_unplugged_modem_is_gone_and_health_says_absent(fake: FakeModem, client: Modem) -> None:
    assert client.command("AT") == []
    fake.script["AT+CSQ"] = lambda _command: _unplugging(fake)
    with pytest.raises(ModemGone):
        client.command("AT+CSQ")  # the pty closed mid-command
    health = client.health()
    assert not health.present and health.error is not None and fake.path in health.error


def _unplugging(fake: FakeModem) -> str:
    fake.send(b"\r\n+CS")  # half an answer, then the bus is gone
    # The fake's own thread runs this; unplug() waits for that thread, so it is done from another.
    threading.Thread(target=fake.unplug).start()
    return ""


def test_a_modem_that_is_not_there_and_then_plugged_in(tmp_path: Path) -> None:
    # The udev symlink (/dev/fiscal-box-modem) names whichever pty plays the modem now.
    link = tmp_path / "fiscal-box-modem"
    client = Modem(str(link), timeout_s=TIMEOUT_S)
    health = client.health()
    assert not health.present and health.error is not None and "cannot be opened" in health.error
    first = FakeModem(EC25)
    os.symlink(first.path, link)
    assert client.health() == HEALTHY
    first.unplug()
    assert not client.health().present
    second = FakeModem(EC25)  # re-enumerated: a new device behind the same name
    link.unlink()
    os.symlink(second.path, link)
    assert client.health() == HEALTHY
    client.close()
    first.close()
    second.close()


def _agent(tmp_path: Path, emulator: EmulatorHandle, port: str) -> Agent:
    config = write_config(
        tmp_path / "config.toml",
        emulator.fs_url,
        **{"[modem]\nenabled = false": f'[modem]\nport = "{port}"', "[api]\n": "[api]\nenabled = false\n"},
    )
    return Agent(load_config(config), SystemClock())


def test_the_agent_puts_the_modem_into_its_status(
    tmp_path: Path, emulator: EmulatorHandle, fake: FakeModem
) -> None:
    assert "modem" not in NOT_BUILT_YET
    box = _agent(tmp_path, emulator, fake.path)
    box.start()
    try:
        modem = wait_for(lambda: box.status_dict()["modem"]["present"] and box.status_dict()["modem"])
        assert modem == {
            "signal_dbm": -77,
            "registered": True,
            "operator": "Kyivstar",
            "present": True,
            "sim": "READY",
            "roaming": False,
            "attached": True,
            "error": None,
        }
    finally:
        box.close()


def test_an_agent_without_its_modem_starts_and_says_it_is_absent(
    tmp_path: Path, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    box = _agent(tmp_path, emulator, str(tmp_path / "no-such-tty"))
    box.start()
    try:
        modem = wait_for(lambda: box.status_dict()["modem"]["present"] is False and box.status_dict()["modem"])
        assert "cannot be opened" in modem["error"] and modem["signal_dbm"] is None
        assert box.status_dict()["mode"] in ("online", "offline")  # the register runs all the same
    finally:
        box.close()
    assert sum("modem: not present" in r.getMessage() for r in caplog.records) == 1


def test_no_modem_when_it_is_disabled(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", "http://127.0.0.1:1/fs")
    assert build_modem(load_config(config)) is None
