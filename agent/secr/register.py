"""The cash register facade: open_shift, sell, refund, cash_in, cash_out, storno_last, x_report, close_shift,
go_online.

Fiscal safety lives here, in this order for every document:
1. refuse bad input before anything is written;
2. number, render, validate, sign and journal the document in one transaction (durable before sending);
3. online: send it; on a reply, journal the fiscal number before answering. On a lost reply, ask the
   server (DocumentInfoByLocalNum) before anything is sent again, so nothing is registered twice;
4. when the server cannot be reached, go offline as the law allows (reference §4): a 102 with the range
   the box holds, then the document made again with an offline fiscal number — never without a range,
   never past the 36 h / 168 h limits, never while the server answers;
5. as soon as the server answers: close the session (103), deliver the packages in order, take the next
   range from the reply, go online.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agent.clock import KYIV, Clock
from agent.secr import documents as docs
from agent.secr import numbering
from agent.secr import offline as rules
from agent.secr.errors import (
    DocumentRejected,
    FiscalBoxError,
    InvalidInput,
    InvalidServerReply,
    JournalMismatch,
    NeedsPerson,
    NeverOnline,
    OfflineDocumentsRefused,
    OfflineMonthLimit,
    OfflineProhibited,
    OfflineRangeExhausted,
    OfflineSessionLimit,
    RegistrarNotAvailable,
    RetryLater,
    SalesBlocked,
    ServerRejected,
    ServerStateMismatch,
    ShiftAlreadyOpen,
    ShiftNotOpen,
    UploadInProgress,
)
from agent.secr.identity import Registrar
from agent.secr.journal import (
    OFFLINE,
    PENDING,
    REGISTERED,
    REVOKED,
    SUPERSEDED,
    VOID,
    Entry,
    Journal,
    Shift,
)
from agent.secr.server import FiscalServerClient, Ticket
from agent.secr.signing.base import Signer
from agent.secr.sync import split_packages

log = logging.getLogger(__name__)

Crashpoint = Callable[[str], None]
EventSink = Callable[[str, dict[str, Any]], None]

_REFUNDABLE = docs.DocSubType.CHECK_GOODS
_STORNABLE = {
    docs.DocSubType.CHECK_GOODS,
    docs.DocSubType.CHECK_RETURN,
    docs.DocSubType.SERVICE_DEPOSIT,
    docs.DocSubType.SERVICE_ISSUE,
}
_PACKAGE_INDEX = re.compile(r"(?:№|No\.?|номер|index)\s*(\d+)", re.IGNORECASE)


def _no_crash(_: str) -> None:
    return None


class Mode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"  # a 102 exists and its session is open
    UPLOADING = "uploading"  # the 103 exists; its package is not acknowledged yet


class DuplicateRequest(InvalidInput):
    """The till reused a request id: the document it names was already made (and is not made again)."""

    code = "already_exists"

    def __init__(self, result: Fiscalized) -> None:
        super().__init__(
            f"a document with request id {result.request_id} already exists (fiscal number {result.fiscal_num})",
            field="id",
            what_to_do="use a new id for a new receipt; fetch the existing one by its id",
        )
        self.result = result


@dataclass(frozen=True)
class Fiscalized:
    """A fiscalized document: safe to print and to answer the till."""

    entry_id: int
    uid: str
    request_id: str | None
    local_num: int
    fiscal_num: str
    offline: bool
    registered_at: datetime
    document: docs.Document
    xml: bytes
    shift_id: int | None
    delivered: bool = True  # False for an offline document not uploaded yet

    @property
    def total(self) -> Decimal | None:
        return self.document.total if isinstance(self.document, docs.Check) else None

    @property
    def control_number(self) -> int | None:
        if not self.offline:
            return None
        return numbering.parse_offline_fiscal_number(self.fiscal_num)[2]


@dataclass(frozen=True)
class ShiftReport:
    """An X report (or the figures of a Z): the shift's totals, computed from the journal."""

    shift_id: int
    opened_at: datetime
    cashier: str | None
    report: docs.ZReport
    receipts_count: int  # sales and returns, cancelled ones left out
    z_fiscal_num: str | None = None


@dataclass(frozen=True)
class ShiftView:
    """A shift as the till API shows it."""

    id: int
    opened_at: datetime
    closed_at: datetime | None
    cashier: str | None
    open_fiscal_num: str | None
    z: Fiscalized | None
    figures: docs.ZReport | None  # the totals so far (the Z's own when closed); None unless asked for


@dataclass(frozen=True)
class SyncReport:
    """What a `go_online` did."""

    reachable: bool
    went_online: bool
    packages_sent: int
    documents_delivered: int
    mode: Mode
    error: str | None = None
    revoked_online_fiscal_num: str | None = None


@dataclass
class RegisterStatus:
    mode: Mode
    blocked_reason: str | None
    shift_open: bool
    shift_id: int | None
    z_done: bool
    next_local_num: int
    pending_documents: int
    oldest_pending_at: datetime | None
    offline_session_id: str | None
    has_offline_seed: bool
    offline_allowed: bool | None
    session_minutes: int
    month_minutes: int
    max_session_minutes: int
    max_month_minutes: int
    numbers_left: int | None
    warnings: list[str]
    problem: str | None
    upload_error: str | None
    last_sync_at: datetime | None
    identity_known: bool
    errors: list[str] = field(default_factory=list)


def _check_kind(entry: Entry) -> tuple[int | None, int | None]:
    return entry.doc_type, entry.doc_subtype


def _financially_significant(entry: Entry) -> bool:
    return entry.doc_class == "ZREP" or entry.doc_type == docs.DocType.SALE_GOODS


def _chained(document: docs.Document) -> bool:
    """Settlement documents (checks and Z reports) form the hash chain; 100-103 do not (reference §4.5)."""
    return isinstance(document, docs.ZReport) or document.doc_type == docs.DocType.SALE_GOODS


class _WentDark(Exception):
    """Internal: the server stopped answering while an online document was in flight."""

    def __init__(self, entry: Entry | None, cause: RetryLater) -> None:
        super().__init__(str(cause))
        self.entry = entry
        self.cause = cause


