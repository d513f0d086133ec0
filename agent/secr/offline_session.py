"""The offline session (reference §4): when offline documents are refused, entering offline with a 102,
numbering each document with its offline fiscal number and the hash chain, and the limit warnings.

Legal only while the server cannot be reached, and never without a range, past the 36 h / 168 h limits
or the reserve of numbers; the decision itself is the pure ``offline.decide``.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from agent.events import EventKind
from agent.secr import documents as docs
from agent.secr import numbering, offline
from agent.secr.context import Core
from agent.secr.errors import (
    NeverOnline,
    OfflineMonthLimit,
    OfflineProhibited,
    OfflineRangeExhausted,
    OfflineSessionLimit,
    OfflineSessionRefused,
    OutcomeUnknown,
    RetryLater,
    SalesBlocked,
)
from agent.secr.journal import SUPERSEDED, VOID, Entry
from agent.secr.meta import Mode
from agent.secr.pipeline import Pipeline, Request, chained, financially_significant
from agent.secr.reachability import Reachability
from agent.secr.results import Fiscalized

log = logging.getLogger(__name__)


def _hours(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


class OfflineSession:
    def __init__(self, core: Core, pipeline: Pipeline, reach: Reachability) -> None:
        self.core = core
        self.pipeline = pipeline
        self.reach = reach

    # --- refusals ---------------------------------------------------------------------------------

    def decide(self, numbers_needed: int) -> offline.Decision:
        meta = self.core.meta
        in_session = meta.mode == Mode.OFFLINE
        range_id = meta.session_id if in_session else meta.offline_session_id
        now = self.core.clock.now()
        return offline.decide(
            prohibited=meta.offline_prohibited is True,
            has_range=range_id is not None,
            identity_known=meta.identity("tin") is not None,
            ledger=meta.ledger(now),
            now=now,
            limits=self.core.limits,
            reserve=meta.offline_reserve,
            next_number=(meta.session_next_n or 1) if in_session else 1,
            numbers_needed=numbers_needed,
        )

    def refusal(self, numbers_needed: int) -> SalesBlocked | None:
        """Why no offline document may be made now, or None when one may."""
        meta = self.core.meta
        if meta.upload_error is not None and meta.mode != Mode.ONLINE:
            # The server answered with a refusal: it is reachable, so the law allows no offline document
            # (Law 265/95-ВР art. 5, Порядок 317 §V; reference §4.2, §4.7), and it takes no online one before
            # this session's 103 (§4.11). Going on offline for 36 h as if nothing happened would only pile
            # sales behind a document the server will not take.
            return OfflineSessionRefused(
                f"the offline session cannot be delivered and no document may be made: {meta.upload_error}",
                what_to_do="call support with this text; once it is resolved the box delivers the session"
                " (fiscal-box go-online) and sells online again",
            )
        decision = self.decide(numbers_needed)
        if decision.refusal is None:
            return None
        if decision.refusal == offline.PROHIBITED:
            return OfflineProhibited(
                f"offline mode is prohibited for register {self.core.registrar.fiscal_number} (it was registered"
                " without the right to work offline) and the fiscal server cannot be reached",
                what_to_do="restore the internet connection; offline mode can be allowed in the tax cabinet",
            )
        if decision.refusal == offline.NEVER_ONLINE:
            return NeverOnline(
                "the box has no offline range yet: it must open its first shift online before it may ever work offline",
                what_to_do="connect the box to the internet and open a shift",
            )
        assert decision.verdict is not None
        return self._over_limit(decision.refusal, decision.verdict)

    def _over_limit(self, refusal: str, verdict: offline.Verdict) -> SalesBlocked:
        limits = self.core.limits
        if refusal == "session_limit":
            return OfflineSessionLimit(
                f"the offline session has lasted {_hours(verdict.session_used)}, the limit is"
                f" {_hours(limits.max_session)}: no more offline documents",
                what_to_do="restore the internet connection; the box uploads and goes online by itself",
            )
        if refusal == "month_limit":
            return OfflineMonthLimit(
                f"offline time this month is {_hours(verdict.month_used)}, the limit is"
                f" {_hours(limits.max_month)}: no more offline documents this month",
                what_to_do="restore the internet connection; offline time is counted afresh from the 1st",
            )
        return OfflineRangeExhausted(
            "no offline fiscal numbers are left in the range the server issued",
            what_to_do="restore the internet connection; the box gets a new range when it uploads",
        )

    def _refuse(self, numbers_needed: int, cause: RetryLater | None = None) -> None:
        refusal = self.refusal(numbers_needed)
        if refusal is not None:
            self.core.changed()  # the status shows the refusal now (blocked_reason)
            raise refusal from cause

    # --- entering offline -------------------------------------------------------------------------

    def enter(self, lost: Entry | None, cause: RetryLater, *, own: bool = True) -> Entry | None:
        """The server is gone: open an offline session (102) with the range we hold.

        ``lost`` is the online document in flight (``own``: the request's own) or an earlier one still
        pending. Returns it when it is kept to be settled at reconnection rather than made again offline
        (a shift document); the caller answers with it."""
        refusal = self.refusal(2)
        if refusal is not None:
            self.core.changed()  # the status shows the refusal now (blocked_reason)
            if lost is not None:
                self._refused_with(lost, cause, own, refusal)
            raise refusal from cause
        core, meta = self.core, self.core.meta
        now = core.clock.now()
        kept: Entry | None = None
        with core.journal.transaction():
            if lost is not None:
                kept = self._set_aside(lost, cause)
            session_id, seed = meta.offline_session_id, meta.offline_seed
            assert session_id is not None and seed is not None
            meta.begin_session(session_id, seed)
            meta.mode = Mode.OFFLINE
            meta.save_ledger(offline.begin_session(meta.ledger(now), now))
            begin = self.make(Request(docs.offline_begin))
            meta.begin_doc = begin.id
        core.crashpoint("after_offline_begin")
        self.reach.record(False)
        log.warning("fiscal server unreachable (%s): offline session %s begins", cause.message, session_id)
        core.publish(EventKind.WENT_OFFLINE, session_id=session_id, reason=cause.message)
        self.pipeline.announce(begin)
        return None if kept is None else core.journal.document(kept.id)

    def _refused_with(self, lost: Entry, cause: RetryLater, own: bool, refusal: SalesBlocked) -> None:
        """No offline right: what becomes of the document in flight before the refusal is answered.

        A refused sale is never fiscalized later: the server certainly never got it (no connection was
        made), so its number goes back now; or it may have got it, and then the till hears that the outcome
        is not known yet and that it must ask again with the same request id, and the document is settled
        with the server before anything else, never sent again behind the till's back (reconcile.py)."""
        journal = self.core.journal
        if not cause.request_sent:
            journal.mark_rejected(lost.id, f"never sent: {cause.message}", state=VOID)
            return
        if not own:
            return  # an earlier document, already answered for; this request was simply not made
        meta = self.core.meta
        with journal.transaction():  # committed before the till hears "not known": it is never resent
            meta.in_doubt = meta.in_doubt | {lost.id}
            journal.set_error(lost.id, f"outcome not known: {cause.message}")
        raise OutcomeUnknown(
            f"the fiscal server stopped answering while document {lost.local_num} was being registered and"
            f" the box may not work offline ({refusal.message}): whether the server registered it is not"
            " known yet",
            local_num=lost.local_num,
            request_id=lost.request_id,
            what_to_do="retry with the same request id: the box asks the server first, then answers with the"
            " receipt if it was registered, or makes it anew (or refuses it while the server stays away)",
        ) from refusal

    def _set_aside(self, lost: Entry, cause: RetryLater) -> Entry | None:
        """The online document in flight when the server went: free its number, re-make it offline, or keep
        it to be settled at reconnection (returned)."""
        journal = self.core.journal
        if not cause.request_sent:
            # The connection was never made: the server cannot have it; its number is free again.
            journal.mark_rejected(lost.id, f"never sent: {cause.message}", state=VOID)
            return None
        self.core.meta.lost_doc = lost.id
        if financially_significant(lost):
            # Made again offline; revoked in the 102 if the server has it (reference §4.9).
            journal.set_state(lost.id, SUPERSEDED)
            return None
        # A shift document may not be revoked (pipeline.financially_significant), so it is not made again
        # either: the box holds to it. Whatever the server has now, it will have it: at reconnection, before
        # the 102 is delivered, it is found there or the same signed document is sent (reference §4.10;
        # upload.py), so nothing is made twice. Its effect (the shift opened or closed) holds from now, and
        # the offline documents that follow are made in that shift; the 102 comes after it in numbering.
        self.pipeline.apply_effects(lost, datetime.fromisoformat(lost.created_at))
        log.warning(
            "shift document %s was in flight when the server went: kept, settled at reconnection",
            lost.local_num,
        )
        return lost

    # --- offline documents ------------------------------------------------------------------------

    def make(self, request: Request) -> Entry:
        """Number, chain, sign and journal one offline document; the caller holds a transaction and
        announces the document once that transaction is committed."""
        core, meta = self.core, self.core.meta
        session_id, seed = meta.session_id, meta.session_seed
        n = meta.session_next_n or 1
        assert session_id is not None and seed is not None
        head = self.pipeline.head(core.journal.next_local_num(), request.cashier)
        # A draft first, only to learn the sum the control number covers (102/103 need a mark to build).
        draft = request.build(
            dataclasses.replace(head, offline=docs.OfflineMark(tax_num=f"{session_id}.{n}.0"))
        )
        is_end = isinstance(draft, docs.Check) and draft.doc_type == docs.DocType.OFFLINE_END
        # In the chain: settlement documents, and once the chain has begun every document but the 102 and
        # 103 («Документи типу «Початок офлайн сесії» і «Завершення офлайн сесії» не приймають участь в
        # розрахунку послідовності гешів», fsko_evpz_doc.txt): a 100/101 after the first check carries the
        # hash and is the next one's input. The 103 carries the last hash (the official example) only.
        in_chain = chained(draft) or (meta.chain_hash is not None and not _session_mark(draft))
        prev = meta.chain_hash if (is_end or in_chain) else None
        control = numbering.control_number(
            seed=seed,
            when=head.when,
            order_num=head.order_num,
            cash_register_num=head.seller.cash_register_num,
            cash_desk_num=head.seller.cash_desk_num,
            total=docs.control_sum(draft),
            prev_doc_hash=prev,
        )
        mark = docs.OfflineMark(
            tax_num=numbering.offline_fiscal_number(session_id, n, control), prev_doc_hash=prev
        )
        offline_head = dataclasses.replace(head, offline=mark)
        document = request.build(offline_head)
        entry = self.pipeline.journal_document(
            document, offline_head, request, offline_session=session_id, offline_n=n
        )
        meta.session_next_n = n + 1
        if in_chain:
            meta.chain_hash = numbering.document_hash(entry.signed)
        self.pipeline.apply_effects(entry, head.when)
        self.pipeline.queue_print(entry)
        return entry

    def fiscalize(self, request: Request, *, server_answers: bool = False) -> Fiscalized:
        """One offline document; the check before it (Порядок 317) is the caller's (upload.py).

        ``server_answers``: the check found the server answering, but the session's upload could not be
        finished in this document's time (more than one package left), so the document is made in the
        session still open: the one exception to "never offline while the server answers", counted and
        announced so that it is seen."""
        self._refuse(1)
        core = self.core
        with core.journal.transaction():
            entry = self.make(request)
            if server_answers:
                core.meta.offline_while_reachable = core.meta.offline_while_reachable + 1
        core.crashpoint("after_offline_doc")
        done = core.journal.document(entry.id)
        assert done is not None
        self.pipeline.announce(done)
        if server_answers:
            log.warning(
                "offline document %s (%s) made while the fiscal server answers: the session's upload is under way",
                done.local_num,
                done.fiscal_num,
            )
            core.publish(
                EventKind.OFFLINE_WHILE_REACHABLE,
                doc_id=done.id,
                local_num=done.local_num,
                fiscal_num=done.fiscal_num,
                count=core.meta.offline_while_reachable,
            )
        self.announce_warnings()
        return self.pipeline.result(done)

    def announce_warnings(self) -> None:
        """A limit or the reserve past warn_at_percent: said once per session, not on every receipt."""
        core, meta = self.core, self.core.meta
        now = core.clock.now()
        verdict = offline.judge(
            meta.ledger(now),
            now,
            core.limits,
            reserve=meta.offline_reserve,
            next_number=meta.session_next_n or 1,
        )
        before = meta.warned
        announced = set(before)
        for warning in verdict.warnings:
            if warning not in announced:
                announced.add(warning)
                core.publish(
                    EventKind.LIMIT_WARNING,
                    warning=warning,
                    session_minutes=int(verdict.session_used.total_seconds() // 60),
                    month_minutes=int(verdict.month_used.total_seconds() // 60),
                    numbers_left=verdict.numbers_left,
                )
        if announced != before:
            meta.warned = announced


__all__ = ["OfflineSession"]


def _session_mark(document: docs.Document) -> bool:
    """The offline session's own begin and end (102, 103): never in the hash chain."""
    return isinstance(document, docs.Check) and document.doc_type in (
        docs.DocType.OFFLINE_BEGIN,
        docs.DocType.OFFLINE_END,
    )
