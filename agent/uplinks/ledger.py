"""The uplinks' month ledger kept across restarts: how long each link and the tax server were down this
Kyiv month, and how much offline time the failover saved, in ``state_dir/uplinks-month.json``.

The counting is the policy's (``MonthLedger``, ``Accrual``: seconds from the monotonic clock, placed in a
month by the wall clock). This module adds what a restart needs, in two layers:

* pure: ``to_json`` / ``from_json`` (the file's shape, checked), ``recent`` (the months worth keeping),
  ``month_part`` (one month as the status model's ``NetworkMonth``, in whole minutes);
* the edge, ``UplinkLedger``: loads the file at start, is fed each decision's ``accrued`` (ending at
  ``clock.now()``), writes atomically (a temporary file in the same directory, fsync, rename) at most
  every ``SAVE_EVERY_S`` of monotonic time and at ``close()``.

A statistic, not fiscal data: nothing here may stop the agent or the till. A file that cannot be read or
is not a ledger is logged with its path and why, and the count starts anew; a directory that cannot be
written is logged once, and the count goes on in memory. Time the agent was not running is not counted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from agent.clock import Clock
from agent.status.snapshot import NetworkMonth
from agent.uplinks.policy import Accrual, LedgerKind, MonthLedger, month_key

log = logging.getLogger(__name__)

LEDGER_FILE: Final = "uplinks-month.json"
#: an SD card is not rewritten at every probe; a crash loses at most this much of the count
SAVE_EVERY_S: Final = 60.0
FORMAT: Final = 1
KINDS: Final[tuple[LedgerKind, ...]] = ("ethernet", "lte", "server", "saved")
#: a ledger of two months is a few hundred bytes: anything far larger is not one, and is not read whole
MAX_FILE_BYTES: Final = 64 * 1024
_MONTH: Final = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


class NotALedger(ValueError):
    """The file's content is not a month ledger; the message says where it is wrong."""


# --- pure -------------------------------------------------------------------------------------------


def previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def recent(ledger: MonthLedger, now: datetime) -> MonthLedger:
    """The ledger without the months before the previous one (by the Kyiv month of ``now``).

    Months after ``now``'s are kept: a Raspberry Pi without a real-time clock boots with its clock
    behind (the time it last saved, or a build date) until NTP steps it, and dropping the real current
    month then would lose it. What a clock wrongly ahead leaves behind is a few keys, dropped once the
    real time has passed them."""
    oldest = previous_month(month_key(now))
    if all(month >= oldest for month, _ in ledger.totals):
        return ledger
    return MonthLedger(MappingProxyType({key: s for key, s in ledger.totals.items() if key[0] >= oldest}))


