"""`fiscal-box fleet`: one line per box seen on an MQTT broker, worst first.

The pure half (this module; no I/O, no clock of its own): what a box retains on its two topics,
``{prefix}/{box_id}/availability`` and ``{prefix}/{box_id}/state`` (contract §5), becomes a typed
``BoxRow``; ``order`` sorts the rows worst first; ``render_table`` and ``to_json`` show them. The paho
half, ``agent/mqtt/fleet_client.py``, subscribes, collects the retained messages and reprints on change.

A row never fails: a box with availability but no state yet, a state that is not UTF-8, not JSON or not
the §5 object, a field of the wrong type -- each gets its line, with what is wrong in its note, because
one broken box must not hide the hundred others.

Worst first: down (its availability is ``offline``: the broker published its last will, whatever its
retained state still says), blocked, unknown (no readable state), offline or uploading with warnings or
errors, offline or uploading, online; within each, the larger share of the nearer offline limit first,
then by id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

DOWN: Final = "down"
BLOCKED: Final = "blocked"
UNKNOWN: Final = "unknown"
OFFLINE: Final = "offline"
UPLOADING: Final = "uploading"
ONLINE: Final = "online"
#: every status a row can have, worst first (the summary line counts them in this order)
STATUSES: Final = (DOWN, BLOCKED, UNKNOWN, OFFLINE, UPLOADING, ONLINE)
#: the two topics of a box the fleet view reads
TOPICS: Final = ("availability", "state")
_MODES: Final = frozenset({"online", "offline", "blocked"})
#: how much of a payload that is not the expected JSON the note quotes
_QUOTE_CHARS = 40
COLUMNS: Final = (
    "BOX",
    "STATUS",
    "UPLINK",
    "OFFLINE",
    "NUMBERS LEFT",
    "PENDING",
    "LAST SYNC",
    "PRINTER",
    "NOTE",
)


# --- reading one box ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxRow:
    """One box as its retained topics describe it. A field is None when the state did not say or said
    it in a form the reader does not know; ``unreadable`` names the latter, ``problems`` says why."""

    box_id: str
    status: str  # one of STATUSES
    availability: str | None = None
    mode: str | None = None
    blocked_reason: str | None = None
    uplink: str | None = None
    shift: str | None = None
    session_minutes: int | None = None
    max_session_minutes: int | None = None
    month_minutes: int | None = None
    max_month_minutes: int | None = None
    numbers_left: int | None = None
    pending_documents: int | None = None
    #: as the box published it, at ``updated_at``
    oldest_pending_age_s: int | None = None
    last_sync_at: datetime | None = None
    printer: str | None = None
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    updated_at: datetime | None = None
    #: whether a state object was read at all (then a null is the box's, e.g. numbers_left unlimited)
    has_state: bool = False
    unreadable: frozenset[str] = frozenset()
    problems: tuple[str, ...] = ()
    #: the state as it came: the parsed JSON, or the text when it is not JSON, or None
    state: Any = field(default=None, compare=False)

    @property
    def limit_share(self) -> float | None:
        """The share used of the nearer offline limit (session or month), 0..1 and beyond."""
        shares = [
            used / limit
            for used, limit in (
                (self.session_minutes, self.max_session_minutes),
                (self.month_minutes, self.max_month_minutes),
            )
            if used is not None and limit
        ]
        return max(shares) if shares else None

    @property
    def rank(self) -> int:
        """0 for the worst kind of box; ``order`` sorts by it first."""
        if self.status in (OFFLINE, UPLOADING):
            return 3 if self.warnings or self.errors else 4
        return {DOWN: 0, BLOCKED: 1, UNKNOWN: 2}.get(self.status, 5)

    def age_at(self, now: datetime) -> float | None:
        """Seconds since the box made its last state (None when it never said)."""
        return (now - self.updated_at).total_seconds() if self.updated_at is not None else None

    def oldest_pending_age_at(self, now: datetime) -> int | None:
        """The oldest pending document's age now: it went on growing since the state was made (a down
        box's for hours)."""
        if self.oldest_pending_age_s is None:
            return None
        since = self.age_at(now)
        return self.oldest_pending_age_s + max(0, int(since or 0))


