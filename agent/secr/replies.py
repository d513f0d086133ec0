"""The fiscal server's JSON replies, parsed once into types (reference §2).

Replies mix strings and numbers for the same field (``OfflineSessionId`` arrives as either): numbers that
name something (ids, seeds, fiscal numbers) become text, counters become ints. A reply of the wrong shape
(a list where an object belongs, text where a number belongs) is an ``InvalidServerReply`` here, at the
boundary, and never a TypeError or KeyError somewhere in the register.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.secr.errors import InvalidServerReply

# A counter has at most 18 digits (it must fit SQLite's INTEGER); a longer one is not a counter but garbage,
# and int() of thousands of digits would raise a ValueError of its own.
_INTEGER = re.compile(r"\s*[-+]?\d{1,18}\s*")
_LARGEST = 10**18
# Offline session ids and seeds are numbers (reference §4.3): they go into fiscal numbers and control
# numbers, so anything else would fail deep inside a sale.
_IDENTIFIER = re.compile(r"\d{1,40}")
# Minutes offline this month: a month has at most 44,640; far more is garbage (and overflows a timedelta).
_MONTH_MINUTES = 10**6


class _Reader:
    """Typed reads of one JSON object, naming the command and the field in every complaint."""

    def __init__(self, command: str, data: object, where: str = "") -> None:
        if not isinstance(data, Mapping):
            raise InvalidServerReply(f"{command}: {where or 'the reply'} is not a JSON object")
        self.command = command
        self.data: Mapping[str, Any] = data
        self.where = where

    def _bad(self, key: str, expected: str) -> InvalidServerReply:
        name = f"{self.where}.{key}" if self.where else key
        shown = repr(self.data[key])
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return InvalidServerReply(f"{self.command}: {name} is not {expected}: {shown}")

    def number(self, key: str, *, maximum: int = _LARGEST) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise self._bad(key, "a number")
        found: int | None = None
        if isinstance(value, int):
            found = value
        elif isinstance(value, float):
            found = int(value) if value.is_integer() and abs(value) <= maximum else None
        elif isinstance(value, str) and _INTEGER.fullmatch(value):
            found = int(value)
        if found is None or abs(found) > maximum:
            raise self._bad(key, "a number" if found is None else f"a number up to {maximum}")
        return found

    def identifier(self, key: str) -> str | None:
        """An offline session id or seed: digits, sent as text or as a number."""
        found = self.text(key)
        if found is not None and not _IDENTIFIER.fullmatch(found):
            if not found.strip():
                return None
            raise self._bad(key, "a number")
        return found

    def text(self, key: str) -> str | None:
        """Text, or a whole number taken as its digits (ids, seeds, fiscal numbers, tax numbers)."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise self._bad(key, "text or a number")

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self._bad(key, "true or false")

    def label(self, key: str) -> str | None:
        """Text the box only shows (a name): never a reason to refuse the answer."""
        value = self.data.get(key)
        return value if isinstance(value, str) else None

    def hint(self, key: str) -> int | str | bool | None:
        """A field the box shows but never decides on: taken as it is when plain, else left out, so an
        odd value there cannot turn a good answer into a refusal."""
        value = self.data.get(key)
        return value if isinstance(value, int | str | bool) else None

    def child(self, key: str) -> _Reader | None:
        value = self.data.get(key)
        return None if value is None else _Reader(self.command, value, key)

    def children(self, key: str) -> list[_Reader]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(key, "a list")
        return [_Reader(self.command, item, f"{key}[{index}]") for index, item in enumerate(value)]


@dataclass(frozen=True)
class RegistrarItem:
    """One register of a tax object (TransactionsRegistrars[])."""

    num_fiscal: str | None
    num_local: int | None
    name: str | None
    closed: bool


@dataclass(frozen=True)
class TaxObject:
    """The point of sale and its taxpayer: what the documents' heads carry (TaxObjectItem)."""

    tin: str | None
    ipn: str | None
    org_name: str | None
    name: str | None
    address: str | None
    registrars: tuple[RegistrarItem, ...] = ()

    def registrar(self, fiscal_number: str) -> RegistrarItem | None:
        return next((r for r in self.registrars if r.num_fiscal == fiscal_number), None)


