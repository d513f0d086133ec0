"""Offline rules (reference §4.7): the range, the 36 h / 168 h limits, warnings, and when an offline
document is refused. Pure: the caller passes the time in.

Time is counted the conservative way: a session runs from its 102 until now (the regulator's
"start to end of offline" reading), which is never less than the server's "102 to the last financially
significant document". The month restarts at 00:00 on the 1st in Kyiv time; a session that crosses
the month boundary counts in the new month only from the boundary. What the server reports after a
reconnection is folded in, taking the larger of the two.

Two clocks, the stricter winning (issue 9, scenario 7). Both readings matter: the law counts real time
("Тривалість однієї офлайн сесії не може перевищувати … 36 годин за сесію, 168 годин за місяць"), which
the monotonic clock measures best; the server counts the documents' own times, which are the wall
clock's ("Розрахунок тривалості офлайн сесії здійснюється як різниця між часом реєстрації" of the last
financially significant document and of the 102; fsko_evpz_doc.txt, "Тривалість офлайн сесії").

The wall clock can be stepped (NTP at boot, a Pi without a real-time clock, a person); the monotonic
clock cannot, but it counts only within one boot. So a session's time is the larger of its wall-clock
reading (now minus its 102) and its elapsed time, which ``observe`` folds in from the monotonic clock and
the journal keeps (``session_elapsed`` up to the reading ``checked``), so a restart resumes from it: a
wall clock stepped back extends neither the 36 h nor the 168 h, one stepped forward eats into them, and
nothing is counted twice. Months move only forward, and only once both readings have passed the 1st: a
clock stepped forward across the boundary does not wipe the month's total, one stepped back does not
reopen or reset a month. Across a reboot the monotonic clock starts anew and only the wall clock spans
the downtime (when it went back, the downtime counts as nothing: there is no witness of it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agent.clock import KYIV

LAW_MAX_SESSION = timedelta(hours=36)
LAW_MAX_MONTH = timedelta(hours=168)
_ZERO = timedelta(0)


@dataclass(frozen=True)
class Limits:
    max_session: timedelta = LAW_MAX_SESSION
    max_month: timedelta = LAW_MAX_MONTH
    warn_at_percent: int = 80

    def __post_init__(self) -> None:
        # Local limits may be tighter than the law, never looser.
        object.__setattr__(self, "max_session", min(self.max_session, LAW_MAX_SESSION))
        object.__setattr__(self, "max_month", min(self.max_month, LAW_MAX_MONTH))


@dataclass(frozen=True)
class Reading:
    """One look at both clocks: the wall clock, and the monotonic clock of the boot ``boot``."""

    wall: datetime
    mono: float
    boot: str


@dataclass(frozen=True)
class Ledger:
    """What the journal keeps about offline time."""

    month: str  # "YYYY-MM" in Kyiv time: the month the totals below belong to
    month_closed: timedelta = _ZERO  # sessions of that month already ended
    session_began_at: datetime | None = None  # the current session's 102, or None when online
    server_month: timedelta = _ZERO  # the server's OfflineSessionsMonthlyDuration, same month
    #: the current session's elapsed time by the monotonic clock, counted up to ``checked``
    session_elapsed: timedelta = _ZERO
    checked: Reading | None = None  # the last reading folded in; None: elapsed time not kept (yet)


def month_key(when: datetime) -> str:
    return when.astimezone(KYIV).strftime("%Y-%m")


def month_start(when: datetime) -> datetime:
    local = when.astimezone(KYIV)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_bounds(key: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in UTC (aware datetimes that share a ZoneInfo
    subtract as naive ones, an hour off across a DST change)."""
    year, month = int(key[:4]), int(key[5:7])
    start = datetime(year, month, 1, tzinfo=KYIV)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=KYIV)
    return start.astimezone(UTC), end.astimezone(UTC)


def observe(ledger: Ledger, reading: Reading) -> Ledger:
    """The ledger as of ``reading``: the session's elapsed time brought up to it."""
    began = ledger.session_began_at
    if began is None:
        return dataclasses.replace(ledger, session_elapsed=_ZERO, checked=reading)
    last = ledger.checked
    if last is None:
        # A session from before elapsed time was kept: the wall clock is all there is to start from.
        elapsed = max(_ZERO, reading.wall - began)
    elif last.boot == reading.boot:
        elapsed = ledger.session_elapsed + max(_ZERO, timedelta(seconds=reading.mono - last.mono))
    else:
        # Rebooted: the monotonic clock started anew, and only the wall clock spans the downtime.
        elapsed = ledger.session_elapsed + max(_ZERO, reading.wall - last.wall)
    return dataclasses.replace(ledger, session_elapsed=elapsed, checked=reading)


def _elapsed_now(ledger: Ledger) -> datetime | None:
    """Where the monotonic clock says the session has got to: its 102 plus its elapsed time."""
    if ledger.session_began_at is None or ledger.checked is None:
        return None
    return ledger.session_began_at + ledger.session_elapsed


def _latest(ledger: Ledger, now: datetime) -> datetime:
    """The later of the two readings of now: what durations are counted to."""
    elapsed = _elapsed_now(ledger)
    return now if elapsed is None else max(now, elapsed)


def _earliest(ledger: Ledger, now: datetime) -> datetime:
    """The earlier of the two readings of now: a month ends only when both have passed its end."""
    elapsed = _elapsed_now(ledger)
    return now if elapsed is None else min(now, elapsed)


