"""Typed access to what the register keeps in the journal's meta table.

Every key the register reads or writes is named here and nowhere else, with its type, so a part of the
register asks for ``meta.session_next_n`` instead of parsing ``journal.get("session.next_n")`` itself. The
key strings and their encodings on disk are the ones journals have always had: an existing journal opens
and works unchanged. (The journal's own counters, next_local_num and schema_version, stay in journal.py.)

Every write calls ``on_change``: the register tells its listeners that its status may have changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from agent.clock import Clock
from agent.secr import offline
from agent.secr.journal import Journal

IdentityKey = Literal["tin", "ipn", "org_name", "point_name", "point_address", "local_number"]
IDENTITY_KEYS: tuple[IdentityKey, ...] = (
    "tin",
    "ipn",
    "org_name",
    "point_name",
    "point_address",
    "local_number",
)

# The keys, as they are on disk.
_MODE = "mode"
_OFFLINE_PROHIBITED = "offline_prohibited"  # "1" | "0" | absent: not known yet
# The range the server issued for the next offline session (taken while online).
_RANGE_ID = "offline_session_id"
_RANGE_SEED = "offline_seed"
_RANGE_RESERVE = "offline_reserve"  # absent or null: unlimited
# The offline session in progress (set by its 102, cleared when its 103 is accepted).
_SESSION_ID = "session.id"
_SESSION_SEED = "session.seed"
_SESSION_NEXT_N = "session.next_n"
_SESSION_CHAIN = "session.chain_hash"
_SESSION_BEGIN_DOC = "session.begin_doc"
_SESSION_LOST_DOC = "session.lost_doc"
_SESSION_WARNED = "session.warned"  # comma-separated warnings already announced
_LEDGER_MONTH = "ledger.month"
_LEDGER_MONTH_CLOSED = "ledger.month_closed_s"
_LEDGER_SESSION_BEGAN = "ledger.session_began_at"
_LEDGER_SERVER_MONTH = "ledger.server_month_s"
# The session's elapsed time by the monotonic clock, and the reading it was counted up to (offline.py):
# what a restart resumes from, where the monotonic clock may have started anew.
_LEDGER_SESSION_ELAPSED = "ledger.session_elapsed_s"
_LEDGER_CHECKED_AT = "ledger.checked_at"
_LEDGER_CHECKED_MONO = "ledger.checked_mono"
_LEDGER_CHECKED_BOOT = "ledger.checked_boot"
# What the start-up check found that stops sales (JSON: code, reason, message, what_to_do, found_at), so
# that a restart while the server cannot be asked keeps refusing (reconcile.py).
_STARTUP_PROBLEM = "startup.problem"
_UPLOAD_ERROR = "upload_error"
_LAST_SYNC_AT = "last_sync_at"
# The journal's own counter: read here only to learn whether this journal ever numbered a document.
_JOURNAL_NEXT_LOCAL_NUM = "next_local_num"
# Pending documents whose till was told the outcome is not known (comma-separated ids),
# and how many offline documents were made while the server answered (its upload under way).
_IN_DOUBT = "in_doubt"
_OFFLINE_WHILE_REACHABLE = "offline_while_reachable"

#: what a delivered session leaves behind: cleared when its 103 is accepted (session.lost_doc is not:
#: it is settled, and cleared, before the 102 is delivered)
_SESSION_KEYS = (
    _SESSION_ID,
    _SESSION_SEED,
    _SESSION_NEXT_N,
    _SESSION_CHAIN,
    _SESSION_BEGIN_DOC,
    _SESSION_WARNED,
)


class Mode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"  # a 102 exists and its session is open
    UPLOADING = "uploading"  # the 103 exists; its package is not acknowledged yet


def _nothing() -> None:
    return None


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)


class Meta:
    def __init__(
        self, journal: Journal, on_change: Callable[[], None] = _nothing, clock: Clock | None = None
    ) -> None:
        self.journal = journal
        self._on_change = on_change
        self._clock = clock  # given: ledger() brings the session's elapsed time up to the moment asked

    def _get(self, key: str) -> str | None:
        return self.journal.get(key)

    def _set(self, key: str, value: str | None) -> None:
        self.journal.set(key, value)
        self._on_change()

    # --- mode -------------------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return Mode(self._get(_MODE) or Mode.ONLINE)

    @mode.setter
    def mode(self, value: Mode) -> None:
        self._set(_MODE, value)

    @property
    def offline_prohibited(self) -> bool | None:
        """None until the server has said."""
        value = self._get(_OFFLINE_PROHIBITED)
        return None if value is None else value == "1"

    @offline_prohibited.setter
    def offline_prohibited(self, value: bool) -> None:
        self._set(_OFFLINE_PROHIBITED, "1" if value else "0")

    # --- the range for the next offline session ---------------------------------------------------

    @property
    def offline_session_id(self) -> str | None:
        return self._get(_RANGE_ID)

    @offline_session_id.setter
    def offline_session_id(self, value: str) -> None:
        self._set(_RANGE_ID, value)

    @property
    def offline_seed(self) -> str | None:
        return self._get(_RANGE_SEED)

    @offline_seed.setter
    def offline_seed(self, value: str) -> None:
        self._set(_RANGE_SEED, value)

    @property
    def offline_reserve(self) -> int | None:
        """How many numbers a session may use; None: unlimited."""
        return _int(self._get(_RANGE_RESERVE))

    @offline_reserve.setter
    def offline_reserve(self, value: int | None) -> None:
        self._set(_RANGE_RESERVE, _str(value))

    # --- the offline session in progress ----------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._get(_SESSION_ID)

    @property
    def session_seed(self) -> str | None:
        return self._get(_SESSION_SEED)

    @property
    def session_next_n(self) -> int | None:
        """The next number inside the session (None before its 102)."""
        return _int(self._get(_SESSION_NEXT_N))

    @session_next_n.setter
    def session_next_n(self, value: int) -> None:
        self._set(_SESSION_NEXT_N, str(value))

    @property
    def chain_hash(self) -> str | None:
        return self._get(_SESSION_CHAIN)

    @chain_hash.setter
    def chain_hash(self, value: str | None) -> None:
        self._set(_SESSION_CHAIN, value)

    @property
    def begin_doc(self) -> int | None:
        return _int(self._get(_SESSION_BEGIN_DOC))

    @begin_doc.setter
    def begin_doc(self, value: int) -> None:
        self._set(_SESSION_BEGIN_DOC, str(value))

    @property
    def lost_doc(self) -> int | None:
        """The online document whose outcome was unknown when the session began (re-made offline)."""
        return _int(self._get(_SESSION_LOST_DOC))

    @lost_doc.setter
    def lost_doc(self, value: int | None) -> None:
        self._set(_SESSION_LOST_DOC, _str(value))

    @property
    def warned(self) -> frozenset[str]:
        return frozenset((self._get(_SESSION_WARNED) or "").split(",")) - {""}

    @warned.setter
    def warned(self, value: Iterable[str]) -> None:
        self._set(_SESSION_WARNED, ",".join(sorted(value)) or None)

    def begin_session(self, session_id: str, seed: str) -> None:
        """The session takes the range: numbered from 1, its chain not started."""
        self._set(_SESSION_ID, session_id)
        self._set(_SESSION_SEED, seed)
        self._set(_SESSION_NEXT_N, "1")
        self._set(_SESSION_CHAIN, None)

    def end_session(self) -> None:
        for key in _SESSION_KEYS:
            self._set(key, None)

    # --- offline time -----------------------------------------------------------------------------

    def ledger(self, now: datetime) -> offline.Ledger:
        """The offline ledger as of ``now`` (with a clock: its elapsed time folded in up to this moment)."""
        began = self._get(_LEDGER_SESSION_BEGAN)
        ledger = offline.Ledger(
            month=self._get(_LEDGER_MONTH) or offline.month_key(now),
            month_closed=timedelta(seconds=float(self._get(_LEDGER_MONTH_CLOSED) or 0)),
            session_began_at=datetime.fromisoformat(began) if began else None,
            server_month=timedelta(seconds=float(self._get(_LEDGER_SERVER_MONTH) or 0)),
            session_elapsed=timedelta(seconds=float(self._get(_LEDGER_SESSION_ELAPSED) or 0)),
            checked=self._checked(),
        )
        if self._clock is None:
            return ledger
        return offline.observe(ledger, offline.Reading(now, self._clock.monotonic(), self._clock.boot_id()))

    def _checked(self) -> offline.Reading | None:
        at, mono, boot = (self._get(k) for k in (_LEDGER_CHECKED_AT, _LEDGER_CHECKED_MONO, _LEDGER_CHECKED_BOOT))
        if not (at and mono and boot):
            return None
        return offline.Reading(datetime.fromisoformat(at), float(mono), boot)

    def save_ledger(self, ledger: offline.Ledger) -> None:
        self._set(_LEDGER_MONTH, ledger.month)
        self._set(_LEDGER_MONTH_CLOSED, str(ledger.month_closed.total_seconds()))
        self._set(
            _LEDGER_SESSION_BEGAN, ledger.session_began_at.isoformat() if ledger.session_began_at else None
        )
        self._set(_LEDGER_SERVER_MONTH, str(ledger.server_month.total_seconds()))
        self._set(_LEDGER_SESSION_ELAPSED, str(ledger.session_elapsed.total_seconds()))
        checked = ledger.checked
        self._set(_LEDGER_CHECKED_AT, checked.wall.isoformat() if checked else None)
        self._set(_LEDGER_CHECKED_MONO, repr(checked.mono) if checked else None)
        self._set(_LEDGER_CHECKED_BOOT, checked.boot if checked else None)

    def ledger_checked(self) -> offline.Reading | None:
        """The reading the journal's ledger was last counted up to (not folded to now)."""
        return self._checked()

    # --- what the start-up check found --------------------------------------------------------------

    @property
    def startup_problem(self) -> dict[str, Any] | None:
        value = self._get(_STARTUP_PROBLEM)
        if not value:
            return None
        try:
            data = json.loads(value)
        except ValueError:
            return {"message": value}
        return data if isinstance(data, dict) else {"message": value}

    @startup_problem.setter
    def startup_problem(self, value: dict[str, Any] | None) -> None:
        text = None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
        if text != self._get(_STARTUP_PROBLEM):
            self._set(_STARTUP_PROBLEM, text)

    # --- who we are -------------------------------------------------------------------------------

    def identity(self, key: IdentityKey) -> str | None:
        """The registration data as the server gave it (TaxObject); "" where the server has none."""
        return self._get(f"identity.{key}")

    def set_identity(self, key: IdentityKey, value: str) -> None:
        self._set(f"identity.{key}", value)

    # --- uploads ----------------------------------------------------------------------------------

    @property
    def upload_error(self) -> str | None:
        return self._get(_UPLOAD_ERROR)

    @upload_error.setter
    def upload_error(self, value: str | None) -> None:
        self._set(_UPLOAD_ERROR, value)

    @property
    def last_sync_at(self) -> datetime | None:
        value = self._get(_LAST_SYNC_AT)
        return datetime.fromisoformat(value) if value else None

    @last_sync_at.setter
    def last_sync_at(self, value: datetime) -> None:
        self._set(_LAST_SYNC_AT, value.isoformat())

    # --- numbering --------------------------------------------------------------------------------

    def numbering_started(self) -> bool:
        """False for a journal that never numbered a document (its counter is still the default)."""
        return self._get(_JOURNAL_NEXT_LOCAL_NUM) is not None

    # --- outages (issue 9) ------------------------------------------------------------------------

    @property
    def in_doubt(self) -> frozenset[int]:
        """Pending documents the till was told are not known yet: settled with the server, never resent."""
        return frozenset(int(v) for v in (self._get(_IN_DOUBT) or "").split(",") if v)

    @in_doubt.setter
    def in_doubt(self, value: Iterable[int]) -> None:
        self._set(_IN_DOUBT, ",".join(str(v) for v in sorted(value)) or None)

    @property
    def offline_while_reachable(self) -> int:
        """Offline documents made while the server answered: the session's upload was still under way."""
        return _int(self._get(_OFFLINE_WHILE_REACHABLE)) or 0

    @offline_while_reachable.setter
    def offline_while_reachable(self, value: int) -> None:
        self._set(_OFFLINE_WHILE_REACHABLE, str(value))


__all__ = ["IDENTITY_KEYS", "IdentityKey", "Meta", "Mode"]
