"""The tax service's rules, as the emulator enforces them: registration of documents, commands, state.

Everything here runs under the emulator's lock and inside one SQLite transaction per request, so a
refusal (an ``FsError``) leaves the state exactly as it was.
"""

# long module: the server's rule book is one class over one store, and every request runs in one
# transaction through it; its sections (documents, offline, commands, control surface) are split into
# modules when the emulator is made as strict as the official text (issue 15), not before.

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from agent.clock import KYIV, SystemClock, kyiv
from agent.emulator import arithmetic, commands, packages, readings, registration, sessions, times, xmldoc
from agent.emulator.errors import (
    ABSENT,
    CRYPTO,
    INVALID_TIN,
    LAST_MUST_BE_ZREP,
    LOCAL_NUMBER_INVALID,
    NOT_GRANTED,
    PACKAGE,
    QUERY,
    SHIFT_ALREADY_OPENED,
    SHIFT_NOT_OPENED,
    VALIDATION,
    ZREP_ALREADY,
    FsError,
)
from agent.emulator.offline import control_number, parse_offline_number, sha256_hex, split_package
from agent.emulator.store import Row, Store
from agent.emulator.totals import Totals, doc_facts, shift_totals, totals_json, zrep_difference
from agent.emulator.xmldoc import CLOSE_SHIFT, OFFLINE_BEGIN, OFFLINE_END, OPEN_SHIFT
from agent.secr.signing.base import Signer
from agent.secr.signing.cms import CmsError
from agent.secr.signing.verify import SignedContent, verify_signed

SHIFT_DOCS = (OPEN_SHIFT, CLOSE_SHIFT, OFFLINE_BEGIN, OFFLINE_END)
STORNO = 5
RETURN = 1

DEFAULTS: dict[str, Any] = {
    "local_number": 1,
    "tin": "34554362",
    "ipn": "345543626530",
    "org_name": 'ТОВ "Тестовий платник 3"',
    "point_name": 'Магазин "Тестовий"',
    "point_address": "м. Київ, вул. Хрещатик, 1",
    "offline_allowed": True,
    "offline_reserve": None,
    # the law's limits (reference §4.7); changeable so tests need not wait 36 hours
    "max_session_hours": 36,
    "max_month_hours": 168,
    "closed": False,
    "operators": None,
    # senior cashiers' subject key ids: they see TransactionsRegistrarState's Offline… fields (sessions.py)
    "chief_cashiers": None,
    # relaxes the strict reading: with no shift open, the last shift's opener sees the Offline… fields too
    "offline_fields_to_last_opener": False,
}