class _Reader:
    """Reads a state object's fields by their §5 types. A field of another type reads as None and is
    noted, so that one odd field costs that cell, not the row."""

    def __init__(
        self, data: Mapping[str, Any], unreadable: set[str], problems: list[str], where: str = ""
    ) -> None:
        self._data, self._unreadable, self._problems, self._where = data, unreadable, problems, where

    def _get(self, key: str, kinds: tuple[type, ...], what: str) -> Any:
        value = self._data.get(key)
        # bool is an int to Python, never a count or a text to the box
        if value is None or (isinstance(value, kinds) and not isinstance(value, bool)):
            return value
        name = f"{self._where}{key}"
        self._unreadable.add(name)
        self._problems.append(f"state.{name} is not {what}: {_quote(json.dumps(value))}")
        return None

    def text(self, key: str) -> str | None:
        value: str | None = self._get(key, (str,), "a text")
        return value

    def whole(self, key: str) -> int | None:
        value: int | None = self._get(key, (int,), "a whole number")
        return value

    def flag(self, key: str) -> bool:
        value = self._data.get(key)
        return value is True

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._get(key, (list,), "a list")
        if value is None:
            return ()
        return tuple(
            item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in value
        )

    def time(self, key: str) -> datetime | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self._unreadable.add(f"{self._where}{key}")
            self._problems.append(f"state.{self._where}{key} is not an ISO time: {_quote(value)}")
            return None
        # A time without a zone is taken as UTC (the box writes its times with one)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def part(self, key: str) -> _Reader:
        """A nested object of §5 (``offline``), which a state always has: its absence is noted."""
        value = self._get(key, (dict,), "an object")
        if value is None and f"{self._where}{key}" not in self._unreadable:
            self._unreadable.add(f"{self._where}{key}")
            self._problems.append(f"the state has no {self._where}{key} object")
        return _Reader(value or {}, self._unreadable, self._problems, f"{self._where}{key}.")


def _quote(text: str) -> str:
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


def _read_availability(payload: bytes | None, problems: list[str]) -> str | None:
    if payload is None:
        return None
    text = payload.decode("utf-8", errors="replace").strip()
    if text not in ("online", "offline"):
        problems.append(f"availability is {_quote(text)!r}, not online or offline")
        return None
    return text


def _decode_state(payload: bytes | None, problems: list[str]) -> tuple[Any, Mapping[str, Any] | None]:
    """(the state as it came, the object when it is one); what is wrong goes to ``problems``."""
    if payload is None:
        problems.append("no state yet")
        return None, None
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("the state is not UTF-8 text")
        return payload.decode("utf-8", errors="replace"), None
    try:
        value = json.loads(text)
    except ValueError:
        problems.append(f"the state is not JSON: {_quote(text)!r}")
        return text, None
    if not isinstance(value, dict):
        problems.append(f"the state is a JSON {type(value).__name__}, not the status object")
        return value, None
    return value, value


def parse_box(box_id: str, availability: bytes | None, state: bytes | None) -> BoxRow:
    """A box's row from its two retained payloads (None: nothing retained on that topic)."""
    problems: list[str] = []
    unreadable: set[str] = set()
    available = _read_availability(availability, problems)
    raw, data = _decode_state(state, problems)
    if data is None:
        status = DOWN if available == "offline" else UNKNOWN
        return BoxRow(box_id, status, availability=available, problems=tuple(problems), state=raw)
    read = _Reader(data, unreadable, problems)
    mode = read.text("mode")
    if mode not in _MODES:
        problems.append("the state has no mode" if mode is None else f"the state's mode {mode!r} is unknown")
        mode = None
    offline = read.part("offline")
    if available == "offline":
        status = DOWN
    elif mode is None:
        status = UNKNOWN
    elif mode == "offline" and offline.flag("uploading"):
        status = UPLOADING
    else:
        status = mode
    return BoxRow(
        box_id,
        status,
        availability=available,
        mode=mode,
        blocked_reason=read.text("blocked_reason"),
        uplink=read.text("uplink"),
        shift=read.text("shift"),
        session_minutes=offline.whole("session_minutes"),
        max_session_minutes=offline.whole("max_session_minutes"),
        month_minutes=offline.whole("month_minutes"),
        max_month_minutes=offline.whole("max_month_minutes"),
        numbers_left=offline.whole("numbers_left"),
        pending_documents=read.whole("pending_documents"),
        oldest_pending_age_s=read.whole("oldest_pending_age_s"),
        last_sync_at=read.time("last_sync_at"),
        printer=read.text("printer"),
        warnings=offline.texts("warnings"),
        errors=read.texts("errors"),
        updated_at=read.time("updated_at"),
        has_state=True,
        unreadable=frozenset(unreadable),
        problems=tuple(problems),
        state=raw,
    )


def box_topic(prefix: str, topic: str) -> tuple[str, str] | None:
    """``(box_id, "availability" | "state")`` for one of a box's two topics under ``prefix``, else None."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) != 2 or not parts[0] or parts[1] not in TOPICS:
        return None
    return parts[0], parts[1]


def order(rows: Iterable[BoxRow]) -> list[BoxRow]:
    """Worst first: by rank, then the larger share of the nearer limit, then by id."""
    return sorted(rows, key=lambda row: (row.rank, -(row.limit_share or 0.0), row.box_id))


# --- showing the rows --------------------------------------------------------------------------------


def age_text(seconds: float) -> str:
    """A duration as a person reads it at a glance: 45s, 12m, 3h 05m, 2d 4h."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _missing(row: BoxRow, name: str) -> str:
    """What a None cell shows: ``?`` when the state said it in a form not understood, ``-`` when the
    state is not there or did not say."""
    return "?" if name in row.unreadable else "-"


