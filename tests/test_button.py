"""The status button (issue 13) on gpiozero's own mock pins: the driver tells a short press from a long
one, and the agent prints the slip for a short one and goes online for a long one, one action at a time.

Pressing is ``pin.drive_low()`` (a button to ground, pulled up), letting go ``pin.drive_high()``. A long
press is timed by gpiozero's own hold thread in real time, so tests that hold the button use a small
``long_press_s`` and wait for its callback; tests of a short press use a long one (30 s), so that a
loaded machine pausing between press and release can never turn it into a long press.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from agent.app import Agent
from agent.button import ButtonActions
from agent.clock import SystemClock
from agent.config import load_config
from agent.secr.errors import NeedsPerson
from agent.secr.register import Mode
from drivers.button import ButtonError, StatusButton
from drivers.led import StatusLed
from tests.conftest import EmulatorHandle, cash, item
from tests.escpos_decode import decode
from tests.test_cli import write_config
from tests.waiting import wait_for

PIN = 27
LONG_S = 0.2  # a long press in tests: the least the config allows
NEVER_LONG_S = 30.0  # for short presses: no pause of the test's thread comes near it


class Presses:
    """The callbacks a button is given: what ran, in order, and on which thread."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def short(self) -> None:
        self.seen.append(("short", threading.current_thread().name))

    def long(self) -> None:
        self.seen.append(("long", threading.current_thread().name))

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.seen]


@pytest.fixture()
def presses() -> Presses:
    return Presses()


@pytest.fixture()
def make_button(factory: MockFactory, presses: Presses) -> Iterator[Callable[..., StatusButton]]:
    made: list[StatusButton] = []

    def make(**kwargs: Any) -> StatusButton:
        options: dict[str, Any] = {
            "on_short": presses.short,
            "on_long": presses.long,
            "long_press_s": NEVER_LONG_S,
            "pin_factory": factory,
        }
        button = StatusButton(PIN, **(options | kwargs))
        made.append(button)
        return button

    yield make
    for button in made:
        button.close()


def hold_for(seconds: float, since: float) -> None:
    """Keep the button down until ``seconds`` have passed since ``since`` (time.monotonic()). Time passing
    is what a held button is made of, so this is the press itself, not a wait for something to happen."""
    wait_for(lambda: time.monotonic() - since >= seconds, timeout=seconds + 30, what="the button held")


# --- the driver ----------------------------------------------------------------------------------------


def test_a_short_press_is_decided_on_release(make_button: Callable[..., StatusButton], presses: Presses) -> None:
    button = make_button()
    pin: MockPin = button.gpio
    assert (pin.function, pin.pull, pin.state) == ("input", "up", True)  # up: a button to ground
    pin.drive_low()
    assert presses.kinds == []  # still down: it may yet become a long press
    pin.drive_high()
    assert presses.kinds == ["short"]
    pin.drive_low()
    pin.drive_high()
    assert presses.kinds == ["short", "short"]


def test_a_long_press_acts_while_held_and_once(
    make_button: Callable[..., StatusButton], presses: Presses
) -> None:
    button = make_button(long_press_s=LONG_S)
    pin: MockPin = button.gpio
    pressed_at = time.monotonic()
    pin.drive_low()
    wait_for(lambda: presses.kinds == ["long"], timeout=10, what="the long press")
    assert time.monotonic() - pressed_at >= LONG_S - 0.005  # not before its time (but a timer's grain)
    assert pin.state is False  # acted on while the button is still held
    (_, thread), = presses.seen
    assert thread != threading.current_thread().name  # gpiozero's hold thread
    hold_for(4 * LONG_S, pressed_at)  # three more hold times: no repeat
    pin.drive_high()
    assert presses.kinds == ["long"]  # and the release that ends it is no short press
    pin.drive_low()  # the next press is a press of its own
    wait_for(lambda: presses.kinds == ["long", "long"], timeout=10, what="the second long press")
    pin.drive_high()
    assert presses.kinds == ["long", "long"]


def test_a_button_to_3v3_is_pressed_while_high(
    make_button: Callable[..., StatusButton], presses: Presses
) -> None:
    button = make_button(pull_up=False)
    pin: MockPin = button.gpio
    assert (pin.pull, pin.state) == ("down", False)
    pin.drive_high()
    pin.drive_low()
    assert presses.kinds == ["short"]


def test_the_bounce_time_reaches_the_pin(make_button: Callable[..., StatusButton], factory: MockFactory) -> None:
    button = make_button()
    assert button.gpio.bounce == pytest.approx(0.05)  # the default
    button.close()
    assert make_button(bounce_s=0).gpio.bounce is None  # none, as gpiozero spells it


