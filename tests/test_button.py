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
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from drivers.button import ButtonError, StatusButton
from drivers.led import StatusLed
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
def factory() -> Iterator[MockFactory]:
    # A fresh one per test: a MockFactory keeps its pins and their reservations.
    factory = MockFactory()
    yield factory
    factory.close()


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
    assert time.monotonic() - pressed_at >= LONG_S
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
