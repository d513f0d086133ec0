"""Time is injected: everything that needs "now" takes a Clock, so limits of hours test in milliseconds.

A box has two clocks and trusts neither alone. The wall clock (``now``) dates documents, but it can be
stepped: NTP at boot, a Raspberry Pi without a real-time clock starting from the time it last saved, a
person setting it. The monotonic clock (``monotonic``) never steps, but it counts only within one boot
and starts anew after a reboot; ``boot_id`` says which boot a monotonic reading belongs to. The offline
limits are counted on both, the stricter winning (agent/secr/offline.py).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

KYIV = ZoneInfo("Europe/Kyiv")

#: the kernel's id of this boot: CLOCK_MONOTONIC (time.monotonic) counts from the same boot
_BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime (the wall clock)."""
        ...

    def monotonic(self) -> float:
        """Seconds that never step, counted within one boot."""
        ...

    def boot_id(self) -> str:
        """Names the boot ``monotonic`` belongs to: two readings compare only under the same id."""
        ...


def _read_boot_id() -> str:
    try:
        return _BOOT_ID_FILE.read_text(encoding="ascii").strip()
    except OSError:
        # No kernel boot id (not Linux): every process counts as a new boot, so its monotonic readings are
        # never compared with an earlier process's, and the wall clock alone bridges the gap.
        return f"process-{uuid.uuid4()}"


class SystemClock:
    _boot: str | None = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def boot_id(self) -> str:
        if SystemClock._boot is None:
            SystemClock._boot = _read_boot_id()
        return SystemClock._boot


class FakeClock:
    """A clock tests move by hand: time passing (``advance``, ``set``), the wall clock stepped while
    time goes on as before (``step``), and a reboot, after which the monotonic clock starts anew
    (``reboot``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
        self._mono = 1000.0
        self._boots = 1

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def boot_id(self) -> str:
        return f"fake-boot-{self._boots}"

    def advance(self, seconds: float = 0, **kwargs: float) -> None:
        """Time passes: both clocks move."""
        delta = timedelta(seconds=seconds, **kwargs)
        self._now += delta
        self._mono += delta.total_seconds()

    def set(self, when: datetime) -> None:
        """Time passes until ``when`` (both clocks move)."""
        self._mono += (when - self._now).total_seconds()
        self._now = when

    def step(self, seconds: float = 0, **kwargs: float) -> None:
        """The wall clock is set (back when negative): no time passes, the monotonic clock stays."""
        self._now += timedelta(seconds=seconds, **kwargs)

    def reboot(self, off_s: float = 0, *, wall_set_to: datetime | None = None) -> None:
        """The box was off ``off_s`` seconds and boots again: the monotonic clock starts anew, under a new
        boot id; the wall clock has run on through the downtime, or is ``wall_set_to`` (a Pi without a
        real-time clock starts from the time it last saved)."""
        self._now = wall_set_to if wall_set_to is not None else self._now + timedelta(seconds=off_s)
        self._mono = 5.0
        self._boots += 1


def kyiv(when: datetime) -> datetime:
    return when.astimezone(KYIV)
