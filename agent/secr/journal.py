"""The durable journal: every document the box makes, its signed bytes, its fate; shifts and counters.

SQLite in WAL mode with ``synchronous=FULL``: a commit is on disk before the call returns, so a
document is durable before it is sent, and its fiscal number before a receipt is printed or answered.

One connection, shared by the agent's threads (the register, the print worker, status readers) under one
re-entrant lock: a transaction holds it from BEGIN to COMMIT, so another thread's statement can never
land inside somebody else's transaction.

The print queue lives here too (table ``prints``): a fiscal document that must reach paper gets its row in
the same transaction that makes it fiscal, and the row is marked printed only once the printer took it,
so a crash, a restart or a printer fault never loses a receipt from paper.

SQLite's errors leave here as the box's own kinds (``JournalFull``, ``JournalLocked``,
``JournalUnavailable``): sales are refused saying why, and ``fault`` says it to the status until a write
succeeds again.
"""
# long module: every statement the box runs on its journal, behind the one lock and the one mapping of
# SQLite's errors; split, both would have to be shared between the parts.

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from agent.secr.errors import JournalFull, JournalLocked, JournalMismatch, JournalUnavailable

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5
#: what each schema version adds, applied in order to an older journal (never anything destructive)
_MIGRATIONS: dict[int, str] = {
    2: "",  # the prints table: created by _SCHEMA; documents fiscalized before it are not queued
    3: "",  # prints.started_at: added by _add_missing_columns (a journal older than 2 has it from _SCHEMA)
    4: "",  # documents_receipts, documents_z_reports (the till API's lists): created by _SCHEMA
    5: "",  # shifts.z_figures: added by _add_missing_columns
}
#: columns later versions added to a table _SCHEMA creates: (table, column, declaration)
_ADDED_COLUMNS = (("prints", "started_at", "TEXT"), ("shifts", "z_figures", "TEXT"))

#: how long a write waits for another process's lock before the sale is refused saying so: rides out a
#: short lock (a backup tool), never holds a till for long
BUSY_TIMEOUT_S = 5.0
#: a document is not journaled with less free space than this on the journal's filesystem: the largest one
#: (about 200 KB, reference §4.8) with its index pages and WAL frames, and the fiscal number after it
MIN_FREE_BYTES = 1024 * 1024

# SQLite's primary result codes (the low byte of an extended one)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CONSTRAINT = 5, 6, 10, 13, 19

PENDING = "pending"  # online, sent or about to be; outcome not known yet
REGISTERED = "registered"  # the server has it (online ticket, or an acknowledged offline package)
REJECTED = "rejected"  # the server refused it; its local number was given back
OFFLINE = "offline"  # made offline with an offline fiscal number; not uploaded yet
SUPERSEDED = "superseded"  # online, outcome unknown when the box went offline; re-made offline
VOID = "void"  # online, certainly never reached the server when the box went offline; number given back
REVOKED = "revoked"  # online, registered after all, then revoked by the 102 (REVOKELASTONLINEDOC)