def month_part(ledger: MonthLedger, month: str) -> NetworkMonth:
    """``month`` of the ledger for the status, each figure rounded down to whole minutes."""
    seconds = ledger.month(month)

    def minutes(kind: LedgerKind) -> int:
        return int(seconds[kind] // 60)

    return NetworkMonth(
        month=month,
        ethernet_down_minutes=minutes("ethernet"),
        lte_down_minutes=minutes("lte"),
        server_down_minutes=minutes("server"),
        offline_saved_minutes=minutes("saved"),
    )


def to_json(ledger: MonthLedger, saved_at: datetime) -> dict[str, Any]:
    """The file's content: seconds (not minutes, so that rounding is not repeated at every restart) per
    month and kind; ``saved_at`` is for a person reading the file, and is not read back."""
    months = sorted({month for month, _ in ledger.totals})
    return {
        "format": FORMAT,
        "saved_at": saved_at.astimezone(UTC).isoformat(),
        "seconds": {month: {kind: ledger.seconds(kind, month) for kind in KINDS} for month in months},
    }


def from_json(data: object) -> MonthLedger:
    """The ledger of a file's parsed content; ``NotALedger`` saying what is wrong, for the log."""
    if not isinstance(data, Mapping):
        raise NotALedger(f"not a JSON object but {type(data).__name__}")
    if data.get("format") != FORMAT or isinstance(data.get("format"), bool):
        raise NotALedger(f"format {data.get('format')!r}, expected {FORMAT}")
    months = data.get("seconds")
    if not isinstance(months, Mapping):
        raise NotALedger("no 'seconds' object")
    totals: dict[tuple[str, LedgerKind], float] = {}
    for month, kinds in months.items():
        if not _MONTH.fullmatch(month):
            raise NotALedger(f"seconds: {month!r} is not a month (YYYY-MM)")
        if not isinstance(kinds, Mapping):
            raise NotALedger(f"seconds.{month}: not an object")
        for kind, value in kinds.items():
            if kind not in KINDS:
                raise NotALedger(f"seconds.{month}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
            # bool is an int to Python, and JSON has no infinity but Python's json reads one
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise NotALedger(f"seconds.{month}.{kind}: {value!r} is not a number")
            if not math.isfinite(value) or value < 0:
                raise NotALedger(f"seconds.{month}.{kind}: {value!r} is not a count of seconds")
            if value > 0:
                totals[(month, kind)] = float(value)
    return MonthLedger(MappingProxyType(totals))


# --- the edge ---------------------------------------------------------------------------------------


def read_ledger(path: Path) -> MonthLedger:
    """The ledger in ``path``; an empty one when there is no file. Raises OSError when it cannot be read,
    ``NotALedger`` when what it holds is not a ledger."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return MonthLedger()
    if len(raw) > MAX_FILE_BYTES:
        raise NotALedger(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise NotALedger(f"not UTF-8 text: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        raise NotALedger(f"not JSON: {exc}") from exc
    return from_json(data)


def write_ledger(path: Path, content: dict[str, Any]) -> None:
    """Atomically and durably: a reader (or the next start, after a power cut) finds the old file or the
    new one, never half of one. One temporary name, not a fresh one per write, so that a write killed
    halfway leaves one stray file, overwritten by the next."""
    data = json.dumps(content, indent=1, sort_keys=True).encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself, through a power cut
        finally:
            os.close(dir_fd)
    except OSError:
        # Some filesystems refuse fsync on a directory; the file is in place all the same, and the worst
        # a power cut can then do is bring back the previous save.
        pass


class UplinkLedger:
    """The month ledger of a running agent. Thread-safe: the monitor's thread feeds it, the agent's
    ``close()`` saves it. Never raises for the file's sake."""

    def __init__(self, path: Path, clock: Clock, *, save_every_s: float = SAVE_EVERY_S) -> None:
        self.path = path
        self._clock = clock
        self._save_every_s = save_every_s
        self._lock = threading.Lock()
        self._ledger = recent(self._load(), clock.now())
        self._dirty = False
        self._attempted_at = clock.monotonic()
        #: why the last save failed (logged once), None while saves succeed
        self.save_error: str | None = None
        #: how many saves reached the disk
        self.saves = 0

    def _load(self) -> MonthLedger:
        try:
            return read_ledger(self.path)
        except NotALedger as exc:
            log.warning("uplinks: %s is not a month ledger (%s): counting anew", self.path, exc)
        except OSError as exc:
            log.warning("uplinks: cannot read %s (%s): counting anew", self.path, exc)
        return MonthLedger()

    @property
    def ledger(self) -> MonthLedger:
        with self._lock:
            return self._ledger

    def record(self, accrued: Accrual) -> NetworkMonth:
        """One decision's accrual, ended now; this month's figures for the status. Saves when the last
        save (or attempt) is ``save_every_s`` old."""
        with self._lock:
            now = self._clock.now()
            ledger = recent(self._ledger.add_accrual(accrued, now), now)
            if ledger is not self._ledger:
                self._ledger, self._dirty = ledger, True
            since = self._clock.monotonic() - self._attempted_at
            # A monotonic reading behind the last one is another boot's clock (a test's reboot): due.
            if self._dirty and not 0 <= since < self._save_every_s:
                self._save_locked(now)
            return month_part(self._ledger, month_key(now))

    def save(self) -> bool:
        """Write now if anything changed since the last save; False when the write failed."""
        with self._lock:
            if not self._dirty:
                return True
            return self._save_locked(self._clock.now())

    def close(self) -> None:
        self.save()

    def _save_locked(self, now: datetime) -> bool:
        self._attempted_at = self._clock.monotonic()
        try:
            write_ledger(self.path, to_json(self._ledger, now))
        except OSError as exc:
            if self.save_error is None:
                log.warning(
                    "uplinks: cannot save the month's downtime to %s (%s): counting in memory; it is lost"
                    " at the next restart unless the directory can be written by then",
                    self.path,
                    exc,
                )
            self.save_error = str(exc)
            return False
        if self.save_error is not None:
            log.info("uplinks: the month's downtime is saved to %s again", self.path)
        self.save_error = None
        self._dirty = False
        self.saves += 1
        return True
