"""What the GPIO devices (drivers/led.py, drivers/button.py) share: the back-end a name chooses, and
opening a gpiozero device on it with every failure said in one line.

API::

    device = open_device("LED on pin 17", "lgpio", lambda factory: LED(17, pin_factory=factory),
                         error=LedError, log=log)

``pin_factory`` is a name of ``FACTORIES``, a gpiozero Factory object (tests pass a MockFactory), or
None for gpiozero's own choice.

This module imports nothing from ``agent``: drivers are leaves.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["FACTORIES", "open_device", "resolve_factory"]

T = TypeVar("T")

#: the back-ends a name may choose: gpiozero's module and class of each
FACTORIES: dict[str, tuple[str, str]] = {
    "mock": ("gpiozero.pins.mock", "MockFactory"),
    "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),  # the Raspberry Pi 5 (and every other one)
    "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
    "native": ("gpiozero.pins.native", "NativeFactory"),
}


def resolve_factory(what: str, pin_factory: Any, error: type[Exception]) -> Any:
    """A gpiozero Factory from a name (see ``FACTORIES``); a Factory object or None is passed on."""
    if pin_factory is None or not isinstance(pin_factory, str):
        return pin_factory
    if pin_factory not in FACTORIES:
        raise error(f"{what}: unknown pin factory {pin_factory!r} (known: {', '.join(FACTORIES)})")
    module_name, class_name = FACTORIES[pin_factory]
    try:
        return getattr(importlib.import_module(module_name), class_name)()
    except Exception as e:  # a missing library, or not a Raspberry Pi: the back-end says which
        raise error(f"{what}: the GPIO back-end {pin_factory!r} cannot be loaded: {e}") from e


def open_device(
    what: str,
    pin_factory: Any,
    build: Callable[[Any], T],
    *,
    error: type[Exception],
    log: logging.Logger,
) -> T:
    """``build(factory)`` on the back-end ``pin_factory`` chooses; ``error`` naming ``what`` when it fails."""
    factory = resolve_factory(what, pin_factory, error)
    # Left to gpiozero, each back-end it tries and skips is a warning of its own: they are kept for the
    # error, which then says in one line why none would do.
    with warnings.catch_warnings(record=True) as skipped:
        warnings.simplefilter("always")
        try:
            device = build(factory)
        except Exception as e:
            name = "gpiozero's choice" if pin_factory is None else repr(pin_factory)
            why = "; ".join(str(w.message) for w in skipped)
            raise error(
                f"{what} (pin factory {name}): cannot be opened: {e}" + (f" ({why})" if why else "")
            ) from e
    for warning in skipped:  # e.g. gpiozero fell back to its native back-end: worth a line
        log.info("%s: %s", what, warning.message)
    return device