#: states whose local number is taken for good
LIVE_STATES = (PENDING, REGISTERED, OFFLINE, SUPERSEDED, REVOKED)
#: states of documents that count: what the shift's totals and the till see
FISCAL_STATES = (REGISTERED, OFFLINE)
#: the receipts the till API lists: sales, returns, service deposits and issues that count (not the storno,
#: not the shift documents); word for word the WHERE of the documents_receipts index, so SQLite uses it
RECEIPTS_WHERE = "doc_class = 'CHECK' AND doc_type = 0 AND doc_subtype IN (0, 1, 2, 4) AND state IN ('registered', 'offline')"
#: the Z reports that count; the WHERE of the documents_z_reports index
Z_REPORTS_WHERE = "doc_class = 'ZREP' AND state IN ('registered', 'offline')"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS shifts (
    id INTEGER PRIMARY KEY,
    opened_at TEXT NOT NULL,
    cashier TEXT,
    open_doc INTEGER,
    z_doc INTEGER,
    close_doc INTEGER,
    closed_at TEXT,
    z_figures TEXT                    -- what the Z's zrep01 cannot carry (JSON), worked out once
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    local_num INTEGER NOT NULL,
    uid TEXT NOT NULL UNIQUE,
    request_id TEXT,
    doc_class TEXT NOT NULL,          -- CHECK | ZREP
    doc_type INTEGER,
    doc_subtype INTEGER,
    shift_id INTEGER REFERENCES shifts(id),
    total TEXT,
    ref_fiscal_num TEXT,              -- ORDERRETNUM / ORDERSTORNUM
    offline INTEGER NOT NULL DEFAULT 0,
    offline_tax_num TEXT,
    offline_session TEXT,
    offline_n INTEGER,
    xml BLOB NOT NULL,
    signed BLOB NOT NULL,
    state TEXT NOT NULL,              -- see the states above
    fiscal_num TEXT,
    ticket BLOB,
    stornoed INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at TEXT NOT NULL,
    registered_at TEXT
);
-- A refused document gives its local number back (the server never took it); a live one owns it.
CREATE UNIQUE INDEX IF NOT EXISTS documents_live_local_num ON documents(local_num)
    WHERE state NOT IN ('rejected', 'void');
CREATE UNIQUE INDEX IF NOT EXISTS documents_request_id ON documents(request_id)
    WHERE request_id IS NOT NULL AND state IN ('pending', 'registered', 'offline');
CREATE UNIQUE INDEX IF NOT EXISTS documents_offline_n ON documents(offline_session, offline_n)
    WHERE offline_session IS NOT NULL;
CREATE INDEX IF NOT EXISTS documents_fiscal_num ON documents(fiscal_num);
CREATE INDEX IF NOT EXISTS documents_shift ON documents(shift_id);
CREATE INDEX IF NOT EXISTS documents_state ON documents(state);
-- The newest live document (every document is dated after it): walked from the top, not sorted.
CREATE INDEX IF NOT EXISTS documents_local_num ON documents(local_num);
-- What status reads after every change (how many are undelivered, since when), from the index alone:
-- a long offline session holds thousands of documents.
CREATE INDEX IF NOT EXISTS documents_state_created ON documents(state, created_at);
-- The lists tills page through (GET /receipts, /reports): the receipts that count (sales, returns, service
-- in and out) and the Z reports, in local number order with what they are filtered by, so a page is found
-- from the index alone (it carries every column the query names) and only the page's own rows are read. A
-- query uses them only with the very same WHERE terms (RECEIPTS_WHERE, Z_REPORTS_WHERE below).
CREATE INDEX IF NOT EXISTS documents_receipts
    ON documents(local_num, shift_id, created_at, fiscal_num, doc_class, doc_type, doc_subtype, state)
    WHERE doc_class = 'CHECK' AND doc_type = 0 AND doc_subtype IN (0, 1, 2, 4)
    AND state IN ('registered', 'offline');
CREATE INDEX IF NOT EXISTS documents_z_reports ON documents(local_num, shift_id, created_at, doc_class, state)
    WHERE doc_class = 'ZREP' AND state IN ('registered', 'offline');
