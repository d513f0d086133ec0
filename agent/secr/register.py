"""The cash register facade: open_shift, sell, refund, cash_in, cash_out, storno_last, x_report, close_shift,
go_online — what tills and the CLI use.

Fiscal safety, in this order for every document:
1. refuse bad input before anything is written (here, and the pure rules in refunds.py, offline.py);
2. number, render, validate, sign and journal the document in one transaction, durable before it is sent
   (pipeline.py);
3. online: send it; on a reply, journal the fiscal number before answering. On a lost reply, ask the
   server (DocumentInfoByLocalNum) before anything is sent again, so nothing is registered twice
   (reconcile.py);
4. when the server cannot be reached, go offline as the law allows (reference §4): a 102 with the range
   the box holds, then the document made again with an offline fiscal number — never without a range,
   never past the 36 h / 168 h limits, never while the server answers, nor while the uplinks have just
   moved the route onto a link that reaches it (online.py: once more over the new way; offline_session.py,
   reachability.py);
5. as soon as the server answers: close the session (103), deliver the packages in order, take the next
   range from the reply, go online (upload.py).

The parts share one ``Core`` (context.py): the journal and its typed meta keys (meta.py), the server, the
signer, the clock, one re-entrant lock that every operation holds, and where events and change notices go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal

from agent.clock import Clock
from agent.events import ChangeListener, EventSink
from agent.secr import documents as docs
from agent.secr import offline as rules
from agent.secr import refunds, views, zcheck
from agent.secr.context import Core, Crashpoint, Settings, Uplinks, no_crash
from agent.secr.errors import FiscalBoxError, InvalidInput, RetryLater, ShiftAlreadyOpen, ShiftNotOpen
from agent.secr.identity import Registrar
from agent.secr.journal import OFFLINE, PENDING, REGISTERED, DocumentFilter, Journal, Page, Shift
from agent.secr.meta import Mode
from agent.secr.offline_session import OfflineSession
from agent.secr.online import Online
from agent.secr.pipeline import Pipeline, Request, WentDark, check_kind
from agent.secr.reachability import Reachability
from agent.secr.reconcile import Reconciler, Startup
from agent.secr.results import (
    DuplicateRequest,
    Fiscalized,
    RegisterStatus,
    ShiftReport,
    ShiftView,
    SyncReport,
)
from agent.secr.server import FiscalServerClient
from agent.secr.signing.base import Signer
from agent.secr.upload import Upload

log = logging.getLogger(__name__)

#: the loop writes an offline session's elapsed time to the journal at most this often (every document
#: writes it too): what a reboot, where the monotonic clock starts anew, could lose of it at most
LEDGER_CHECKPOINT_S = 60.0

_STORNABLE = {
    docs.DocSubType.CHECK_GOODS,
    docs.DocSubType.CHECK_RETURN,
    docs.DocSubType.SERVICE_DEPOSIT,
    docs.DocSubType.SERVICE_ISSUE,
}


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
        crashpoint: Crashpoint = no_crash,
        validate_documents: bool = True,
        online_signer: Callable[[bytes], bytes] | None = None,
        events: EventSink | None = None,
        print_documents: bool = False,
        clock_tolerance_s: float | None = None,
    ) -> None:
        self._core = core = Core(
            journal=journal,
            server=server,
            signer=signer,
            online_signer=online_signer,
            registrar=registrar,
            taxes=taxes,
            clock=clock,
            limits=limits or rules.Limits(),
            settings=Settings(
                check_interval_s=check_interval_s,
                probe_budget_s=probe_budget_s,
                probe_freshness_s=probe_freshness_s,
                auto_sync=auto_sync,
                validate_documents=validate_documents,
                print_documents=print_documents,
                clock_tolerance_s=clock_tolerance_s,
            ),
            crashpoint=crashpoint,
            events=events,
        )
        self._pipeline = Pipeline(core)
        self._reach = Reachability(core)
        self._reconciler = Reconciler(core, self._pipeline, self._reach)
        self._online = Online(core, self._pipeline, self._reconciler)
        self._session = OfflineSession(core, self._pipeline, self._reach)
        self._upload = Upload(core, self._pipeline, self._reconciler, self._session, self._reach)

    # --- what the till API and the CLI read ------------------------------------------------------

    @property
    def journal(self) -> Journal:
        return self._core.journal

    @property
    def server(self) -> FiscalServerClient:
        return self._core.server

    @property
    def signer(self) -> Signer:
        return self._core.signer

    @property
    def registrar(self) -> Registrar:
        return self._core.registrar

    @property
    def taxes(self) -> dict[int, docs.Tax]:
        return self._core.taxes

    @property
    def clock(self) -> Clock:
        return self._core.clock

    @property
    def limits(self) -> rules.Limits:
        return self._core.limits

    @property
    def check_interval_s(self) -> float:
        return self._core.settings.check_interval_s

    @property
    def probe_budget_s(self) -> float:
        return self._core.settings.probe_budget_s

    @property
    def probe_freshness_s(self) -> float:
        return self._core.settings.probe_freshness_s

    @property
    def auto_sync(self) -> bool:
        return self._core.settings.auto_sync

    def add_listener(self, callback: ChangeListener) -> Callable[[], None]:
        """``callback()`` after anything that may change ``status()``; outside the register's lock.

        Returns the function that removes it. A listener must be cheap; its exceptions are logged."""
        return self._core.add_listener(callback)

    def seller(self) -> docs.Seller:
        """Who the documents are made for (the configured registration data, else the server's)."""
        return self._core.seller()

    _seller = seller  # the demo's name for it

    def records_since(self) -> datetime:
        """When this journal was first used: the creation date the till API gives the records the box
        keeps no date of (its cash register, taxes, cashiers). Stable once written."""
        with self._core.lock:
            journal = self._core.journal
            known = journal.get("records_since")
            if known is None:
                first = journal.shift(1)  # a journal from before this key: its first shift is the best date
                known = first.opened_at if first else self._core.clock.now().isoformat()
                # A journal that cannot be written now: the date is worked out again next time.
                with suppress(FiscalBoxError):
                    journal.set("records_since", known)
            return datetime.fromisoformat(known)

    # --- start-up ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Learn who we are from the server, resolve what a crash left, check numbering.

        The server being unreachable is not fatal (the journal knows enough); a disagreement is, and
        is explained instead of guessed at."""
        with self._core.lock:
            outcome = self._reconciler.start()
            if outcome is Startup.CHECKED:
                self._upload.last_range_refresh = self._core.clock.monotonic()
            if outcome is not Startup.OFFLINE_WAITING:
                return
        try:
            self.go_online()
        except FiscalBoxError as exc:
            log.warning("delivering offline documents at start failed: %s", exc)

    # --- the one path every document takes ---------------------------------------------------------

    @contextmanager
    def _operation(self, *, dates_a_document: bool = True) -> Iterator[None]:
        with self._core.lock:
            if self._core.problem is not None:
                raise self._core.problem
            if dates_a_document:
                self._refuse_if_clock_off()
            yield

    def _refuse_if_clock_off(self) -> None:
        """Before anything is numbered: a clock found off the server's refuses, after asking the server
        once more (the clock may have been put right, or the server's own)."""
        clock = self._core.server_clock
        if clock.refusal() is None:
            return
        self._reach.probe()
        refusal = clock.refusal()
        if refusal is not None:
            self._core.changed()  # the status shows it now (blocked_reason clock_off)
            raise refusal

    def _fiscalize(self, request: Request) -> Fiscalized:
        if request.request_id is not None:
            self._reconciler.refuse_duplicate(request.request_id)
        mode = self._core.meta.mode
        server_answers = False
        if mode == Mode.OFFLINE:
            # Never offline while the server answers: finish the session first where that fits.
            mode, server_answers = self._upload.before_offline_document()
            if mode == Mode.UPLOADING:
                raise self._upload.uploading()
        if mode == Mode.UPLOADING:
            mode = self._upload.finish_now()
        if mode == Mode.ONLINE:
            try:
                return self._online.fiscalize(request)
            except WentDark as dark:
                self._reach.record(False)
                kept = self._session.enter(dark.entry, dark.cause, own=dark.own)
                if kept is not None and (dark.own or kept.doc_type == request.kind):
                    # A shift document kept through the outage is this request's document: it is not made
                    # again (it may not be revoked); the shift goes on from it.
                    return self._pipeline.kept(kept)
        return self._session.fiscalize(request, server_answers=server_answers)

    def _answer_a_retry(self, request_id: str | None) -> None:
        """A till asking again with a request id already used (its answer was lost) gets that document,
        before the checks that its own document now fails (the shift is open, the sale is returned, the
        last document is the storno itself)."""
        if request_id is not None:
            self._reconciler.refuse_duplicate(request_id)

    # --- shifts ------------------------------------------------------------------------------------

    def _require_open_shift(self, *, for_sales: bool = True) -> Shift:
        shift = self._core.open_shift()
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
            self._answer_a_retry(request_id)
            if self._core.meta.mode == Mode.ONLINE:
                # An open-shift document left pending may turn out registered: the shift is open then.
                with suppress(RetryLater):
                    self._reconciler.resolve_pending()
            shift = self._core.open_shift()
            if shift is not None:
                raise ShiftAlreadyOpen(
                    f"shift {shift.id} is already open since {shift.opened_at}",
                    what_to_do="go on selling in it, or close it first",
                )
            return self._fiscalize(
                Request(docs.open_shift, cashier=cashier, request_id=request_id, kind=docs.DocType.OPEN_SHIFT)
            )

    def close_shift(self, *, cashier: str | None = None) -> tuple[Fiscalized, Fiscalized]:
        """The Z report, then the close-shift document (a crash between them resumes at the second)."""
        with self._operation():
            shift = self._require_open_shift(for_sales=False)
            if self._core.meta.mode == Mode.ONLINE:
                # If it cannot be settled now, the Z goes offline below and settles it there.
                with suppress(RetryLater):
                    self._reconciler.resolve_pending()
            shift = self._core.journal.shift(shift.id) or shift
            if shift.z_doc is None:
                # Totalled when the Z is built: going offline first may have superseded a lost sale.
                shift_id = shift.id
                z = self._fiscalize(
                    Request(
                        lambda head: self._checked_z(docs.z_report(head, self._shift_checks(shift_id))),
                        cashier=cashier,
                        shift_id=shift_id,
                    )
                )
            else:
                entry = self._core.journal.document(shift.z_doc)
                assert entry is not None
                z = self._pipeline.result(entry)
            close = self._fiscalize(
                Request(docs.close_shift, cashier=cashier, shift_id=shift.id, kind=docs.DocType.CLOSE_SHIFT)
            )
            return z, close

    def _checked_z(self, z: docs.ZReport) -> docs.ZReport:
        """Online, the Z is checked against the server's draft before it is journaled (zcheck.py)."""
        if self._core.meta.mode == Mode.ONLINE:
            zcheck.check(self._core.server, self._core.registrar.fiscal_number, z)
        return z

    def _shift_checks(self, shift_id: int) -> list[docs.Check]:
        return views.shift_checks(self._core, shift_id)

    def x_report(self) -> ShiftReport:
        """The open shift's figures; nothing is signed or sent (an X report is not a fiscal document)."""
        with self._operation(dates_a_document=False):
            return views.x_report(self._core, self._require_open_shift(for_sales=False))

    # --- receipts ----------------------------------------------------------------------------------

    def sell(
        self,
        items: Sequence[docs.Item],
        payments: Sequence[docs.Payment],
        *,
        cashier: str | None = None,
        request_id: str | None = None,
        adjustments: Sequence[docs.Adjustment] = (),
        round_cash: bool = False,
    ) -> Fiscalized:
        """A sale; ``adjustments`` are receipt-level discounts/extra charges, ``round_cash`` rounds the
        cash part to 10 kopecks (the till's `rounding`)."""
        with self._operation():
            shift = self._require_open_shift()
            taxes = self._core.taxes
            return self._fiscalize(
                Request(
                    lambda head: docs.sale(
                        head, items, payments, taxes, round_cash=round_cash, adjustments=adjustments
                    ),
                    cashier=cashier,
                    request_id=request_id,
                    shift_id=shift.id,
                )
            )

    def refund(
        self,
        items: Sequence[docs.Item],
        payments: Sequence[docs.Payment],
        *,
        sale_fiscal_num: str,
        cashier: str | None = None,
        request_id: str | None = None,
        adjustments: Sequence[docs.Adjustment] = (),
        round_cash: bool = False,
    ) -> Fiscalized:
        """A return of (part of) a sale; ``round_cash`` rounds the cash paid back (docs.refund says why)."""
        with self._operation():
            self._answer_a_retry(request_id)
            shift = self._require_open_shift()
            left = self._check_refundable(items, payments, sale_fiscal_num, check_amount=not round_cash)
            taxes = self._core.taxes

            def build(head: docs.DocHead) -> docs.Check:
                doc = docs.refund(
                    head,
                    items,
                    payments,
                    taxes,
                    sale_fiscal_num,
                    round_cash=round_cash,
                    adjustments=adjustments,
                )
                if round_cash:
                    # the rounded sum is known only now; still before anything is written
                    refunds.check_total(doc.total or Decimal(0), left, sale_fiscal_num)
                return doc

            return self._fiscalize(
                Request(
                    build,
                    cashier=cashier,
                    request_id=request_id,
                    shift_id=shift.id,
                    ref_fiscal_num=sale_fiscal_num,
                )
            )

    def _check_refundable(
        self,
        items: Sequence[docs.Item],
        payments: Sequence[docs.Payment],
        sale_fiscal_num: str,
        *,
        check_amount: bool = True,
    ) -> refunds.Left:
        journal = self._core.journal
        sale_entry = journal.by_fiscal_num(sale_fiscal_num)
        is_sale = sale_entry is not None and check_kind(sale_entry) == (
            docs.DocType.SALE_GOODS,
            docs.DocSubType.CHECK_GOODS,
        )
        refunds.check_sale(sale_fiscal_num, found=is_sale, stornoed=bool(sale_entry and sale_entry.stornoed))
        assert sale_entry is not None
        sale = docs.parse(sale_entry.xml)
        assert isinstance(sale, docs.Check)
        earlier: list[docs.Check] = []
        for previous in journal.refunds_of(sale_fiscal_num):
            document = docs.parse(previous.xml)
            assert isinstance(document, docs.Check)
            earlier.append(document)
        left = refunds.left_of(sale, earlier)
        refunds.check_refund(items, payments, left, sale_fiscal_num, check_amount=check_amount)
        return left

    def cash_in(
        self, amount: Decimal, *, cashier: str | None = None, request_id: str | None = None
    ) -> Fiscalized:
        with self._operation():
            shift = self._require_open_shift()
            return self._fiscalize(
                Request(
                    lambda head: docs.service_deposit(head, amount),
                    cashier=cashier,
                    request_id=request_id,
                    shift_id=shift.id,
                )
            )

    def cash_out(
        self, amount: Decimal, *, cashier: str | None = None, request_id: str | None = None
    ) -> Fiscalized:
        with self._operation():
            shift = self._require_open_shift()
            return self._fiscalize(
                Request(
                    lambda head: docs.service_issue(head, amount),
                    cashier=cashier,
                    request_id=request_id,
                    shift_id=shift.id,
                )
            )

    def storno_last(self, *, cashier: str | None = None, request_id: str | None = None) -> Fiscalized:
        """Cancel the last document, which must be a receipt or a service check of this shift."""
        with self._operation():
            self._answer_a_retry(request_id)
            shift = self._require_open_shift()
            if self._core.meta.mode == Mode.ONLINE:
                with suppress(RetryLater):
                    self._reconciler.resolve_pending()
            last = self._core.journal.last_live()
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
                Request(
                    lambda head: docs.storno(head, target),
                    cashier=cashier,
                    request_id=request_id,
                    shift_id=shift.id,
                    ref_fiscal_num=target,
                )
            )

    # --- going online ------------------------------------------------------------------------------

    def use_uplinks(self, uplinks: Uplinks | None) -> None:
        """The box's uplinks, asked before a failed request sends the register offline (context.Uplinks)."""
        self._core.uplinks = uplinks

    def network_changed(self) -> None:
        """The uplinks found a new way to the server (a failover, a link back): the last probe's answer is
        stale, and an offline register tries to go online now rather than at its next periodic probe, so
        that no more of the offline budget is spent than the outage took. Never blocks."""
        self._reach.forget()
        # Online it only refreshes the range (and settles what the outage left pending); the mode is
        # read by the upload itself, under the lock this caller (the uplinks' thread) must not wait for.
        self._upload.kick()

    def go_online(self) -> SyncReport:
        """Probe now; when the server answers, deliver every offline document and go online."""
        return self._upload.go_online()

    def maintain(self) -> None:
        """The agent's loop calls this often: the start-up check while it is owed (or what it found
        stands), the server's time while the clock is off, the offline session's elapsed time to the
        journal, periodic probes while offline, range refresh while online."""
        self._reconciler.retry_start()
        if self._core.server_clock.refusal() is not None:
            self._reach.probe()
        with self._core.lock:
            self._pipeline.checkpoint_ledger(every_s=LEDGER_CHECKPOINT_S)
        self._upload.maintain()

    def resolve_pending(self) -> None:
        """Finish what a lost reply or a crash left pending (the agent's loop calls this)."""
        with self._operation(dates_a_document=False):
            if self._core.meta.mode == Mode.ONLINE:
                self._reconciler.resolve_pending()

    # --- reading -----------------------------------------------------------------------------------

    def shift_view(self, shift_id: int | None = None, *, with_figures: bool = False) -> ShiftView | None:
        """A shift (the last one when no id is given); its totals only when asked: they cost a parse of
        every document of the shift."""
        journal = self._core.journal
        with self._core.lock:
            shift = journal.shift(shift_id) if shift_id is not None else journal.last_shift()
            if shift is None:
                return None
            return views.shift_view(self._core, self._pipeline, shift, with_figures=with_figures)

    def get(self, request_id: str) -> Fiscalized | None:
        entry = self._core.journal.by_request_id(request_id)
        if entry is None or entry.state not in (REGISTERED, OFFLINE):
            return None
        return self._pipeline.result(entry)

    def get_by_uid(self, uid: str) -> Fiscalized | None:
        """A fiscal document by its own UID (what the till API names a receipt made without a till's id)."""
        entry = self._core.journal.by_uid(uid)
        if entry is None or entry.state not in (REGISTERED, OFFLINE):
            return None
        return self._pipeline.result(entry)

    def receipts(self, where: DocumentFilter, page: Page) -> list[Fiscalized]:
        """A page of the receipts that count: sales, returns, service in and out, as ``get`` gives each."""
        return [self._pipeline.result(entry) for entry in self._core.journal.receipts(where, page)]

    def z_reports(self, where: DocumentFilter, page: Page) -> list[tuple[int, datetime]]:
        """A page of the Z reports that count, as (shift, the Z's date); ``shift_view`` gives each one."""
        return self._core.journal.z_reports(where, page)

    def shift_ids(self, page: Page, *, is_open: bool | None = None) -> list[int]:
        """A page of the shifts by number (only the open or the closed ones when asked)."""
        return self._core.journal.shift_ids(page, is_open=is_open)

    def status(self) -> RegisterStatus:
        with self._core.lock:
            return views.status(self._core, self._reach, self._session)

    def close(self) -> None:
        self._upload.join(timeout=10)
        self._reach.join(timeout=10)
        with self._core.lock:
            self._core.server.close()
            self._core.journal.close()


__all__ = [
    "CashRegister",
    "Crashpoint",
    "DuplicateRequest",
    "FiscalBoxError",
    "Fiscalized",
    "Mode",
    "RegisterStatus",
    "Registrar",
    "ShiftReport",
    "ShiftView",
    "SyncReport",
]
