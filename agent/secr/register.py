"""The cash register facade: open_shift, sell, refund, cash_in, cash_out, storno_last, x_report, close_shift.

Fiscal safety lives here, in this order for every document:
1. refuse bad input before anything is written;
2. number, render, validate, sign and journal the document in one transaction (durable before sending);
3. send it; on a reply, journal the fiscal number before answering;
4. on a lost reply, ask the server (DocumentInfoByLocalNum) before anything is sent again, so nothing is
   registered twice; what cannot be resolved now stays pending and is resolved before the next document.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.clock import KYIV, Clock
from agent.secr import documents as docs
from agent.secr.errors import (
    FiscalBoxError,
    InvalidInput,
    InvalidServerReply,
    JournalMismatch,
    NeedsPerson,
    RegistrarNotAvailable,
    RetryLater,
    ServerRejected,
    ServerStateMismatch,
    ShiftAlreadyOpen,
    ShiftNotOpen,
)
from agent.secr.identity import Registrar
from agent.secr.journal import PENDING, REGISTERED, Entry, Journal, Shift
from agent.secr.server import FiscalServerClient, Ticket
from agent.secr.signing.base import Signer

log = logging.getLogger(__name__)

Crashpoint = Callable[[str], None]

_REFUNDABLE = docs.DocSubType.CHECK_GOODS
_STORNABLE = {
    docs.DocSubType.CHECK_GOODS,
    docs.DocSubType.CHECK_RETURN,
    docs.DocSubType.SERVICE_DEPOSIT,
    docs.DocSubType.SERVICE_ISSUE,
}


def _no_crash(_: str) -> None:
    return None


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
    """A registered document: safe to print and to answer the till."""

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

    @property
    def total(self) -> Decimal | None:
        return self.document.total if isinstance(self.document, docs.Check) else None


@dataclass(frozen=True)
class ShiftReport:
    """An X report (or the figures of a Z): the shift's totals, computed from the journal."""

    shift_id: int
    opened_at: datetime
    cashier: str | None
    report: docs.ZReport
    receipts_count: int  # sales and returns, cancelled ones left out
    z_fiscal_num: str | None = None


@dataclass
class RegisterStatus:
    shift_open: bool
    shift_id: int | None
    z_done: bool
    next_local_num: int
    pending_documents: int
    oldest_pending_at: datetime | None
    offline_session_id: str | None
    has_offline_seed: bool
    problem: str | None
    identity_known: bool
    extra: dict[str, Any] = field(default_factory=dict)


