"""The path of one document: number, render, validate, sign, journal, send, registered.

A document is journaled (with its local number and its signed bytes) in one transaction before it is
sent; its fiscal number and its effects (the shift's rows, a storno's mark, the print queue) in one
transaction after. Only then is it announced (``fiscalized``) and answered. What happens when the reply is
lost is the reconciler's (reconcile.py); making it offline instead is the offline session's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from agent.events import EventKind
from agent.secr import clockcheck, sync
from agent.secr import documents as docs
from agent.secr.context import Core
from agent.secr.errors import DocumentTooLarge, InvalidServerReply, RetryLater, SignerError
from agent.secr.journal import OFFLINE, REGISTERED, Entry
from agent.secr.meta import Mode
from agent.secr.results import Fiscalized
from agent.secr.server import Ticket


@dataclass(frozen=True)
class Request:
    """One document to make: how to build it from its head, and what the journal files it under."""

    build: Callable[[docs.DocHead], docs.Document]
    cashier: str | None = None
    request_id: str | None = None
    shift_id: int | None = None
    ref_fiscal_num: str | None = None
    #: a shift document's type (100, 101): a kept one of the same kind answers the request (register.py)
    kind: int | None = None


class WentDark(Exception):
    """The server stopped answering while an online document was in flight (or before it was made).

    ``own``: the entry is the document of the request in hand (its till waits for this answer), not an
    earlier one still pending."""

    def __init__(self, entry: Entry | None, cause: RetryLater, *, own: bool = True) -> None:
        super().__init__(str(cause))
        self.entry = entry
        self.cause = cause
        self.own = own


def check_kind(entry: Entry) -> tuple[int | None, int | None]:
    return entry.doc_type, entry.doc_subtype


def financially_significant(entry: Entry) -> bool:
    """What REVOKELASTONLINEDOC may revoke, and so what is made again offline when its reply was lost.

    The official text (ФСКО ЕВПЗ, «Відкликання останнього онлайн чека», note of 06.10.2023 in
    what_news.txt): «Зазначений порядок стосується лише фінансово значущих документів»; «Фінансово
    значущими є документи, які містять інформацію щодо руху або підсумках грошових коштів і
    товарів/послуг» — its duration rule names them «чека, Z-звіту». So every check (sale, return, service
    deposit and issue, and the storno, which takes a check out of the totals) and the Z report; never a
    shift document (100, 101; "cannot be revoked", reference §4.8-4.9) nor 102/103."""
    return entry.doc_class == "ZREP" or entry.doc_type == docs.DocType.SALE_GOODS


def chained(document: docs.Document) -> bool:
    """Settlement documents (checks and Z reports) form the hash chain; 100-103 do not (reference §4.5)."""
    return isinstance(document, docs.ZReport) or document.doc_type == docs.DocType.SALE_GOODS


def printable(entry: Entry) -> bool:
    """What reaches paper: receipts, service checks, stornos and Z reports; never 100-103."""
    return entry.doc_class == "ZREP" or (
        entry.doc_class == "CHECK" and entry.doc_type == docs.DocType.SALE_GOODS
    )


class Pipeline:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._limits: tuple[int, int] | None = None

    # --- number, render, sign, journal ------------------------------------------------------------

    def head(self, local_num: int, cashier: str | None) -> docs.DocHead:
        """The head of the next document, in the caller's transaction (which also keeps the offline
        session's elapsed time with the document, so a restart resumes from it)."""
        core = self.core
        self.checkpoint_ledger()
        return docs.DocHead(
            uid=str(uuid.uuid4()),
            seller=core.seller(),
            when=self.document_time(),
            order_num=local_num,
            cashier=cashier,
            testing=core.registrar.testing,
        )

    def document_time(self) -> datetime:
        """Now, but never earlier than the journal's last document: a wall clock stepped back (within the
        tolerance the server comparison allows, or with no server to compare with) must not date a
        document before the one it follows."""
        now = self.core.clock.now()
        last = self.core.journal.last_live()
        if last is None:
            return now
        return max(now, datetime.fromisoformat(last.created_at))

    def checkpoint_ledger(self, *, every_s: float | None = None) -> None:
        """Write the offline session's elapsed time to the journal (at most every ``every_s`` seconds when
        given): what a restart, where the monotonic clock may start anew, resumes from."""
        core = self.core
        meta = core.meta
        if meta.mode == Mode.ONLINE:
            return
        if every_s is not None:
            last = meta.ledger_checked()
            if (
                last is not None
                and last.boot == core.clock.boot_id()
                and core.clock.monotonic() - last.mono < every_s
            ):
                return
        ledger = meta.ledger(core.clock.now())
        if ledger.session_began_at is not None:
            meta.save_ledger(ledger)

    def journal_document(
        self,
        document: docs.Document,
        head: docs.DocHead,
        request: Request,
        *,
        offline_session: str | None = None,
        offline_n: int | None = None,
        sign: Callable[[bytes], bytes] | None = None,
    ) -> Entry:
        xml = docs.render(document)
        offline = head.offline is not None
        self._check_deliverable(document, len(xml), offline=offline)
        if self.core.settings.validate_documents:
            docs.validate(xml)
        try:
            signed = (sign or self.core.signer.sign)(xml)
        except SignerError as exc:
            self.core.signer_verdict(str(exc))
            raise
        except RetryLater as exc:  # only the online signer's time-stamp service is asked over the network
            self.core.signer_verdict(f"the time-stamp service cannot be reached: {exc.message}")
            raise
        # An online signature proves the key and the time-stamps; an offline one only the key, which is
        # all there is to prove where no time-stamp service is used.
        if sign is self.core.sign_online or self.core.sign_online == self.core.signer.sign:
            self.core.signer_verdict(None)
        self._check_deliverable(document, len(xml), offline=offline, signed=len(signed))
        self.core.crashpoint("after_sign")
        check = document if isinstance(document, docs.Check) else None
        entry = self.core.journal.add(
            local_num=head.order_num,
            uid=head.uid,
            doc_class="CHECK" if check else "ZREP",
            doc_type=int(check.doc_type) if check else None,
            doc_subtype=int(check.doc_subtype) if check and check.doc_subtype is not None else None,
            shift_id=request.shift_id,
            xml=xml,
            signed=signed,
            created_at=head.when,
            request_id=request.request_id,
            total=str(check.total) if check and check.total is not None else None,
            ref_fiscal_num=request.ref_fiscal_num,
            offline_tax_num=head.offline.tax_num if head.offline else None,
            offline_session=offline_session,
            offline_n=offline_n,
        )
        self.core.changed()
        return entry

    def _size_limits(self) -> tuple[int, int]:
        """The package envelope's and this signer's overheads: what the size limits are made of."""
        if self._limits is None:
            self._limits = (self.core.server.package_envelope, sync.signature_overhead(self.core.signer.sign))
        return self._limits

    def _check_deliverable(
        self, document: docs.Document, xml_size: int, *, offline: bool, signed: int | None = None
    ) -> None:
        """A document one package cannot carry could never be delivered if it were (or had to be made
        again) offline, and its session never closed: it is refused before it is journaled, online too
        (reference §4.8: at most 200 KB per package, its framing and signature included)."""
        envelope, signature = self._size_limits()
        largest = sync.largest_xml(envelope, signature, offline=offline)
        if signed is None:
            if xml_size <= largest:
                return
        # Signed: an online one goes to /doc (200 KB) with a time-stamp that is not made again offline.
        elif signed <= (sync.largest_document(envelope) if offline else sync.MAX_REQUEST_BYTES):
            return
        lines = len(document.lines) if isinstance(document, docs.Check) else 0
        fit = lines * largest // max(xml_size, 1)
        split = f"; about {fit} lines like these fit in one, so make it as {-(-lines // max(fit, 1))} receipts"
        raise DocumentTooLarge(
            f"the receipt is too large to be delivered: its document is {xml_size} bytes, one document may"
            f" be at most {largest} bytes (the tax service's offline package carries at most 200 KB,"
            f" its framing and signature included){split if lines > 1 and fit else ''}",
            field="goods",
            what_to_do="split the receipt into smaller ones; nothing was made",
        )

    def make_online(self, request: Request) -> Entry:
        """Journal the document, numbered and signed for sending; nothing is sent yet."""
        journal = self.core.journal
        with journal.transaction():
            head = self.head(journal.next_local_num(), request.cashier)
            try:
                entry = self.journal_document(request.build(head), head, request, sign=self.core.sign_online)
            except RetryLater as exc:
                # The time-stamp service is out of reach: nothing was journaled, and an online document
                # cannot go without its stamp, so this one is made offline, where none is needed.
                exc.request_sent = False
                raise WentDark(None, exc) from exc
        self.core.crashpoint("after_journal")
        return entry

    # --- send, registered -------------------------------------------------------------------------

    def transmit(self, entry: Entry) -> Ticket:
        """One attempt; whatever the server or the network says is raised as it is."""
        ticket = self.core.server.send_document(entry.signed)
        self.core.crashpoint("after_send")
        return ticket

    def accept(self, entry: Entry, ticket: Ticket) -> Fiscalized:
        if ticket.order_num is not None and ticket.order_num != entry.local_num:
            raise InvalidServerReply(
                f"the server's ticket is for local number {ticket.order_num}, the document had {entry.local_num}"
            )
        if not ticket.fiscal_num:
            raise InvalidServerReply("the server's ticket carries no fiscal number")
        return self.registered(entry, ticket.fiscal_num, self._ticket_time(ticket), ticket)

    def _ticket_time(self, ticket: Ticket) -> datetime:
        return clockcheck.ticket_time(ticket.order_date, ticket.order_time) or self.core.clock.now()

    def registered(self, entry: Entry, fiscal_num: str, when: datetime, ticket: Ticket | None) -> Fiscalized:
        """Journal the outcome and its side effects (shift rows, storno marks, the range, the print queue)
        at once; then announce it."""
        journal = self.core.journal
        with journal.transaction():
            journal.mark_registered(
                entry.id, fiscal_num=fiscal_num, registered_at=when, ticket=ticket.signed if ticket else None
            )
            if ticket is not None and check_kind(entry) == (docs.DocType.OPEN_SHIFT, None):
                self._remember_ticket_range(ticket)
            self.apply_effects(entry, when)
            self.queue_print(entry)
        self.core.crashpoint("after_registered")
        self.core.changed()
        done = journal.document(entry.id)
        assert done is not None
        self.announce(done)
        return self.result(done)

    def settled(self, entry: Entry, fiscal_num: str, when: datetime, ticket: Ticket | None) -> None:
        """A shift document kept through an outage is on the server now: its effects were applied when it
        was kept (offline_session.OfflineSession.enter), so only its fiscal number is journaled."""
        journal = self.core.journal
        with journal.transaction():
            journal.mark_registered(
                entry.id, fiscal_num=fiscal_num, registered_at=when, ticket=ticket.signed if ticket else None
            )
            if self.core.meta.lost_doc == entry.id:
                self.core.meta.lost_doc = None
        self.core.changed()
        done = journal.document(entry.id)
        assert done is not None
        self.announce(done)

    def _remember_ticket_range(self, ticket: Ticket) -> None:
        if ticket.offline_session_id and ticket.offline_seed:
            self.core.meta.offline_session_id = ticket.offline_session_id
            self.core.meta.offline_seed = ticket.offline_seed

    def apply_effects(self, entry: Entry, when: datetime) -> None:
        """What a fiscalized document does to the journal's shifts and marks (online or offline alike)."""
        journal = self.core.journal
        shift_id = entry.shift_id
        kind = check_kind(entry)
        if kind == (docs.DocType.OPEN_SHIFT, None):
            shift_id = journal.new_shift(datetime.fromisoformat(entry.created_at), self._cashier_of(entry))
            journal.update_shift(shift_id, open_doc=entry.id)
            journal.set_document_shift(entry.id, shift_id)
        elif entry.doc_class == "ZREP" and shift_id is not None:
            journal.update_shift(shift_id, z_doc=entry.id)
        elif kind == (docs.DocType.CLOSE_SHIFT, None) and shift_id is not None:
            journal.update_shift(shift_id, close_doc=entry.id, closed_at=when.isoformat())
        elif kind == (docs.DocType.SALE_GOODS, docs.DocSubType.CHECK_STORNO) and entry.ref_fiscal_num:
            journal.mark_stornoed(entry.ref_fiscal_num)

    def _cashier_of(self, entry: Entry) -> str | None:
        return docs.parse(entry.xml).head.cashier

    def queue_print(self, entry: Entry) -> None:
        """In the transaction that makes the document fiscal, so a crash can never lose it from paper."""
        if self.core.settings.print_documents and printable(entry):
            self.core.journal.queue_print(entry.id, self.core.clock.now())

    # --- answers ----------------------------------------------------------------------------------

    def announce(self, entry: Entry) -> None:
        """The document is fiscal (committed): tell whoever listens (printing, the log, MQTT)."""
        self.core.publish(
            EventKind.FISCALIZED,
            doc_id=entry.id,
            local_num=entry.local_num,
            fiscal_num=entry.fiscal_num,
            offline=entry.offline,
            doc_class=entry.doc_class,
            doc_type=entry.doc_type,
            doc_subtype=entry.doc_subtype,
            shift_id=entry.shift_id,
        )

    def kept(self, entry: Entry) -> Fiscalized:
        """A shift document kept through an outage: done as far as the shift goes (its effects hold), not
        delivered; its fiscal number (empty until then) comes when it is settled at reconnection."""
        return Fiscalized(
            entry_id=entry.id,
            uid=entry.uid,
            request_id=entry.request_id,
            local_num=entry.local_num,
            fiscal_num=entry.fiscal_num or "",
            offline=False,
            registered_at=datetime.fromisoformat(entry.created_at),
            document=docs.parse(entry.xml),
            xml=entry.xml,
            shift_id=entry.shift_id,
            delivered=False,
        )

    def result(self, entry: Entry) -> Fiscalized:
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


__all__ = [
    "Pipeline",
    "Request",
    "WentDark",
    "chained",
    "check_kind",
    "financially_significant",
    "printable",
]
