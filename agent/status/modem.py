"""The modem's part of the status: what drivers/modem.py's ``health()`` says, as a ``ModemPart``.

Usage (what agent/app.py wires)::

    modem = Modem("/dev/fiscal-box-modem")
    Coordinator("modem", modem.health, ModemReporter(model.set_modem), interval_s=MODEM_REFRESH_S)

``health()`` never raises, so the coordinator pushes every round, also "absent"; the reporter logs a
change of presence once (a modem unplugged for a day is one warning, not 2880).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict

from agent.status.snapshot import ModemPart
from drivers.modem import ModemHealth

log = logging.getLogger(__name__)

__all__ = ["MODEM_REFRESH_S", "ModemReporter", "modem_part"]

#: how often the modem is asked: six AT queries, well under a second when it answers
MODEM_REFRESH_S = 30.0


def modem_part(health: ModemHealth) -> ModemPart:
    return ModemPart(**asdict(health))  # the same fields: the part is the health as the status shows it


class ModemReporter:
    """The coordinator's push: the part into the model, and a line in the log when presence changes."""

    def __init__(self, set_modem: Callable[[ModemPart], object]) -> None:
        self._set_modem = set_modem
        self._present: bool | None = None  # None: not asked yet

    def __call__(self, health: ModemHealth) -> None:
        if health.present != self._present:
            if health.present:
                log.info("modem: present (SIM %s, operator %s)", health.sim, health.operator)
            else:
                log.warning("modem: not present: %s; the box sells on without it", health.error)
            self._present = health.present
        self._set_modem(modem_part(health))