def _check_kind(entry: Entry) -> tuple[int | None, int | None]:
    return entry.doc_type, entry.doc_subtype


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
        crashpoint: Crashpoint = _no_crash,
        validate_documents: bool = True,
    ) -> None:
        self.journal = journal
        self.server = server
        self.signer = signer
        self.registrar = registrar
        self.taxes = dict(taxes)
        self.clock = clock
        self._crashpoint = crashpoint
        self._validate = validate_documents
        self._lock = threading.RLock()
        self._problem: NeedsPerson | None = None

    # --- start-up and reconciliation ---------------------------------------------------------

    def start(self) -> None:
        """Learn who we are from the server, resolve what a crash left pending, check numbering.

        The server being unreachable is not fatal (the journal knows enough); a disagreement is, and
        is explained instead of guessed at.
        """
        with self._lock:
            self._problem = None
            try:
                state = self.server.registrar_state(self.registrar.fiscal_number, include_tax_object=True)
            except RetryLater as exc:
                log.warning("fiscal server not reachable at start: %s", exc)
                return
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
            try:
                self._resolve_pending()
                self._check_against_server(self.server.registrar_state(self.registrar.fiscal_number) or state)
            except NeedsPerson as exc:
                self._problem = exc
                raise

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
            self._remember_offline_session(state.get("OfflineSessionId"), state.get("OfflineSeed"))

    def _remember_offline_session(self, session_id: Any, seed: Any) -> None:
        if session_id is not None and seed is not None:
            self.journal.set("offline_session_id", str(session_id))
            self.journal.set("offline_seed", str(seed))

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
            raise RetryLater(
                "the register's registration data is not known yet: the box has not reached the fiscal server",
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
            existing = self.journal.by_request_id(request_id)
            if existing is not None:
                result = self._reconcile(existing) if existing.state == PENDING else self._result(existing)
                raise DuplicateRequest(result)
        self._resolve_pending()
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
            document = build(head)
            xml = docs.render(document)
            if self._validate:
                docs.validate(xml)
            signed = self.signer.sign(xml)
            is_check = isinstance(document, docs.Check)
            entry = self.journal.add_pending(
                local_num=local_num,
                uid=head.uid,
                doc_class="CHECK" if is_check else "ZREP",
                doc_type=int(document.doc_type) if isinstance(document, docs.Check) else None,
                doc_subtype=(
                    int(document.doc_subtype)
                    if isinstance(document, docs.Check) and document.doc_subtype is not None
                    else None
                ),
                shift_id=shift_id,
                xml=xml,
                signed=signed,
                created_at=head.when,
                request_id=request_id,
                total=str(document.total)
                if isinstance(document, docs.Check) and document.total is not None
                else None,
                ref_fiscal_num=ref_fiscal_num,
            )
        self._crashpoint("after_journal")
        return self._send(entry)

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
                raise RetryLater(
                    f"the document (local number {entry.local_num}) is journaled but not yet registered:"
                    f" {exc.message}",
                    what_to_do="retry with the same request id; it will not be registered twice",
                ) from exc
        self._crashpoint("after_send")
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
        """Journal the outcome and its side effects (shift rows, storno marks, offline session) at once."""
        with self.journal.transaction():
            self.journal.mark_registered(
                entry.id, fiscal_num=fiscal_num, registered_at=when, ticket=ticket.signed if ticket else None
            )
            shift_id = entry.shift_id
            kind = _check_kind(entry)
            if kind == (docs.DocType.OPEN_SHIFT, None):
                shift_id = self.journal.new_shift(entry_created(entry), self._cashier_of(entry))
                self.journal.update_shift(shift_id, open_doc=entry.id)
                self.journal.set_document_shift(entry.id, shift_id)
                if ticket is not None:
                    self._remember_offline_session(ticket.offline_session_id, ticket.offline_seed)
            elif entry.doc_class == "ZREP" and shift_id is not None:
                self.journal.update_shift(shift_id, z_doc=entry.id)
            elif kind == (docs.DocType.CLOSE_SHIFT, None) and shift_id is not None:
                self.journal.update_shift(shift_id, close_doc=entry.id, closed_at=when.isoformat())
            elif kind == (docs.DocType.SALE_GOODS, docs.DocSubType.CHECK_STORNO) and entry.ref_fiscal_num:
                self.journal.mark_stornoed(entry.ref_fiscal_num)
        done = self.journal.document(entry.id)
        assert done is not None
        return self._result(done)

    def _cashier_of(self, entry: Entry) -> str | None:
        doc = docs.parse(entry.xml)
        return doc.head.cashier

    def _result(self, entry: Entry) -> Fiscalized:
        assert entry.state == REGISTERED and entry.fiscal_num is not None
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
        )

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
            self._resolve_pending()
            shift = self.journal.shift(shift.id) or shift
            if shift.z_doc is None:
                checks = self._shift_checks(shift.id)
                z = self._fiscalize(
                    lambda head: docs.z_report(head, checks),
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
            self._resolve_pending()
            last = self.journal.last_live()
            if (
                last is None
                or last.shift_id != shift.id
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

    def resolve_pending(self) -> None:
        """Finish what a lost reply or a crash left pending (the agent's loop calls this)."""
        with self._operation():
            self._resolve_pending()

    def close(self) -> None:
        with self._lock:
            self.server.close()
            self.journal.close()

    # --- reading -----------------------------------------------------------------------------

    def get(self, request_id: str) -> Fiscalized | None:
        entry = self.journal.by_request_id(request_id)
        if entry is None or entry.state != REGISTERED:
            return None
        return self._result(entry)

    def status(self) -> RegisterStatus:
        with self._lock:
            shift = self._open_shift()
            pending = self.journal.pending()
            return RegisterStatus(
                shift_open=shift is not None,
                shift_id=shift.id if shift else None,
                z_done=bool(shift and shift.z_doc),
                next_local_num=self.journal.next_local_num(),
                pending_documents=len(pending),
                oldest_pending_at=datetime.fromisoformat(pending[0].created_at) if pending else None,
                offline_session_id=self.journal.get("offline_session_id"),
                has_offline_seed=self.journal.get("offline_seed") is not None,
                problem=str(self._problem) if self._problem else None,
                identity_known=self.journal.get("identity.tin") is not None or self.registrar.tin is not None,
            )


def entry_created(entry: Entry) -> datetime:
    return datetime.fromisoformat(entry.created_at)


__all__ = [
    "CashRegister",
    "DuplicateRequest",
    "FiscalBoxError",
    "Fiscalized",
    "RegisterStatus",
    "Registrar",
    "ServerStateMismatch",
    "ShiftReport",
]
