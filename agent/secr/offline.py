"""Offline rules (reference §4.7): the range, the 36 h / 168 h limits, warnings, and when an offline
document is refused. Pure: the caller passes the time in.

Time is counted the conservative way: a session runs from its 102 until now (the regulator's
"start to end of offline" reading), which is never less than the server's "102 to the last financially
significant document". The month restarts at 00:00 on the 1st in Kyiv time; a session that crosses
the month boundary counts in the new month only from the boundary. What the server reports after a
reconnection is folded in, taking the larger of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.clock import KYIV

LAW_MAX_SESSION = timedelta(hours=36)
LAW_MAX_MONTH = timedelta(hours=168)


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
class Ledger:
    """What the journal keeps about offline time."""

    month: str  # "YYYY-MM" in Kyiv time: the month the totals below belong to
    month_closed: timedelta = timedelta(0)  # sessions of that month already ended
    session_began_at: datetime | None = None  # the current session's 102, or None when online
    server_month: timedelta = timedelta(0)  # the server's OfflineSessionsMonthlyDuration, same month


def month_key(when: datetime) -> str:
    return when.astimezone(KYIV).strftime("%Y-%m")


def month_start(when: datetime) -> datetime:
    local = when.astimezone(KYIV)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def roll_month(ledger: Ledger, now: datetime) -> Ledger:
    """A new calendar month starts from zero."""
    key = month_key(now)
    if key == ledger.month:
        return ledger
    return Ledger(month=key, session_began_at=ledger.session_began_at)


def session_used(ledger: Ledger, now: datetime) -> timedelta:
    if ledger.session_began_at is None:
        return timedelta(0)
    return max(timedelta(0), now - ledger.session_began_at)


def month_used(ledger: Ledger, now: datetime) -> timedelta:
    ledger = roll_month(ledger, now)
    current = timedelta(0)
    if ledger.session_began_at is not None:
        current = max(timedelta(0), now - max(ledger.session_began_at, month_start(now)))
    return max(ledger.month_closed + current, ledger.server_month)


def begin_session(ledger: Ledger, now: datetime) -> Ledger:
    ledger = roll_month(ledger, now)
    return Ledger(ledger.month, ledger.month_closed, now, ledger.server_month)


def end_session(ledger: Ledger, now: datetime) -> Ledger:
    """The session was delivered: its time joins the month's closed total."""
    if ledger.session_began_at is None:
        return roll_month(ledger, now)
    used = now - max(ledger.session_began_at, month_start(now))
    ledger = roll_month(ledger, now)
    return Ledger(ledger.month, ledger.month_closed + max(timedelta(0), used), None, ledger.server_month)


def with_server_figures(ledger: Ledger, now: datetime, month_minutes: int | None) -> Ledger:
    ledger = roll_month(ledger, now)
    if month_minutes is None:
        return ledger
    server = timedelta(minutes=month_minutes)
    return Ledger(ledger.month, max(ledger.month_closed, server), ledger.session_began_at, server)


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
