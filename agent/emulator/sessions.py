"""The emulator's offline-session rules read strictly from the tax service's text (issue 15).

Quotes are from /work/shared/reference/official/fsko_evpz_doc.txt ("ФСКО ЕВПЗ", the API text) by its
section title; docs/compliance.md lists each rule with its test. Called from rules.Registry at a
few call sites; every function runs inside the request's transaction unless it says otherwise.

* The range (session id and seed) is issued with the first open-shift document, not at registration:
  «Ідентифікатор офлайн сесії надається Сервером у відповідь на документ «Відкриття зміни»» (Офлайн
  сесія); «Новий Діапазон визначається в межах номера офлайн сесії, який видається ПРРО Фіскальним
  сервером під час першого відкриття зміни на ПРРО» (Формування Діапазону). So a first shift cannot be
  opened offline: there is nothing to number it with.
* TransactionsRegistrarState takes the session the box is about to deliver («Значення параметрів
  “OfflineSessionId” і “OfflineSeed” необхідно передавати для коректної обробки повернення до режиму
  онлайн із режиму офлайн»), rolls back a close whose reply the box never got (OfflineSessionRolledBack),
  and fills the Offline… fields only for the shift's opener or a senior cashier («Поля “Offline…”
  заповнюються, якщо запит засвідчено КЕП особи, яка відкрила зміну, або КЕП старшого користувача»).
* The limits block the register until the next period («Сервер блокує роботу ПРРО у разі перевищення
  … Розблоковує роботу ПРРО після настання нового часового періоду з якого починається відлік дозволеного
  часу роботи в режимі офлайн», Блокування роботи ПРРО), and the month is the calendar month, counted
  afresh from its first moment: a session across the boundary counts in each month only its part.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.clock import kyiv
from agent.emulator.errors import QUERY, VALIDATION, FsError
from agent.emulator.store import Row, Store
from agent.emulator.xmldoc import OFFLINE_BEGIN, OFFLINE_END

if TYPE_CHECKING:
    from agent.emulator.rules import Registry


SCHEMA = """
CREATE TABLE IF NOT EXISTS offline_blocks (
    registrar TEXT NOT NULL,
    kind TEXT NOT NULL,
    session_id INTEGER,
    until TEXT,
    reason TEXT NOT NULL,
    lifted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS offline_rollbacks (
    registrar TEXT NOT NULL,
    session_id INTEGER NOT NULL,
    cmd_uid TEXT,
    at TEXT NOT NULL
);
"""

#: the Offline… fields of TransactionsRegistrarState: the block of its reply whose fields are each
#: «(null – режим офлайн заборонений для ПРРО)»; OfflineSupported stands apart (with ChiefCashier) as a
#: plain «(false/true)», never null, so it is filled for everyone
OFFLINE_FIELDS = (
    "OfflineSessionId",
    "OfflineSeed",
    "OfflineNextLocalNum",
    "OfflineSessionDuration",
    "OfflineSessionsMonthlyDuration",
    "OfflineSessionRolledBack",
    "OfflineSessionRollbackCmdUID",
)


#: registrar columns of this module's rules, added to a store made before them
REGISTRAR_COLUMNS = {"chief_cashiers": "TEXT", "offline_fields_to_last_opener": "INTEGER NOT NULL DEFAULT 0"}


def ensure_schema(store: Store) -> None:
    store.conn.executescript(SCHEMA)
    have = {row["name"] for row in store.all("PRAGMA table_info(registrars)")}
    for name, kind in REGISTRAR_COLUMNS.items():
        if name not in have:
            store.conn.execute(f"ALTER TABLE registrars ADD COLUMN {name} {kind}")


# --- the range: issued with the first open shift -------------------------------------------------------


def has_had_a_shift(store: Store, fn: str) -> bool:
    return store.last_shift(fn) is not None


def issue_first_range(registry: Registry, reg: Row) -> None:
    """An open-shift document was registered: the first one issues the registrar's range (its ticket
    carries OFFLINESESSIONID/OFFLINESEED, ticket01.xsd; «ПРРО надсилає на Сервер документ «Відкриття
    зміни», і одержує у відповідь фіскальний номер документа, ідентифікатор офлайн сесії і «секретне
    число»», Сценарії роботи 1.2)."""
    if not reg["offline_allowed"] or reg["offline_session_id"] is not None:
        return
    session_id, seed = registry._fresh_session(None)
    registry.store.update(
        "registrars",
        "fiscal_number",
        reg["fiscal_number"],
        {"offline_session_id": session_id, "offline_seed": seed, "offline_next_local_num": 1},
    )


def check_range_issued(store: Store, reg: Row) -> None:
    """An offline document needs the range the first online open-shift hands out."""
    fn = reg["fiscal_number"]
    if reg["offline_allowed"] and reg["offline_session_id"] is None and not has_had_a_shift(store, fn):
        raise FsError(
            VALIDATION,
            f"Ідентифікатор офлайн сесії ПРРО {fn} не видано: він надається у відповідь на документ "
            "«Відкриття зміни», тому першу зміну ПРРО слід відкрити в режимі онлайн",
        )


# --- TransactionsRegistrarState ----------------------------------------------------------------------


def may_see_offline_fields(store: Store, reg: Row, skid: str | None) -> bool:
    """The opener of the open shift, or a senior cashier. With no shift open nobody has «opened the
    shift», so only a senior cashier sees them (the strict reading; a registrar's
    ``offline_fields_to_last_opener`` takes the last shift's opener too)."""
    if skid is None:
        return False
    skid = skid.lower()
    if skid in chief_cashiers(reg):
        return True
    shift = store.open_shift(reg["fiscal_number"])
    if shift is None and reg.get("offline_fields_to_last_opener"):
        shift = store.last_shift(reg["fiscal_number"])
    return shift is not None and (shift["open_skid"] or "").lower() == skid


def chief_cashiers(reg: Row) -> list[str]:
    raw = reg.get("chief_cashiers")
    return [str(s).lower() for s in json.loads(raw)] if raw else []


def _session_param(payload: dict[str, Any]) -> tuple[int, str] | None:
    session_id, seed = payload.get("OfflineSessionId"), payload.get("OfflineSeed")
    if session_id is None and seed is None:
        return None
    if session_id is None or seed is None:
        raise FsError(QUERY, "Параметри OfflineSessionId і OfflineSeed передаються лише разом")
    if not re.fullmatch(r"\d{1,19}", str(session_id).strip()) or not re.fullmatch(
        r"\d{1,30}", str(seed).strip()
    ):
        raise FsError(QUERY, "Параметри OfflineSessionId і OfflineSeed мають бути числами")
    return int(str(session_id).strip()), str(int(str(seed).strip()))


def honour_session_param(registry: Registry, reg: Row, payload: dict[str, Any]) -> Row:
    """The session the box is about to deliver: its own (nothing to do), or one whose close the server
    registered while the box never learned it (the reply to the package with the 103 was lost); then the
    close is rolled back («Ознака здійснення відміни закриття офлайн сесії», OfflineSessionRolledBack) so
    the box can send that 103 again and get the next session in its reply. Returns the registrar row."""
    asked = _session_param(payload)
    if asked is None:
        return reg
    session_id, seed = asked
    fn = reg["fiscal_number"]
    store = registry.store
    row = store.one("SELECT * FROM offline_sessions WHERE registrar = ? AND session_id = ?", fn, session_id)
    current = reg["offline_session_id"]
    if session_id == current and str(reg["offline_seed"]) == seed:
        return reg
    if row is None or str(row["seed"]) != seed:
        raise FsError(
            QUERY,
            f"Офлайн сесію {session_id} з таким «секретним числом» для ПРРО {fn} не знайдено",
        )
    last = store.last_document(fn)
    if (
        row["closed_at"] is None
        or last is None
        or last["doc_type"] != OFFLINE_END
        or last["offline_session_id"] != session_id
    ):
        raise FsError(
            QUERY,
            f"Відміна закриття офлайн сесії {session_id} ПРРО {fn} неможлива: після її завершення "
            "зареєстровано інші документи",
        )
    _roll_back(registry, reg, row, last, payload.get("UID"))
    fresh = store.registrar(fn)
    assert fresh is not None
    return fresh


def _roll_back(registry: Registry, reg: Row, session: Row, end_doc: Row, uid: Any) -> None:
    """Undo the 103: the session is open again at the 103's numbers, the next session was never issued."""
    store = registry.store
    fn = reg["fiscal_number"]
    store.execute("DELETE FROM documents WHERE seq = ?", end_doc["seq"])
    store.execute(
        "DELETE FROM offline_sessions WHERE registrar = ? AND session_id = ? AND begin_time IS NULL",
        fn,
        reg["offline_session_id"],
    )
    store.execute(
        "UPDATE offline_sessions SET closed_at = NULL WHERE registrar = ? AND session_id = ?",
        fn,
        session["session_id"],
    )
    store.update(
        "registrars",
        "fiscal_number",
        fn,
        {
            "offline_session_id": session["session_id"],
            "offline_seed": session["seed"],
            "offline_next_local_num": end_doc["offline_local_num"],
            "next_local_num": end_doc["local_number"],
        },
    )
    store.insert(
        "offline_rollbacks",
        {
            "registrar": fn,
            "session_id": session["session_id"],
            "cmd_uid": None if uid is None else str(uid),
            "at": kyiv(registry.now()).isoformat(timespec="seconds"),
        },
    )


def rollback_fields(store: Store, reg: Row) -> dict[str, Any]:
    row = store.one(
        "SELECT cmd_uid FROM offline_rollbacks WHERE registrar = ? AND session_id = ? ORDER BY rowid DESC",
        reg["fiscal_number"],
        reg["offline_session_id"],
    )
    return {
        "OfflineSessionRolledBack": row is not None,
        "OfflineSessionRollbackCmdUID": row["cmd_uid"] if row else None,
    }


def hide_offline_fields(state: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if k in OFFLINE_FIELDS else v) for k, v in state.items()}