def _offline_cell(row: BoxRow) -> str:
    if not row.has_state:
        return "-"

    def num(value: int | None) -> str:
        return str(value) if value is not None else "?"

    return (
        f"{num(row.session_minutes)}/{num(row.max_session_minutes)} min session, "
        f"{num(row.month_minutes)}/{num(row.max_month_minutes)} min month"
    )


def _numbers_cell(row: BoxRow) -> str:
    if row.numbers_left is not None:
        return str(row.numbers_left)
    if not row.has_state:
        return "-"
    if {"offline", "offline.numbers_left"} & row.unreadable:
        return "?"
    return "unlimited"  # contract §5: null when the reserve is unlimited


def _pending_cell(row: BoxRow, now: datetime) -> str:
    if row.pending_documents is None:
        return _missing(row, "pending_documents")
    oldest = row.oldest_pending_age_at(now)
    if row.pending_documents == 0 or oldest is None:
        return str(row.pending_documents)
    return f"{row.pending_documents}, oldest {age_text(oldest)}"


def _sync_cell(row: BoxRow, now: datetime) -> str:
    if row.last_sync_at is not None:
        return f"{age_text((now - row.last_sync_at).total_seconds())} ago"
    if not row.has_state or "last_sync_at" in row.unreadable:
        return _missing(row, "last_sync_at")
    return "never"


def _printer_missing(row: BoxRow) -> str:
    if not row.has_state or "printer" in row.unreadable:
        return _missing(row, "printer")
    return "none"  # the state's null: the box has no printer (or it is turned off)


def _note(row: BoxRow, now: datetime) -> str:
    """Why the box is where it is in the order: what a person reads first."""
    notes: list[str] = []
    if row.status == DOWN:
        # The broker said it for the box (its last will): the state is as old as the box left it.
        age = row.age_at(now)
        said = f", it said {row.mode}" if row.mode else ""
        notes.append(f"gone: last state {age_text(age)} ago{said}" if age is not None else "gone: no state")
    if row.blocked_reason:
        notes.append(f"blocked: {row.blocked_reason}")
    notes.extend(
        problem for problem in row.problems if not (row.status == DOWN and problem == "no state yet")
    )
    if row.errors:
        more = f" (+{len(row.errors) - 1} more)" if len(row.errors) > 1 else ""
        notes.append(f"error: {row.errors[0]}{more}")
    if row.warnings:
        notes.append("warnings: " + ", ".join(row.warnings))
    return "; ".join(notes)


def cells(row: BoxRow, now: datetime) -> tuple[str, ...]:
    """The row's cells, in the order of COLUMNS."""
    return (
        row.box_id,
        row.status,
        row.uplink or _missing(row, "uplink"),
        _offline_cell(row),
        _numbers_cell(row),
        _pending_cell(row, now),
        _sync_cell(row, now),
        row.printer or _printer_missing(row),
        _note(row, now),
    )


def summary(rows: list[BoxRow]) -> str:
    counts = [f"{sum(row.status == status for row in rows)} {status}" for status in STATUSES]
    shown = [count for count in counts if not count.startswith("0 ")]
    return f"{len(rows)} box{'es' if len(rows) != 1 else ''}: " + ", ".join(shown)


def render_table(rows: list[BoxRow], now: datetime, *, where: str = "the broker") -> str:
    """The table, a header and one line per box in the order given, then a summary line."""
    if not rows:
        return f"no box has published under {where} yet"
    table = [COLUMNS, *(cells(row, now) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[-1]]
        ).rstrip()
        for line in table
    ]
    return "\n".join([*lines, summary(rows)])


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def to_json(rows: list[BoxRow], now: datetime) -> list[dict[str, Any]]:
    """One object per box, in the order given: the row's fields as data (ages as of ``now``), what the
    reader could not read, and the state as it came."""
    return [
        {
            "box_id": row.box_id,
            "status": row.status,
            "availability": row.availability,
            "mode": row.mode,
            "blocked_reason": row.blocked_reason,
            "uplink": row.uplink,
            "shift": row.shift,
            "session_minutes": row.session_minutes,
            "max_session_minutes": row.max_session_minutes,
            "month_minutes": row.month_minutes,
            "max_month_minutes": row.max_month_minutes,
            "limit_share": round(share, 4) if (share := row.limit_share) is not None else None,
            "numbers_left": row.numbers_left,
            "warnings": list(row.warnings),
            "pending_documents": row.pending_documents,
            "oldest_pending_age_s": row.oldest_pending_age_at(now),
            "last_sync_at": _iso(row.last_sync_at),
            "printer": row.printer,
            "errors": list(row.errors),
            "updated_at": _iso(row.updated_at),
            "state_age_s": int(age) if (age := row.age_at(now)) is not None else None,
            "problems": list(row.problems),
            "state": row.state,
        }
        for row in rows
    ]