class ControlError(ValueError):
    """A bad request to the control surface; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Accepted:
    fiscal_number: str
    order_num: int
    uid: str
    registered_at: datetime
    offline_session_id: int | None = None
    offline_seed: str | None = None
    # the session handed out after a 103 (a package's reply carries it)
    next_session: tuple[int, str] | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    @staticmethod
    def json(data: Any, status: int = 200) -> Reply:
        return Reply(status, "application/json; charset=utf-8", json.dumps(data, ensure_ascii=False).encode())

    @staticmethod
    def empty() -> Reply:
        return Reply(204, "", b"")


def iso(when: datetime) -> str:
    return kyiv(when).isoformat(timespec="seconds")


def _new_session_id() -> int:
    return random.randint(100, 9_999_999)


def _new_seed() -> str:
    return str(random.randint(10**14, 10**15 - 1))


def _doc_time(doc: xmldoc.ParsedDoc) -> datetime:
    try:
        naive = datetime.strptime(doc.head["ORDERDATE"] + doc.head["ORDERTIME"], "%d%m%Y%H%M%S")
    except (KeyError, ValueError) as exc:
        raise FsError(VALIDATION, f"Неправильні дата або час документа: {exc}") from exc
    return naive.replace(tzinfo=KYIV)


def _is_settlement(doc_class: str, doc_type: int | None) -> bool:
    return doc_class == "ZREP" or (doc_type is not None and doc_type not in SHIFT_DOCS)


class Registry:
    def __init__(self, store: Store, signer: Signer, *, strict: bool, lax_readings: bool = False) -> None:
        self.store = store
        self.signer = signer
        self.strict = strict
        # issue 15: the strict reading of each ambiguous rule unless relaxed (agent/emulator/readings.py)
        self.lax_readings = lax_readings
        self._system = SystemClock()
        sessions.ensure_schema(store)

    # --- time ----------------------------------------------------------------------------------------

    def now(self) -> datetime:
        offset = float(self.store.get_meta("clock_offset_s", 0))
        return self._system.now() + timedelta(seconds=offset)

    # --- signatures ----------------------------------------------------------------------------------

    def verify(self, body: bytes) -> SignedContent:
        try:
            return verify_signed(body, qualified_only=self.strict)
        except CmsError as exc:
            if self.strict:
                raise FsError(
                    CRYPTO,
                    f"Сервер приймає лише кваліфікований електронний підпис ДСТУ 4145 (строгий режим): {exc}",
                ) from exc
            raise FsError(CRYPTO, f"Помилка перевірки підпису: {exc}") from exc

    def _check_operator(self, reg: Row, skid: str | None) -> None:
        operators = json.loads(reg["operators"]) if reg["operators"] else None
        if operators is not None and (skid is None or skid.lower() not in operators):
            raise FsError(
                NOT_GRANTED,
                f"Ключ {skid} не має доступу до ПРРО {reg['fiscal_number']} (не зареєстрований як касир)",
            )

    # --- documents -----------------------------------------------------------------------------------

    def register_online(self, signed: bytes) -> Accepted:
        verified = self.verify(signed)
        if self.strict and not verified.time_stamped:
            # As the real server: an online document needs a qualified signature-time-stamp (offline ones not).
            raise FsError(
                CRYPTO,
                "Онлайн документ має містити кваліфіковану позначку часу на підпис (signature-time-stamp)",
            )
        try:
            with self.store.transaction():
                return self._register(signed, verified, offline=False)
        except FsError as exc:
            sessions.remember_block(self.store, exc)
            raise

    def register_package(self, body: bytes) -> tuple[int, str] | None:
        """Register every document of a /pck body, all or nothing; the next session after a 103."""
        outer = self.verify(body)
        docs = split_package(outer.content)
        part = packages.take_partial(self.store)
        try:
            if part is not None:
                return packages.register_in_part(self, docs, part)
            return self._register_all(docs)
        except FsError as exc:
            # the limits block the register beyond this refusal (sessions.check_limits)
            sessions.remember_block(self.store, exc)
            raise

    def _register_all(self, docs: list[bytes]) -> tuple[int, str] | None:
        next_session: tuple[int, str] | None = None
        with self.store.transaction():
            for index, signed in enumerate(docs):
                try:
                    verified = self.verify(signed)
                    accepted = self._register(signed, verified, offline=True)
                except FsError as exc:
                    raise FsError(
                        PACKAGE,
                        f"Помилка обробки документа № {index} в пакеті: Код помилки {exc.code} "
                        f"{exc.name}: {exc.text}",
                    ) from exc
                if accepted.next_session is not None:
                    next_session = accepted.next_session
        return next_session

    def _register(self, signed: bytes, verified: SignedContent, *, offline: bool) -> Accepted:
        """One document through the server's checks in the order the tax service applies them, then
        its registration; any refusal raises before anything is written."""
        doc = xmldoc.parse(verified.content)
        fn = doc.registrar
        reg = self.store.registrar(fn)
        if reg is None:
            raise FsError(ABSENT, f"ПРРО з фіскальним номером {fn} не зареєстрований")
        shift = self.store.open_shift(fn)
        self._check_admission(doc, reg, shift, verified, offline=offline)
        self._check_shift_rules(doc, shift, verified)
        storno_target = self._check_content(doc, shift)
        session: Row | None = None
        offline_number = None
        if offline:
            session, offline_number = self._check_offline(doc, reg, signed)
        fiscal = self._fiscal_number_for(doc, fn, offline=offline)
        now = self.now()
        self._record(doc, shift, verified, signed, fiscal, now, session, offline_number)
        if storno_target is not None:
            self.store.update("documents", "seq", storno_target["seq"], {"storned": 1})
        next_session = None
        if offline:
            assert session is not None and offline_number is not None
            next_session = self._after_offline(doc, reg, session, offline_number.local, signed)
        opened = doc.doc_type == OPEN_SHIFT
        if opened and not offline:
            sessions.issue_first_range(self, reg)
        reg_after = self.store.registrar(fn)
        assert reg_after is not None
        return Accepted(
            fiscal_number=fiscal,
            order_num=doc.order_num,
            uid=doc.head.get("UID", ""),
            registered_at=now,
            offline_session_id=reg_after["offline_session_id"] if opened else None,
            offline_seed=reg_after["offline_seed"] if opened else None,
            next_session=next_session,
        )

    def _check_admission(
        self, doc: xmldoc.ParsedDoc, reg: Row, shift: Row | None, verified: SignedContent, *, offline: bool
    ) -> None:
        """Who may send this document, with which number, by which channel (online or in a package)."""
        fn = reg["fiscal_number"]
        if reg["closed"] and not (shift is not None and (doc.is_zrep or doc.doc_type == CLOSE_SHIFT)):
            # Closed = registration cancelled while a shift was open: only closing that shift is allowed.
            raise FsError(
                ABSENT,
                f"Реєстрацію ПРРО {fn} скасовано; дозволено лише закрити відкриту зміну",
                http_status=400,
            )
        self._check_registration_data(doc, reg)
        self._check_operator(reg, verified.subject_key_id)
        sessions.check_not_blocked(self.store, reg, doc.doc_type, _doc_time(doc) if offline else self.now())
        if doc.order_num != reg["next_local_num"]:
            raise FsError(
                LOCAL_NUMBER_INVALID,
                f"Невірний локальний номер документа {doc.order_num}, очікується {reg['next_local_num']} "
                f"(ПРРО {fn})",
            )
        if not offline and (doc.offline or "ORDERTAXNUM" in doc.head):
            raise FsError(
                VALIDATION,
                "Онлайн документ не може містити ознаку OFFLINE або фіскальний номер ORDERTAXNUM "
                "(офлайн документи подаються пакетом)",
            )
        if offline and not doc.offline:
            raise FsError(VALIDATION, "Документ пакета повинен мати ознаку OFFLINE=true")
        if not offline and reg["offline_session_id"] is not None:
            self._check_no_open_offline_session(reg)
        if doc.doc_type in (OFFLINE_BEGIN, OFFLINE_END) and doc.testing:
            raise FsError(
                VALIDATION, "Ознака TESTING не допускається в документах початку/завершення офлайн сесії"
            )
        if doc.doc_type in (OFFLINE_BEGIN, OFFLINE_END) and not offline:
            raise FsError(VALIDATION, "Документи початку/завершення офлайн сесії подаються лише пакетом")

    def _check_no_open_offline_session(self, reg: Row) -> None:
        fn = reg["fiscal_number"]
        pending = self.store.one(
            "SELECT 1 AS x FROM offline_sessions WHERE registrar = ? AND session_id = ? "
            "AND begin_time IS NOT NULL AND closed_at IS NULL",
            fn,
            reg["offline_session_id"],
        )
        if pending:
            # our reading of the 09.02.2021 change: online work resumes only after the 103 arrives
            raise FsError(
                VALIDATION,
                f"Офлайн сесію {reg['offline_session_id']} ПРРО {fn} не завершено: спочатку передайте "
                "пакет з документом завершення офлайн сесії (103)",
            )

    def _check_shift_rules(self, doc: xmldoc.ParsedDoc, shift: Row | None, verified: SignedContent) -> None:
        fn = doc.registrar
        if doc.doc_type == OPEN_SHIFT:
            if shift is not None:
                raise FsError(
                    SHIFT_ALREADY_OPENED,
                    f"Зміну для ПРРО {fn} вже відкрито; відкрив ключ {shift['open_skid']} "
                    f"({shift['open_name'] or 'невідомий'})",
                )
            return
        if doc.doc_type in (OFFLINE_BEGIN, OFFLINE_END):
            return
        if shift is None:
            raise FsError(SHIFT_NOT_OPENED, f"Зміну для ПРРО {fn} не відкрито")
        if shift["open_skid"] and verified.subject_key_id != shift["open_skid"]:
            raise FsError(
                NOT_GRANTED,
                f"Зміну ПРРО {fn} відкрито ключем {shift['open_skid']}; документ підписано ключем "
                f"{verified.subject_key_id}",
                http_status=401,
            )
        if bool(shift["testing"]) != doc.testing:
            raise FsError(
                VALIDATION,
                "У зміні не можна поєднувати тестові та фіскальні документи "
                f"(зміна {'тестова' if shift['testing'] else 'фіскальна'}, документ "
                f"{'тестовий' if doc.testing else 'фіскальний'})",
            )
        if doc.doc_type == CLOSE_SHIFT:
            last = self._last_in_shift(shift["id"])
            if last is None or last["doc_class"] != "ZREP":
                raise FsError(
                    LAST_MUST_BE_ZREP,
                    f"Останнім документом зміни ПРРО {fn} перед закриттям має бути Z-звіт",
                )
        if doc.is_zrep and shift["zrep_fiscal"]:
            raise FsError(
                ZREP_ALREADY, f"Z-звіт у зміні ПРРО {fn} вже зареєстровано (№ {shift['zrep_fiscal']})"
            )

    def _check_content(self, doc: xmldoc.ParsedDoc, shift: Row | None) -> Row | None:
        """Sums, the storno and return targets, the Z report's totals; the storno target if any."""
        xmldoc.check_sums(doc)
        arithmetic.check_document(doc.xml)
        storno_target: Row | None = None
        if doc.doc_type == 0 and doc.doc_subtype == STORNO:
            storno_target = self._check_storno(doc, doc.registrar)
        if doc.doc_type == 0 and doc.doc_subtype == RETURN:
            self._check_return(doc, doc.registrar)
        if doc.is_zrep:
            assert shift is not None
            diff = zrep_difference(doc, self._shift_totals(shift["id"]))
            if diff is not None:
                raise FsError(VALIDATION, f"Підсумки Z-звіту не збігаються з даними сервера: {diff}")
            arithmetic.zrep_tax_bases(doc.xml, self._shift_totals(shift["id"]))
        return storno_target

    def _fiscal_number_for(self, doc: xmldoc.ParsedDoc, fn: str, *, offline: bool) -> str:
        store = self.store
        if offline:
            fiscal = doc.head["ORDERTAXNUM"].strip()
        else:
            fiscal = str(int(store.get_meta("next_fiscal", 0)) or 100_000 + random.randint(1, 899_999))
            store.set_meta("next_fiscal", int(fiscal) + 1)
        if store.one("SELECT 1 AS x FROM documents WHERE registrar = ? AND fiscal_number = ?", fn, fiscal):
            raise FsError(VALIDATION, f"Документ з фіскальним номером {fiscal} вже зареєстровано")
        return fiscal

    def _record(
        self,
        doc: xmldoc.ParsedDoc,
        shift: Row | None,
        verified: SignedContent,
        signed: bytes,
        fiscal: str,
        now: datetime,
        session: Row | None,
        offline_number: Any,
    ) -> None:
        """Write the registered document and what it does to its shift."""
        store, fn = self.store, doc.registrar
        doc_type = doc.doc_type
        shift_id: int | None = shift["id"] if shift is not None else None
        if doc_type == OPEN_SHIFT:
            shift_id = store.insert(
                "shifts",
                {
                    "registrar": fn,
                    "open_fiscal": fiscal,
                    "open_local": doc.order_num,
                    "testing": int(doc.testing),
                    "opened_at": iso(now),
                    "open_name": self._cn(verified),
                    "open_skid": verified.subject_key_id,
                },
            )
        store.insert(
            "documents",
            self._document_row(doc, verified, signed, fiscal, now, shift_id, session, offline_number),
        )
        store.update("registrars", "fiscal_number", fn, {"next_local_num": doc.order_num + 1})
        if doc.is_zrep and shift_id is not None:
            store.update("shifts", "id", shift_id, {"zrep_fiscal": fiscal})
        if doc_type == CLOSE_SHIFT and shift_id is not None:
            store.update(
                "shifts",
                "id",
                shift_id,
                {
                    "close_fiscal": fiscal,
                    "closed_at": iso(now),
                    "close_name": self._cn(verified),
                    "close_skid": verified.subject_key_id,
                },
            )

    def _document_row(
        self,
        doc: xmldoc.ParsedDoc,
        verified: SignedContent,
        signed: bytes,
        fiscal: str,
        now: datetime,
        shift_id: int | None,
        session: Row | None,
        offline_number: Any,
    ) -> dict[str, Any]:
        facts = doc_facts(doc)
        return {
            "registrar": doc.registrar,
            "fiscal_number": fiscal,
            "local_number": doc.order_num,
            "doc_class": doc.doc_class,
            "doc_type": doc.doc_type,
            "doc_subtype": doc.doc_subtype,
            "shift_id": shift_id,
            "uid": doc.head.get("UID"),
            "doc_time": iso(_doc_time(doc)),
            "testing": int(doc.testing),
            "offline": int(offline_number is not None),
            "offline_session_id": offline_number.session_id if offline_number else None,
            "offline_seed": session["seed"] if session else None,
            "offline_local_num": offline_number.local if offline_number else None,
            "signer_skid": verified.subject_key_id,
            "signer_name": self._cn(verified),
            "received_at": iso(now),
            "facts": json.dumps(facts) if facts is not None else None,
            "xml": verified.content,
            "signed": signed,
        }

    @staticmethod
    def _cn(verified: SignedContent) -> str:
        return verified.signer_name

    def _check_registration_data(self, doc: xmldoc.ParsedDoc, reg: Row) -> None:
        head = doc.head
        if head.get("TIN", "") != reg["tin"]:
            raise FsError(
                INVALID_TIN,
                f"Податковий номер {head.get('TIN')} відрізняється від реєстраційних даних ПРРО "
                f"{reg['fiscal_number']} ({reg['tin']})",
            )
        checks = (
            ("IPN", head.get("IPN") or None, reg["ipn"] or None),
            ("ORGNM", head.get("ORGNM"), reg["org_name"]),
            ("CASHDESKNUM", str(int(head["CASHDESKNUM"])), str(reg["local_number"])),
        )
        for tag, got, want in checks:
            if got != want:
                raise FsError(
                    VALIDATION,
                    f"Значення {tag} «{got or ''}» відрізняється від реєстраційних даних ПРРО "
                    f"{reg['fiscal_number']} («{want or ''}»)",
                )
        registration.check_point(doc, reg)

    def _last_in_shift(self, shift_id: int) -> Row | None:
        return self.store.one(
            "SELECT * FROM documents WHERE shift_id = ? AND revoked = 0 "
            "AND (doc_type IS NULL OR doc_type NOT IN (102, 103)) ORDER BY seq DESC LIMIT 1",
            shift_id,
        )

    def _check_storno(self, doc: xmldoc.ParsedDoc, fn: str) -> Row:
        target_num = doc.head.get("ORDERSTORNUM", "").strip()
        if not target_num:
            raise FsError(VALIDATION, "У чеку сторнування не зазначено ORDERSTORNUM")
        last = self.store.one(
            "SELECT * FROM documents WHERE registrar = ? AND revoked = 0 "
            "AND (doc_type IS NULL OR doc_type NOT IN (102, 103)) ORDER BY seq DESC LIMIT 1",
            fn,
        )
        why = None
        if last is None or last["fiscal_number"] != target_num:
            why = f"документ {target_num} не є останнім документом ПРРО {fn}"
        elif last["doc_class"] == "ZREP" or last["doc_type"] in SHIFT_DOCS:
            why = f"документ {target_num} є службовим документом зміни"
        elif last["doc_subtype"] == STORNO or last["storned"]:
            why = f"документ {target_num} вже сторновано або сам є сторно"
        if why is not None:
            raise FsError(VALIDATION, f"Сторнуватись може лише останній документ: {why}")
        assert last is not None
        return last

    def _check_return(self, doc: xmldoc.ParsedDoc, fn: str) -> None:
        other = doc.head.get("ORDERRETCASHREGNUM")
        if other and str(int(other)) != fn:
            return  # a sale of another registrar: not ours to check
        ret_num = doc.head.get("ORDERRETNUM", "").strip()
        if not ret_num:
            raise FsError(VALIDATION, "У видатковому чеку не зазначено ORDERRETNUM")
        sale = self.store.one(
            "SELECT * FROM documents WHERE registrar = ? AND fiscal_number = ? AND doc_class = 'CHECK' "
            "AND doc_type = 0 AND (doc_subtype IS NULL OR doc_subtype = 0) AND revoked = 0",
            fn,
            ret_num,
        )
        if sale is None:
            raise FsError(VALIDATION, f"Чек продажу з фіскальним номером {ret_num} не знайдено для ПРРО {fn}")
        if sale["storned"]:
            raise FsError(VALIDATION, f"Чек продажу {ret_num} сторновано, повернення неможливе")

    # --- offline -------------------------------------------------------------------------------------

    def _check_offline(self, doc: xmldoc.ParsedDoc, reg: Row, signed: bytes) -> tuple[Row, Any]:
        number = self._check_offline_number(doc, reg)
        session = self._session(reg["fiscal_number"], number.session_id, reg["offline_seed"])
        if self.lax_readings:
            self._check_chain(doc, session)
            self._check_control_number(doc, session, number)
        else:
            readings.check_chain(doc, session)
            readings.check_control_number(doc, session["seed"], number.control, number)
        if "REVOKELASTONLINEDOC" in doc.head:
            self._revoke_last_online(reg["fiscal_number"], doc)
        times.check_offline_order(self.store, reg["fiscal_number"], session, doc.doc_type, _doc_time(doc))
        if _is_settlement(doc.doc_class, doc.doc_type) and session["begin_time"]:
            self._check_offline_limits(reg, session, _doc_time(doc))
        return session, number

    def _check_offline_number(self, doc: xmldoc.ParsedDoc, reg: Row) -> Any:
        """The offline fiscal number's session, its place in the session and the reserve."""
        fn = reg["fiscal_number"]
        sessions.check_range_issued(self.store, reg)
        if reg["offline_session_id"] is None or not reg["offline_allowed"]:
            raise FsError(VALIDATION, f"Режим офлайн заборонений для ПРРО {fn}")
        number = parse_offline_number(doc.head.get("ORDERTAXNUM", ""))
        if number is None:
            raise FsError(
                VALIDATION,
                f"Офлайн фіскальний номер «{doc.head.get('ORDERTAXNUM', '')}» має бути у форматі "
                "<ідентифікатор сесії>.<номер>.<контрольне число>",
            )
        if number.session_id != reg["offline_session_id"]:
            raise FsError(
                VALIDATION,
                f"Ідентифікатор офлайн сесії {number.session_id} не відповідає поточному "
                f"{reg['offline_session_id']} (ПРРО {fn})",
            )
        if number.local != reg["offline_next_local_num"]:
            raise FsError(
                VALIDATION,
                f"Невірний номер документа в офлайн сесії {number.local}, очікується "
                f"{reg['offline_next_local_num']}",
            )
        if reg["offline_reserve"] is not None and number.local > reg["offline_reserve"]:
            raise FsError(
                VALIDATION,
                f"Вичерпано резерв офлайн номерів ПРРО {fn} ({reg['offline_reserve']})",
            )
        if (number.local == 1) != (doc.doc_type == OFFLINE_BEGIN):
            raise FsError(
                VALIDATION, "Офлайн сесія має починатися документом 102 (і лише першим її документом)"
            )
        return number

    @staticmethod
    def _check_chain(doc: xmldoc.ParsedDoc, session: Row) -> None:
        settle_hashes: list[str] = json.loads(session["settle_hashes"] or "[]")
        any_hashes: list[str] = json.loads(session["any_hashes"] or "[]")
        prev = doc.head.get("PREVDOCHASH", "").strip().lower() or None
        if doc.doc_type == OFFLINE_BEGIN:
            if prev is not None:
                raise FsError(VALIDATION, "Документ початку офлайн сесії не може містити PREVDOCHASH")
        elif prev is not None:
            if prev not in settle_hashes + any_hashes:
                raise FsError(
                    VALIDATION,
                    f"PREVDOCHASH {prev} не відповідає геш-сумі попереднього документа офлайн сесії",
                )
        elif session["settled"] and (
            _is_settlement(doc.doc_class, doc.doc_type) or doc.doc_type == OFFLINE_END
        ):
            raise FsError(VALIDATION, "Відсутній обов'язковий PREVDOCHASH (геш попереднього документа)")

    @staticmethod
    def _check_control_number(doc: xmldoc.ParsedDoc, session: Row, number: Any) -> None:
        # The sum only for check-class money documents, the hash only when present.
        totals: list[str | None] = [None]
        if doc.doc_class == "CHECK" and doc.doc_type not in SHIFT_DOCS:
            totals = []
            if doc.total_sum is not None:
                totals.append(f"{doc.total_sum:.2f}")
            if doc.pays:
                totals.append(f"{sum((p.sum for p in doc.pays), Decimal('0.00')):.2f}")
            totals = totals or [None]
        head = doc.head
        expected = [
            control_number(
                session["seed"],
                head["ORDERDATE"],
                head["ORDERTIME"],
                head["ORDERNUM"],
                head["CASHREGISTERNUM"],
                head["CASHDESKNUM"],
                total,
                head.get("PREVDOCHASH") or None,
            )
            for total in totals
        ]
        if number.control not in expected:
            raise FsError(
                VALIDATION,
                f"Невірне контрольне число офлайн фіскального номера {number}: очікується {expected[0]}",
            )

    def _check_offline_limits(self, reg: Row, session: Row, when: datetime) -> None:
        """Session duration counts from the 102 to the last money document (reference §4.7); the month
        is the calendar month, each session counted in it only for its part inside (sessions.py)."""
        sessions.check_limits(self.store, reg, session, when)

    def _session(self, fn: str, session_id: int, seed: str) -> Row:
        row = self.store.one(
            "SELECT * FROM offline_sessions WHERE registrar = ? AND session_id = ?", fn, session_id
        )
        if row is None:
            self.store.insert(
                "offline_sessions",
                {"registrar": fn, "session_id": session_id, "seed": seed, "issued_at": iso(self.now())},
            )
            row = self.store.one(
                "SELECT * FROM offline_sessions WHERE registrar = ? AND session_id = ?", fn, session_id
            )
        assert row is not None
        return row

    def _revoke_last_online(self, fn: str, doc: xmldoc.ParsedDoc) -> None:
        """REVOKELASTONLINEDOC in a 102: the last online document no longer counts.

        Only in the 102: «в документі «Початок офлайн сесії» додається елемент
        <REVOKELASTONLINEDOC>true</REVOKELASTONLINEDOC>» (Відкликання останнього онлайн чека), and only
        with the value true; anywhere else, or with another value, the document is refused.

        Only a financially significant one may be revoked: the official text (ФСКО ЕВПЗ, «Відкликання
        останнього онлайн чека», note added 06.10.2023 per what_news.txt) says «Зазначений порядок
        стосується лише фінансово значущих документів», and defines them as «документи, які містять
        інформацію щодо руху або підсумках грошових коштів і товарів/послуг» — the checks (sales, returns,
        service deposits and issues, stornos, which take a check's sum out of the totals) and Z reports
        («чека, Z-звіту» in its duration rule). Shift documents (100, 101) carry neither: refused, in the
        words the real server uses for an open-shift document (reference §4.8)."""
        if doc.doc_type != OFFLINE_BEGIN or doc.head["REVOKELASTONLINEDOC"].strip().lower() != "true":
            raise FsError(
                VALIDATION,
                "Елемент REVOKELASTONLINEDOC допускається лише зі значенням true і лише в документі "
                f"«Початок офлайн сесії» (102), а не в документі типу {doc.doc_type}",
            )
        last = self.store.last_document(fn)
        if last is None or last["offline"]:
            raise FsError(VALIDATION, "Немає онлайн документа, який можна відкликати (REVOKELASTONLINEDOC)")
        if not _is_settlement(last["doc_class"], last["doc_type"]):
            kind = {OPEN_SHIFT: "OpenShift", CLOSE_SHIFT: "CloseShift"}.get(
                last["doc_type"], str(last["doc_type"])
            )
            raise FsError(
                VALIDATION,
                f"Останній документ поточної зміни (фіскальний номер {last['fiscal_number']}) має тип "
                f"«{kind}», не є фінансово значущим і не може бути відкликаний",
            )
        self.store.update("documents", "seq", last["seq"], {"revoked": 1})
        if last["doc_class"] == "ZREP" and last["shift_id"] is not None:
            self.store.update("shifts", "id", last["shift_id"], {"zrep_fiscal": None})
        if last["doc_type"] == 0 and last["doc_subtype"] == STORNO:
            # The storno no longer counts, so the check it cancelled counts again (and may be stornoed anew).
            target = xmldoc.parse(bytes(last["xml"])).head.get("ORDERSTORNUM", "").strip()
            self.store.execute(
                "UPDATE documents SET storned = 0 WHERE registrar = ? AND fiscal_number = ? AND revoked = 0",
                fn,
                target,
            )

    def _after_offline(
        self, doc: xmldoc.ParsedDoc, reg: Row, session: Row, local: int, signed: bytes
    ) -> tuple[int, str] | None:
        fn = reg["fiscal_number"]
        doc_type = doc.doc_type
        hashes = [sha256_hex(signed), sha256_hex(doc.xml)]
        changes: Row = {}
        when = iso(_doc_time(doc))
        if doc_type == OFFLINE_BEGIN:
            changes["begin_time"] = when
        if _is_settlement(doc.doc_class, doc_type):
            changes.update(settle_hashes=json.dumps(hashes), settled=1, last_fin_time=when)
        if doc_type not in (OFFLINE_BEGIN, OFFLINE_END):
            changes["any_hashes"] = json.dumps(hashes)
        if doc_type == OFFLINE_END:
            changes["closed_at"] = iso(self.now())
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            self.store.execute(
                f"UPDATE offline_sessions SET {sets} WHERE registrar = ? AND session_id = ?",
                *changes.values(),
                fn,
                session["session_id"],
            )
        if doc_type == OFFLINE_END:
            new_id, new_seed = self._fresh_session(reg["offline_session_id"])
            self.store.update(
                "registrars",
                "fiscal_number",
                fn,
                {"offline_session_id": new_id, "offline_seed": new_seed, "offline_next_local_num": 1},
            )
            return new_id, new_seed
        self.store.update("registrars", "fiscal_number", fn, {"offline_next_local_num": local + 1})
        return None

    def _fresh_session(self, old: int | None) -> tuple[int, str]:
        new = _new_session_id()
        while new == old:
            new = _new_session_id()
        return new, _new_seed()

    # --- totals --------------------------------------------------------------------------------------

    def _shift_totals(self, shift_id: int) -> Totals:
        return shift_totals(self.store.shift_documents(shift_id))

    # --- state ---------------------------------------------------------------------------------------

    def _offline_minutes(self, fn: str, session_id: int | None) -> tuple[int, int]:
        """This session's minutes (102 → last money document) and the current calendar month's, where a
        session across the month's start counts only its part inside the month (sessions.month_offline)."""
        row = self.store.one(
            "SELECT * FROM offline_sessions WHERE registrar = ? AND session_id = ? AND begin_time IS NOT NULL",
            fn,
            session_id,
        )
        current = 0
        if row is not None:
            begin = datetime.fromisoformat(row["begin_time"])
            end = datetime.fromisoformat(row["last_fin_time"]) if row["last_fin_time"] else begin
            current = max(0, int((end - begin).total_seconds() // 60))
        month = int(sessions.month_offline(self.store, fn, self.now()).total_seconds() // 60)
        return current, month

    def tax_object(self, reg: Row) -> dict[str, Any]:
        registrars = self.store.all(
            "SELECT * FROM registrars WHERE entity = ? ORDER BY fiscal_number", reg["entity"]
        )
        return {
            "Entity": reg["entity"],
            "Name": reg["point_name"],
            "Address": reg["point_address"],
            "Tin": reg["tin"],
            "Ipn": reg["ipn"],
            "OrgName": reg["org_name"],
            "SingleTax": not reg["ipn"],
            "ChiefCashier": False,
            "TransactionsRegistrars": [
                {
                    "NumFiscal": int(r["fiscal_number"]),
                    "NumLocal": r["local_number"],
                    "Name": r["name"],
                    "Closed": bool(r["closed"]),
                }
                for r in registrars
            ],
        }

    def registrar_state(self, reg: Row, *, include_tax_object: bool = False) -> dict[str, Any]:
        fn = reg["fiscal_number"]
        shift = self.store.open_shift(fn)
        offline_on = bool(reg["offline_allowed"]) and reg["offline_session_id"] is not None
        duration, month = self._offline_minutes(fn, reg["offline_session_id"])
        last_fiscal = None
        if shift is not None:
            last = self.store.one(
                "SELECT fiscal_number FROM documents WHERE shift_id = ? ORDER BY seq DESC LIMIT 1",
                shift["id"],
            )
            last_fiscal = last["fiscal_number"] if last else None
        state: dict[str, Any] = {
            "ShiftState": 1 if shift else 0,
            "ShiftId": shift["id"] if shift else None,
            "OpenShiftFiscalNum": shift["open_fiscal"] if shift else None,
            "ZRepPresent": bool(shift and shift["zrep_fiscal"]),
            "Testing": bool(shift and shift["testing"]),
            "Name": shift["open_name"] if shift else None,
            "SubjectKeyId": shift["open_skid"] if shift else None,
            "FirstLocalNum": shift["open_local"] if shift else 0,
            "NextLocalNum": reg["next_local_num"],
            "LastFiscalNum": last_fiscal,
            "OfflineSupported": bool(reg["offline_allowed"]),
            "ChiefCashier": False,
            "OfflineSessionId": reg["offline_session_id"] if offline_on else None,
            "OfflineSeed": reg["offline_seed"] if offline_on else None,
            "OfflineNextLocalNum": reg["offline_next_local_num"] if offline_on else None,
            "OfflineSessionDuration": duration,
            "OfflineSessionsMonthlyDuration": month,
            # Not in the tax service's protocol: where a server hands out a finite reserve of offline
            # numbers per session, this is how many (null: unlimited). The box reads it when present.
            # (reported before the first shift's range too: it is the registrar's, not the session's)
            "OfflineSessionReserve": reg["offline_reserve"] if reg["offline_allowed"] else None,
            **sessions.rollback_fields(self.store, reg),
            "Closed": bool(reg["closed"]),
        }
        if include_tax_object:
            state["TaxObject"] = self.tax_object(reg)
        return state

    # --- commands ------------------------------------------------------------------------------------

    def command(self, payload: Any, signer_skid: str | None) -> Reply:
        if not isinstance(payload, dict):
            raise FsError(QUERY, "Команда має бути JSON об'єктом")
        name = payload.get("Command")
        handler = {
            "ServerState": self._cmd_server_state,
            "TransactionsRegistrarState": self._cmd_registrar_state,
            "DocumentInfoByLocalNum": self._cmd_doc_info,
            "Check": self._cmd_fetch,
            "ZRep": self._cmd_fetch,
            "Shifts": self._cmd_shifts,
            "Documents": self._cmd_documents,
            "LastShiftTotals": self._cmd_last_totals,
            "Objects": self._cmd_objects,
            **commands.handlers(self),
        }.get(name if isinstance(name, str) else "")
        if handler is None:
            raise FsError(QUERY, f"Невідома команда «{name}»")
        commands.require_signature(str(name), signer_skid)
        result = handler(payload, signer_skid)
        if isinstance(result, Reply):
            return result
        result = {"UID": payload.get("UID"), **result, "Timestamp": iso(self.now())}
        return Reply.json(result)

    def _registrar_param(self, payload: dict[str, Any], key: str, signer_skid: str | None) -> Row | None:
        value = payload.get(key)
        if value is None or not re.fullmatch(r"\d+", str(value).strip()):
            raise FsError(QUERY, f"Параметр {key} обов'язковий і має бути числом")
        reg = self.store.registrar(str(int(str(value).strip())))
        # The commands that need a signature were refused unsigned already (commands.require_signature); the
        # signed ones must be an operator's.
        if reg is not None and signer_skid is not None:
            self._check_operator(reg, signer_skid)
        return reg

    def _cmd_server_state(self, payload: dict[str, Any], skid: str | None) -> dict[str, Any]:
        return {}

    def _cmd_registrar_state(self, payload: dict[str, Any], skid: str | None) -> dict[str, Any] | Reply:
        reg = self._registrar_param(payload, "NumFiscal", skid)
        if reg is None:
            return Reply.empty()
        reg = sessions.honour_session_param(self, reg, payload)
        state = self.registrar_state(reg, include_tax_object=bool(payload.get("IncludeTaxObject")))
        if sessions.may_see_offline_fields(self.store, reg, skid):
            return {
                **state,
                "ChiefCashier": skid is not None and skid.lower() in sessions.chief_cashiers(reg),
            }
        return sessions.hide_offline_fields(state)

    def _cmd_doc_info(self, payload: dict[str, Any], skid: str | None) -> dict[str, Any] | Reply:
        reg = self._registrar_param(payload, "NumFiscal", skid)
        local = payload.get("NumLocal")
        if local is None or not str(local).strip().isdigit():
            raise FsError(QUERY, "Параметр NumLocal обов'язковий і має бути числом")
        if reg is None:
            return Reply.empty()
        doc = self.store.one(
            "SELECT * FROM documents WHERE registrar = ? AND local_number = ? ORDER BY seq DESC LIMIT 1",
            reg["fiscal_number"],
            int(str(local).strip()),
        )
        if doc is None:
            return Reply.empty()
        return self._doc_info(doc)

    @staticmethod
    def _doc_info(doc: Row) -> dict[str, Any]:
        return {
            "NumFiscal": doc["fiscal_number"],
            "DocClass": 1 if doc["doc_class"] == "ZREP" else 0,
            "CheckDocType": doc["doc_type"],
            "CheckDocSubType": doc["doc_subtype"],
            "Revoked": bool(doc["revoked"]),
            "Storned": bool(doc["storned"]),
        }

    def _cmd_fetch(self, payload: dict[str, Any], skid: str | None) -> Reply:
        reg = self._registrar_param(payload, "RegistrarNumFiscal", skid)
        num = payload.get("NumFiscal")
        if num is None or str(num).strip() == "":
            raise FsError(QUERY, "Параметр NumFiscal обов'язковий")
        if reg is None:
            return Reply.empty()
        doc_class = "ZREP" if payload.get("Command") == "ZRep" else "CHECK"
        doc = self.store.one(
            "SELECT * FROM documents WHERE registrar = ? AND fiscal_number = ? AND doc_class = ?",
            reg["fiscal_number"],
            str(num).strip(),
            doc_class,
        )
        if doc is None:
            return Reply.empty()
        body = bytes(doc["signed"]) if payload.get("Original") else self.signer.sign(bytes(doc["xml"]))
        return Reply(200, "application/octet-stream", body)

    @staticmethod
    def _parse_date(value: Any, key: str) -> datetime:
        text = str(value or "").strip()
        m = re.fullmatch(r"/Date\((-?\d+)([+-]\d{4})?\)/", text)
        try:
            if m:
                return datetime.fromtimestamp(int(m.group(1)) / 1000, UTC)
            when = datetime.fromisoformat(text)
        except (ValueError, OverflowError) as exc:
            raise FsError(QUERY, f"Параметр {key}: неправильна дата «{text}»") from exc
        return when if when.tzinfo else when.replace(tzinfo=KYIV)

    def _shift_json(self, shift: Row) -> dict[str, Any]:
        return {
            "ShiftId": shift["id"],
            "OpenShiftFiscalNum": shift["open_fiscal"],
            "CloseShiftFiscalNum": shift["close_fiscal"],
            "Testing": bool(shift["testing"]),
            "Opened": shift["opened_at"],
            "OpenName": shift["open_name"],
            "OpenSubjectKeyId": shift["open_skid"],
            "Closed": shift["closed_at"],
            "CloseName": shift["close_name"],
            "CloseSubjectKeyId": shift["close_skid"],
            "ZRepFiscalNum": shift["zrep_fiscal"],
        }

    def _cmd_shifts(self, payload: dict[str, Any], skid: str | None) -> dict[str, Any]:
        reg = self._registrar_param(payload, "NumFiscal", skid)
        start = self._parse_date(payload.get("From"), "From")
        end = self._parse_date(payload.get("To"), "To")
        shifts = [] if reg is None else self.store.shifts_of(reg["fiscal_number"])
        chosen = [s for s in shifts if start <= datetime.fromisoformat(s["opened_at"]) <= end]
        return {"Shifts": [self._shift_json(s) for s in chosen]}

    def _cmd_documents(self, payload: dict[str, Any], skid: str | None) -> dict[str, Any] | Reply:
        reg = self._registrar_param(payload, "NumFiscal", skid)
        if reg is None:
            return Reply.empty()
        shift = None
        if payload.get("ShiftId") is not None:
            shift = self.store.one(
                "SELECT * FROM shifts WHERE registrar = ? AND id = ?",
                reg["fiscal_number"],
                payload["ShiftId"],
            )
        elif payload.get("OpenShiftFiscalNum") is not None:
            shift = self.store.one(
                "SELECT * FROM shifts WHERE registrar = ? AND open_fiscal = ?",
                reg["fiscal_number"],
                str(payload["OpenShiftFiscalNum"]).strip(),
            )
        else:
            raise FsError(QUERY, "Потрібен параметр ShiftId або OpenShiftFiscalNum")
        if shift is None:
            return Reply.empty()
        docs = self.store.shift_documents(shift["id"])
        return {
            "Documents": commands.documents_named([
                {
                    "NumFiscal": d["fiscal_number"],
                    "NumLocal": d["local_number"],
                    "DocDateTime": d["doc_time"],
                    **self._doc_info(d),
                }
                for d in docs
            ])
        }

    def _cmd_last_totals(self, payload: dict[str, Any], skid: str | None) -> dict[str, Any] | Reply:
        reg = self._registrar_param(payload, "NumFiscal", skid)
        if reg is None:
            return Reply.empty()
        shift = self.store.last_shift(reg["fiscal_number"])
        if shift is None:
            return Reply.empty()
        is_open = shift["close_fiscal"] is None
        info = self._shift_json(shift)
        return {
            "ShiftState": 1 if is_open else 0,
            "ZRepPresent": shift["zrep_fiscal"] is not None,
            "Testing": info["Testing"],
            "Opened": info["Opened"],
            "OpenName": info["OpenName"],
            "OpenSubjectKeyId": info["OpenSubjectKeyId"],
            "Closed": info["Closed"],
            "CloseName": info["CloseName"],
            "CloseSubjectKeyId": info["CloseSubjectKeyId"],
            "ZRepFiscalNum": info["ZRepFiscalNum"],
            "Totals": totals_json(self._shift_totals(shift["id"])) if is_open else None,
        }

    def _cmd_objects(self, payload: dict[str, Any], skid: str | None) -> dict[str, Any] | Reply:
        objects: dict[int, dict[str, Any]] = {}
        for reg in self.store.all("SELECT * FROM registrars ORDER BY fiscal_number"):
            operators = json.loads(reg["operators"]) if reg["operators"] else None
            if operators is not None and (skid is None or skid not in operators):
                continue
            objects.setdefault(reg["entity"], self.tax_object(reg))
        if not objects:
            return Reply.empty()
        return {"TaxObjects": list(objects.values())}

    # --- control surface -----------------------------------------------------------------------------

    def upsert_registrar(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ControlError("body", "expected a JSON object")
        allowed = {"fiscal_number", "name", "next_local_num", *DEFAULTS, "point_name", "point_address"}
        for key in data:
            if key not in allowed:
                raise ControlError(key, f"unknown field (known: {', '.join(sorted(allowed))})")
        fn_raw = data.get("fiscal_number")
        if (
            not isinstance(fn_raw, str | int)
            or isinstance(fn_raw, bool)
            or not re.fullmatch(r"\d{1,19}", str(fn_raw))
        ):
            raise ControlError("fiscal_number", 'required: a string of digits, e.g. "4000000001"')
        fn = str(int(str(fn_raw)))
        values = {k: v for k, v in data.items() if k != "fiscal_number"}
        _validate_registrar_fields(values)
        with self.store.transaction():
            existing = self.store.registrar(fn)
            if existing is None:
                merged = {**DEFAULTS, "name": f"ПРРО {fn}", "next_local_num": 1, **values}
                entity_row = self.store.one(
                    "SELECT entity FROM registrars WHERE tin = ? AND point_name = ? LIMIT 1",
                    merged["tin"],
                    merged["point_name"],
                )
                entity = (
                    entity_row["entity"]
                    if entity_row
                    else int((self.store.one("SELECT MAX(entity) AS m FROM registrars") or {}).get("m") or 0)
                    + 1
                )
                row = _to_row(merged)
                row.update(fiscal_number=fn, entity=entity)
                # No range yet: it comes with the first open-shift's ticket (sessions.issue_first_range).
                self.store.insert("registrars", row)
            else:
                row = _to_row(values)
                if (
                    values.get("offline_allowed")
                    and existing["offline_session_id"] is None
                    and sessions.has_had_a_shift(self.store, fn)
                ):
                    row["offline_session_id"], row["offline_seed"] = self._fresh_session(None)
                    row["offline_next_local_num"] = 1
                self.store.update("registrars", "fiscal_number", fn, row)
            reg = self.store.registrar(fn)
            assert reg is not None
            return self.registrar_json(reg)

    def registrar_json(self, reg: Row) -> dict[str, Any]:
        return {
            "fiscal_number": reg["fiscal_number"],
            "local_number": reg["local_number"],
            "name": reg["name"],
            "tin": reg["tin"],
            "ipn": reg["ipn"],
            "org_name": reg["org_name"],
            "point_name": reg["point_name"],
            "point_address": reg["point_address"],
            "offline_allowed": bool(reg["offline_allowed"]),
            "offline_reserve": reg["offline_reserve"],
            "max_session_hours": reg["max_session_hours"],
            "max_month_hours": reg["max_month_hours"],
            "closed": bool(reg["closed"]),
            "operators": json.loads(reg["operators"]) if reg["operators"] else None,
            "chief_cashiers": sessions.chief_cashiers(reg),
            "offline_fields_to_last_opener": bool(reg["offline_fields_to_last_opener"]),
            "state": self.registrar_state(reg, include_tax_object=True),
        }

    def all_states(self) -> list[dict[str, Any]]:
        regs = self.store.all("SELECT * FROM registrars ORDER BY fiscal_number")
        return [
            {"NumFiscal": r["fiscal_number"], **self.registrar_state(r, include_tax_object=True)}
            for r in regs
        ]

    def documents_json(self, registrar: str | None) -> list[dict[str, Any]]:
        if registrar:
            docs = self.store.all("SELECT * FROM documents WHERE registrar = ? ORDER BY seq", registrar)
        else:
            docs = self.store.all("SELECT * FROM documents ORDER BY seq")
        return [
            {
                "registrar": d["registrar"],
                "fiscal_number": d["fiscal_number"],
                "local_number": d["local_number"],
                "doc_class": d["doc_class"],
                "doc_type": d["doc_type"],
                "doc_subtype": d["doc_subtype"],
                "uid": d["uid"],
                "shift_id": d["shift_id"],
                "testing": bool(d["testing"]),
                "offline": bool(d["offline"]),
                "offline_session_id": d["offline_session_id"],
                "offline_seed": d["offline_seed"],
                "revoked": bool(d["revoked"]),
                "storned": bool(d["storned"]),
                "signer_key_id": d["signer_skid"],
                "received_at": d["received_at"],
                "xml_base64": base64.b64encode(bytes(d["xml"])).decode("ascii"),
                "signed_base64": base64.b64encode(bytes(d["signed"])).decode("ascii"),
            }
            for d in docs
        ]

    # --- tickets -------------------------------------------------------------------------------------

    def ticket(self, accepted: Accepted) -> bytes:
        """The TICKET XML (ticket01.xsd) for an accepted document, signed by the emulator."""
        when = kyiv(accepted.registered_at)
        parts = [
            '<?xml version="1.0" encoding="windows-1251"?>',
            '<TICKET xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:noNamespaceSchemaLocation="ticket01.xsd">',
            f"<UID>{escape(accepted.uid)}</UID>",
            f"<ORDERDATE>{when:%d%m%Y}</ORDERDATE>",
            f"<ORDERTIME>{when:%H%M%S}</ORDERTIME>",
            f"<ORDERNUM>{accepted.order_num}</ORDERNUM>",
            f"<ORDERTAXNUM>{escape(accepted.fiscal_number)}</ORDERTAXNUM>",
        ]
        if accepted.offline_session_id is not None and accepted.offline_seed is not None:
            parts.append(f"<OFFLINESESSIONID>{accepted.offline_session_id}</OFFLINESESSIONID>")
            parts.append(f"<OFFLINESEED>{accepted.offline_seed}</OFFLINESEED>")
        parts += ["<ERRORCODE>0</ERRORCODE>", "<VER>1</VER>", "</TICKET>"]
        return self.signer.sign("".join(parts).encode("cp1251"))


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_hex_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, str) and re.fullmatch(r"[0-9a-fA-F]+", v) for v in value
    )


_Check = tuple[Callable[[Any], bool], str]
_POSITIVE_INT: _Check = (lambda v: _is_int(v, 1), "a positive integer")
_NAME: _Check = (
    lambda v: isinstance(v, str) and 0 < len(v) <= 256,
    "a non-empty string of at most 256 chars",
)
_FLAG: _Check = (lambda v: isinstance(v, bool), "true or false")
_HOURS: _Check = (
    lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0,
    "a positive number of hours",
)
#: what each control-surface field of a registrar accepts
_REGISTRAR_FIELDS: dict[str, _Check] = {
    "local_number": _POSITIVE_INT,
    "next_local_num": _POSITIVE_INT,
    "tin": (
        lambda v: isinstance(v, str) and bool(re.fullmatch(r"\d{5,10}|[А-ЯЇІЄҐ]{2}\d{6}", v)),
        "5–10 digits (ЄДРПОУ/ДРФО) or 2 Cyrillic capitals and 6 digits",
    ),
    "ipn": (
        lambda v: v is None or (isinstance(v, str) and bool(re.fullmatch(r"\d{6,12}", v))),
        "null or 6–12 digits",
    ),
    "org_name": _NAME,
    "point_name": _NAME,
    "name": _NAME,
    "point_address": (lambda v: v is None or (isinstance(v, str) and len(v) <= 256), "null or a string ≤256"),
    "offline_allowed": _FLAG,
    "closed": _FLAG,
    "max_session_hours": _HOURS,
    "max_month_hours": _HOURS,
    "offline_reserve": (lambda v: v is None or _is_int(v, 1), "null (unlimited) or a positive integer"),
    "operators": (lambda v: v is None or _is_hex_list(v), "null or a list of subject key ids (hex)"),
    "chief_cashiers": (lambda v: v is None or _is_hex_list(v), "null or a list of subject key ids (hex)"),
    "offline_fields_to_last_opener": _FLAG,
}


def _validate_registrar_fields(values: dict[str, Any]) -> None:
    for key, value in values.items():
        check = _REGISTRAR_FIELDS.get(key)
        if check is not None and not check[0](value):
            raise ControlError(key, check[1])


def _to_row(values: dict[str, Any]) -> Row:
    row: Row = {}
    for key, value in values.items():
        if key in ("offline_allowed", "closed", "offline_fields_to_last_opener"):
            row[key] = int(bool(value))
        elif key in ("operators", "chief_cashiers"):
            row[key] = None if value is None else json.dumps([v.lower() for v in value])
        else:
            row[key] = value
    if values.get("offline_allowed") is False:
        row.update(offline_session_id=None, offline_seed=None)
    return row
