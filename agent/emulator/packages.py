"""A package the server accepts in part, and the size limit as the text gives it.

The official text (fsko_evpz_doc.txt, «Пакет офлайн документів») says packages go «по черзі, тобто кожний
наступний пакет надсилається після одержання від Сервера позитивної відповіді»; the state query is to be
sent with the session's id and seed «для якої будуть надіслані пакети документів», and it reports
«OfflineNextLocalNum: Наступний локальний номер документа в офлайн сесії». A refusal names the document by
its index («Помилка обробки документа № N», reference §4.8). Our reading, the strict one for a client:
the server takes the documents of a package one after another, and those before the one it refuses (or
before the connection broke) may stay registered; the client learns which from ``OfflineNextLocalNum``
and resumes there, never sending a registered document again and never skipping one (reference §4.6
step 3). The emulator's default stays all-or-nothing; ``POST /emulator/partial-package`` makes the next
package go in part, so the client is tested against both.

Kept out of rules.py so that the other rule work there merges cleanly; Registry.register_package calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.emulator.errors import PACKAGE, FsError

if TYPE_CHECKING:
    from agent.emulator.rules import Registry
    from agent.emulator.store import Store

#: «Розмір пакету даних, що надсилається, не може перевищувати 200 Kb. Якщо пакет даних передано з
#: використанням компресії, перевіряється розмір оригінальних (не компресованих) даних.» («Обмеження»).
#: Read strictly: 200 Kb is 200 kilobytes (Ukrainian «Кб»/«Kb» is the kilobyte; a kilobit limit of 25 000
#: bytes could not carry the text's own 100 documents per package), and of the two kilobytes the smaller,
#: 200 000 bytes: a body within it is within 204 800 too. Any request, /doc, /cmd and /pck alike.
MAX_REQUEST_BYTES = 200_000

_KEY = "partial_package"
_THEN = ("refuse", "drop-reply")


@dataclass(frozen=True)
class Partial:
    """The next package: its first ``accept`` documents are registered, then it is refused with code 10
    naming the next one (``then`` = "refuse") or the connection drops with no reply ("drop-reply")."""

    accept: int
    then: str


class ReplyLost(Exception):
    """Part of the package is registered and the reply is never sent (the connection is closed)."""


def set_partial(store: Store, data: Any) -> dict[str, Any]:
    """The control surface's ``{"accept": N, "then": "refuse" | "drop-reply"}``; ``{"accept": null}`` clears."""
    from agent.emulator.rules import ControlError

    if not isinstance(data, dict) or not set(data) <= {"accept", "then"} or "accept" not in data:
        raise ControlError("body", 'expected {"accept": N, "then": "refuse" | "drop-reply"}')
    accept = data["accept"]
    then = data.get("then", "refuse")
    if accept is not None and (isinstance(accept, bool) or not isinstance(accept, int) or accept < 0):
        raise ControlError("accept", "null or a non-negative integer")
    if then not in _THEN:
        raise ControlError("then", "refuse or drop-reply")
    value = None if accept is None else {"accept": accept, "then": then}
    with store.transaction():
        store.set_meta(_KEY, value)
    return {"accept": accept, "then": then}


def take_partial(store: Store) -> Partial | None:
    """The setting for this package, used up by it."""
    value = store.get_meta(_KEY)
    if not value:
        return None
    with store.transaction():
        store.set_meta(_KEY, None)
    return Partial(int(value["accept"]), str(value["then"]))


def register_in_part(registry: Registry, docs: Sequence[bytes], part: Partial) -> tuple[int, str] | None:
    """Each document in its own transaction, in order: what passed stays registered when a later one is
    refused, and the refusal names the failing document (0-based, as the server's text does)."""
    next_session: tuple[int, str] | None = None
    for index, signed in enumerate(docs):
        if index >= part.accept:
            if part.then == "drop-reply":
                raise ReplyLost(f"{index} of {len(docs)} documents registered, the reply is lost")
            raise FsError(
                PACKAGE,
                f"Помилка обробки документа № {index} в пакеті: обробку пакета перервано (емулятор: прийнято"
                f" {index} з {len(docs)} документів; продовжіть з OfflineNextLocalNum)",
            )
        try:
            with registry.store.transaction():
                accepted = registry._register(signed, registry.verify(signed), offline=True)
        except FsError as exc:
            raise FsError(
                PACKAGE,
                f"Помилка обробки документа № {index} в пакеті: Код помилки {exc.code} {exc.name}: {exc.text}",
            ) from exc
        if accepted.next_session is not None:
            next_session = accepted.next_session
    return next_session


__all__ = ["MAX_REQUEST_BYTES", "Partial", "ReplyLost", "register_in_part", "set_partial", "take_partial"]