@dataclass(frozen=True)
class RegistrarState:
    """TransactionsRegistrarState (reference §2.5): the server's view of one register."""

    next_local_num: int | None = None
    shift_state: int | None = None  # 1: a shift is open
    offline_supported: bool | None = None
    offline_session_id: str | None = None
    offline_seed: str | None = None
    offline_next_local_num: int | None = None
    offline_sessions_monthly_duration: int | None = None  # minutes this month
    # Not in the tax service's protocol: a finite reserve of numbers per session. Absent means the
    # server does not hand one out; present and null means unlimited (either way, the box keeps going).
    offline_session_reserve: int | None = None
    reports_offline_session_reserve: bool = False
    # «OfflineSessionRolledBack: Ознака здійснення відміни закриття офлайн сесії» (what_news 05.01.2022): the
    # server undid the close (103) of the session the box asked with, whose reply was lost
    offline_session_rolled_back: bool = False
    offline_session_rollback_uid: str | None = None
    closed: bool = False
    tax_object: TaxObject | None = None
    empty: bool = True  # the server answered an empty object (or nothing)

    @property
    def shift_open(self) -> bool:
        return self.shift_state == 1


#: what an empty answer means: nothing known
NO_STATE = RegistrarState()


def known(state: RegistrarState | None) -> RegistrarState | None:
    """The state, unless the server answered nothing (204) or an empty object."""
    return None if state is None or state.empty else state


@dataclass(frozen=True)
class DocumentInfo:
    """DocumentInfoByLocalNum: what the server holds under one local number."""

    num_fiscal: str | None  # None: nothing registered under it
    # Informative only (the register decides on num_fiscal alone): as the server gave them.
    doc_class: int | str | bool | None = None  # 0 or "Check", 1 or "ZRep"
    check_doc_type: int | str | bool | None = None
    check_doc_subtype: int | str | bool | None = None
    revoked: int | str | bool | None = None
    storned: int | str | bool | None = None


@dataclass(frozen=True)
class ServerState:
    """ServerState: the server answers (and says its time)."""

    timestamp: str | None


def _tax_object(reader: _Reader) -> TaxObject:
    return TaxObject(
        tin=reader.text("Tin"),
        ipn=reader.text("Ipn"),
        org_name=reader.text("OrgName"),
        name=reader.text("Name"),
        address=reader.text("Address"),
        registrars=tuple(
            RegistrarItem(
                num_fiscal=item.text("NumFiscal"),
                num_local=item.number("NumLocal"),
                name=item.label("Name"),
                closed=bool(item.flag("Closed")),
            )
            for item in reader.children("TransactionsRegistrars")
        ),
    )


def registrar_state(data: object) -> RegistrarState:
    reader = _Reader("TransactionsRegistrarState", data)
    tax_object = reader.child("TaxObject")
    return RegistrarState(
        next_local_num=reader.number("NextLocalNum"),
        shift_state=reader.number("ShiftState"),
        offline_supported=reader.flag("OfflineSupported"),
        offline_session_id=reader.identifier("OfflineSessionId"),
        offline_seed=reader.identifier("OfflineSeed"),
        offline_next_local_num=reader.number("OfflineNextLocalNum"),
        offline_sessions_monthly_duration=reader.number(
            "OfflineSessionsMonthlyDuration", maximum=_MONTH_MINUTES
        ),
        offline_session_reserve=reader.number("OfflineSessionReserve"),
        reports_offline_session_reserve="OfflineSessionReserve" in reader.data,
        offline_session_rolled_back=bool(reader.flag("OfflineSessionRolledBack")),
        offline_session_rollback_uid=reader.text("OfflineSessionRollbackCmdUID"),
        closed=bool(reader.flag("Closed")),
        tax_object=_tax_object(tax_object) if tax_object is not None else None,
        empty=not reader.data,
    )


def document_info(data: object) -> DocumentInfo:
    reader = _Reader("DocumentInfoByLocalNum", data)
    return DocumentInfo(
        num_fiscal=reader.text("NumFiscal"),
        doc_class=reader.hint("DocClass"),
        check_doc_type=reader.hint("CheckDocType"),
        check_doc_subtype=reader.hint("CheckDocSubType"),
        revoked=reader.hint("Revoked"),
        storned=reader.hint("Storned"),
    )


def server_state(data: object) -> ServerState:
    # A probe: any object means the server answers; its time is only shown.
    return ServerState(timestamp=_Reader("ServerState", data).label("Timestamp"))


def next_range(data: object) -> tuple[str | None, str | None]:
    """The package reply in JSON: the next session's id and seed."""
    reader = _Reader("the package reply", data)
    return reader.identifier("OfflineSessionId"), reader.identifier("OfflineSeed")


__all__ = [
    "NO_STATE",
    "DocumentInfo",
    "RegistrarItem",
    "RegistrarState",
    "ServerState",
    "TaxObject",
    "document_info",
    "known",
    "next_range",
    "registrar_state",
    "server_state",
]
