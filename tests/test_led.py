"""The offline LED: the driver's patterns on gpiozero's own mock pins, the policy from the status, and
the two wired together (contract §5).

Time in the driver's tests is a fake: the LED's thread waits through ``SteppedTime``, where a step ends
only when the test lets it, and gpiozero's MockPin stamps its changes with the same fake clock, so the
durations in a pin's history are the patterns' own and nothing sleeps.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gpiozero.pins.mock
import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from agent.app import Agent
from agent.clock import FakeClock, SystemClock
from agent.config import load_config
from agent.secr.register import Mode, RegisterStatus
from agent.status import CertificatePart, LedIndicator, Snapshot, StatusModel, led_pattern
from drivers.led import LedError, LedPattern, RealTime, StatusLed
from tests.conftest import Box, EmulatorHandle, cash, item
from tests.test_cli import write_config
from tests.test_status_model import register_status
from tests.waiting import wait_for

PIN = 17
BLINKING = [p for p in LedPattern if not p.steady]
SETTLE_S = 10.0  # the most a test waits for the LED's thread (it takes microseconds)


# --- fake time ---------------------------------------------------------------------------------------


class FakeTime:
    """The clock MockPin stamps its changes with (``gpiozero.pins.mock.monotonic``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SteppedTime:
    """A waiter where a step's time passes only when the test says so (``elapse``)."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.timeouts: list[float | None] = []  # the timeout of every wait the LED's thread began
        self._granted = 0
        self._current: Callable[[], bool] | None = None  # the predicate of the wait in progress
        self._condition: threading.Condition | None = None

    def wait_for(
        self, condition: threading.Condition, predicate: Callable[[], bool], timeout: float | None
    ) -> bool:
        self._condition = condition
        self.timeouts.append(timeout)
        began = self.time.now
        self._current = predicate
        condition.notify_all()  # a test in settle() sees the wait begin
        try:
            while not predicate():
                if timeout is not None and self._granted:
                    self._granted -= 1
                    self.time.now = began + timeout
                    return False
                condition.wait()
            return True
        finally:
            self._current = None

    def settle(self) -> None:
        """Until the LED's thread waits on the step of the pattern shown now."""
        condition = wait_for(lambda: self._condition, timeout=SETTLE_S, what="the LED's first wait")
        with condition:
            if not condition.wait_for(lambda: self._current is not None and not self._current(), SETTLE_S):
                raise AssertionError("the LED's thread did not come back to wait")

    def elapse(self, steps: int = 1) -> None:
        """Let ``steps`` steps run their whole time, one after the other."""
        for _ in range(steps):
            self.settle()
            condition = self._condition
            assert condition is not None
            with condition:
                assert self.timeouts[-1] is not None, "a steady pattern has no step to end"
                began = len(self.timeouts)
                self._granted = 1
                condition.notify_all()
                if not condition.wait_for(lambda: len(self.timeouts) > began, SETTLE_S):  # noqa: B023
                    raise AssertionError("the step did not end")
        self.settle()

    def advance(self, seconds: float) -> None:
        """Time passes within the step in progress (it does not end it)."""
        self.time.now += seconds


@pytest.fixture()
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(gpiozero.pins.mock, "monotonic", fake)
    return fake


@pytest.fixture()
def waiter(fake_time: FakeTime) -> SteppedTime:
    return SteppedTime(fake_time)


@pytest.fixture()
def make_led(factory: MockFactory, waiter: SteppedTime) -> Iterator[Callable[..., StatusLed]]:
    made: list[StatusLed] = []

    def make(**kwargs: Any) -> StatusLed:
        led = StatusLed(PIN, pin_factory=factory, waiter=waiter, **kwargs)
        made.append(led)
        return led

    yield make
    for led in made:
        led.close()


@pytest.fixture()
def led(make_led: Callable[..., StatusLed]) -> StatusLed:
    return make_led()


@pytest.fixture()
def pin(factory: MockFactory, led: StatusLed) -> MockPin:
    return factory.pin(PIN)


def timeline(pin: MockPin) -> list[tuple[bool, float]]:
    """The pin's history as (level, how long it was held), the level it holds now left out."""
    states = pin.states
    return [(states[i].state, states[i + 1].timestamp) for i in range(len(states) - 1)]


def merged(segments: list[tuple[bool, float]]) -> list[tuple[bool, float]]:
    """Adjacent segments of one level as one: a pin records changes only."""
    out: list[tuple[bool, float]] = []
    for level, seconds in segments:
        if out and out[-1][0] == level:
            out[-1] = (level, out[-1][1] + seconds)
        else:
            out.append((level, seconds))
    return out


def approx(segments: list[tuple[bool, float]]) -> list[tuple[bool, Any]]:
    # Exact but for float sums (0.1 + 0.2): nothing real-time about it.
    return [(level, pytest.approx(seconds, abs=1e-9)) for level, seconds in segments]


def steps_of(pattern: LedPattern, periods: int = 1) -> list[tuple[bool, float]]:
    return [(step.on, step.seconds) for step in pattern.steps] * periods


# --- the patterns ------------------------------------------------------------------------------------


def test_the_patterns_are_the_contracts() -> None:
    assert steps_of(LedPattern.SLOW_BLINK) == [(True, 1.0), (False, 1.0)]
    assert steps_of(LedPattern.FAST_BLINK) == [(True, 0.2), (False, 0.2)]
    assert steps_of(LedPattern.DOUBLE_FLASH) == [(True, 0.1), (False, 0.2), (True, 0.1), (False, 1.6)]
    assert LedPattern.DOUBLE_FLASH.period_s == pytest.approx(2.0)
    assert [p.steady for p in LedPattern] == [True, False, False, False, True]
    assert steps_of(LedPattern.OFF)[0][0] is False and steps_of(LedPattern.STEADY)[0][0] is True


@pytest.mark.parametrize("pattern", BLINKING, ids=lambda p: p.name)
def test_a_blinking_pattern_over_two_periods(
    led: StatusLed, pin: MockPin, waiter: SteppedTime, pattern: LedPattern
) -> None:
    led.show(pattern)
    assert led.pattern is pattern and pin.state is True  # at once, before any step has run
    pin.clear_states()
    waiter.elapse(2 * len(pattern.steps))
    assert timeline(pin) == approx(steps_of(pattern, 2))
    assert pin.state is True  # the third period has begun
    assert waiter.timeouts[-1] == pattern.steps[0].seconds


@pytest.mark.parametrize("pattern", [LedPattern.OFF, LedPattern.STEADY], ids=lambda p: p.name)
def test_a_steady_pattern_holds_without_a_timed_wait(
    led: StatusLed, pin: MockPin, waiter: SteppedTime, pattern: LedPattern
) -> None:
    led.show(LedPattern.FAST_BLINK if pattern is LedPattern.OFF else LedPattern.OFF)
    led.show(pattern)
    waiter.settle()
    waits = len(waiter.timeouts)
    pin.clear_states()
    waiter.advance(3600)
    waiter.settle()
    # One wait with no timeout: the thread sleeps until the pattern changes, it never polls.
    assert waiter.timeouts[-1] is None and len(waiter.timeouts) == waits
    assert pin.state is pattern.steps[0].on and timeline(pin) == []
    with pytest.raises(AssertionError, match="no step to end"):
        waiter.elapse()


def test_the_led_starts_off(led: StatusLed, pin: MockPin, waiter: SteppedTime) -> None:
    waiter.settle()
    assert led.pattern is LedPattern.OFF and pin.state is False and pin.function == "output"
    assert waiter.timeouts == [None]


def _into(pattern: LedPattern, waiter: SteppedTime) -> list[tuple[bool, float]]:
    """Run ``pattern`` past its first step and half into the next; what the pin showed meanwhile."""
    if pattern.steady:
        waiter.advance(0.5)
        return [(pattern.steps[0].on, 0.5)]
    waiter.elapse(1)
    half = pattern.steps[1].seconds / 2
    waiter.advance(half)
    return [steps_of(pattern)[0], (pattern.steps[1].on, half)]


@pytest.mark.parametrize(
    ("before", "after"),
    list(itertools.permutations(LedPattern, 2)),
    ids=lambda p: p.name,
)
def test_every_change_of_pattern_shows_at_once(
    led: StatusLed, pin: MockPin, waiter: SteppedTime, before: LedPattern, after: LedPattern
) -> None:
    led.show(before)
    waiter.settle()
    pin.clear_states()
    shown = _into(before, waiter)
    led.show(after)
    # At once: show() has switched the pin before it returned, in the middle of the step in progress.
    assert led.pattern is after and pin.state is after.steps[0].on
    if after.steady:
        waiter.settle()
        assert waiter.timeouts[-1] is None
        expected = [*shown, (after.steps[0].on, 0.0)]
    else:
        waiter.elapse(len(after.steps))  # the new pattern from its first step, its whole period
        expected = [*shown, *steps_of(after), (after.steps[0].on, 0.0)]
    assert timeline(pin) == approx(merged(expected)[:-1])  # the level held now is still open


def test_the_pattern_shown_again_keeps_its_phase(led: StatusLed, pin: MockPin, waiter: SteppedTime) -> None:
    led.show(LedPattern.SLOW_BLINK)
    pin.clear_states()
    waiter.elapse(1)  # into the dark second
    waiter.advance(0.5)
    waits = len(waiter.timeouts)
    led.show(LedPattern.SLOW_BLINK)
    waiter.settle()
    assert len(waiter.timeouts) == waits  # the step was not even woken
    waiter.elapse(1)
    assert timeline(pin) == approx([(True, 1.0), (False, 1.0)])  # not 1.5: the step was not restarted


def test_active_low_inverts_the_pin(
    make_led: Callable[..., StatusLed], factory: MockFactory, waiter: SteppedTime
) -> None:
    led = make_led(active_high=False)
    pin = factory.pin(PIN)
    assert pin.state is True  # off is high
    led.show(LedPattern.FAST_BLINK)
    assert pin.state is False
    pin.clear_states()
    waiter.elapse(4)
    assert timeline(pin) == approx([(False, 0.2), (True, 0.2)] * 2)
    led.show(LedPattern.STEADY)
    assert pin.state is False
    led.close()
    assert pin.state is True and pin.function == "input"  # left dark and released


def test_a_pin_that_refuses_is_an_error_and_tried_again(
    led: StatusLed, pin: MockPin, waiter: SteppedTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    led.show(LedPattern.STEADY)

    def refuse(value: bool) -> None:
        raise OSError("the GPIO chip is gone")

    monkeypatch.setattr(pin, "_set_state", refuse)
    with pytest.raises(LedError, match=f"LED on pin {PIN}: cannot be switched on: the GPIO chip is gone"):
        led.show(LedPattern.FAST_BLINK)
    assert led.pattern is LedPattern.FAST_BLINK  # taken all the same: the thread goes on with it
    waiter.elapse(3)
    monkeypatch.undo()
    led.show(LedPattern.FAST_BLINK)  # the same pattern: the level of its step is written again
    assert pin.state is False  # the dark step the thread is in
    waiter.elapse(1)
    assert pin.state is True


def test_the_thread_says_a_failing_pin_once(
    led: StatusLed,
    pin: MockPin,
    waiter: SteppedTime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    led.show(LedPattern.FAST_BLINK)
    waiter.settle()

    def refuse(value: bool) -> None:
        raise OSError("the GPIO chip is gone")

    monkeypatch.setattr(pin, "_set_state", refuse)
    with caplog.at_level(logging.WARNING, logger="drivers.led"):
        waiter.elapse(4)
        monkeypatch.undo()
        waiter.elapse(1)  # the pin is back: the pattern is where time has taken it, five steps on
        assert pin.state is False
        waiter.elapse(1)
    assert pin.state is True
    assert [r.getMessage() for r in caplog.records] == [
        f"LED on pin {PIN}: cannot be switched off: the GPIO chip is gone"
    ]


def test_close_never_raises(led: StatusLed, pin: MockPin, monkeypatch: pytest.MonkeyPatch) -> None:
    led.show(LedPattern.STEADY)

    def refuse(value: bool) -> None:
        raise OSError("the GPIO chip is gone")

    monkeypatch.setattr(pin, "_set_state", refuse)
    led.close()  # logged, not raised: the agent's shutdown goes on
    assert pin.function == "input" and _led_threads() == []


def _led_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"led-{PIN}"]


def test_close_leaves_the_pin_low_and_released(
    make_led: Callable[..., StatusLed], factory: MockFactory, waiter: SteppedTime
) -> None:
    led = make_led()
    led.show(LedPattern.STEADY)
    pin = factory.pin(PIN)
    assert pin.state is True
    led.close()
    assert pin.state is False and pin.function == "input"
    assert _led_threads() == []
    led.close()  # again: nothing
    with pytest.raises(LedError, match=f"pin {PIN}: closed"):
        led.show(LedPattern.SLOW_BLINK)
    # Released: the pin can be opened again.
    again = make_led()
    again.show(LedPattern.STEADY)
    assert pin.state is True


def test_close_interrupts_a_long_step(led: StatusLed, pin: MockPin, waiter: SteppedTime) -> None:
    led.show(LedPattern.SLOW_BLINK)
    waiter.settle()
    # In SteppedTime no step ends by itself: close() returning is the step cut short.
    led.close()
    assert pin.state is False and _led_threads() == []


def test_real_time_blinks(factory: MockFactory) -> None:
    led = StatusLed(PIN, pin_factory=factory, waiter=RealTime())
    try:
        pin = factory.pin(PIN)
        led.show(LedPattern.FAST_BLINK)
        wait_for(lambda: len(pin.states) >= 5, what="two fast blinks in real time")
        assert [s.state for s in pin.states[:5]] == [False, True, False, True, False]
    finally:
        led.close()


def test_an_unknown_factory_name_is_a_clear_error() -> None:
    with pytest.raises(LedError, match=r"LED on pin 17: unknown pin factory 'gpoi' \(known: mock, lgpio,"):
        StatusLed(PIN, pin_factory="gpoi")


@pytest.mark.skipif(importlib.util.find_spec("lgpio") is not None, reason="lgpio is installed here")
def test_a_back_end_that_cannot_load_is_a_clear_error() -> None:
    with pytest.raises(LedError, match=r"LED on pin 17: the GPIO back-end 'lgpio' cannot be loaded: .*lgpio"):
        StatusLed(PIN, pin_factory="lgpio")


def test_a_pin_in_use_is_a_clear_error(led: StatusLed, factory: MockFactory) -> None:
    with pytest.raises(LedError, match=r"LED on pin 17 \(pin factory .*\): cannot be opened"):
        StatusLed(PIN, pin_factory=factory)


def test_the_mock_factory_by_name() -> None:
    led = StatusLed(PIN, pin_factory="mock")
    try:
        led.show(LedPattern.STEADY)
        assert led.pattern is LedPattern.STEADY
    finally:
        led.close()


# --- the policy --------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ONLINE = register_status(offline_session_id="S-2")
OFFLINE = replace(ONLINE, mode=Mode.OFFLINE, pending_documents=5, oldest_pending_at=NOW, session_minutes=95)
UPLOADING = replace(OFFLINE, mode=Mode.UPLOADING)
REFUSED = "the fiscal server refused document local № 20 (1.20.1): bad XML"
STUCK = "5 documents are still not delivered although the fiscal server has answered for 700 s"

POLICY = [
    ("online", ONLINE, (), LedPattern.OFF),
    # online documents whose reply was lost, being settled: still selling online
    ("online, pending", replace(ONLINE, pending_documents=2, oldest_pending_at=NOW), (), LedPattern.OFF),
    ("online, an error of the register", replace(ONLINE, errors=("the config differs",)), (), LedPattern.OFF),
    ("online, an error of the loop", ONLINE, ("the range refresh failed",), LedPattern.OFF),
    ("online, blocked", replace(ONLINE, blocked_reason="clock_off"), (), LedPattern.STEADY),
    (
        "online, prohibited and the server gone",
        replace(ONLINE, blocked_reason="offline_prohibited"),
        (),
        LedPattern.STEADY,
    ),
    ("offline", OFFLINE, (), LedPattern.SLOW_BLINK),
    ("offline, session_limit", replace(OFFLINE, warnings=("session_limit",)), (), LedPattern.FAST_BLINK),
    ("offline, month_limit", replace(OFFLINE, warnings=("month_limit",)), (), LedPattern.FAST_BLINK),
    (
        "offline, range_low",
        replace(OFFLINE, warnings=("range_low",), numbers_left=3),
        (),
        LedPattern.FAST_BLINK,
    ),
    ("offline, upload_error", replace(OFFLINE, upload_error=REFUSED), (), LedPattern.FAST_BLINK),
    (
        "offline, a delivery that does not finish",
        replace(OFFLINE, errors=(STUCK,)),
        (),
        LedPattern.FAST_BLINK,
    ),
    (
        "offline, an error of the loop",
        OFFLINE,
        ("internal error in the agent's loop",),
        LedPattern.FAST_BLINK,
    ),
    (
        "offline, blocked: limit",
        replace(OFFLINE, blocked_reason="offline_session_limit", warnings=("session_limit",)),
        (),
        LedPattern.STEADY,
    ),
    (
        "offline, blocked: reserve empty",
        replace(OFFLINE, blocked_reason="offline_range_exhausted", numbers_left=0),
        (),
        LedPattern.STEADY,
    ),
    # what the register reports for a refused package while offline: sales refused, for a person
    (
        "offline, blocked: package refused",
        replace(OFFLINE, blocked_reason="offline_session_refused", upload_error=REFUSED, errors=(REFUSED,)),
        (),
        LedPattern.STEADY,
    ),
    ("offline, blocked: journal", replace(OFFLINE, blocked_reason="disk_full"), (), LedPattern.STEADY),
    ("uploading", UPLOADING, (), LedPattern.DOUBLE_FLASH),
    (
        "uploading, a limit warning left over",
        replace(UPLOADING, warnings=("session_limit",)),
        (),
        LedPattern.DOUBLE_FLASH,
    ),
    ("uploading, upload_error", replace(UPLOADING, upload_error=REFUSED), (), LedPattern.FAST_BLINK),
    (
        "uploading, a delivery that does not finish",
        replace(UPLOADING, errors=(STUCK,)),
        (),
        LedPattern.FAST_BLINK,
    ),
    ("uploading, an error of the loop", UPLOADING, ("the server answers nonsense",), LedPattern.FAST_BLINK),
    (
        "uploading, blocked",
        replace(UPLOADING, blocked_reason="offline_session_refused", upload_error=REFUSED),
        (),
        LedPattern.STEADY,
    ),
]


@pytest.mark.parametrize(
    ("register", "agent_errors", "expected"), [c[1:] for c in POLICY], ids=[c[0] for c in POLICY]
)
def test_the_policy(register: RegisterStatus, agent_errors: tuple[str, ...], expected: LedPattern) -> None:
    assert led_pattern(Snapshot(register=register, at=NOW, agent_errors=agent_errors)) is expected


def test_the_certificate_reminder_is_not_an_offline_warning() -> None:
    expiring = CertificatePart("Тест", "ab", True, NOW, 3)
    snapshot = Snapshot(register=OFFLINE, at=NOW, certificate=expiring)
    assert snapshot.errors  # the status says it
    assert led_pattern(snapshot) is LedPattern.SLOW_BLINK


def test_what_the_register_reports_in_each_phase(tmp_path: Path, emulator: EmulatorHandle) -> None:
    """The policy on the statuses a real register gives (against the emulator), not only on made-up ones."""

    def crashpoint(name: str) -> None:
        if name == "after_offline_end":  # the 103 is made: the link drops before its package goes
            emulator.fault("down")

    box = Box(tmp_path / "box", emulator.fs_url, crashpoint=crashpoint, timeout_s=2)
    box.register.start()

    def pattern() -> LedPattern:
        return led_pattern(Snapshot(register=box.register.status(), at=NOW))

    try:
        box.register.open_shift(cashier="Тест")
        assert pattern() is LedPattern.OFF
        emulator.fault("down")
        box.register.sell([item()], [cash("10.00")])
        assert box.register.status().mode == Mode.OFFLINE and pattern() is LedPattern.SLOW_BLINK
        emulator.fault("none")
        assert box.register.go_online().mode == Mode.UPLOADING
        assert pattern() is LedPattern.DOUBLE_FLASH
        emulator.fault("none")
        assert box.register.go_online().mode == Mode.ONLINE
        assert pattern() is LedPattern.OFF
    finally:
        box.close()


class Flaky:
    def __init__(self) -> None:
        self.shown: list[LedPattern] = []
        self.failing = True

    def show(self, pattern: LedPattern) -> None:
        if self.failing:
            raise LedError("LED on pin 17: cannot be switched on: gone")
        self.shown.append(pattern)


def test_the_indicator_logs_a_failing_led_once(caplog: pytest.LogCaptureFixture) -> None:
    led = Flaky()
    indicator = LedIndicator(led)
    with caplog.at_level(logging.INFO, logger="agent.status.led"):
        for register in (OFFLINE, ONLINE, OFFLINE):
            indicator(Snapshot(register=register, at=NOW))  # never raises
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "cannot show SLOW_BLINK" in caplog.text and "gone" in caplog.text
        led.failing = False
        indicator(Snapshot(register=UPLOADING, at=NOW))
        indicator(Snapshot(register=ONLINE, at=NOW))
    assert led.shown == [LedPattern.DOUBLE_FLASH, LedPattern.OFF]
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]  # "works again", once


# --- wired together ----------------------------------------------------------------------------------


def test_the_status_model_drives_the_led(factory: MockFactory) -> None:
    led = StatusLed(PIN, pin_factory=factory)  # real time: the model delivers on a thread of its own
    model = StatusModel(FakeClock(NOW), ONLINE)
    pin = factory.pin(PIN)
    try:
        subscription = model.subscribe(LedIndicator(led), name="led")
        wait_for(lambda: subscription.delivered >= 1, what="the first snapshot")
        assert led.pattern is LedPattern.OFF and pin.state is False
        steps = [
            (OFFLINE, LedPattern.SLOW_BLINK),
            (replace(OFFLINE, blocked_reason="offline_session_limit"), LedPattern.STEADY),
            (ONLINE, LedPattern.OFF),
        ]
        for register, pattern in steps:
            model.set_register(register)
            wait_for(lambda: led.pattern is pattern, what=f"the LED showing {pattern.name}")  # noqa: B023
            if pattern is LedPattern.SLOW_BLINK:
                wait_for(lambda: pin.state is True, what="the slow blink lit")
            else:
                assert pin.state is (pattern is LedPattern.STEADY)
    finally:
        model.close()
        led.close()
    assert pin.state is False and pin.function == "input"


# --- in the agent ------------------------------------------------------------------------------------


def _agent(tmp_path: Path, fs_url: str, led: str) -> Agent:
    config = write_config(tmp_path / "config.toml", fs_url, **{"[led]\nenabled = false": f"[led]\n{led}"})
    return Agent(load_config(config), SystemClock())


def test_the_agent_shows_its_status_on_the_led(tmp_path: Path, emulator: EmulatorHandle) -> None:
    agent = _agent(tmp_path, emulator.fs_url, 'pin_factory = "mock"\nactive_high = false')
    agent.start()
    try:
        led = agent.led
        assert led is not None and led.pin == 17
        assert agent.status is not None
        (subscription,) = [s for s in agent.status.subscriptions() if s.name == "status:led"]
        wait_for(lambda: subscription.delivered >= 1, what="the LED's first snapshot")
        assert led.pattern is LedPattern.OFF  # online
    finally:
        agent.close()
    with pytest.raises(LedError, match="closed"):
        led.show(LedPattern.STEADY)


@pytest.mark.skipif(importlib.util.find_spec("lgpio") is not None, reason="lgpio is installed here")
def test_an_led_that_cannot_be_opened_does_not_stop_the_agent(
    tmp_path: Path, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    agent = _agent(tmp_path, emulator.fs_url, 'pin_factory = "lgpio"')
    with caplog.at_level(logging.WARNING, logger="fiscal-box"):
        agent.start()
    try:
        assert agent.led is None
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("led:")]
        assert len(lines) == 1 and "LED on pin 17: the GPIO back-end 'lgpio' cannot be loaded" in lines[0]
        agent.register.open_shift(cashier="Тест")  # the till sells all the same
        assert agent.status_dict()["shift"] == "open"
    finally:
        agent.close()