class CashRegister:
    def __init__(
        self,
        *,
        journal: Journal,
        server: FiscalServerClient,
        signer: Signer,
        registrar: Registrar,
        taxes: Mapping[int, docs.Tax],
        clock: Clock,
        limits: rules.Limits | None = None,
        check_interval_s: float = 600,
        probe_budget_s: float = 0.3,
        probe_freshness_s: float = 5.0,
        auto_sync: bool = True,
        crashpoint: Crashpoint = _no_crash,
        on_event: EventSink | None = None,
        validate_documents: bool = True,
        online_signer: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.journal = journal
        self.server = server
        self.signer = signer
        self.registrar = registrar
        self.taxes = dict(taxes)
        self.clock = clock
        self.limits = limits or rules.Limits()
        self.check_interval_s = check_interval_s
        self.probe_budget_s = probe_budget_s
        self.probe_freshness_s = probe_freshness_s
        self.auto_sync = auto_sync
        self._crashpoint = crashpoint
        self._on_event = on_event
        self._validate = validate_documents
        # Online documents need a qualified signature-time-stamp; offline ones may go without (§1.3).
        self._sign_online = online_signer or signer.sign
        self._lock = threading.RLock()
        self._problem: NeedsPerson | None = None
        self._probe_lock = threading.Lock()
        self._probe_thread: threading.Thread | None = None
        self._probe_ok: bool | None = None
        self._probe_at: float | None = None
        self._reachable_since: float | None = None
        self._sync_thread: threading.Thread | None = None
        self._last_sync_attempt: float | None = None
        self._last_range_refresh: float | None = None
        self.events: deque[tuple[str, dict[str, Any]]] = deque(maxlen=200)

    # --- small state helpers -----------------------------------------------------------------

    def _event(self, name: str, **data: Any) -> None:
        self.events.append((name, data))
        if self._on_event is not None:
            try:
                self._on_event(name, data)
            except Exception:  # a dashboard must never stop a sale
                log.exception("event sink failed for %s", name)

    def _mode(self) -> Mode:
        return Mode(self.journal.get("mode") or Mode.ONLINE)

    def _meta_int(self, key: str) -> int | None:
        value = self.journal.get(key)
        return int(value) if value not in (None, "") else None

    def _ledger(self) -> rules.Ledger:
        began = self.journal.get("ledger.session_began_at")
        return rules.Ledger(
            month=self.journal.get("ledger.month") or rules.month_key(self.clock.now()),
            month_closed=timedelta(seconds=float(self.journal.get("ledger.month_closed_s") or 0)),
            session_began_at=datetime.fromisoformat(began) if began else None,
            server_month=timedelta(seconds=float(self.journal.get("ledger.server_month_s") or 0)),
        )

    def _save_ledger(self, ledger: rules.Ledger) -> None:
        self.journal.set("ledger.month", ledger.month)
        self.journal.set("ledger.month_closed_s", str(ledger.month_closed.total_seconds()))
        self.journal.set(
            "ledger.session_began_at",
            ledger.session_began_at.isoformat() if ledger.session_began_at else None,
        )
        self.journal.set("ledger.server_month_s", str(ledger.server_month.total_seconds()))

    # --- start-up and reconciliation ---------------------------------------------------------

    def start(self) -> None:
        """Learn who we are from the server, resolve what a crash left, check numbering.

        The server being unreachable is not fatal (the journal knows enough); a disagreement is, and
        is explained instead of guessed at.
        """
        with self._lock:
            self._problem = None
            try:
                state = self.server.registrar_state(self.registrar.fiscal_number, include_tax_object=True)
            except RetryLater as exc:
                log.warning("fiscal server not reachable at start: %s", exc)
                self._record_probe(False)
                return
            self._record_probe(True)
            if state is None:
                raise RegistrarNotAvailable(
                    f"the fiscal server does not know register {self.registrar.fiscal_number}",
                    http_status=204,
                    error_code=None,
                    error_name=None,
                    server_text="",
                    what_to_do="check registrar.fiscal_number in the config against the tax cabinet",
                )
            self._adopt_identity(state)
            if self._mode() != Mode.ONLINE:
                # Offline documents wait for delivery: numbering is checked by the upload itself.
                log.info("offline documents from before the restart are waiting; delivering them")
            else:
                try:
                    self._resolve_pending()
                    self._check_against_server(
                        self.server.registrar_state(self.registrar.fiscal_number) or state
                    )
                except NeedsPerson as exc:
                    self._problem = exc
                    raise
                self._last_range_refresh = self.clock.monotonic()
                return
        try:
            self.go_online()
        except FiscalBoxError as exc:
            log.warning("delivering offline documents at start failed: %s", exc)

    def _adopt_identity(self, state: Mapping[str, Any]) -> None:
        tax_object = state.get("TaxObject") or {}
        registrars = tax_object.get("TransactionsRegistrars") or []
        ours: Mapping[str, Any] = next(
            (r for r in registrars if str(r.get("NumFiscal")) == self.registrar.fiscal_number), {}
        )
        server_values = {
            "tin": tax_object.get("Tin"),
            "ipn": tax_object.get("Ipn"),
            "org_name": tax_object.get("OrgName"),
            "point_name": tax_object.get("Name"),
            "point_address": tax_object.get("Address"),
            "local_number": ours.get("NumLocal"),
        }
        mismatches = []
        for key, server_value in server_values.items():
            configured = getattr(self.registrar, key)
            if configured is not None and server_value is not None and str(configured) != str(server_value):
                mismatches.append(
                    f"registrar.{key}: config says {configured!r}, the server says {server_value!r}"
                )
        if mismatches:
            raise JournalMismatch(
                "the configuration does not match the register's registration data: " + "; ".join(mismatches),
                what_to_do="correct the config (or leave those keys out to take the server's values)",
            )
        if ours.get("Closed") or state.get("Closed"):
            raise RegistrarNotAvailable(
                f"register {self.registrar.fiscal_number} is closed (its registration was cancelled)",
                http_status=200,
                error_code=None,
                error_name=None,
                server_text="",
                what_to_do="the register can no longer issue documents; contact the owner",
            )
        with self.journal.transaction():
            for key, value in server_values.items():
                if value is not None:
                    self.journal.set(f"identity.{key}", str(value))
            if self._mode() == Mode.ONLINE:
                self._adopt_range(state)

    def _adopt_range(self, state: Mapping[str, Any]) -> None:
        """The offline range the server hands out: session id, seed, and (where finite) the reserve.

        Only while online: during an offline session the range in use is fixed until its 103."""
        supported = state.get("OfflineSupported")
        session_id, seed = state.get("OfflineSessionId"), state.get("OfflineSeed")
        prohibited = supported is False or (supported is not None and (session_id is None or seed is None))
        self.journal.set("offline_prohibited", "1" if prohibited else "0")
        if session_id is not None and seed is not None:
            self.journal.set("offline_session_id", str(session_id))
            self.journal.set("offline_seed", str(seed))
        if "OfflineSessionReserve" in state:
            reserve = state.get("OfflineSessionReserve")
            self.journal.set("offline_reserve", None if reserve is None else str(int(reserve)))
        ledger = rules.with_server_figures(
            self._ledger(), self.clock.now(), _int_or_none(state.get("OfflineSessionsMonthlyDuration"))
        )
        self._save_ledger(ledger)

    def _remember_ticket_range(self, ticket: Ticket) -> None:
        if ticket.offline_session_id and ticket.offline_seed:
            self.journal.set("offline_session_id", ticket.offline_session_id)
            self.journal.set("offline_seed", ticket.offline_seed)

    def _check_against_server(self, state: Mapping[str, Any]) -> None:
        server_next = int(state.get("NextLocalNum") or 1)
        never_used = self.journal.get("next_local_num") is None
        if never_used:
            # A new journal on a register with history: the server's counter is the truth to start from.
            self.journal.set_next_local_num(server_next)
            log.info("new journal: numbering starts at the server's next local number %s", server_next)
        else:
            ours = self.journal.next_local_num()
            if ours < server_next:
                raise JournalMismatch(
                    f"the server has documents this box did not make: it expects local number {server_next},"
                    f" the journal's next is {ours} (documents {ours}..{server_next - 1} came from elsewhere)",
                    what_to_do="is another device using this register? stop it; then call support",
                )
            if ours > server_next:
                raise JournalMismatch(
                    f"the journal is ahead of the server: it holds documents up to local number {ours - 1},"
                    f" the server expects {server_next}",
                    what_to_do="call support: documents the box journaled are missing on the server",
                )
        server_open = int(state.get("ShiftState") or 0) == 1
        shift = self._open_shift()
        if server_open and shift is None and not never_used:
            raise JournalMismatch(
                "the server has an open shift that this box's journal does not",
                what_to_do="close that shift from the device that opened it, or call support",
            )
        if shift is not None and not server_open:
            raise JournalMismatch(
                f"the journal has shift {shift.id} open but the server has no open shift",
                what_to_do="call support",
            )

    def _explain_drift(self, refusal: ServerStateMismatch) -> NeedsPerson:
        try:
            state = self.server.registrar_state(self.registrar.fiscal_number) or {}
            self._check_against_server(state)
        except NeedsPerson as explained:
            return explained
        except RetryLater:
            pass
        return JournalMismatch(
            f"the server refused the document although the journal agrees with its state: {refusal.message}",
            what_to_do="call support with this text",
        )

    def _resolve_pending(self) -> None:
        for entry in self.journal.pending():
            self._reconcile(entry)

    def _reconcile(self, entry: Entry) -> Fiscalized:
        """Find out what became of a document whose reply was lost, then finish it. Never a blind resend."""
        info = self.server.document_info_by_local_num(self.registrar.fiscal_number, entry.local_num)
        if info and info.get("NumFiscal") is not None:
            log.info(
                "local number %s was registered as %s (reply had been lost)",
                entry.local_num,
                info["NumFiscal"],
            )
            return self._registered(entry, str(info["NumFiscal"]), self.clock.now(), None)
        state = self.server.registrar_state(self.registrar.fiscal_number) or {}
        server_next = int(state.get("NextLocalNum") or 0)
        if server_next != entry.local_num:
            raise JournalMismatch(
                f"document with local number {entry.local_num} is not on the server, which expects {server_next}",
                what_to_do="call support; the document is kept in the journal",
            )
        log.info(
            "local number %s never reached the server: sending the same signed document again",
            entry.local_num,
        )
        return self._send(entry, reconcile_on_loss=False)

    # --- the one path every document takes -----------------------------------------------------

    @contextmanager
    def _operation(self) -> Iterator[None]:
        with self._lock:
            if self._problem is not None:
                raise self._problem
            yield

    def _seller(self) -> docs.Seller:
        def value(key: str) -> str | None:
            configured = getattr(self.registrar, key)
            return str(configured) if configured is not None else self.journal.get(f"identity.{key}")

        tin, org_name, point_name, local_number = (
            value("tin"),
            value("org_name"),
            value("point_name"),
            value("local_number"),
        )
        if not (tin and org_name and point_name and local_number):
            raise NeverOnline(
                "the register's registration data is not known yet: the box has never reached the fiscal server",
                what_to_do="connect the box to the internet; the data is fetched once and kept",
            )
        return docs.Seller(
            tin=tin,
            org_name=org_name,
            point_name=point_name,
            cash_desk_num=int(local_number),
            cash_register_num=int(self.registrar.fiscal_number),
            ipn=value("ipn"),
            point_address=value("point_address"),
        )

    def _fiscalize(
        self,
        build: Callable[[docs.DocHead], docs.Document],
        *,
        cashier: str | None,
        request_id: str | None,
        shift_id: int | None,
        ref_fiscal_num: str | None = None,
    ) -> Fiscalized:
        if request_id is not None:
            self._refuse_duplicate(request_id)
        mode = self._mode()
        if mode == Mode.UPLOADING:
            mode = self._finish_upload_now()
        if mode == Mode.ONLINE:
            try:
                self._settle_pending()
                return self._fiscalize_online(
                    build,
                    cashier=cashier,
                    request_id=request_id,
                    shift_id=shift_id,
                    ref_fiscal_num=ref_fiscal_num,
                )
            except _WentDark as dark:
                self._record_probe(False)
                self._enter_offline(dark.entry, dark.cause)
        return self._fiscalize_offline(
            build, cashier=cashier, request_id=request_id, shift_id=shift_id, ref_fiscal_num=ref_fiscal_num
        )

    def _refuse_duplicate(self, request_id: str) -> None:
        existing = self.journal.by_request_id(request_id)
        if existing is None:
            return
        if existing.state == PENDING:
            try:
                raise DuplicateRequest(self._reconcile(existing))
            except RetryLater as exc:
                raise RetryLater(
                    f"the document with request id {request_id} is journaled but not yet registered: {exc.message}",
                    what_to_do="retry with the same request id; it will not be registered twice",
                ) from exc
        raise DuplicateRequest(self._result(existing))

    def _settle_pending(self) -> None:
        """Online: a document whose outcome is unknown must be settled before the next one is numbered."""
        for entry in self.journal.pending():
            try:
                self._reconcile(entry)
            except RetryLater as exc:
                # Left pending by an earlier call: whether it ever arrived is not known any more.
                uncertain = RetryLater(exc.message, what_to_do=exc.what_to_do)
                raise _WentDark(entry, uncertain) from exc

    def _fiscalize_online(
        self,
        build: Callable[[docs.DocHead], docs.Document],
        *,
        cashier: str | None,
        request_id: str | None,
        shift_id: int | None,
        ref_fiscal_num: str | None,
    ) -> Fiscalized:
        seller = self._seller()
        with self.journal.transaction():
            local_num = self.journal.next_local_num()
            head = docs.DocHead(
                uid=str(uuid.uuid4()),
                seller=seller,
                when=self.clock.now(),
                order_num=local_num,
                cashier=cashier,
                testing=self.registrar.testing,
            )
            try:
                entry = self._journal_document(
                    build(head), head, request_id, shift_id, ref_fiscal_num, sign=self._sign_online
                )
            except RetryLater as exc:
                # The time-stamp service is out of reach: nothing was journaled, and an online document
                # cannot go without its stamp, so this one is made offline, where none is needed.
                exc.request_sent = False
                raise _WentDark(None, exc) from exc
        self._crashpoint("after_journal")
        try:
            return self._send(entry)
        except RetryLater as exc:
            raise _WentDark(entry, exc) from exc

    def _journal_document(
        self,
        document: docs.Document,
        head: docs.DocHead,
        request_id: str | None,
        shift_id: int | None,
        ref_fiscal_num: str | None,
        *,
        offline_session: str | None = None,
        offline_n: int | None = None,
        sign: Callable[[bytes], bytes] | None = None,
    ) -> Entry:
        xml = docs.render(document)
        if self._validate:
            docs.validate(xml)
        signed = (sign or self.signer.sign)(xml)
        check = document if isinstance(document, docs.Check) else None
        return self.journal.add(
            local_num=head.order_num,
            uid=head.uid,
            doc_class="CHECK" if check else "ZREP",
            doc_type=int(check.doc_type) if check else None,
            doc_subtype=int(check.doc_subtype) if check and check.doc_subtype is not None else None,
            shift_id=shift_id,
            xml=xml,
            signed=signed,
            created_at=head.when,
            request_id=request_id,
            total=str(check.total) if check and check.total is not None else None,
            ref_fiscal_num=ref_fiscal_num,
            offline_tax_num=head.offline.tax_num if head.offline else None,
            offline_session=offline_session,
            offline_n=offline_n,
        )

    def _send(self, entry: Entry, *, reconcile_on_loss: bool = True) -> Fiscalized:
        try:
            ticket = self.server.send_document(entry.signed)
        except ServerStateMismatch as exc:
            # Our shift or numbering drifted from the server's: re-read it and stop with the
            # explanation rather than guess at the next number (reference §4.10).
            self.journal.mark_rejected(entry.id, str(exc))
            self._problem = self._explain_drift(exc)
            raise self._problem from exc
        except ServerRejected as exc:
            self.journal.mark_rejected(entry.id, str(exc))
            raise
        except RetryLater as lost:
            # The outcome is unknown: the server may have registered it. Ask before anything else,
            # and resend at most once per call so a server that keeps timing out cannot loop us.
            try:
                if not reconcile_on_loss:
                    raise lost
                return self._reconcile(entry)
            except RetryLater as exc:
                self.journal.set_error(entry.id, str(exc))
                failure = RetryLater(
                    f"the document (local number {entry.local_num}) is journaled but not yet registered:"
                    f" {exc.message}",
                    what_to_do="retry with the same request id; it will not be registered twice",
                )
                failure.request_sent = lost.request_sent
                raise failure from exc
        self._crashpoint("after_send")
        self._record_probe(True)
        if ticket.order_num is not None and ticket.order_num != entry.local_num:
            raise InvalidServerReply(
                f"the server's ticket is for local number {ticket.order_num}, the document had {entry.local_num}"
            )
        if not ticket.fiscal_num:
            raise InvalidServerReply("the server's ticket carries no fiscal number")
        return self._registered(entry, ticket.fiscal_num, self._ticket_time(ticket), ticket)

    def _ticket_time(self, ticket: Ticket) -> datetime:
        if ticket.order_date and ticket.order_time:
            try:
                return datetime.strptime(ticket.order_date + ticket.order_time, "%d%m%Y%H%M%S").replace(
                    tzinfo=KYIV
                )
            except ValueError:
                pass
        return self.clock.now()

    def _registered(self, entry: Entry, fiscal_num: str, when: datetime, ticket: Ticket | None) -> Fiscalized:
        """Journal the outcome and its side effects (shift rows, storno marks, the range) at once."""
        with self.journal.transaction():
            self.journal.mark_registered(
                entry.id, fiscal_num=fiscal_num, registered_at=when, ticket=ticket.signed if ticket else None
            )
            if ticket is not None and _check_kind(entry) == (docs.DocType.OPEN_SHIFT, None):
                self._remember_ticket_range(ticket)
            self._apply_effects(entry, when)
        done = self.journal.document(entry.id)
        assert done is not None
        return self._result(done)

    def _apply_effects(self, entry: Entry, when: datetime) -> None:
        """What a fiscalized document does to the journal's shifts and marks (online or offline alike)."""
        shift_id = entry.shift_id
        kind = _check_kind(entry)
        if kind == (docs.DocType.OPEN_SHIFT, None):
            shift_id = self.journal.new_shift(
                datetime.fromisoformat(entry.created_at), self._cashier_of(entry)
            )
            self.journal.update_shift(shift_id, open_doc=entry.id)
            self.journal.set_document_shift(entry.id, shift_id)
        elif entry.doc_class == "ZREP" and shift_id is not None:
            self.journal.update_shift(shift_id, z_doc=entry.id)
        elif kind == (docs.DocType.CLOSE_SHIFT, None) and shift_id is not None:
            self.journal.update_shift(shift_id, close_doc=entry.id, closed_at=when.isoformat())
        elif kind == (docs.DocType.SALE_GOODS, docs.DocSubType.CHECK_STORNO) and entry.ref_fiscal_num:
            self.journal.mark_stornoed(entry.ref_fiscal_num)

    def _cashier_of(self, entry: Entry) -> str | None:
        return docs.parse(entry.xml).head.cashier

    def _result(self, entry: Entry) -> Fiscalized:
        assert entry.state in (REGISTERED, OFFLINE) and entry.fiscal_num is not None
        registered_at = datetime.fromisoformat(entry.registered_at or entry.created_at)
        return Fiscalized(
            entry_id=entry.id,
            uid=entry.uid,
            request_id=entry.request_id,
            local_num=entry.local_num,
            fiscal_num=entry.fiscal_num,
            offline=entry.offline,
            registered_at=registered_at,
            document=docs.parse(entry.xml),
            xml=entry.xml,
            shift_id=entry.shift_id,
            delivered=entry.state == REGISTERED,
        )

    # --- offline ------------------------------------------------------------------------------

    def _offline_refusal(self, numbers_needed: int) -> SalesBlocked | None:
        """Why no offline document may be made now, or None when one may."""
        if self.journal.get("offline_prohibited") == "1":
            return OfflineProhibited(
                f"offline mode is prohibited for register {self.registrar.fiscal_number} (it was registered"
                " without the right to work offline) and the fiscal server cannot be reached",
                what_to_do="restore the internet connection; offline mode can be allowed in the tax cabinet",
            )
        mode = self._mode()
        range_id = (
            self.journal.get("session.id") if mode == Mode.OFFLINE else self.journal.get("offline_session_id")
        )
        if range_id is None or self.journal.get("identity.tin") is None:
            return NeverOnline(
                "the box has no offline range yet: it must open its first shift online before it may ever work offline",
                what_to_do="connect the box to the internet and open a shift",
            )
        next_number = (self._meta_int("session.next_n") or 1) if mode == Mode.OFFLINE else 1
        verdict = rules.judge(
            self._ledger(),
            self.clock.now(),
            self.limits,
            reserve=self._meta_int("offline_reserve"),
            next_number=next_number,
            numbers_needed=numbers_needed,
        )
        if verdict.refusal == "session_limit":
            return OfflineSessionLimit(
                f"the offline session has lasted {_hours(verdict.session_used)}, the limit is"
                f" {_hours(self.limits.max_session)}: no more offline documents",
                what_to_do="restore the internet connection; the box uploads and goes online by itself",
            )
        if verdict.refusal == "month_limit":
            return OfflineMonthLimit(
                f"offline time this month is {_hours(verdict.month_used)}, the limit is"
                f" {_hours(self.limits.max_month)}: no more offline documents this month",
                what_to_do="restore the internet connection; offline time is counted afresh from the 1st",
            )
        if verdict.refusal == "range_exhausted":
            return OfflineRangeExhausted(
                "no offline fiscal numbers are left in the range the server issued",
                what_to_do="restore the internet connection; the box gets a new range when it uploads",
            )
        return None

    def _enter_offline(self, lost: Entry | None, cause: RetryLater) -> None:
        """The server is gone: open an offline session (102) with the range we hold."""
        refusal = self._offline_refusal(numbers_needed=2)
        if refusal is not None:
            self._event("blocked", reason=refusal.reason, message=str(refusal))
            raise refusal from cause
        now = self.clock.now()
        with self.journal.transaction():
            if lost is not None:
                if not cause.request_sent:
                    # The connection was never made: the server cannot have it; its number is free again.
                    self.journal.mark_rejected(lost.id, f"never sent: {cause.message}", state=VOID)
                elif _financially_significant(lost):
                    self.journal.set_state(lost.id, SUPERSEDED)
                    self.journal.set("session.lost_doc", str(lost.id))
                else:
                    # A shift document cannot be revoked (reference §4.9), so it is not made again offline.
                    raise SalesBlocked(
                        f"the server stopped answering while shift document {lost.local_num} was being registered;"
                        " it must be settled with the server before anything else",
                        what_to_do="wait for the connection; the box settles it by itself",
                    ) from cause
            session_id = self.journal.get("offline_session_id")
            seed = self.journal.get("offline_seed")
            assert session_id is not None and seed is not None
            self.journal.set("session.id", session_id)
            self.journal.set("session.seed", seed)
            self.journal.set("session.next_n", "1")
            self.journal.set("session.chain_hash", None)
            self.journal.set("mode", Mode.OFFLINE)
            self._save_ledger(rules.begin_session(self._ledger(), now))
            begin = self._make_offline(docs.offline_begin, cashier=None, request_id=None, shift_id=None)
            self.journal.set("session.begin_doc", str(begin.id))
        self._record_probe(False)
        log.warning("fiscal server unreachable (%s): offline session %s begins", cause.message, session_id)
        self._event("went_offline", session_id=session_id, reason=cause.message)

    def _make_offline(
        self,
        build: Callable[[docs.DocHead], docs.Document],
        *,
        cashier: str | None,
        request_id: str | None,
        shift_id: int | None,
        ref_fiscal_num: str | None = None,
    ) -> Entry:
        """Number, chain, sign and journal one offline document; the caller holds a transaction."""
        session_id = self.journal.get("session.id")
        seed = self.journal.get("session.seed")
        n = self._meta_int("session.next_n") or 1
        assert session_id is not None and seed is not None
        seller = self._seller()
        local_num = self.journal.next_local_num()
        head = docs.DocHead(
            uid=str(uuid.uuid4()),
            seller=seller,
            when=self.clock.now(),
            order_num=local_num,
            cashier=cashier,
            testing=self.registrar.testing,
        )
        # A draft first, only to learn the sum the control number covers (102/103 need a mark to build).
        draft = build(dataclasses.replace(head, offline=docs.OfflineMark(tax_num=f"{session_id}.{n}.0")))
        chain = self.journal.get("session.chain_hash")
        is_end = isinstance(draft, docs.Check) and draft.doc_type == docs.DocType.OFFLINE_END
        prev = chain if (is_end or _chained(draft)) else None
        control = numbering.control_number(
            seed=seed,
            when=head.when,
            order_num=local_num,
            cash_register_num=seller.cash_register_num,
            cash_desk_num=seller.cash_desk_num,
            total=docs.control_sum(draft),
            prev_doc_hash=prev,
        )
        mark = docs.OfflineMark(
            tax_num=numbering.offline_fiscal_number(session_id, n, control), prev_doc_hash=prev
        )
        offline_head = dataclasses.replace(head, offline=mark)
        document = build(offline_head)
        entry = self._journal_document(
            document,
            offline_head,
            request_id,
            shift_id,
            ref_fiscal_num,
            offline_session=session_id,
            offline_n=n,
        )
        self.journal.set("session.next_n", str(n + 1))
        if _chained(document):
            self.journal.set("session.chain_hash", numbering.document_hash(entry.signed))
        self._apply_effects(entry, head.when)
        return entry

    def _fiscalize_offline(
        self,
        build: Callable[[docs.DocHead], docs.Document],
        *,
        cashier: str | None,
        request_id: str | None,
        shift_id: int | None,
        ref_fiscal_num: str | None,
    ) -> Fiscalized:
        self._probe_before_document()
        refusal = self._offline_refusal(numbers_needed=1)
        if refusal is not None:
            self._event("blocked", reason=refusal.reason, message=str(refusal))
            raise refusal
        with self.journal.transaction():
            entry = self._make_offline(
                build,
                cashier=cashier,
                request_id=request_id,
                shift_id=shift_id,
                ref_fiscal_num=ref_fiscal_num,
            )
        self._announce_warnings()
        done = self.journal.document(entry.id)
        assert done is not None
        return self._result(done)

    def _announce_warnings(self) -> None:
        """A limit or the reserve past warn_at_percent: said once per session, not on every receipt."""
        verdict = rules.judge(
            self._ledger(),
            self.clock.now(),
            self.limits,
            reserve=self._meta_int("offline_reserve"),
            next_number=self._meta_int("session.next_n") or 1,
        )
        announced = set((self.journal.get("session.warned") or "").split(",")) - {""}
        for warning in verdict.warnings:
            if warning not in announced:
                announced.add(warning)
                self._event(
                    "limit_warning",
                    warning=warning,
                    session_minutes=int(verdict.session_used.total_seconds() // 60),
                    month_minutes=int(verdict.month_used.total_seconds() // 60),
                    numbers_left=verdict.numbers_left,
                )
        self.journal.set("session.warned", ",".join(sorted(announced)) or None)

    # --- probing ------------------------------------------------------------------------------

    def _record_probe(self, ok: bool) -> None:
        now = self.clock.monotonic()
        with self._probe_lock:
            self._probe_ok, self._probe_at = ok, now
            if ok and self._reachable_since is None:
                self._reachable_since = now
            elif not ok:
                self._reachable_since = None

    def _probe(self, timeout: float | None = None) -> bool:
        try:
            self.server.server_state(timeout=timeout)
        except RetryLater:
            self._record_probe(False)
            return False
        except FiscalBoxError:
            self._record_probe(False)
            return False
        self._record_probe(True)
        return True

    def _probe_before_document(self) -> None:
        """The regulation asks for a check before each offline document; it must not hold the sale up.

        A fresh answer counts; a probe already under way counts as checking; otherwise one is started
        and awaited for at most the budget, and left to finish in the background."""
        now = self.clock.monotonic()
        with self._probe_lock:
            fresh = self._probe_at is not None and now - self._probe_at < self.probe_freshness_s
            reachable = bool(self._probe_ok) if fresh else False
            running = self._probe_thread is not None and self._probe_thread.is_alive()
            if not fresh and not running:
                thread = threading.Thread(target=self._probe, name="fiscal-box-probe", daemon=True)
                self._probe_thread = thread
                thread.start()
            else:
                thread = None
        if thread is not None:
            thread.join(self.probe_budget_s)
            with self._probe_lock:
                reachable = bool(self._probe_ok) and not thread.is_alive()
        if reachable:
            self._kick_sync()

    def _kick_sync(self) -> None:
        if not self.auto_sync:
            return
        if self._sync_thread is not None and self._sync_thread.is_alive():
            return

        def run() -> None:
            try:
                self.go_online()
            except FiscalBoxError as exc:
                log.warning("background upload: %s", exc)
            except Exception:  # the thread must report, never die silently
                log.exception("background upload failed")

        self._sync_thread = threading.Thread(target=run, name="fiscal-box-sync", daemon=True)
        self._sync_thread.start()

    # --- going online: 103, packages, the next range ------------------------------------------

    def go_online(self) -> SyncReport:
        """Probe now; when the server answers, deliver every offline document and go online."""
        with self.journal.exclusive("upload") as ours:
            if not ours:
                with self._lock:
                    mode = self._mode()
                return SyncReport(True, False, 0, 0, mode, error="another upload of this journal is running")
            return self._go_online()

    def _go_online(self) -> SyncReport:
        # No lock of its own: every package is cut, sent and marked under the register's lock, so two
        # runs (the agent's loop and a sale's probe) can interleave without sending anything twice.
        with self._lock:  # the journal's connection is shared: every touch of it holds the lock
            self._last_sync_attempt = self.clock.monotonic()
            if self._mode() == Mode.ONLINE:
                return self._refresh_online()
            session_id = self.journal.get("session.id")
            seed = self.journal.get("session.seed")
        try:
            state = self.server.registrar_state(
                self.registrar.fiscal_number, offline_session_id=session_id, offline_seed=seed
            )
        except RetryLater as exc:
            self._record_probe(False)
            with self._lock:
                return SyncReport(False, False, 0, 0, self._mode(), error=str(exc))
        self._record_probe(True)
        packages = delivered = 0
        revoked = None
        batch: list[Entry] = []
        try:
            with self._lock:
                revoked = self._settle_lost_online()
                done = self._adopt_server_progress(state or {}, session_id)
            while not done:
                with self._lock:
                    batch = self._next_package()
                    if not batch:
                        break
                    reply = self.server.send_package([e.signed for e in batch])
                    self._crashpoint("after_package")
                    packages += 1
                    delivered += len(batch)
                    done = self._package_delivered(
                        batch, reply.next_offline_session_id, reply.next_offline_seed
                    )
                time.sleep(0)  # let a waiting sale take the lock between packages
        except DocumentRejected as exc:
            error = self._package_refused(exc, batch)
            self._event("sync_failed", error=str(error))
            raise error from exc
        except RetryLater as exc:
            self._event("sync_failed", error=str(exc))
            with self._lock:
                return SyncReport(True, False, packages, delivered, self._mode(), error=str(exc))
        with self._lock:
            mode = self._mode()
        if mode == Mode.ONLINE:
            self._after_went_online(delivered)
        return SyncReport(
            True, mode == Mode.ONLINE, packages, delivered, mode, revoked_online_fiscal_num=revoked
        )

    def _refresh_online(self) -> SyncReport:
        """Online already: settle what is pending and keep the range fresh."""
        try:
            with self._lock:
                self._resolve_pending()
                state = self.server.registrar_state(self.registrar.fiscal_number)
                if state:
                    with self.journal.transaction():
                        self._adopt_range(state)
                self._last_range_refresh = self.clock.monotonic()
        except RetryLater as exc:
            self._record_probe(False)
            return SyncReport(False, False, 0, 0, Mode.ONLINE, error=str(exc))
        self._record_probe(True)
        return SyncReport(True, False, 0, 0, Mode.ONLINE)

    def _settle_lost_online(self) -> str | None:
        """The online document lost when the box went offline: revoke it in the 102 if the server has it.

        Must run before the 102 is delivered: only then may the 102 still be amended."""
        lost_id = self._meta_int("session.lost_doc")
        if lost_id is None:
            return None
        lost = self.journal.document(lost_id)
        begin = self.journal.document(self._meta_int("session.begin_doc") or 0)
        assert lost is not None and begin is not None
        if begin.state != OFFLINE:
            raise JournalMismatch(
                "the offline begin document was delivered before the lost online document was settled"
            )
        info = self.server.document_info_by_local_num(self.registrar.fiscal_number, lost.local_num)
        if info and info.get("NumFiscal") is not None:
            fiscal_num = str(info["NumFiscal"])
        else:
            state = self.server.registrar_state(self.registrar.fiscal_number) or {}
            if int(state.get("NextLocalNum") or 0) != lost.local_num:
                raise JournalMismatch(
                    f"the online document {lost.local_num} lost at the outage is not on the server, which expects"
                    f" {state.get('NextLocalNum')}",
                    what_to_do="call support; every document is kept in the journal",
                )
            # It never arrived: its number must still be used, so deliver it, then revoke it in the 102
            # (its sale was made again offline and counts there).
            ticket = self.server.send_document(lost.signed)
            fiscal_num = ticket.fiscal_num or ""
        document = docs.parse(begin.xml)
        assert isinstance(document, docs.Check) and document.head.offline is not None
        amended = dataclasses.replace(
            document,
            head=dataclasses.replace(
                document.head, offline=dataclasses.replace(document.head.offline, revoke_last_online_doc=True)
            ),
        )
        xml = docs.render(amended)
        with self.journal.transaction():
            self.journal.replace_signed(begin.id, xml, self.signer.sign(xml))
            self.journal.set_state(lost.id, REVOKED, fiscal_num=fiscal_num)
            self.journal.set("session.lost_doc", None)
        log.info(
            "online document %s (fiscal %s) revoked in the offline begin document", lost.local_num, fiscal_num
        )
        return fiscal_num

    def _adopt_server_progress(self, state: Mapping[str, Any], session_id: str | None) -> bool:
        """Resume: what the server already has of this session is delivered. True when all of it is."""
        if session_id is None:
            return True
        server_session = state.get("OfflineSessionId")
        if server_session is not None and str(server_session) != session_id:
            # The server has closed our session: its 103 arrived and the reply was lost.
            if int(state.get("NextLocalNum") or 0) != self.journal.next_local_num():
                raise JournalMismatch(
                    f"the server moved on to offline session {server_session} but expects local number"
                    f" {state.get('NextLocalNum')}, the journal's next is {self.journal.next_local_num()}",
                    what_to_do="call support; every document is kept in the journal",
                )
            with self.journal.transaction():
                self.journal.mark_session_uploaded(session_id, self.clock.now())
                self._package_delivered([], str(server_session), state.get("OfflineSeed"))
            return True
        server_next_n = _int_or_none(state.get("OfflineNextLocalNum")) or 1
        already = self.journal.mark_session_uploaded(session_id, self.clock.now(), below_n=server_next_n)
        if already:
            log.info("the server already has %s documents of session %s (resuming)", already, session_id)
        return False

    def _next_package(self) -> list[Entry]:
        session_id = self.journal.get("session.id")
        if session_id is None:
            return []
        unsent = self.journal.offline_unsent(session_id, limit=101)
        packages = split_packages(unsent, [len(e.signed) for e in unsent])
        if self._mode() == Mode.OFFLINE and len(packages) <= 1 and len(unsent) <= 99:
            # The rest fits in one package: close the session now, so the 103 is its last document.
            with self.journal.transaction():
                self._make_offline(docs.offline_end, cashier=None, request_id=None, shift_id=None)
                self.journal.set("mode", Mode.UPLOADING)
            unsent = self.journal.offline_unsent(session_id, limit=101)
            packages = split_packages(unsent, [len(e.signed) for e in unsent])
        return packages[0] if packages else []

    def _package_delivered(self, batch: list[Entry], next_id: Any, next_seed: Any) -> bool:
        now = self.clock.now()
        with self.journal.transaction():
            self.journal.mark_uploaded([e.id for e in batch], now)
            self.journal.set("upload_error", None)
            self.journal.set("last_sync_at", now.isoformat())
            if next_id is None:
                return False
            # The package with the 103 was accepted: the next range, and we are online.
            self.journal.set("offline_session_id", str(next_id))
            if next_seed is not None:
                self.journal.set("offline_seed", str(next_seed))
            for key in (
                "session.id",
                "session.seed",
                "session.next_n",
                "session.chain_hash",
                "session.begin_doc",
                "session.warned",
            ):
                self.journal.set(key, None)
            self.journal.set("mode", Mode.ONLINE)
            self._save_ledger(rules.end_session(self._ledger(), now))
        return True

    def _after_went_online(self, delivered: int) -> None:
        self._event("sync_done", documents=delivered)
        self._event("went_online")
        try:
            state = self.server.registrar_state(self.registrar.fiscal_number)
        except FiscalBoxError as exc:
            log.warning("could not read the server's offline figures after the upload: %s", exc)
            return
        if state:
            with self._lock, self.journal.transaction():
                self._adopt_range(state)

    def _package_refused(self, exc: DocumentRejected, batch: Sequence[Entry]) -> OfflineDocumentsRefused:
        match = _PACKAGE_INDEX.search(exc.server_text or "")
        failing = None
        if match and batch:
            index = int(match.group(1))
            if 0 <= index < len(batch):
                failing = batch[index]
        named = (
            f"document local № {failing.local_num} ({failing.offline_tax_num})"
            if failing
            else "a document of the package"
        )
        error = OfflineDocumentsRefused(
            f"the fiscal server refused {named}: {exc.server_text or exc.message}",
            local_num=failing.local_num if failing else None,
            server_text=exc.server_text,
            what_to_do="every document is kept; call support with this text, then send again (fiscal-box go-online)",
        )
        with self._lock:
            self.journal.set("upload_error", str(error))
        return error

    def _finish_upload_now(self) -> Mode:
        """The 103 is made: nothing may be numbered until its package is delivered."""
        try:
            report = self.go_online()
        except OfflineDocumentsRefused as exc:
            raise UploadInProgress(str(exc), what_to_do=exc.what_to_do) from exc
        if report.mode == Mode.UPLOADING:
            raise UploadInProgress(
                "the offline session is closed and its last package is not delivered yet: the box waits for the"
                " fiscal server to answer",
                what_to_do="wait for the connection; the box delivers the package by itself",
            )
        return report.mode

    def maintain(self) -> None:
        """The agent's loop calls this often: periodic probes while offline, range refresh while online."""
        now = self.clock.monotonic()
        with self._lock:
            mode = self._mode()
            has_pending = bool(self.journal.pending())
        if mode == Mode.ONLINE:
            refresh_due = (
                self._last_range_refresh is None or now - self._last_range_refresh >= self.check_interval_s
            )
            if has_pending or refresh_due:
                self.go_online()
        elif self._last_sync_attempt is None or now - self._last_sync_attempt >= self.check_interval_s:
            self.go_online()

    # --- shifts ------------------------------------------------------------------------------

    def _open_shift(self) -> Shift | None:
        shift = self.journal.last_shift()
        return shift if shift is not None and shift.close_doc is None else None

    def _require_open_shift(self, *, for_sales: bool = True) -> Shift:
        shift = self._open_shift()
        if shift is None:
            raise ShiftNotOpen("no shift is open", what_to_do="open a shift first")
        if for_sales and shift.z_doc is not None:
            raise ShiftNotOpen(
                "the shift's Z report is already made; no more sales in this shift",
                what_to_do="close the shift and open a new one",
            )
        return shift

    def open_shift(self, *, cashier: str | None = None, request_id: str | None = None) -> Fiscalized:
        with self._operation():
            shift = self._open_shift()
            if shift is not None:
                raise ShiftAlreadyOpen(
                    f"shift {shift.id} is already open since {shift.opened_at}",
                    what_to_do="go on selling in it, or close it first",
                )
            return self._fiscalize(docs.open_shift, cashier=cashier, request_id=request_id, shift_id=None)

    def close_shift(self, *, cashier: str | None = None) -> tuple[Fiscalized, Fiscalized]:
        """The Z report, then the close-shift document (a crash between them resumes at the second)."""
        with self._operation():
            shift = self._require_open_shift(for_sales=False)
            if self._mode() == Mode.ONLINE:
                # If it cannot be settled now, the Z goes offline below and settles it there.
                with suppress(RetryLater):
                    self._resolve_pending()
            shift = self.journal.shift(shift.id) or shift
            if shift.z_doc is None:
                # Totalled when the Z is built: going offline first may have superseded a lost sale.
                shift_id = shift.id
                z = self._fiscalize(
                    lambda head: docs.z_report(head, self._shift_checks(shift_id)),
                    cashier=cashier,
                    request_id=None,
                    shift_id=shift.id,
                )
            else:
                entry = self.journal.document(shift.z_doc)
                assert entry is not None
                z = self._result(entry)
            close = self._fiscalize(docs.close_shift, cashier=cashier, request_id=None, shift_id=shift.id)
            return z, close

    def _shift_checks(self, shift_id: int) -> list[docs.Check]:
        checks: list[docs.Check] = []
        for entry in self.journal.shift_documents(shift_id):
            if (
                entry.doc_class != "CHECK"
                or entry.stornoed
                or entry.doc_type != docs.DocType.SALE_GOODS
                or entry.doc_subtype == docs.DocSubType.CHECK_STORNO
            ):
                continue
            document = docs.parse(entry.xml)
            assert isinstance(document, docs.Check)
            checks.append(document)
        return checks

    def x_report(self) -> ShiftReport:
        """The open shift's figures; nothing is signed or sent (an X report is not a fiscal document)."""
        with self._operation():
            shift = self._require_open_shift(for_sales=False)
            checks = self._shift_checks(shift.id)
            head = docs.DocHead(
                uid="x-report",
                seller=self._seller(),
                when=self.clock.now(),
                order_num=self.journal.next_local_num(),
            )
            return ShiftReport(
                shift_id=shift.id,
                opened_at=datetime.fromisoformat(shift.opened_at),
                cashier=shift.cashier,
                report=docs.z_report(head, checks),
                receipts_count=sum(
                    1
                    for c in checks
                    if c.doc_subtype in (docs.DocSubType.CHECK_GOODS, docs.DocSubType.CHECK_RETURN)
                ),
            )

    # --- receipts ----------------------------------------------------------------------------

    def sell(
        self,
        items: Sequence[docs.Item],
        payments: Sequence[docs.Payment],
        *,
        cashier: str | None = None,
        request_id: str | None = None,
    ) -> Fiscalized:
        with self._operation():
            shift = self._require_open_shift()
            taxes = self.taxes
            return self._fiscalize(
                lambda head: docs.sale(head, items, payments, taxes),
                cashier=cashier,
                request_id=request_id,
                shift_id=shift.id,
            )

    def refund(
        self,
        items: Sequence[docs.Item],
        payments: Sequence[docs.Payment],
        *,
        sale_fiscal_num: str,
        cashier: str | None = None,
        request_id: str | None = None,
    ) -> Fiscalized:
        with self._operation():
            shift = self._require_open_shift()
            self._check_refundable(items, payments, sale_fiscal_num)
            taxes = self.taxes
            return self._fiscalize(
                lambda head: docs.refund(head, items, payments, taxes, sale_fiscal_num),
                cashier=cashier,
                request_id=request_id,
                shift_id=shift.id,
                ref_fiscal_num=sale_fiscal_num,
            )

    def _check_refundable(
        self, items: Sequence[docs.Item], payments: Sequence[docs.Payment], sale_fiscal_num: str
    ) -> None:
        sale_entry = self.journal.by_fiscal_num(sale_fiscal_num)
        if sale_entry is None or _check_kind(sale_entry) != (docs.DocType.SALE_GOODS, _REFUNDABLE):
            raise InvalidInput(
                f"no sale with fiscal number {sale_fiscal_num} was made on this register",
                field="related_receipt_id",
                what_to_do="give the fiscal number of the sale being returned",
            )
        if sale_entry.stornoed:
            raise InvalidInput(
                f"sale {sale_fiscal_num} was cancelled (storno); it cannot be returned",
                field="related_receipt_id",
            )
        sale = docs.parse(sale_entry.xml)
        assert isinstance(sale, docs.Check)
        sold: dict[tuple[str, Decimal], Decimal] = {}
        for line in sale.lines:
            key = (line.item.name, line.item.price)
            sold[key] = sold.get(key, Decimal(0)) + line.item.quantity
        sold_total = sale.total or Decimal(0)
        for previous in self.journal.refunds_of(sale_fiscal_num):
            earlier = docs.parse(previous.xml)
            assert isinstance(earlier, docs.Check)
            sold_total -= earlier.total or Decimal(0)
            for line in earlier.lines:
                key = (line.item.name, line.item.price)
                sold[key] = sold.get(key, Decimal(0)) - line.item.quantity
        for index, item in enumerate(items):
            key = (item.name, item.price)
            if key not in sold:
                raise InvalidInput(
                    f"{item.name!r} at {item.price} was not sold in receipt {sale_fiscal_num}",
                    field=f"goods[{index}]",
                    what_to_do="return only goods of that receipt, at the price they were sold",
                )
            sold[key] -= item.quantity
            if sold[key] < 0:
                raise InvalidInput(
                    f"the return of {item.name!r} is more than was sold in receipt {sale_fiscal_num}"
                    " (earlier returns counted)",
                    field=f"goods[{index}].quantity",
                )
        paid_back = sum((p.amount for p in payments), Decimal(0))
        if paid_back > sold_total:
            raise InvalidInput(
                f"the refund of {paid_back:.2f} is more than the {sold_total:.2f} left of receipt {sale_fiscal_num}",
                field="payments",
            )

    def cash_in(
        self, amount: Decimal, *, cashier: str | None = None, request_id: str | None = None
    ) -> Fiscalized:
        with self._operation():
            shift = self._require_open_shift()
            return self._fiscalize(
                lambda head: docs.service_deposit(head, amount),
                cashier=cashier,
                request_id=request_id,
                shift_id=shift.id,
            )

    def cash_out(
        self, amount: Decimal, *, cashier: str | None = None, request_id: str | None = None
    ) -> Fiscalized:
        with self._operation():
            shift = self._require_open_shift()
            return self._fiscalize(
                lambda head: docs.service_issue(head, amount),
                cashier=cashier,
                request_id=request_id,
                shift_id=shift.id,
            )

    def storno_last(self, *, cashier: str | None = None, request_id: str | None = None) -> Fiscalized:
        """Cancel the last document, which must be a receipt or a service check of this shift."""
        with self._operation():
            shift = self._require_open_shift()
            if self._mode() == Mode.ONLINE:
                with suppress(RetryLater):
                    self._resolve_pending()
            last = self.journal.last_live()
            if (
                last is None
                or last.shift_id != shift.id
                or last.state == PENDING
                or last.doc_type != docs.DocType.SALE_GOODS
                or last.doc_subtype not in _STORNABLE
                or last.stornoed
                or last.fiscal_num is None
            ):
                raise InvalidInput(
                    "only the last receipt of the open shift can be cancelled, and the last document is not one",
                    what_to_do="make a return instead",
                )
            target = last.fiscal_num
            return self._fiscalize(
                lambda head: docs.storno(head, target),
                cashier=cashier,
                request_id=request_id,
                shift_id=shift.id,
                ref_fiscal_num=target,
            )

    # --- reading -----------------------------------------------------------------------------

    def shift_view(self, shift_id: int | None = None, *, with_figures: bool = False) -> ShiftView | None:
        """A shift (the last one when no id is given); its totals only when asked: they cost a parse of
        every document of the shift."""
        with self._lock:
            shift = self.journal.shift(shift_id) if shift_id is not None else self.journal.last_shift()
            if shift is None:
                return None
            opened = self.journal.document(shift.open_doc) if shift.open_doc else None
            z_entry = self.journal.document(shift.z_doc) if shift.z_doc else None
            z = self._result(z_entry) if z_entry is not None and z_entry.fiscal_num else None
            figures: docs.ZReport | None = None
            if with_figures:
                if z is not None and isinstance(z.document, docs.ZReport):
                    figures = z.document
                else:
                    head = docs.DocHead(
                        uid="figures", seller=self._seller(), when=self.clock.now(), order_num=1
                    )
                    figures = docs.z_report(head, self._shift_checks(shift.id))
            return ShiftView(
                id=shift.id,
                opened_at=datetime.fromisoformat(shift.opened_at),
                closed_at=datetime.fromisoformat(shift.closed_at) if shift.closed_at else None,
                cashier=shift.cashier,
                open_fiscal_num=opened.fiscal_num if opened else None,
                z=z,
                figures=figures,
            )

    def resolve_pending(self) -> None:
        """Finish what a lost reply or a crash left pending (the agent's loop calls this)."""
        with self._operation():
            if self._mode() == Mode.ONLINE:
                self._resolve_pending()

    def close(self) -> None:
        for thread in (self._sync_thread, self._probe_thread):
            if thread is not None:
                thread.join(timeout=10)
        with self._lock:
            self.server.close()
            self.journal.close()

    def get(self, request_id: str) -> Fiscalized | None:
        entry = self.journal.by_request_id(request_id)
        if entry is None or entry.state not in (REGISTERED, OFFLINE):
            return None
        return self._result(entry)

    def status(self) -> RegisterStatus:
        with self._lock:
            now = self.clock.now()
            mode = self._mode()
            shift = self._open_shift()
            undelivered, oldest = self.journal.undelivered()
            ledger = self._ledger()
            next_number = (self._meta_int("session.next_n") or 1) if mode == Mode.OFFLINE else 1
            verdict = rules.judge(
                ledger, now, self.limits, reserve=self._meta_int("offline_reserve"), next_number=next_number
            )
            blocked: str | None = None
            errors: list[str] = []
            if self._problem is not None:
                blocked = getattr(self._problem, "reason", None) or self._problem.code
            elif mode != Mode.ONLINE or self._probe_ok is False:
                # Offline, or online with the server gone: could the next sale be made offline?
                refusal = self._offline_refusal(numbers_needed=1 if mode != Mode.ONLINE else 2)
                if refusal is not None:
                    blocked = refusal.reason
                    errors.append(str(refusal))
            upload_error = self.journal.get("upload_error")
            if upload_error:
                errors.append(upload_error)
            if undelivered and self._reachable_since is not None:
                reachable_for = self.clock.monotonic() - self._reachable_since
                if reachable_for > self.check_interval_s:
                    errors.append(
                        f"{undelivered} documents are still not delivered although the fiscal server has"
                        f" answered for {int(reachable_for)} s"
                    )
            last_sync = self.journal.get("last_sync_at")
            return RegisterStatus(
                mode=mode,
                blocked_reason=blocked,
                shift_open=shift is not None,
                shift_id=shift.id if shift else None,
                z_done=bool(shift and shift.z_doc),
                next_local_num=self.journal.next_local_num(),
                pending_documents=undelivered,
                oldest_pending_at=datetime.fromisoformat(oldest) if oldest else None,
                offline_session_id=self.journal.get("session.id") or self.journal.get("offline_session_id"),
                has_offline_seed=self.journal.get("offline_seed") is not None,
                offline_allowed=None
                if self.journal.get("offline_prohibited") is None
                else self.journal.get("offline_prohibited") == "0",
                session_minutes=int(verdict.session_used.total_seconds() // 60),
                month_minutes=int(verdict.month_used.total_seconds() // 60),
                max_session_minutes=int(self.limits.max_session.total_seconds() // 60),
                max_month_minutes=int(self.limits.max_month.total_seconds() // 60),
                numbers_left=verdict.numbers_left,
                warnings=list(verdict.warnings) if mode != Mode.ONLINE else [],
                problem=str(self._problem) if self._problem else None,
                upload_error=upload_error,
                last_sync_at=datetime.fromisoformat(last_sync) if last_sync else None,
                identity_known=self.journal.get("identity.tin") is not None or self.registrar.tin is not None,
                errors=errors,
            )


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _hours(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


__all__ = [
    "CashRegister",
    "DuplicateRequest",
    "FiscalBoxError",
    "Fiscalized",
    "Mode",
    "RegisterStatus",
    "Registrar",
    "ShiftReport",
    "SyncReport",
]