-- The durable print queue: one row per document that must reach paper.
CREATE TABLE IF NOT EXISTS prints (
    doc_id INTEGER PRIMARY KEY REFERENCES documents(id),
    queued_at TEXT NOT NULL,
    printed_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    -- set just before the bytes go to the printer, cleared by a fault the printer reported: set with no
    -- printed_at after a restart means the receipt may be on paper already (agent/printing.py)
    started_at TEXT
);
CREATE INDEX IF NOT EXISTS prints_unprinted ON prints(doc_id) WHERE printed_at IS NULL;
"""


@dataclass(frozen=True)
class Entry:
    id: int
    local_num: int
    uid: str
    request_id: str | None
    doc_class: str
    doc_type: int | None
    doc_subtype: int | None
    shift_id: int | None
    total: str | None
    ref_fiscal_num: str | None
    offline: bool
    offline_tax_num: str | None
    offline_session: str | None
    offline_n: int | None
    xml: bytes
    signed: bytes
    state: str
    fiscal_num: str | None
    ticket: bytes | None
    stornoed: bool
    error: str | None
    created_at: str
    registered_at: str | None


@dataclass(frozen=True)
class Page:
    """Which part of a list: ``limit`` rows (None: all) after ``offset``, in local number order or reversed."""

    limit: int | None
    offset: int = 0
    desc: bool = False


@dataclass(frozen=True)
class DocumentFilter:
    """What a list of receipts or Z reports is narrowed to; None narrows nothing, an empty ``shift_ids``
    matches nothing (and is not asked of SQLite). ``since`` and ``until`` (aware, both included) are compared with the documents' own
    dates, to the second as the documents carry them, in the journal's created_at as ``add`` writes it:
    ISO text in UTC, as the box's clocks give it, which sorts as time does."""

    fiscal_num: str | None = None
    local_num: int | None = None
    shift_ids: tuple[int, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None


def _narrowed(where: str, f: DocumentFilter) -> tuple[str, list[Any]]:
    """The WHERE of a list (the index's own terms first) and its parameters."""
    clauses, params = [where], list[Any]()
    for column, value in (("fiscal_num", f.fiscal_num), ("local_num", f.local_num)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if f.shift_ids is not None:
        clauses.append(f"shift_id IN ({', '.join('?' * len(f.shift_ids))})")
        params.extend(f.shift_ids)
    # A document is dated to the second (ORDERDATE, ORDERTIME), the journal's created_at finer: a document
    # of 10:00:00.4 is one of 10:00:00, in a period from 10:00:00 and in one to 10:00:00.
    if f.since is not None:
        clauses.append("created_at >= ?")
        params.append(_utc_text(_whole_second(f.since, up=True)))
    if f.until is not None:
        clauses.append("created_at < ?")
        params.append(_utc_text(_whole_second(f.until, up=False) + timedelta(seconds=1)))
    return " AND ".join(clauses), params


def _whole_second(when: datetime, *, up: bool) -> datetime:
    down = when.replace(microsecond=0)
    return down + timedelta(seconds=1) if up and down != when else down


def _utc_text(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


#: SQLite's largest integer: a page past it is past every list (tills may ask any offset)
_SQLITE_MAX_INT = 2**63 - 1


def _bounds(page: Page) -> tuple[int, int]:
    limit = -1 if page.limit is None else min(page.limit, _SQLITE_MAX_INT)
    return limit, min(page.offset, _SQLITE_MAX_INT)


def _window(page: Page) -> tuple[str, tuple[int, int]]:
    order = "DESC" if page.desc else "ASC"
    return f" ORDER BY local_num {order} LIMIT ? OFFSET ?", _bounds(page)


@dataclass(frozen=True)
class PrintJob:
    doc_id: int
    queued_at: str
    printed_at: str | None
    attempts: int
    last_error: str | None
    started_at: str | None = None


@dataclass(frozen=True)
class Shift:
    id: int
    opened_at: str
    cashier: str | None
    open_doc: int | None
    z_doc: int | None
    close_doc: int | None
    closed_at: str | None
    z_figures: str | None = None


def journal_error(exc: sqlite3.Error, path: Path) -> JournalUnavailable:
    """A SQLite error as the box's own kind: what is wrong, and what a person can do about it."""
    primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    # An I/O error on a filesystem with no room left is the full disk too (SQLite says SQLITE_IOERR when
    # the wal-index cannot grow, for one): the errno is not passed on, the free space tells.
    if primary == _SQLITE_FULL or (primary == _SQLITE_IOERR and free_bytes(path.parent) < MIN_FREE_BYTES):
        return JournalFull(
            f"the journal's storage is full ({path.parent}): no document can be journaled, so none is made",
            what_to_do="free space on the box's storage (never the journal itself); selling resumes by itself",
        )
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return JournalLocked(
            f"the journal {path} is locked by another process: no document can be journaled now",
            what_to_do="stop the other program that has the journal open (a copy or backup tool, sqlite3);"
            " selling resumes by itself",
        )
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return JournalUnavailable(
        f"the journal {path} cannot be written: {name}: {exc}",
        what_to_do="check the box's storage; never delete the journal; call support",
    )


def free_bytes(directory: Path) -> int:
    """Free space for the journal's files; MIN_FREE_BYTES when it cannot be told (then SQLite says)."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return MIN_FREE_BYTES
    return stat.f_bavail * stat.f_frsize


def _entry(row: sqlite3.Row) -> Entry:
    data = dict(row)
    data["offline"] = bool(data["offline"])
    data["stornoed"] = bool(data["stornoed"])
    return Entry(**data)


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        # The meta table, read once and then kept: this connection is its only writer (one owner of the
        # journal: agent/ownership.py), and a register reads its keys dozens of times per document.
        # Dropped at a rollback, so it never holds what the database does not.
        self._meta: dict[str, str | None] | None = None
        #: why the journal could not be written last time (full, locked, failing), until a write succeeds:
        #: the status's blocked_reason while it lasts
        self.fault: JournalUnavailable | None = None
        with self._sqlite():
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
            )
            conn.row_factory = sqlite3.Row
            self._conn = conn
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            # Only creates what is missing: on a journal that has it all, nothing is written, so the box
            # starts even while another process holds the write lock.
            conn.executescript(_SCHEMA)
        self.db = sqlite_utils.Database(conn)
        self._migrate()

    def _migrate(self) -> None:
        version = self.get("schema_version")
        if version is None:
            self.set("schema_version", str(SCHEMA_VERSION))
            return
        if int(version) > SCHEMA_VERSION:
            raise JournalMismatch(
                f"journal {self.path} has schema version {version}, this box knows only up to {SCHEMA_VERSION}"
                " (it was written by a newer fiscal-box)",
                what_to_do="install that fiscal-box version again; never delete the journal",
            )
        if int(version) == SCHEMA_VERSION:
            return
        with self.transaction():
            for step in range(int(version) + 1, SCHEMA_VERSION + 1):
                if _MIGRATIONS[step]:
                    with self._sqlite():
                        self._conn.executescript(_MIGRATIONS[step])
            self._add_missing_columns()
            self.set("schema_version", str(SCHEMA_VERSION))

    def _add_missing_columns(self) -> None:
        for table, column, declaration in _ADDED_COLUMNS:
            with self._sqlite():
                have = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """An advisory lock shared by every process on this journal; yields False when someone holds it.

        Never blocks, so it cannot deadlock with the register's own lock."""
        fd = os.open(self.path.with_name(f"{self.path.name}.{name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing; nested use joins the outer transaction. Holds the journal's lock throughout."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with self._sqlite():
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._rollback()
                raise
            self._depth = 0
            try:
                with self._sqlite():
                    self._conn.execute("COMMIT")
            except BaseException:
                # A commit that failed (a full disk, an I/O error) leaves nothing half-written.
                self._rollback()
                raise
            self._wrote()

    def _rollback(self) -> None:
        # The meta cache may hold what was just rolled back: read it again from the database.
        self._meta = None
        if not self._conn.in_transaction:
            return  # SQLite rolled back by itself (it may, after SQLITE_FULL at COMMIT)
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            # The error that got us here is the one to report; this one is only logged.
            log.exception("journal %s: the rollback failed", self.path)

    @contextmanager
    def _sqlite(self) -> Iterator[None]:
        """SQLite's errors leave the journal as the box's own kinds (errors.JournalUnavailable)."""
        try:
            yield
        except sqlite3.Error as exc:
            error = journal_error(exc, self.path)
            primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
            if primary != _SQLITE_CONSTRAINT:  # a state of the journal, not of one statement
                self._set_fault(error)
            raise error from exc

    def _set_fault(self, fault: JournalUnavailable | None) -> None:
        if (fault is None) != (self.fault is None):
            if fault is None:
                log.info("journal %s: writable again", self.path)
            else:
                log.error("journal %s: %s", self.path, fault)
        self.fault = fault

    def _wrote(self) -> None:
        """A write reached the disk: whatever stopped the last one is gone."""
        if self.fault is not None:
            self._set_fault(None)

    def _exec(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock, self._sqlite():
            cursor = self._conn.execute(sql, params)
            if not self._depth:
                self._wrote()  # autocommitted
            return cursor

    def _rows(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock, self._sqlite():
            return list(self._conn.execute(sql, params).fetchall())

    def _row(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._lock, self._sqlite():
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def recheck(self) -> bool:
        """While a write has failed: try a small one (the agent's loop calls this). True when the journal
        is writable again, so the status can say so before the next sale finds out."""
        if self.fault is None:
            return False
        if isinstance(self.fault, JournalFull) and free_bytes(self.path.parent) < MIN_FREE_BYTES:
            return False
        with self._lock:
            # Not waiting for another process's lock: status readers wait on this one meanwhile.
            self._conn.execute("PRAGMA busy_timeout = 0")
            try:
                with self.transaction():
                    # Rewrites one row as it is: a real write to the disk, changing nothing.
                    self._exec("UPDATE meta SET value = value WHERE key = 'schema_version'")
            except JournalUnavailable:
                return False
            finally:
                self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return self.fault is None

    def _ensure_room(self) -> None:
        free = free_bytes(self.path.parent)
        if free < MIN_FREE_BYTES:
            full = JournalFull(
                f"the journal's storage is full ({self.path.parent}: {free // 1024} KB free, a document needs"
                f" {MIN_FREE_BYTES // 1024} KB): no document is made",
                what_to_do="free space on the box's storage (never the journal itself); selling resumes by itself",
            )
            self._set_fault(full)
            raise full

    # --- meta and counters --------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._meta_table().get(key)

    def set(self, key: str, value: str | None) -> None:
        with self._lock:
            self._exec(
                "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            self._meta_table()[key] = value

    def _meta_table(self) -> dict[str, str | None]:
        if self._meta is None:
            rows = self._rows("SELECT key, value FROM meta")
            self._meta = {str(r[0]): None if r[1] is None else str(r[1]) for r in rows}
        return self._meta

    def set_many(self, values: dict[str, str | None]) -> None:
        with self.transaction():
            for key, value in values.items():
                self.set(key, value)

    def next_local_num(self) -> int:
        value = self.get("next_local_num")
        return int(value) if value is not None else 1

    def set_next_local_num(self, value: int) -> None:
        self.set("next_local_num", str(value))

    # --- documents ----------------------------------------------------------------------------

    def add(
        self,
        *,
        local_num: int,
        uid: str,
        doc_class: str,
        doc_type: int | None,
        doc_subtype: int | None,
        shift_id: int | None,
        xml: bytes,
        signed: bytes,
        created_at: datetime,
        request_id: str | None = None,
        total: str | None = None,
        ref_fiscal_num: str | None = None,
        offline_tax_num: str | None = None,
        offline_session: str | None = None,
        offline_n: int | None = None,
    ) -> Entry:
        """Journal a signed document and take its local number, in the caller's transaction.

        An offline document is born with its fiscal number (the offline one) in state OFFLINE."""
        state = OFFLINE if offline_tax_num is not None else PENDING
        with self.transaction():
            # Refused before anything is sent: a document sent and then not journaled as registered would
            # wait for a person with its sale made but unanswered.
            self._ensure_room()
            cursor = self._exec(
                "INSERT INTO documents(local_num, uid, request_id, doc_class, doc_type, doc_subtype, shift_id,"
                " total, ref_fiscal_num, offline, offline_tax_num, offline_session, offline_n, xml, signed, state,"
                " fiscal_num, registered_at, created_at)"
                " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    local_num,
                    uid,
                    request_id,
                    doc_class,
                    doc_type,
                    doc_subtype,
                    shift_id,
                    total,
                    ref_fiscal_num,
                    int(offline_tax_num is not None),
                    offline_tax_num,
                    offline_session,
                    offline_n,
                    xml,
                    signed,
                    state,
                    offline_tax_num,
                    created_at.isoformat() if offline_tax_num is not None else None,
                    created_at.isoformat(),
                ),
            )
            self.set_next_local_num(local_num + 1)
        entry = self.document(int(cursor.lastrowid or 0))
        assert entry is not None
        return entry

    def mark_registered(
        self, doc_id: int, *, fiscal_num: str, registered_at: datetime, ticket: bytes | None
    ) -> None:
        with self.transaction():
            self._exec(
                "UPDATE documents SET state = ?, fiscal_num = ?, ticket = ?, registered_at = ?, error = NULL"
                " WHERE id = ?",
                (REGISTERED, fiscal_num, ticket, registered_at.isoformat(), doc_id),
            )

    def mark_rejected(self, doc_id: int, error: str, *, state: str = REJECTED) -> None:
        """The server refused it (or it never reached the server: VOID) and never took its number:
        the number goes back if it was the last."""
        assert state in (REJECTED, VOID)
        with self.transaction():
            entry = self.document(doc_id)
            if entry is None:
                return
            self._exec("UPDATE documents SET state = ?, error = ? WHERE id = ?", (state, error, doc_id))
            if self.next_local_num() == entry.local_num + 1:
                self.set_next_local_num(entry.local_num)

    def set_state(self, doc_id: int, state: str, *, fiscal_num: str | None = None) -> None:
        if fiscal_num is None:
            self._exec("UPDATE documents SET state = ? WHERE id = ?", (state, doc_id))
        else:
            self._exec(
                "UPDATE documents SET state = ?, fiscal_num = ? WHERE id = ?", (state, fiscal_num, doc_id)
            )

    def replace_signed(self, doc_id: int, xml: bytes, signed: bytes) -> None:
        """Only for a 102 not yet delivered, amended with REVOKELASTONLINEDOC (its hash is in no chain)."""
        self._exec("UPDATE documents SET xml = ?, signed = ? WHERE id = ?", (xml, signed, doc_id))

    def mark_uploaded(self, doc_ids: list[int], registered_at: datetime) -> None:
        with self.transaction(), self._sqlite():
            self._conn.executemany(
                "UPDATE documents SET state = ?, registered_at = ? WHERE id = ? AND state = ?",
                [(REGISTERED, registered_at.isoformat(), doc_id, OFFLINE) for doc_id in doc_ids],
            )

    def set_error(self, doc_id: int, error: str | None) -> None:
        self._exec("UPDATE documents SET error = ? WHERE id = ?", (error, doc_id))

    def set_document_shift(self, doc_id: int, shift_id: int) -> None:
        self._exec("UPDATE documents SET shift_id = ? WHERE id = ?", (shift_id, doc_id))

    def mark_stornoed(self, fiscal_num: str) -> None:
        self._exec(
            "UPDATE documents SET stornoed = 1 WHERE fiscal_num = ? AND state IN (?, ?)",
            (fiscal_num, *FISCAL_STATES),
        )

    def document(self, doc_id: int) -> Entry | None:
        row = self._row("SELECT * FROM documents WHERE id = ?", (doc_id,))
        return _entry(row) if row else None

    def by_request_id(self, request_id: str) -> Entry | None:
        row = self._row(
            "SELECT * FROM documents WHERE request_id = ? AND state IN (?, ?, ?) ORDER BY id DESC LIMIT 1",
            (request_id, PENDING, REGISTERED, OFFLINE),
        )
        return _entry(row) if row else None

    def by_fiscal_num(self, fiscal_num: str) -> Entry | None:
        row = self._row(
            "SELECT * FROM documents WHERE fiscal_num = ? AND state IN (?, ?) ORDER BY id DESC LIMIT 1",
            (fiscal_num, *FISCAL_STATES),
        )
        return _entry(row) if row else None

    def by_uid(self, uid: str) -> Entry | None:
        row = self._row("SELECT * FROM documents WHERE uid = ?", (uid,))
        return _entry(row) if row else None

    def pending(self) -> list[Entry]:
        rows = self._rows("SELECT * FROM documents WHERE state = ? ORDER BY local_num", (PENDING,))
        return [_entry(r) for r in rows]

    def offline_unsent(self, session: str, *, limit: int | None = None) -> list[Entry]:
        sql = "SELECT * FROM documents WHERE offline_session = ? AND state = ? ORDER BY offline_n"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_entry(r) for r in self._rows(sql, (session, OFFLINE))]

    def mark_session_uploaded(
        self, session: str, registered_at: datetime, *, below_n: int | None = None
    ) -> int:
        """What the server already has of a session, in one statement: nothing is loaded."""
        sql = "UPDATE documents SET state = ?, registered_at = ? WHERE offline_session = ? AND state = ?"
        params: tuple[Any, ...] = (REGISTERED, registered_at.isoformat(), session, OFFLINE)
        if below_n is not None:
            sql += " AND offline_n < ?"
            params = (*params, below_n)
        return self._exec(sql, params).rowcount

    def undelivered(self) -> tuple[int, str | None]:
        """How many documents the server does not have yet (pending or offline), and the oldest one's time."""
        row = self._row(
            "SELECT count(*), min(created_at) FROM documents WHERE state IN (?, ?)", (PENDING, OFFLINE)
        )
        assert row is not None  # an aggregate always answers one row
        return int(row[0]), row[1]

    def last_live(self) -> Entry | None:
        """The newest document that counts or may still count (the server's 'last document')."""
        row = self._row(
            # "+state": not by the state index, which would sort every offline document of a long session
            # for each new one; down the local_num index instead, stopping at the first live row
            "SELECT * FROM documents WHERE +state IN (?, ?, ?) ORDER BY local_num DESC LIMIT 1",
            (PENDING, *FISCAL_STATES),
        )
        return _entry(row) if row else None

    def shift_documents(self, shift_id: int) -> list[Entry]:
        rows = self._rows(
            "SELECT * FROM documents WHERE shift_id = ? AND state IN (?, ?) ORDER BY local_num",
            (shift_id, *FISCAL_STATES),
        )
        return [_entry(r) for r in rows]

    def refunds_of(self, fiscal_num: str) -> list[Entry]:
        rows = self._rows(
            "SELECT * FROM documents WHERE ref_fiscal_num = ? AND doc_subtype = 1 AND state IN (?, ?, ?)"
            " AND stornoed = 0",
            (fiscal_num, PENDING, *FISCAL_STATES),
        )
        return [_entry(r) for r in rows]

    # --- the till API's lists -------------------------------------------------------------------

    def receipts(self, f: DocumentFilter, page: Page) -> list[Entry]:
        """A page of the receipts that count (RECEIPTS_WHERE): the page's ids first, then only their rows.

        The ids come down the documents_receipts index alone, already in order, unless a fiscal number or
        shifts narrow the list: then the fiscal number's or the shifts' own index finds fewer rows."""
        if f.shift_ids == ():
            return []
        where, params = _narrowed(RECEIPTS_WHERE, f)
        window, bounds = _window(page)
        narrow = f.fiscal_num is not None or f.shift_ids is not None
        source = "documents" if narrow else "documents INDEXED BY documents_receipts"
        with self._lock:
            found_ids = self._rows(f"SELECT id FROM {source} WHERE {where}{window}", (*params, *bounds))
            ids = [int(r[0]) for r in found_ids]
            if not ids:
                return []
            rows = self._rows(
                f"SELECT * FROM documents WHERE id IN ({', '.join('?' * len(ids))})", tuple(ids)
            )
        found = {int(r["id"]): _entry(r) for r in rows}
        return [found[i] for i in ids]

    def z_reports(self, f: DocumentFilter, page: Page) -> list[tuple[int, datetime]]:
        """A page of the Z reports that count, as (shift, date), from the documents_z_reports index alone."""
        if f.shift_ids == ():
            return []
        where, params = _narrowed(Z_REPORTS_WHERE, f)
        window, bounds = _window(page)
        rows = self._rows(
            f"SELECT shift_id, created_at FROM documents INDEXED BY documents_z_reports"
            f" WHERE {where} AND shift_id IS NOT NULL{window}",
            (*params, *bounds),
        )
        return [(int(r[0]), datetime.fromisoformat(r[1])) for r in rows]

    def shift_ids(self, page: Page, *, is_open: bool | None = None) -> list[int]:
        """A page of the shifts, by number; only the open (closing document not made) or closed ones when asked."""
        where = {None: "1", True: "closed_at IS NULL", False: "closed_at IS NOT NULL"}[is_open]
        order = "DESC" if page.desc else "ASC"
        rows = self._rows(
            f"SELECT id FROM shifts WHERE {where} ORDER BY id {order} LIMIT ? OFFSET ?", _bounds(page)
        )
        return [int(r[0]) for r in rows]

    def count(self, state: str | None = None) -> int:
        if state is None:
            return self._count("SELECT count(*) FROM documents")
        return self._count("SELECT count(*) FROM documents WHERE state = ?", (state,))

    def _count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        row = self._row(sql, params)
        assert row is not None  # an aggregate always answers one row
        return int(row[0])

    # --- the print queue ----------------------------------------------------------------------

    def queue_print(self, doc_id: int, queued_at: datetime) -> None:
        """This document must reach paper: call it in the transaction that makes the document fiscal."""
        self._exec(
            "INSERT INTO prints(doc_id, queued_at) VALUES(?, ?) ON CONFLICT(doc_id) DO NOTHING",
            (doc_id, queued_at.isoformat()),
        )

    def unprinted(self, *, limit: int = 50) -> list[PrintJob]:
        """Queued and not yet printed, oldest first."""
        rows = self._rows(
            "SELECT * FROM prints WHERE printed_at IS NULL ORDER BY doc_id LIMIT ?", (int(limit),)
        )
        return [PrintJob(**dict(r)) for r in rows]

    def print_job(self, doc_id: int) -> PrintJob | None:
        row = self._row("SELECT * FROM prints WHERE doc_id = ?", (doc_id,))
        return PrintJob(**dict(row)) if row else None

    def mark_printed(self, doc_id: int, printed_at: datetime) -> None:
        self._exec(
            "UPDATE prints SET printed_at = ?, attempts = attempts + 1, last_error = NULL WHERE doc_id = ?",
            (printed_at.isoformat(), doc_id),
        )

    def print_started(self, doc_id: int, started_at: datetime) -> None:
        self._exec("UPDATE prints SET started_at = ? WHERE doc_id = ?", (started_at.isoformat(), doc_id))

    def print_failed(self, doc_id: int, error: str, *, maybe_on_paper: bool = False) -> None:
        """The printer failed on this document. Nothing of it reached paper (the printer refused before the
        first byte): the next attempt is the receipt itself again. ``maybe_on_paper`` (it failed part-way,
        or did not confirm): ``started_at`` stays, and the next attempt is marked a copy."""
        started = "started_at" if maybe_on_paper else "NULL"
        self._exec(
            f"UPDATE prints SET attempts = attempts + 1, last_error = ?, started_at = {started} WHERE doc_id = ?",
            (error, doc_id),
        )

    # --- shifts -------------------------------------------------------------------------------

    def new_shift(self, opened_at: datetime, cashier: str | None) -> int:
        with self.transaction():
            cursor = self._exec(
                "INSERT INTO shifts(opened_at, cashier) VALUES(?, ?)", (opened_at.isoformat(), cashier)
            )
        return int(cursor.lastrowid or 0)

    def update_shift(self, shift_id: int, **fields: Any) -> None:
        allowed = {"open_doc", "z_doc", "close_doc", "closed_at", "cashier", "z_figures"}
        assert set(fields) <= allowed, fields
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        self._exec(f"UPDATE shifts SET {assignments} WHERE id = :id", {**fields, "id": shift_id})

    def delete_shift(self, shift_id: int) -> None:
        self._exec("DELETE FROM shifts WHERE id = ?", (shift_id,))

    def shift(self, shift_id: int) -> Shift | None:
        row = self._row("SELECT * FROM shifts WHERE id = ?", (shift_id,))
        return Shift(**dict(row)) if row else None

    def last_shift(self) -> Shift | None:
        row = self._row("SELECT * FROM shifts ORDER BY id DESC LIMIT 1")
        return Shift(**dict(row)) if row else None
