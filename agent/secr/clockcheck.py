"""Is the box's clock right: compared with the fiscal server's on every online contact.

Every document is dated by the box's wall clock (ORDERDATE/ORDERTIME; the offline control number covers
them too, reference §4.4), so a clock that is off makes every document it dates wrong. The server says its
own time in every reply to a command: "Загальні параметри відповіді: … “Timestamp”: <Час надсилання
відповіді>", ISO 8601 with the offset (fsko_evpz_doc.txt, "Загальні параметри"), and in every ticket, whose
ORDERDATE/ORDERTIME are the registration time (reference §3.6). The HTTP Date header is not used: a proxy
may write it, and it says nothing the protocol promises.

A reply's time is carried forward on the monotonic clock, which no one steps, so a wall clock stepped after
the last contact (NTP, a person, offline too) shows at once as the distance between the wall clock and the
server's time so carried. Only what is certainly off counts: the reply was stamped somewhere within the
round trip, and its time has whole seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.clock import KYIV, Clock, kyiv
from agent.secr.errors import ClockOff

#: the server's times have whole seconds (its Timestamp and the ticket's ORDERTIME)
RESOLUTION_S = 1.0


def parse_timestamp(text: object) -> datetime | None:
    """A reply's "Timestamp" (ISO 8601, e.g. "2018-10-17T01:23:00+03:00"); None when it is not one."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=KYIV)


def ticket_time(order_date: str | None, order_time: str | None) -> datetime | None:
    """A ticket's ORDERDATE (ddmmyyyy) and ORDERTIME (hhmmss), Kyiv time; None when they are not that."""
    if not order_date or not order_time:
        return None
    try:
        return datetime.strptime(order_date + order_time, "%d%m%Y%H%M%S").replace(tzinfo=KYIV)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Heard:
    server_time: datetime
    round_trip_s: float
    wall: datetime  # the box's clock when the reply arrived
    mono: float
    boot: str


@dataclass(frozen=True)
class Skew:
    """The box's clock minus the server's, now; ``margin_s`` is how uncertain that is."""

    seconds: float
    margin_s: float
    server_time: datetime  # what the server said, and when (by the box's clock) it said it
    heard_at: datetime


class ServerClock:
    """The last time the server said, and how far the box's clock is from it now."""

    def __init__(
        self, clock: Clock, tolerance_s: float | None, on_change: Callable[[], None] | None = None
    ) -> None:
        self.clock = clock
        #: None: not compared (a test on a clock of its own against a server on real time)
        self.tolerance_s = tolerance_s
        self._on_change = on_change  # the verdict flipped: the status shows it without waiting
        self._lock = threading.Lock()
        self._heard: _Heard | None = None

    def heard(self, server_time: datetime, round_trip_s: float) -> None:
        """A reply stated the server's time (the client calls this as the reply arrives)."""
        clock = self.clock
        heard = _Heard(server_time, max(0.0, round_trip_s), clock.now(), clock.monotonic(), clock.boot_id())
        was_off = self.refusal() is not None
        with self._lock:
            self._heard = heard
        if self._on_change is not None and (self.refusal() is not None) != was_off:
            self._on_change()

    def skew(self) -> Skew | None:
        """None until a reply in this boot said the time."""
        with self._lock:
            heard = self._heard
        clock = self.clock
        if heard is None or heard.boot != clock.boot_id():
            return None
        # The server stamped the reply somewhere in the round trip: take the middle, and the rest as margin.
        since = clock.monotonic() - heard.mono + heard.round_trip_s / 2
        server_now = heard.server_time + timedelta(seconds=since)
        return Skew(
            seconds=(clock.now() - server_now).total_seconds(),
            margin_s=heard.round_trip_s / 2 + RESOLUTION_S,
            server_time=heard.server_time,
            heard_at=heard.wall,
        )

    def agrees(self) -> bool:
        """The box's clock was compared and is within the tolerance."""
        skew = self.skew()
        return self.tolerance_s is not None and skew is not None and self._within(skew, self.tolerance_s)

    @staticmethod
    def _within(skew: Skew, tolerance_s: float) -> bool:
        return abs(skew.seconds) - skew.margin_s <= tolerance_s

    def refusal(self) -> ClockOff | None:
        """Why no document may be dated by the box's clock now, or None."""
        tolerance = self.tolerance_s
        skew = self.skew()
        if tolerance is None or skew is None or self._within(skew, tolerance):
            return None
        way = "ahead of" if skew.seconds > 0 else "behind"
        return ClockOff(
            f"the box's clock is {_duration(abs(skew.seconds))} {way} the fiscal server's (the server said"
            f" {kyiv(skew.server_time):%d.%m.%Y %H:%M:%S} at {kyiv(skew.heard_at):%d.%m.%Y %H:%M:%S} by the"
            f" box's clock), more than the {tolerance:g} s allowed: no document may be dated by it",
            skew_s=skew.seconds,
            what_to_do="set the box's clock right (time synchronisation: NTP, `timedatectl`); the box sells"
            " again as soon as its clock agrees with the server's",
        )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


__all__ = ["RESOLUTION_S", "ServerClock", "Skew", "parse_timestamp", "ticket_time"]
