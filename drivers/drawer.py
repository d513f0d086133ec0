"""Cash drawer: kicked through the receipt printer's drawer port, or pulsed on a GPIO pin.

API: ``CashDrawer(kind="printer", printer=ReceiptPrinter(...), pin=2)`` or
``CashDrawer(kind="gpio", pin=BCM number, pulse_s=0.2, pin_factory=None)``; ``open()`` pulses once,
``close()`` releases the GPIO pin. Failures of the printer path raise the printer's
:class:`~drivers.printer.PrinterError`; the GPIO path raises :class:`DrawerError`.

This module imports nothing from ``agent``: drivers are leaves.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from drivers.printer import ReceiptPrinter

__all__ = ["CashDrawer", "DrawerError"]


class DrawerError(Exception):
    """The drawer could not be pulsed."""


class CashDrawer:
    def __init__(
        self,
        kind: Literal["printer", "gpio"] = "printer",
        *,
        printer: ReceiptPrinter | None = None,
        pin: int | None = None,
        pulse_s: float = 0.2,
        active_high: bool = True,
        pin_factory: Any = None,
    ) -> None:
        if kind == "printer":
            if printer is None:
                raise ValueError("a printer drawer needs the ReceiptPrinter it is plugged into")
            if pin not in (None, 2, 5):
                raise ValueError("the printer's drawer port pin is 2 or 5")
        elif kind == "gpio":
            if pin is None:
                raise ValueError("a GPIO drawer needs pin (the BCM number of the solenoid's driver)")
            # Solenoids burn out when held: a pulse longer than a second is a configuration mistake.
            if not 0 < pulse_s <= 1:
                raise ValueError("pulse_s must be in (0, 1] seconds")
        else:
            raise ValueError(f"drawer kind must be printer or gpio, got {kind!r}")
        self.kind = kind
        self._printer = printer
        self._pin = pin
        self._pulse_s = pulse_s
        self._active_high = active_high
        self._pin_factory = pin_factory
        self._device: Any = None
        # Two tills asking at once must not overlap pulses (the second would be cut short).
        self._lock = threading.Lock()

    def open(self) -> None:
        """Pulse the drawer's solenoid once; returns after the pulse."""
        with self._lock:
            if self.kind == "printer":
                assert self._printer is not None
                self._printer.kick_drawer(5 if self._pin == 5 else 2)
                return
            device = self._gpio()
            try:
                device.on()
                time.sleep(self._pulse_s)
            finally:
                device.off()

    def _gpio(self) -> Any:
        if self._device is None:
            try:
                from gpiozero import OutputDevice  # imported here: a printer drawer needs no GPIO stack

                self._device = OutputDevice(
                    self._pin,
                    active_high=self._active_high,
                    initial_value=False,
                    pin_factory=self._pin_factory,
                )
            except Exception as e:
                raise DrawerError(f"GPIO drawer on pin {self._pin}: {e}") from e
        return self._device

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
