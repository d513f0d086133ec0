"""Issue 15, one reading of each ambiguous offline rule, the strict one; ``Registry(lax_readings=True)``
(``--lax-readings``) accepts the other readings too. Why each: docs/compliance.md.

Written from the official text (fsko_evpz_doc.txt, «Розрахунок контрольного числа», «Розрахунок гешу
офлайн документа»), independently of the agent's numbering.
"""

from __future__ import annotations

import json
from typing import Any

from agent.emulator import xmldoc
from agent.emulator.errors import VALIDATION, FsError
from agent.emulator.offline import control_number
from agent.emulator.xmldoc import OFFLINE_BEGIN


def control_sum(doc: xmldoc.ParsedDoc) -> str | None:
    """The sum in the control string: «Загальна сума оплати по документу класу «Чек» (формат «0.00»)
    (якщо елемент присутній)» — one element, present or not; check01.xsd names CHECKTOTAL/SUM «Загальна
    сума». So CHECKTOTAL/SUM when the CHECK has it, else nothing (never the CHECKPAY rows' sum)."""
    if doc.doc_class != "CHECK" or doc.total_sum is None:
        return None
    return f"{doc.total_sum:.2f}"


def check_control_number(doc: xmldoc.ParsedDoc, seed: str, control: int, number: Any) -> None:
    head = doc.head
    want = control_number(
        seed,
        head["ORDERDATE"],
        head["ORDERTIME"],
        head["ORDERNUM"],
        head["CASHREGISTERNUM"],
        head["CASHDESKNUM"],
        control_sum(doc),
        head.get("PREVDOCHASH") or None,
    )
    if control != want:
        raise FsError(
            VALIDATION,
            f"Невірне контрольне число офлайн фіскального номера {number}: очікується {want} "
            "(сума — CHECKTOTAL/SUM, якщо елемент присутній)",
        )


def check_chain(doc: xmldoc.ParsedDoc, session: Any) -> None:
    """PREVDOCHASH, strictly: «Вихідними даними для розрахунку геша є блок документа, підготовлений для
    надсилання на Фіскальний Сервер (тобто XML, засвідчений КЕП …)» — the signed bytes, not the XML (the
    XML only «у разі неможливості здійснення підписання», and a document that arrives signed was signed);
    «Послідовність гешів розраховується, починаючи з першого розрахункового документа … Документи типу
    «Початок офлайн сесії» і «Завершення офлайн сесії» не приймають участь» — only 102 and 103 are left
    out, so once the chain has begun a 100 or 101 carries the hash and is the next one's input.

    The session row keeps ``any_hashes`` = [sha256(signed), sha256(xml)] of its last document other than
    102/103 and ``settled`` once its first settlement document is in (rules._after_offline)."""
    prev = doc.head.get("PREVDOCHASH", "").strip().lower() or None
    started = bool(session["settled"])
    last_signed = (json.loads(session["any_hashes"] or "[]") or [None])[0]
    if doc.doc_type == OFFLINE_BEGIN or not started:
        if prev is not None:
            raise FsError(
                VALIDATION,
                "PREVDOCHASH не створюється для документа початку офлайн сесії і для документів до першого "
                "розрахункового документа (чека на оплату або Z-звіту)",
            )
        return
    if prev is None:
        raise FsError(VALIDATION, "Відсутній обов'язковий PREVDOCHASH (геш попереднього документа)")
    if prev != last_signed:
        raise FsError(
            VALIDATION,
            f"PREVDOCHASH {prev} не відповідає геш-сумі SHA-256 підписаного блоку попереднього документа "
            f"офлайн сесії ({last_signed})",
        )
