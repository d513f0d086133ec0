"""The status button (issue 13): one push button on a GPIO pin, a short press told from a long one.

API::

    button = StatusButton(27, on_short=print_slip, on_long=go_online,
                          long_press_s=3.0, pull_up=True, bounce_s=0.05,
                          pin_factory=None)   # or "mock", "lgpio", "rpigpio", "native", as the LED's
    button.gpio       # gpiozero's pin (a MockPin under the mock back-end: what tests drive)
    button.close()    # the pin released; no callback starts after it returns

Each press is decided once. Held for ``long_press_s`` it is long: ``on_long`` runs then, while the
button is still down (gpiozero's own hold timer, ``when_held``, without repeat), and the release that
ends it does nothing. Let go before that, it is short: ``on_short`` runs on the release. A button
already down when the pin is opened (stuck, or held through the boot) does nothing until it has been
let go and pressed again: gpiozero reports no edge for the level it finds.

``pull_up`` (the default) is a button wired from the pin to ground, pressed while the pin is low;
``pull_up=False`` one wired to 3.3 V, pressed while high.

The callbacks run on gpiozero's threads (the back-end's edge thread, the hold thread), so they must
return at once: hand the work to a thread of your own. One that raises is logged, never raised into
gpiozero. A pin or back-end that cannot be opened raises :class:`ButtonError`.

This module imports nothing from ``agent``: drivers are leaves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from drivers.gpio import open_device

__all__ = ["ButtonError", "StatusButton"]

log = logging.getLogger(__name__)

LONG_PRESS_S = 3.0
#: contacts settle within a few milliseconds; a press is never this short
BOUNCE_S = 0.05


class ButtonError(RuntimeError):
    """The button could not be opened."""


class StatusButton:
    """Thread-safe; ``close()`` is idempotent and never raises."""

    def __init__(
        self,
        pin: int,
        *,
        on_short: Callable[[], None],
        on_long: Callable[[], None],
        long_press_s: float = LONG_PRESS_S,
        pull_up: bool = True,
        bounce_s: float | None = BOUNCE_S,
        pin_factory: Any = None,
    ) -> None:
        if not long_press_s > 0:
            raise ValueError(f"long_press_s must be above 0, got {long_press_s!r}")
        if bounce_s is not None and not bounce_s >= 0:
            raise ValueError(f"bounce_s must be None or at least 0, got {bounce_s!r}")
        self.pin = pin
        self.long_press_s = long_press_s
        self._on_short = on_short
        self._on_long = on_long
        self._lock = threading.Lock()
        self._down = False  # pressed, as gpiozero saw the edge (not the level found at opening)
        self._decided = False  # this press has been taken for a long one
        self._closed = False

        def build(factory: Any) -> Any:
            from gpiozero import Button  # imported here, as the LED's: a laptop without GPIO imports this

            return Button(
                pin,
                pull_up=pull_up,
                bounce_time=bounce_s or None,  # 0: none, as gpiozero spells it
                hold_time=long_press_s,
                hold_repeat=False,
                pin_factory=factory,
            )

        self._device = open_device(f"button on pin {pin}", pin_factory, build, error=ButtonError, log=log)
        self._device.when_pressed = self._pressed
        self._device.when_held = self._held
        self._device.when_released = self._released

    @property
    def gpio(self) -> Any:
        """gpiozero's pin object; None once closed."""
        return self._device.pin

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            # gpiozero stops its hold thread (joins it) and makes the pin a plain input again.
            self._device.close()
        except Exception as e:  # the agent's shutdown must not stop half way for a button
            log.warning("button on pin %s: could not be released at close: %s", self.pin, e)

    # --- gpiozero's callbacks, on its threads ----------------------------------------------------------

    def _pressed(self) -> None:
        with self._lock:
            self._down, self._decided = True, False

    def _held(self) -> None:
        # The lock decides between this and a release that comes in the same instant: one of them wins.
        with self._lock:
            if self._closed or not self._down or self._decided:
                return
            self._decided = True
        self._run("long", self._on_long)

    def _released(self) -> None:
        with self._lock:
            short = self._down and not self._decided and not self._closed
            self._down = self._decided = False
        if short:
            self._run("short", self._on_short)

    def _run(self, press: str, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            # Raised into gpiozero it would end its edge or hold thread, and the button with it.
            log.exception("button on pin %s: the %s press's callback failed", self.pin, press)
