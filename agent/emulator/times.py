"""The times of offline documents: none before its session's 102, each not before the one before it.

«Розрахунок тривалості офлайн сесії здійснюється як різниця між часом реєстрації: • Останнього фінансово
значущого документа … • Документа типу «Початок офлайн сесії»» (fsko_evpz_doc.txt, «Тривалість офлайн
сесії»): the duration the limits count is read off the documents' own times, so a document dated before its
102, or earlier than the one registered before it, would shorten the session the server counts -- a way
round the 36 h and 168 h limits. The numbers are used «послідовно» (in order, «Структура фіскального номера
офлайн документа»), and a clock that runs forward gives the times in the same order; so the emulator refuses
a document whose time goes back, and the box never makes one (agent/secr: no document is dated earlier than
the one before, tests/test_clock.py).

Online documents' times against the server's clock, and offline ones "not in the future", are not checked
yet (issue 15): the text gives no tolerance, and the tests' boxes run on clocks of their own.
"""

from __future__ import annotations

from datetime import datetime

from agent.emulator.errors import VALIDATION, FsError
from agent.emulator.store import Row, Store
from agent.emulator.xmldoc import OFFLINE_BEGIN


def check_offline_order(store: Store, fn: str, session: Row, doc_type: int | None, when: datetime) -> None:
    """Refuse an offline document dated before its session's 102 or before the previous document of it."""
    begin = session["begin_time"]
    if doc_type != OFFLINE_BEGIN and begin and when < datetime.fromisoformat(begin):
        raise FsError(
            VALIDATION,
            f"Час документа {when:%d.%m.%Y %H:%M:%S} раніший за початок офлайн сесії"
            f" {datetime.fromisoformat(begin):%d.%m.%Y %H:%M:%S}",
        )
    previous = store.one(
        "SELECT doc_time FROM documents WHERE registrar = ? AND offline = 1 AND offline_session_id = ?"
        " AND doc_time IS NOT NULL ORDER BY offline_local_num DESC LIMIT 1",
        fn,
        session["session_id"],
    )
    if previous is not None and when < datetime.fromisoformat(previous["doc_time"]):
        raise FsError(
            VALIDATION,
            f"Час документа {when:%d.%m.%Y %H:%M:%S} раніший за час попереднього документа офлайн сесії"
            f" {datetime.fromisoformat(previous['doc_time']):%d.%m.%Y %H:%M:%S}",
        )
