"""The offline LED (contract §5): which pattern a status snapshot shows, and the subscriber that shows it.

Usage (what agent/app.py wires)::

    led = StatusLed(17, pin_factory="lgpio")
    model.subscribe(LedIndicator(led), name="led")   # every changed snapshot, on its own thread
    ...
    led.close()

``led_pattern`` is the policy, pure; ``LedIndicator`` only applies it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from agent.secr.register import Mode
from agent.status.snapshot import Snapshot
from drivers.led import LedPattern

log = logging.getLogger(__name__)

__all__ = ["LedIndicator", "led_pattern"]


def led_pattern(snapshot: Snapshot) -> LedPattern:
    """The LED's pattern for ``snapshot``; the first rule that holds decides.

    1. Sales blocked (``mode`` is ``blocked``: the register gives a ``blocked_reason``) → ``STEADY``,
       whatever the register's mode. That covers offline prohibited while the server is gone (online
       too: the register reports it before the next sale would have to go offline), a limit reached,
       the reserve empty, a package the server refused (while not online the register refuses sales
       until a person looks, offline_session.py), a journal that cannot be written, a problem found at
       start-up.
    2. Uploading (``register.mode`` is ``UPLOADING``: the server answers again, the session's 103 is
       made and its last package is on its way; nothing more is sold offline in that session) →
       ``DOUBLE_FLASH``, or ``FAST_BLINK`` when uploads are failing (see 3). The limit warnings the
       register still reports here are left out: they speak of offline selling, which has ended.
    3. Offline (``register.mode`` is ``OFFLINE``) with a warning → ``FAST_BLINK``: one of
       ``register.warnings`` (``session_limit``, ``month_limit`` past ``warn_at_percent``,
       ``range_low``: the number reserve), ``register.upload_error``, an error of the register (among
       them "documents still not delivered although the fiscal server has answered", a delivery that
       does not finish) or an error of the agent's loop (a maintenance step that failed, a server that
       answers with nonsense). An unreachable server is not an error: it is what offline is.
    4. Offline otherwise → ``SLOW_BLINK``. That includes the first packages of a long session being
       delivered while it is still open (upload.py closes it with its 103 only when the rest fits one
       package): sales are still offline documents then, and the status has no reachability of its own
       to tell it from a link that dropped again.
    5. Online → ``OFF``. ``pending_documents`` online are online documents whose reply was lost, being
       settled (upload.py goes online only with the package of the 103 acknowledged, so no offline
       document is left by then); errors online (a config that differs from the server's data, the
       certificate to renew) do not change how the till sells and are in the status, the slip and
       MQTT. A problem that stops sales online is rule 1.

    The certificate's renewal reminder and printer faults are never part of it: the LED speaks of
    selling, on- or offline.
    """
    register = snapshot.register
    if snapshot.mode == "blocked":
        return LedPattern.STEADY
    failing = bool(register.upload_error or register.errors or snapshot.agent_errors)
    if register.mode == Mode.UPLOADING:
        return LedPattern.FAST_BLINK if failing else LedPattern.DOUBLE_FLASH
    if register.mode == Mode.OFFLINE:
        return LedPattern.FAST_BLINK if failing or register.warnings else LedPattern.SLOW_BLINK
    return LedPattern.OFF


class PatternDisplay(Protocol):
    """What ``LedIndicator`` drives: drivers.led.StatusLed, or a test's stand-in."""

    def show(self, pattern: LedPattern) -> None: ...


class LedIndicator:
    """A status subscriber: shows ``led_pattern`` of each snapshot it is given.

    A driver that fails is logged once (and once again when it works again), never raised: the status
    model would only log it on every change, and the till must never notice the LED."""

    def __init__(self, led: PatternDisplay) -> None:
        self._led = led
        self._failing = False

    def __call__(self, snapshot: Snapshot) -> None:
        pattern = led_pattern(snapshot)
        try:
            self._led.show(pattern)
        except Exception as e:
            if not self._failing:
                log.warning(
                    "the LED cannot show %s (it is tried again on the next change): %s", pattern.name, e
                )
            self._failing = True
            return
        if self._failing:
            log.info("the LED works again: %s", pattern.name)
        self._failing = False
