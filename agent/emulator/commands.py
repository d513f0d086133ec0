"""Commands the box may need, answered as the official text (fsko_evpz_doc.txt, «Команди») gives them:
``CheckExt``/``ZRepExt`` («Запит чека розширений», «Запит Z-звіту розширений»), ``Operators`` («Запит
переліку операторів (касирів)»), ``Documents`` with the text's names for the class and the types, and the
rule «Запит повинен містити JSON, засвідчений КЕП користувача» for the commands that say it.

Kept out of rules.py (its Registry keeps the call sites) so that the other rule work there merges cleanly.
Written from the text, not from the agent's code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from agent.emulator.errors import CRYPTO, QUERY, FsError
from agent.emulator.offline import parse_offline_number
from agent.emulator.store import Row

if TYPE_CHECKING:
    from agent.emulator.rules import Registry

#: the commands the text says must be signed («засвідчений КЕП користувача»); only ServerState, Check and
#: CheckExt are described as plain JSON («Запит повинен містити JSON.»)
# Every command the text marks «засвідчений КЕП користувача»; ServerState, Check and CheckExt are not.
SIGNED_ONLY = frozenset(
    {
        "Objects",
        "Operators",
        "TransactionsRegistrarState",
        "ZRep",
        "ZRepExt",
        "Shifts",
        "Documents",
        "LastShiftTotals",
        "DocumentInfoByLocalNum",
    }
)

# DocumentRequestType (reference §2.6, from the text's enum)
AVAILABILITY, ORIGINAL_XML, SERVER_SIGNED, VISUALIZATION, SENDER_SIGNED, BOTH_SIGNED = range(6)
# DocumentRequestResultCode
OK, ONLINE_ABSENT, OFFLINE_RESERVED, OFFLINE_NOT_RESERVED, REGISTRAR_NOT_REGISTERED = range(5)

RESULT_TEXTS = {
    OK: "Документ знайдено",
    ONLINE_ABSENT: "Документ з фіскальним номером з онлайн діапазону не зареєстрований для ПРРО",
    OFFLINE_RESERVED: "Фіскальний номер зарезервований для використання в режимі офлайн, документ не доставлено",
    OFFLINE_NOT_RESERVED: "Фіскальний номер не зарезервований для використання в режимі офлайн",
    REGISTRAR_NOT_REGISTERED: "ПРРО не зареєстрований",
}

# The text's names for Documents' DocClass, CheckDocType, CheckDocSubType («“Check”, “ZRep”», «“SaleGoods”,
# …», «“CheckGoods”, …»); the numbers are the enums' values (reference §2.13).
DOC_CLASS_NAMES = {"CHECK": "Check", "ZREP": "ZRep"}
DOC_TYPE_NAMES = {
    0: "SaleGoods",
    1: "TransferFunds",
    2: "CurrencyExchange",
    3: "CashWithdrawal",
    100: "OpenShift",
    101: "CloseShift",
    102: "OfflineBegin",
    103: "OfflineEnd",
}
DOC_SUBTYPE_NAMES = {
    0: "CheckGoods",
    1: "CheckReturn",
    2: "ServiceDeposit",
    3: "AdditionalDeposit",
    4: "ServiceIssue",
    5: "CheckStorno",
}


def require_signature(name: str, signer_skid: str | None) -> None:
    """«Запит повинен містити JSON, засвідчений КЕП користувача»: an unsigned one is refused as the text's
    «Повідомлення повинно бути засвідчене кваліфікованим електронним підписом» (Зауваження, item 7)."""
    if name in SIGNED_ONLY and signer_skid is None:
        raise FsError(
            CRYPTO,
            f"Команда {name}: повідомлення повинно бути засвідчене кваліфікованим електронним підписом",
        )


def _request_type(payload: dict[str, Any]) -> int:
    value = payload.get("Type", AVAILABILITY)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or str(value).strip() not in {str(t) for t in range(6)}
    ):
        raise FsError(QUERY, f"Параметр Type: неправильний тип даних запиту документа «{value}»")
    return int(str(value).strip())


def _offline_result(registry: Registry, reg: Row, number: str) -> int:
    """A number not on the server: reserved (under the registrar's current session, not yet delivered) or
    not reserved at all (reference §4.3: «CheckExt reports OfflineNumberReserved for such numbers»)."""
    parsed = parse_offline_number(number)
    if parsed is None:
        return ONLINE_ABSENT
    session = reg["offline_session_id"]
    if (
        session is not None
        and parsed.session_id == int(session)
        and parsed.local >= int(reg["offline_next_local_num"])
    ):
        return OFFLINE_RESERVED
    return OFFLINE_NOT_RESERVED


def _data(registry: Registry, doc: Row, kind: int) -> bytes | None:
    if kind == AVAILABILITY:
        return None
    if kind == ORIGINAL_XML:
        return bytes(doc["xml"])
    if kind == SERVER_SIGNED:
        return registry.signer.sign(bytes(doc["xml"]))
    if kind == VISUALIZATION:
        return visualization(doc).encode("utf-8")
    if kind == SENDER_SIGNED:
        return bytes(doc["signed"])
    return registry.signer.sign(bytes(doc["signed"]))  # the sender's CMS, signed again by the server


def visualization(doc: Row) -> str:
    """A UTF-8 text rendering (DocumentRequestType 3 «Visualization»): the head fields, one a line."""
    from lxml import etree

    root = etree.fromstring(bytes(doc["xml"]))
    head = root.find("CHECKHEAD") if root.tag == "CHECK" else root.find("ZREPHEAD")
    lines = [f"{DOC_CLASS_NAMES.get(doc['doc_class'], doc['doc_class'])} {doc['fiscal_number']}"]
    if head is not None:
        lines += [f"{child.tag}: {child.text or ''}" for child in head]
    return "\n".join(lines) + "\n"


def fetch_ext(registry: Registry, payload: dict[str, Any], skid: str | None) -> dict[str, Any]:
    """CheckExt / ZRepExt: «{UID, Data (Base64), ResultCode, ResultText[, CabinetUrl]}»; a document that is
    not there is a ResultCode, not an HTTP 204 (the text gives no 204 for these two)."""
    name = str(payload.get("Command"))
    kind = _request_type(payload)
    reg = registry._registrar_param(payload, "RegistrarNumFiscal", skid)
    num = payload.get("NumFiscal")
    if num is None or str(num).strip() == "":
        raise FsError(QUERY, "Параметр NumFiscal обов'язковий")
    number = str(num).strip()
    reply: dict[str, Any] = {"Data": None}
    if reg is None:
        code = REGISTRAR_NOT_REGISTERED
    else:
        doc = registry.store.one(
            "SELECT * FROM documents WHERE registrar = ? AND fiscal_number = ? AND doc_class = ?",
            reg["fiscal_number"],
            number,
            "ZREP" if name == "ZRepExt" else "CHECK",
        )
        if doc is None:
            code = _offline_result(registry, reg, number)
        else:
            code = OK
            data = _data(registry, doc, kind)
            reply["Data"] = base64.b64encode(data).decode("ascii") if data is not None else None
    reply.update(ResultCode=code, ResultText=RESULT_TEXTS[code])
    if name == "CheckExt":
        # «Елемент “CabinetUrl” заповнюється лише для документів, що присутні на Фіскальному Сервері.»
        present = code == OK and bool(payload.get("AcquireCabinetUrl"))
        reply["CabinetUrl"] = f"https://cabinet.tax.gov.ua/cashregs/check?fn={number}" if present else None
    return reply


def operators(registry: Registry, payload: dict[str, Any], skid: str | None) -> dict[str, Any]:
    """«перелік операторів, що зареєстровані для суб'єкта господарювання, реєстраційний номер якого ...
    міститься у сертифікаті КЕП»: the emulator takes the business of the registrars the key is an operator
    of; ``chief_cashiers`` (emulator meta) names the senior cashiers' keys."""
    chiefs = {str(k).lower() for k in registry.store.get_meta("chief_cashiers", [])}
    tin: str | None = None
    keys: list[str] = []
    for reg in registry.store.all("SELECT * FROM registrars ORDER BY fiscal_number"):
        listed = [str(k).lower() for k in json.loads(reg["operators"])] if reg["operators"] else []
        if skid is not None and skid.lower() in listed and tin in (None, reg["tin"]):
            tin = reg["tin"]
            keys += [k for k in listed if k not in keys]
    return {
        "Tin": tin,
        "Operators": [{"SubjectKeyId": k, "RegNum": None, "ChiefCashier": k in chiefs} for k in keys],
    }


Handler = Callable[[dict[str, Any], str | None], dict[str, Any]]


def handlers(registry: Registry) -> dict[str, Handler]:
    """The commands this module answers, for Registry.command's table."""
    return {
        "CheckExt": partial(fetch_ext, registry),
        "ZRepExt": partial(fetch_ext, registry),
        "Operators": partial(operators, registry),
    }


def documents_named(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents' class and types by the text's names («“DocClass”: “<Клас документа (“Check”,
    “ZRep”)>”»); an observed server sends the numbers, and the box accepts both."""
    named = []
    types: dict[Any, str] = dict(DOC_TYPE_NAMES)
    subtypes: dict[Any, str] = dict(DOC_SUBTYPE_NAMES)
    for doc in found:
        doc_class = "ZRep" if doc.get("DocClass") == 1 else "Check"
        named.append(
            {
                **doc,
                "DocClass": doc_class,
                "CheckDocType": types.get(doc.get("CheckDocType"), doc.get("CheckDocType"))
                if doc_class == "Check"
                else None,
                "CheckDocSubType": subtypes.get(doc.get("CheckDocSubType"), doc.get("CheckDocSubType"))
                if doc_class == "Check"
                else None,
            }
        )
    return named


__all__ = ["SIGNED_ONLY", "documents_named", "fetch_ext", "operators", "require_signature"]