# --- the month and the limits --------------------------------------------------------------------------


def month_bounds(when: datetime) -> tuple[datetime, datetime]:
    start = kyiv(when).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    after = (start + timedelta(days=32)).replace(day=1)
    return start, after


def _overlap(begin: datetime, end: datetime, lo: datetime, hi: datetime) -> timedelta:
    return max(timedelta(0), min(end, hi) - max(begin, lo))


def month_offline(store: Store, fn: str, when: datetime, *, skip_session: int | None = None) -> timedelta:
    """Offline time in the calendar month of ``when``: each session's 102 → last money document
    (Тривалість офлайн сесії), only its part inside the month (the month's count starts at its first
    moment: «нового часового періоду з якого починається відлік»)."""
    lo, hi = month_bounds(when)
    total = timedelta(0)
    for row in store.all("SELECT * FROM offline_sessions WHERE registrar = ? AND begin_time IS NOT NULL", fn):
        if row["session_id"] == skip_session:
            continue
        begin = datetime.fromisoformat(row["begin_time"])
        end = datetime.fromisoformat(row["last_fin_time"]) if row["last_fin_time"] else begin
        total += _overlap(begin, end, lo, hi)
    return total


def month_part(begin: datetime, when: datetime) -> timedelta:
    lo, hi = month_bounds(when)
    return _overlap(begin, when, lo, hi)


