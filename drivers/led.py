"""The status LED (contract §5): one LED on a GPIO pin, showing one of five patterns.

API::

    led = StatusLed(17, active_high=True, pin_factory=None)   # or "mock", "lgpio", "rpigpio", "native"
    led.show(LedPattern.SLOW_BLINK)   # returns at once; the LED changes at once
    led.pattern                       # LedPattern.SLOW_BLINK
    led.close()                       # the LED off, the thread stopped, the pin released

Each :class:`LedPattern` carries its steps (on or off, for how long) and repeats them. A thread of the
LED's own runs the steps: it waits on a condition with the step's time as the timeout, so a new pattern
interrupts the step in progress, and a steady pattern (off, on) has it wait with no timeout at all.
The waiting is done by a *waiter* (:class:`RealTime` by default) so that tests can let time pass step
by step. A pin or back-end that cannot be opened raises :class:`LedError`.

This module imports nothing from ``agent``: drivers are leaves.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any, NamedTuple, Protocol

from drivers.gpio import FACTORIES, open_device

__all__ = ["FACTORIES", "LedError", "LedPattern", "RealTime", "StatusLed", "Step", "Waiter"]

log = logging.getLogger(__name__)

#: how long close() waits for the LED's thread (it ends at once, unless a pin write hangs)
CLOSE_WAIT_S = 2.0


class LedError(RuntimeError):
    """The LED could not be opened or driven."""


class Step(NamedTuple):
    on: bool
    seconds: float  # how long the LED stays so; math.inf for a steady pattern


_FOREVER = float("inf")


class LedPattern(Enum):
    """The five codes of contract §5, each a cycle of steps."""

    OFF = (Step(False, _FOREVER),)
    SLOW_BLINK = (Step(True, 1.0), Step(False, 1.0))
    # two short flashes, then dark for the rest of the 2 s period
    DOUBLE_FLASH = (Step(True, 0.1), Step(False, 0.2), Step(True, 0.1), Step(False, 1.6))
    FAST_BLINK = (Step(True, 0.2), Step(False, 0.2))
    STEADY = (Step(True, _FOREVER),)

    @property
    def steps(self) -> tuple[Step, ...]:
        steps: tuple[Step, ...] = self.value
        return steps

    @property
    def steady(self) -> bool:
        """One step held until the pattern changes: nothing to time."""
        return len(self.steps) == 1

    @property
    def period_s(self) -> float:
        return sum(step.seconds for step in self.steps)


class Waiter(Protocol):
    """How the LED's thread lets a step's time pass (tests give one where time passes on demand)."""

    def wait_for(
        self, condition: threading.Condition, predicate: Callable[[], bool], timeout: float | None
    ) -> bool:
        """Called with ``condition`` held: wait until ``predicate()`` is true (True) or ``timeout``
        seconds have passed (False); ``timeout`` None waits for the predicate alone."""
        ...


class RealTime:
    """The waiter of a real LED: the condition's own timed wait (the thread sleeps, never polls)."""

    def wait_for(
        self, condition: threading.Condition, predicate: Callable[[], bool], timeout: float | None
    ) -> bool:
        return condition.wait_for(predicate, timeout)


def _open(pin: int, active_high: bool, pin_factory: Any) -> Any:
    def build(factory: Any) -> Any:
        from gpiozero import LED  # imported here: the patterns alone need no GPIO stack

        return LED(pin, active_high=active_high, initial_value=False, pin_factory=factory)

    return open_device(f"LED on pin {pin}", pin_factory, build, error=LedError, log=log)


class StatusLed:
    """Thread-safe. ``show()`` never blocks on the pattern's timing; ``close()`` is idempotent and
    never raises."""

    def __init__(
        self,
        pin: int,
        *,
        active_high: bool = True,
        pin_factory: Any = None,
        waiter: Waiter | None = None,
    ) -> None:
        self.pin = pin
        self._device = _open(pin, active_high, pin_factory)
        self._waiter: Waiter = waiter or RealTime()
        self._changed = threading.Condition(threading.Lock())
        self._pattern = LedPattern.OFF
        self._index = 0  # the step of the pattern in progress
        self._generation = 0  # counts the changes of pattern: what a waiting step watches for
        self._closed = False
        self._failing = False  # a write failed: said once, until one succeeds again
        self._thread = threading.Thread(target=self._run, name=f"led-{pin}", daemon=True)
        self._thread.start()

    @property
    def pattern(self) -> LedPattern:
        with self._changed:
            return self._pattern

    def show(self, pattern: LedPattern) -> None:
        """Show ``pattern`` from its first step now; the pattern already shown goes on undisturbed.
        Raises LedError when the pin cannot be switched (the pattern is taken all the same)."""
        with self._changed:
            if self._closed:
                raise LedError(f"LED on pin {self.pin}: closed")
            if pattern is self._pattern:
                if self._failing:  # the pin refused the last level: the same pattern tries it again
                    self._write(pattern.steps[self._index].on)
                return
            self._pattern, self._index = pattern, 0
            self._generation += 1
            self._changed.notify_all()  # the thread wakes once we let go of the lock
            # Written here, not by the thread: when show() returns the LED already shows the pattern.
            self._write(pattern.steps[0].on)

    def close(self) -> None:
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        self._thread.join(CLOSE_WAIT_S)
        if self._thread.is_alive():
            log.warning("LED on pin %s: its thread did not end; the pin is released all the same", self.pin)
        # Never raises: closing is the agent's shutdown, which the LED must not stop half way.
        for what, action in (("switched off", self._device.off), ("released", self._device.close)):
            try:
                action()  # close: gpiozero makes the pin an input again and frees it
            except Exception as e:
                log.warning("LED on pin %s: could not be %s at close: %s", self.pin, what, e)

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                generation, pattern = self._generation, self._pattern
                step = pattern.steps[self._index]
                changed = self._waiter.wait_for(
                    self._changed,
                    functools.partial(self._moved_on, generation),
                    None if pattern.steady else step.seconds,
                )
                if changed:
                    continue  # show() has written the new pattern's first step, or close() came
                self._index = (self._index + 1) % len(pattern.steps)
                self._write_quietly(pattern.steps[self._index].on)

    def _moved_on(self, generation: int) -> bool:
        """Whether the step begun at ``generation`` is over before its time (under the lock)."""
        return self._closed or self._generation != generation

    def _write(self, on: bool) -> None:
        try:
            self._device.on() if on else self._device.off()
        except Exception as e:
            self._failing = True
            raise LedError(f"LED on pin {self.pin}: cannot be switched {'on' if on else 'off'}: {e}") from e
        self._failing = False

    def _write_quietly(self, on: bool) -> None:
        # The thread has no caller to raise to: a failing pin is logged once and the pattern goes on, so
        # that the LED is right again as soon as the pin is.
        was_failing = self._failing
        try:
            self._write(on)
        except LedError as e:
            if not was_failing:
                log.warning("%s", e)
