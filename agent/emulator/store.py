"""The emulator's state in SQLite (WAL): registrars, documents, shifts, counters, fault mode.

One connection, used only under the emulator's lock: documents are processed one at a time anyway
(as the tax service numbers them one at a time), and a package is one transaction so that a refused
document leaves nothing of its package behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS registrars (
    fiscal_number TEXT PRIMARY KEY,
    local_number INTEGER NOT NULL,
    name TEXT NOT NULL,
    tin TEXT NOT NULL,
    ipn TEXT,
    org_name TEXT NOT NULL,
    point_name TEXT NOT NULL,
    point_address TEXT,
    entity INTEGER NOT NULL,
    offline_allowed INTEGER NOT NULL,
    offline_reserve INTEGER,
    closed INTEGER NOT NULL DEFAULT 0,
    operators TEXT,
    next_local_num INTEGER NOT NULL DEFAULT 1,
    offline_session_id INTEGER,
    offline_seed TEXT,
    offline_next_local_num INTEGER NOT NULL DEFAULT 1,
    max_session_hours REAL NOT NULL DEFAULT 36,
    max_month_hours REAL NOT NULL DEFAULT 168
);
CREATE TABLE IF NOT EXISTS shifts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    registrar TEXT NOT NULL,
    open_fiscal TEXT NOT NULL,
    open_local INTEGER NOT NULL,
    testing INTEGER NOT NULL,
    opened_at TEXT NOT NULL,
    open_name TEXT,
    open_skid TEXT,
    zrep_fiscal TEXT,
    close_fiscal TEXT,
    closed_at TEXT,
    close_name TEXT,
    close_skid TEXT
);
CREATE INDEX IF NOT EXISTS shifts_registrar ON shifts (registrar, id);
CREATE TABLE IF NOT EXISTS documents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    registrar TEXT NOT NULL,
    fiscal_number TEXT NOT NULL,
    local_number INTEGER NOT NULL,
    doc_class TEXT NOT NULL,
    doc_type INTEGER,
    doc_subtype INTEGER,
    shift_id INTEGER,
    uid TEXT,
    doc_time TEXT,
    testing INTEGER NOT NULL DEFAULT 0,
    offline INTEGER NOT NULL DEFAULT 0,
    offline_session_id INTEGER,
    offline_seed TEXT,
    offline_local_num INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0,
    storned INTEGER NOT NULL DEFAULT 0,
    signer_skid TEXT,
    signer_name TEXT,
    received_at TEXT NOT NULL,
    facts TEXT,
    xml BLOB NOT NULL,
    signed BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_fiscal ON documents (registrar, fiscal_number);
CREATE INDEX IF NOT EXISTS documents_local ON documents (registrar, local_number);
CREATE INDEX IF NOT EXISTS documents_shift ON documents (shift_id, seq);
CREATE TABLE IF NOT EXISTS offline_sessions (
    registrar TEXT NOT NULL,
    session_id INTEGER NOT NULL,
    seed TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    begin_time TEXT,
    last_fin_time TEXT,
    closed_at TEXT,
    settle_hashes TEXT,
    any_hashes TEXT,
    settled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (registrar, session_id)
);
"""

Row = dict[str, Any]


class Store:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "emulator.sqlite3"
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE … COMMIT/ROLLBACK) around each request.
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- generic -------------------------------------------------------------------------------------

    def one(self, sql: str, *args: Any) -> Row | None:
        row = self.conn.execute(sql, args).fetchone()
        return None if row is None else dict(row)

    def all(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]

    def execute(self, sql: str, *args: Any) -> int:
        cur = self.conn.execute(sql, args)
        return int(cur.lastrowid or 0)

    def insert(self, table: str, values: Row) -> int:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        return self.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", *values.values())

    def update(self, table: str, key: str, key_value: Any, values: Row) -> None:
        if not values:
            return
        sets = ", ".join(f"{k} = ?" for k in values)
        self.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", *values.values(), key_value)

    # --- meta ----------------------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.one("SELECT value FROM meta WHERE key = ?", key)
        return default if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            key,
            json.dumps(value),
        )

    # --- shortcuts -----------------------------------------------------------------------------------

    def registrar(self, fiscal_number: str) -> Row | None:
        return self.one("SELECT * FROM registrars WHERE fiscal_number = ?", fiscal_number)

    def open_shift(self, registrar: str) -> Row | None:
        return self.one(
            "SELECT * FROM shifts WHERE registrar = ? AND close_fiscal IS NULL ORDER BY id DESC LIMIT 1",
            registrar,
        )

    def last_shift(self, registrar: str) -> Row | None:
        return self.one("SELECT * FROM shifts WHERE registrar = ? ORDER BY id DESC LIMIT 1", registrar)

    def last_document(self, registrar: str) -> Row | None:
        return self.one("SELECT * FROM documents WHERE registrar = ? ORDER BY seq DESC LIMIT 1", registrar)

    def shift_documents(self, shift_id: int) -> list[Row]:
        return self.all("SELECT * FROM documents WHERE shift_id = ? ORDER BY seq", shift_id)

    def shifts_of(self, registrar: str) -> list[Row]:
        return self.all("SELECT * FROM shifts WHERE registrar = ? ORDER BY id", registrar)