@dataclass(frozen=True)
class Block:
    kind: str  # "session": until the session's 103; "month": until ``until``
    session_id: int | None
    until: datetime | None


class LimitExceeded(FsError):
    """A document over a limit: refused, and the register is blocked (recorded after the rollback)."""

    def __init__(self, text: str, fn: str, block: Block) -> None:
        super().__init__(VALIDATION, text)
        self.registrar = fn
        self.block = block


def remember_block(store: Store, exc: BaseException) -> None:
    """After the refused request's transaction was rolled back: keep the block it caused."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, LimitExceeded):
        cause = cause.__cause__
    if cause is None:
        return
    block = cause.block
    with store.transaction():
        store.insert(
            "offline_blocks",
            {
                "registrar": cause.registrar,
                "kind": block.kind,
                "session_id": block.session_id,
                "until": block.until.isoformat() if block.until else None,
                "reason": cause.text,
            },
        )


def check_not_blocked(store: Store, reg: Row, doc_type: int | None, when: datetime) -> None:
    """Refuse every document while a block stands: the month block until the 1st of the next month, the
    session block until that session's 103 (the next session is the new period of the 36 h count). The
    session's frame, 102 and 103, is let through: it moves no money (not «фінансово значущий»), and the
    box could never end its session otherwise."""
    fn = reg["fiscal_number"]
    for row in store.all("SELECT rowid AS id, * FROM offline_blocks WHERE registrar = ? AND lifted = 0", fn):
        if row["kind"] == "session":
            if row["session_id"] != reg["offline_session_id"]:
                store.update("offline_blocks", "rowid", row["id"], {"lifted": 1})
                continue
            until_text = f"завершення офлайн сесії {row['session_id']} (документ 103)"
        else:
            until = datetime.fromisoformat(row["until"])
            if when >= until:
                store.update("offline_blocks", "rowid", row["id"], {"lifted": 1})
                continue
            until_text = kyiv(until).strftime("%d.%m.%Y %H:%M")
        if doc_type in (OFFLINE_BEGIN, OFFLINE_END):
            continue
        raise FsError(
            VALIDATION,
            f"Роботу ПРРО {fn} заблоковано до {until_text}: {row['reason']}",
        )


def check_limits(store: Store, reg: Row, session: Row, when: datetime) -> None:
    """36 h per session (102 → this money document) and 168 h in the calendar month of ``when``."""
    fn = reg["fiscal_number"]
    begin = datetime.fromisoformat(session["begin_time"])
    hours = (when - begin).total_seconds() / 3600
    if hours > reg["max_session_hours"]:
        raise LimitExceeded(
            f"Перевищено максимальну тривалість офлайн сесії ({reg['max_session_hours']:g} год): "
            f"документ створено через {hours:.1f} год після її початку",
            fn,
            Block("session", session["session_id"], None),
        )
    others = month_offline(store, fn, when, skip_session=session["session_id"])
    month = (others + month_part(begin, when)).total_seconds() / 3600
    if month > reg["max_month_hours"]:
        _, next_month = month_bounds(when)
        raise LimitExceeded(
            f"Перевищено сумарну тривалість офлайн сесій за календарний місяць ({reg['max_month_hours']:g} год)",
            fn,
            Block("month", session["session_id"], next_month),
        )