def test_a_failing_callback_is_logged_and_the_button_goes_on(
    make_button: Callable[..., StatusButton], presses: Presses, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug in the action")

    button = make_button(on_short=broken, on_long=broken, long_press_s=LONG_S)
    pin: MockPin = button.gpio
    with caplog.at_level(logging.ERROR, logger="drivers.button"):
        pin.drive_low()
        wait_for(
            lambda: any("long press's callback failed" in r.getMessage() for r in caplog.records),
            timeout=10,
            what="the long press's failure logged",
        )
        pin.drive_high()
        # The mock calls the release's callback in this thread: had it raised, it would be raised here.
        pin.drive_low()
        pin.drive_high()
    messages = [r.getMessage() for r in caplog.records]
    assert f"button on pin {PIN}: the long press's callback failed" in messages
    assert f"button on pin {PIN}: the short press's callback failed" in messages
    # gpiozero's hold thread lived through it: the next long press is timed again.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="drivers.button"):
        pin.drive_low()
        wait_for(lambda: caplog.records, timeout=10, what="a second long press")
        pin.drive_high()


def test_close_releases_the_pin_and_ends_the_callbacks(
    make_button: Callable[..., StatusButton], presses: Presses, factory: MockFactory
) -> None:
    button = make_button()
    pin: MockPin = button.gpio
    button.close()
    assert button.gpio is None and pin.function == "input" and pin.when_changed is None
    pin.drive_low()
    pin.drive_high()
    assert presses.kinds == []
    button.close()  # again: nothing
    again = make_button()  # released: the pin can be opened again
    assert again.gpio is pin


def test_an_unknown_factory_name_is_a_clear_error(presses: Presses) -> None:
    with pytest.raises(ButtonError, match=r"button on pin 27: unknown pin factory 'gpoi' \(known: mock, lgpio,"):
        StatusButton(PIN, on_short=presses.short, on_long=presses.long, pin_factory="gpoi")


def test_a_pin_in_use_is_a_clear_error(factory: MockFactory, presses: Presses) -> None:
    led = StatusLed(PIN, pin_factory=factory)
    try:
        with pytest.raises(ButtonError, match=r"button on pin 27 \(pin factory .*\): cannot be opened"):
            StatusButton(PIN, on_short=presses.short, on_long=presses.long, pin_factory=factory)
    finally:
        led.close()


def test_a_pin_the_board_lacks_is_a_clear_error(presses: Presses) -> None:
    with pytest.raises(ButtonError, match=r"button on pin 40 \(pin factory 'mock'\): cannot be opened: 40 is not"):
        StatusButton(40, on_short=presses.short, on_long=presses.long, pin_factory="mock")


def test_a_long_press_time_must_be_above_zero(presses: Presses, factory: MockFactory) -> None:
    with pytest.raises(ValueError, match="long_press_s must be above 0"):
        StatusButton(PIN, on_short=presses.short, on_long=presses.long, long_press_s=0, pin_factory=factory)


# --- the actions: off gpiozero's threads, one at a time ---------------------------------------------


class StandIns:
    """The actions a ButtonActions runs, in place of the agent's: each says it ran, on which thread,
    and the slip waits, when told to, until the test lets it finish."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []
        self.reports: list[Any] = []
        self.slip_started = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def slip(self) -> None:
        self.ran.append(("slip", threading.current_thread().name))
        self.slip_started.set()
        assert self.release.wait(30)

    def go_online(self) -> dict[str, Any]:
        self.ran.append(("go_online", threading.current_thread().name))
        return {"reachable": True, "went_online": True, "packages_sent": 1, "documents_delivered": 2}

    def result_slip(self, report: Any) -> None:
        self.ran.append(("result_slip", threading.current_thread().name))
        self.reports.append(report)


@pytest.fixture()
def stand_ins() -> StandIns:
    return StandIns()


@pytest.fixture()
def actions(stand_ins: StandIns) -> Iterator[ButtonActions]:
    actions = ButtonActions(slip=stand_ins.slip, go_online=stand_ins.go_online, result_slip=stand_ins.result_slip)
    yield actions
    stand_ins.release.set()
    actions.close()


def _idle(actions: ButtonActions) -> bool:
    return not actions.busy


def test_a_press_while_an_action_runs_is_ignored(
    make_button: Callable[..., StatusButton],
    actions: ButtonActions,
    stand_ins: StandIns,
    caplog: pytest.LogCaptureFixture,
) -> None:
    button = make_button(on_short=actions.short_press, on_long=actions.long_press)
    pin: MockPin = button.gpio
    stand_ins.release.clear()  # the slip's printer is slow
    with caplog.at_level(logging.INFO, logger="fiscal-box"):
        pin.drive_low()
        pin.drive_high()
        assert stand_ins.slip_started.wait(10)
        pin.drive_low()
        pin.drive_high()  # a second short press while the slip prints
        # A long press, as gpiozero's hold thread hands it over (the driver's own tests time it).
        actions.long_press()
        stand_ins.release.set()
        wait_for(lambda: _idle(actions), timeout=10, what="the slip finished")
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert ignored == [
        "button: press for the slip ignored: the slip is still running",
        "button: press for Go Online ignored: the slip is still running",
    ]
    assert [name for name, _ in stand_ins.ran] == ["slip"]  # neither was queued for later
    # Run on the actions' own thread: gpiozero's threads only handed the press over.
    assert {thread for _, thread in stand_ins.ran} == {"button-actions"}
    pin.drive_low()
    pin.drive_high()  # idle again: the next press runs
    wait_for(lambda: len(stand_ins.ran) == 2 and _idle(actions), timeout=10, what="the second slip")


def test_a_long_press_goes_online_then_prints_the_result(
    make_button: Callable[..., StatusButton], actions: ButtonActions, stand_ins: StandIns
) -> None:
    button = make_button(on_short=actions.short_press, on_long=actions.long_press, long_press_s=LONG_S)
    pin: MockPin = button.gpio
    pin.drive_low()
    wait_for(lambda: len(stand_ins.ran) == 2, timeout=10, what="go online and its slip")
    pin.drive_high()
    assert stand_ins.ran == [("go_online", "button-actions"), ("result_slip", "button-actions")]
    assert stand_ins.reports == [
        {"reachable": True, "went_online": True, "packages_sent": 1, "documents_delivered": 2}
    ]


def test_failing_actions_are_logged_and_the_next_press_runs(caplog: pytest.LogCaptureFixture) -> None:
    reports: list[Any] = []
    slips: list[str] = []

    def no_printer() -> None:
        slips.append("slip")
        raise NeedsPerson("the printer is disabled in the config", what_to_do="enable [printer]")

    def broken() -> dict[str, Any]:
        raise RuntimeError("a bug")

    actions = ButtonActions(slip=no_printer, go_online=broken, result_slip=reports.append)
    try:
        with caplog.at_level(logging.INFO, logger="fiscal-box"):
            actions.short_press()
            wait_for(lambda: slips and _idle(actions), timeout=10, what="the slip tried")
            actions.long_press()
            wait_for(lambda: reports and _idle(actions), timeout=10, what="go online tried")
            actions.short_press()
            wait_for(lambda: len(slips) == 2 and _idle(actions), timeout=10, what="the thread lives on")
    finally:
        actions.close()
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "button: the slip was not printed: the printer is disabled in the config -- enable [printer]" in messages
    )
    assert "button: Go Online failed" in messages
    # The slip still says that it failed, and why: a technician at the button has no other screen.
    (report,) = reports
    assert report == {"went_online": False, "error": "internal error: RuntimeError: a bug -- call support"}
    assert not [t for t in threading.enumerate() if t.name == "button-actions"]


def test_close_ends_the_actions_thread_and_later_presses_do_nothing(
    actions: ButtonActions, stand_ins: StandIns
) -> None:
    actions.close()
    assert not [t for t in threading.enumerate() if t.name == "button-actions"]
    actions.short_press()
    actions.long_press()
    assert stand_ins.ran == [] and not actions.busy
    actions.close()  # again: nothing


# --- in the agent ------------------------------------------------------------------------------------


def _agent(tmp_path: Path, fs_url: str, button: str, *, paper: bool = True) -> Agent:
    overrides = {"[led]\nenabled = false": f"[led]\nenabled = false\n[button]\n{button}"}
    if paper:
        # CP1251 prints every Ukrainian letter as it is, so the slip's text is compared as written.
        overrides["[printer]\nenabled = false"] = (
            f'[printer]\nkind = "file"\npath = "{tmp_path / "paper.escpos"}"\nwidth_mm = 58\ncodepage = "CP1251"'
        )
    config = write_config(tmp_path / "config.toml", fs_url, **overrides)
    return Agent(load_config(config), SystemClock())


def _paper(agent: Agent) -> list[str]:
    path = agent.settings.printer.path
    assert path is not None
    return [line.strip() for line in decode(path.read_bytes()).texts] if path.exists() else []


def _value(lines: list[str], label: str) -> str:
    (line,) = [line for line in lines if line.startswith(label)]
    return line[len(label) :].strip()


MOCK_BUTTON = 'enabled = true\npin_factory = "mock"'


def test_a_short_press_prints_the_slip(tmp_path: Path, emulator: EmulatorHandle) -> None:
    agent = _agent(tmp_path, emulator.fs_url, f"{MOCK_BUTTON}\nlong_press_s = {NEVER_LONG_S}")
    agent.start()
    try:
        button = agent.button
        assert button is not None and button.pin == 27 and button.long_press_s == NEVER_LONG_S
        pin: MockPin = button.gpio
        pin.drive_low()
        pin.drive_high()
        lines = wait_for(lambda: _paper(agent), what="the slip on paper")
        assert lines[0] == "СЛУЖБОВИЙ СТАН"
        assert _value(lines, "Пристрій") == "test-box" and "ОНЛАЙН" in lines
        assert "ВИХІД В ОНЛАЙН" not in lines  # a short press is the plain slip
    finally:
        agent.close()
    assert button.gpio is None and pin.function == "input"  # released at close
    assert not [t for t in threading.enumerate() if t.name == "button-actions"]


def test_a_long_press_goes_online_and_prints_what_it_did(tmp_path: Path, emulator: EmulatorHandle) -> None:
    agent = _agent(tmp_path, emulator.fs_url, f"{MOCK_BUTTON}\nlong_press_s = {LONG_S}")
    agent.start()
    try:
        register = agent.register
        register.open_shift(cashier="Тест")
        emulator.fault("down")
        sale = register.sell([item(price="5.00")], [cash("5.00")])
        assert sale.offline and register.status().mode == Mode.OFFLINE
        emulator.fault("none")  # the server is back; nothing but the button asks it (no loop runs here)
        wait_for(lambda: sale.fiscal_num in " ".join(_paper(agent)), what="the offline receipt printed")
        assert agent.button is not None
        pin: MockPin = agent.button.gpio
        pin.drive_low()
        lines = wait_for(
            lambda: (p := _paper(agent)) and "ВИХІД В ОНЛАЙН" in p and p, timeout=60, what="the result's slip"
        )
        assert register.status().mode == Mode.ONLINE
        slip = lines[lines.index("СЛУЖБОВИЙ СТАН") :]
        assert _value(slip, "Результат") == "перейшов в онлайн"
        assert _value(slip, "Сервер ДПС") == "відповідає"
        assert int(_value(slip, "Документів доставлено")) >= 1
        assert "ОНЛАЙН" in slip  # the status it left, below the result
        delivered = [d for d in emulator.documents() if d["offline"]]
        assert any(d["fiscal_number"] == sale.fiscal_num for d in delivered)
        actions = agent._button_actions
        assert actions is not None
        wait_for(lambda: not actions.busy, timeout=10, what="the long press's action finished")
        pin.drive_high()
        assert not actions.busy  # the release that ended the long press is no short press
    finally:
        agent.close()


def test_a_button_that_cannot_be_opened_leaves_the_agent_running(
    tmp_path: Path, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    # GPIO 40 is a valid BCM number (compute modules have it) that the mock board, a Pi's header, lacks.
    agent = _agent(tmp_path, emulator.fs_url, f"{MOCK_BUTTON}\npin = 40")
    with caplog.at_level(logging.WARNING, logger="fiscal-box"):
        agent.start()
    try:
        assert agent.button is None
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("button:")]
        assert lines == [
            "button: not active: button on pin 40 (pin factory 'mock'): cannot be opened: 40 is not a valid pin name"
        ]
        assert not [t for t in threading.enumerate() if t.name == "button-actions"]
        agent.register.open_shift(cashier="Тест")  # the till sells all the same
        assert agent.status_dict()["shift"] == "open"
    finally:
        agent.close()


def test_a_short_press_without_a_printer_is_logged(
    tmp_path: Path, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    agent = _agent(tmp_path, emulator.fs_url, f"{MOCK_BUTTON}\nlong_press_s = {NEVER_LONG_S}", paper=False)
    agent.start()
    try:
        assert agent.button is not None
        pin: MockPin = agent.button.gpio
        with caplog.at_level(logging.WARNING, logger="fiscal-box"):
            pin.drive_low()
            pin.drive_high()
            wait_for(lambda: "the slip was not printed" in caplog.text, timeout=10, what="the failure logged")
        assert "the printer is disabled in the config" in caplog.text
        assert agent.status_dict()["mode"] == "online"  # the agent runs on
    finally:
        agent.close()