def roll_month(ledger: Ledger, now: datetime) -> Ledger:
    """A new calendar month starts from zero; a clock stepped back never takes the ledger back."""
    key = month_key(_earliest(ledger, now))
    if key <= ledger.month:  # "YYYY-MM" sorts as the months do
        return ledger
    return dataclasses.replace(ledger, month=key, month_closed=_ZERO, server_month=_ZERO)


def session_used(ledger: Ledger, now: datetime) -> timedelta:
    if ledger.session_began_at is None:
        return _ZERO
    return max(_ZERO, now - ledger.session_began_at, ledger.session_elapsed)


def _in_month(ledger: Ledger, now: datetime) -> timedelta:
    """The current session's time inside the ledger's month, by the stricter reading."""
    began = ledger.session_began_at
    if began is None:
        return _ZERO
    start, end = _month_bounds(ledger.month)
    return max(_ZERO, min(_latest(ledger, now), end) - max(began, start))


def month_used(ledger: Ledger, now: datetime) -> timedelta:
    ledger = roll_month(ledger, now)
    return max(ledger.month_closed + _in_month(ledger, now), ledger.server_month)


def begin_session(ledger: Ledger, now: datetime) -> Ledger:
    ledger = roll_month(ledger, now)
    return dataclasses.replace(ledger, session_began_at=now, session_elapsed=_ZERO)


def end_session(ledger: Ledger, now: datetime) -> Ledger:
    """The session was delivered: its time joins the month's closed total."""
    ledger = roll_month(ledger, now)
    if ledger.session_began_at is None:
        return ledger
    return dataclasses.replace(
        ledger,
        month_closed=ledger.month_closed + _in_month(ledger, now),
        session_began_at=None,
        session_elapsed=_ZERO,
    )


def with_server_figures(
    ledger: Ledger, now: datetime, month_minutes: int | None, *, clock_checked: bool = False
) -> Ledger:
    """Fold in the server's OfflineSessionsMonthlyDuration (minutes of the server's current month).

    ``clock_checked``: the box's clock was just found to agree with the server's. Then a ledger whose
    month is later than now's was rolled on by a clock that ran ahead, and the server's figure, which is
    the month's truth, puts it right; otherwise a month is never taken back."""
    if month_minutes is None:
        return roll_month(ledger, now)
    server = timedelta(minutes=month_minutes)
    key = month_key(now)
    if clock_checked and key < ledger.month:
        return dataclasses.replace(ledger, month=key, month_closed=server, server_month=server)
    ledger = roll_month(ledger, now)
    return dataclasses.replace(ledger, month_closed=max(ledger.month_closed, server), server_month=server)


@dataclass(frozen=True)
class Verdict:
    """May one more offline document be made now, and what should the cashier hear."""

    refusal: str | None  # "session_limit" | "month_limit" | "range_exhausted" | None
    warnings: tuple[str, ...]
    session_used: timedelta
    month_used: timedelta
    numbers_left: int | None


def numbers_left(reserve: int | None, next_number: int) -> int | None:
    """Numbers a session may still use for sales, keeping one for its closing 103.

    ``next_number`` is the next number inside the session (1 before the 102 exists)."""
    if reserve is None:
        return None
    return max(0, reserve - (next_number - 1) - 1)


def judge(
    ledger: Ledger,
    now: datetime,
    limits: Limits,
    *,
    reserve: int | None,
    next_number: int,
    numbers_needed: int = 1,
) -> Verdict:
    session = session_used(ledger, now)
    month = month_used(ledger, now)
    left = numbers_left(reserve, next_number)
    refusal = None
    if session >= limits.max_session:
        refusal = "session_limit"
    elif month >= limits.max_month:
        refusal = "month_limit"
    elif left is not None and left < numbers_needed:
        refusal = "range_exhausted"
    warnings = []
    share = limits.warn_at_percent / 100
    if session >= limits.max_session * share:
        warnings.append("session_limit")
    if month >= limits.max_month * share:
        warnings.append("month_limit")
    if reserve is not None and left is not None and left <= reserve * (1 - share):
        warnings.append("range_low")
    return Verdict(refusal, tuple(warnings), session, month, left)


# Why no offline document may be made (besides Verdict's session_limit | month_limit | range_exhausted).
PROHIBITED = "prohibited"  # the register was registered without the right to work offline
NEVER_ONLINE = "never_online"  # no range, or the registration data never fetched: never been online


@dataclass(frozen=True)
class Decision:
    """May an offline document be made now; the figures when the limits were judged."""

    refusal: str | None  # PROHIBITED | NEVER_ONLINE | a Verdict's refusal | None
    verdict: Verdict | None = None


def decide(
    *,
    prohibited: bool,
    has_range: bool,
    identity_known: bool,
    ledger: Ledger,
    now: datetime,
    limits: Limits,
    reserve: int | None,
    next_number: int,
    numbers_needed: int,
) -> Decision:
    """In this order: the right to work offline, a range and the registration data, then the limits.

    ``numbers_needed`` is 2 when the session is still to begin (its 102 takes a number too), else 1."""
    if prohibited:
        return Decision(PROHIBITED)
    if not has_range or not identity_known:
        return Decision(NEVER_ONLINE)
    verdict = judge(
        ledger, now, limits, reserve=reserve, next_number=next_number, numbers_needed=numbers_needed
    )
    return Decision(verdict.refusal, verdict)
