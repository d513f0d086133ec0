"""What the register reports without changing anything: its status (contract §5's register part), a
shift's view and its figures. The caller holds the register's lock."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from agent.secr import documents as docs
from agent.secr import offline
from agent.secr.context import Core
from agent.secr.errors import FiscalBoxError, IdentityMismatch
from agent.secr.journal import Shift
from agent.secr.meta import Mode
from agent.secr.offline_session import OfflineSession
from agent.secr.pipeline import Pipeline
from agent.secr.reachability import Reachability
from agent.secr.results import RegisterStatus, ShiftReport, ShiftView


def shift_checks(core: Core, shift_id: int) -> list[docs.Check]:
    """The checks a shift's totals count: sales, returns and service checks, stornoed ones left out."""
    checks: list[docs.Check] = []
    for entry in core.journal.shift_documents(shift_id):
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


def x_report(core: Core, shift: Shift) -> ShiftReport:
    checks = shift_checks(core, shift.id)
    head = docs.DocHead(
        uid="x-report", seller=core.seller(), when=core.clock.now(), order_num=core.journal.next_local_num()
    )
    return ShiftReport(
        shift_id=shift.id,
        opened_at=datetime.fromisoformat(shift.opened_at),
        cashier=shift.cashier,
        report=docs.z_report(head, checks),
        receipts_count=sum(
            1 for c in checks if c.doc_subtype in (docs.DocSubType.CHECK_GOODS, docs.DocSubType.CHECK_RETURN)
        ),
    )


#: the figures of a Z section that zrep01 has no place for (the till API answers them), kept per shift
_Z_FIGURES = ("discounts_sum", "extra_charge_sum", "round_up", "round_down")


def _z_figures_of(report: docs.ZReport) -> str:
    sections = {"realiz": report.realiz, "ret": report.ret}
    return json.dumps(
        {
            name: {key: str(getattr(block, key)) for key in _Z_FIGURES if getattr(block, key) is not None}
            for name, block in sections.items()
            if block is not None
        }
    )


def with_z_figures(core: Core, shift: Shift, z: docs.ZReport) -> docs.ZReport:
    """The registered Z with the figures zrep01 cannot carry — discounts and extra charges apart, roundings
    up and down apart, where the document has only net sums — summed once from the shift's checks (those
    the Z counted: a closed shift's do not change) and kept in the journal beside the shift."""
    kept = shift.z_figures
    if kept is None:
        head = docs.DocHead(uid="z-figures", seller=core.seller(), when=z.head.when, order_num=1)
        kept = _z_figures_of(docs.z_report(head, shift_checks(core, shift.id)))
        with suppress(FiscalBoxError):  # a journal that cannot be written now: summed again next time
            core.journal.update_shift(shift.id, z_figures=kept)
    figures = json.loads(kept)
    out = z
    for name in ("realiz", "ret"):
        block = getattr(z, name)
        if block is not None and name in figures:
            values = {key: Decimal(value) for key, value in figures[name].items()}
            out = replace(out, **{name: replace(block, **values)})
    return out


def shift_view(core: Core, pipeline: Pipeline, shift: Shift, *, with_figures: bool) -> ShiftView:
    journal = core.journal
    opened = journal.document(shift.open_doc) if shift.open_doc else None
    z_entry = journal.document(shift.z_doc) if shift.z_doc else None
    z = pipeline.result(z_entry) if z_entry is not None and z_entry.fiscal_num else None
    if z is not None and isinstance(z.document, docs.ZReport):
        z = replace(z, document=with_z_figures(core, shift, z.document))
    figures: docs.ZReport | None = None
    if with_figures:
        if z is not None and isinstance(z.document, docs.ZReport):
            figures = z.document
        else:
            head = docs.DocHead(uid="figures", seller=core.seller(), when=core.clock.now(), order_num=1)
            figures = docs.z_report(head, shift_checks(core, shift.id))
    return ShiftView(
        id=shift.id,
        opened_at=datetime.fromisoformat(shift.opened_at),
        closed_at=datetime.fromisoformat(shift.closed_at) if shift.closed_at else None,
        cashier=shift.cashier,
        open_fiscal_num=opened.fiscal_num if opened else None,
        z=z,
        figures=figures,
        open_uid=opened.uid if opened else None,
        open_local_num=opened.local_num if opened else None,
    )


def _blocked(
    core: Core, reach: Reachability, session: OfflineSession, mode: Mode
) -> tuple[str | None, list[str]]:
    """Why no sale could be made now (the status's blocked_reason), and the refusal's text."""
    fault = core.journal.fault  # the journal cannot be written: while it lasts, whatever else holds
    if fault is not None:
        return fault.reason, [str(fault)]
    problem = core.problem
    if problem is not None:
        return getattr(problem, "reason", None) or problem.code, []
    clock_off = core.server_clock.refusal()
    if clock_off is not None:
        return clock_off.reason, [str(clock_off)]
    if mode != Mode.ONLINE or reach.last_ok is False:
        # Offline, or online with the server gone: could the next sale be made offline?
        refusal = session.refusal(numbers_needed=1 if mode != Mode.ONLINE else 2)
        if refusal is not None:
            return refusal.reason, [str(refusal)]
    return None, []


def status(core: Core, reach: Reachability, session: OfflineSession) -> RegisterStatus:
    meta, limits = core.meta, core.limits
    now = core.clock.now()
    mode = meta.mode
    shift = core.open_shift()
    undelivered, oldest = core.journal.undelivered()
    next_number = (meta.session_next_n or 1) if mode == Mode.OFFLINE else 1
    verdict = offline.judge(
        meta.ledger(now), now, limits, reserve=meta.offline_reserve, next_number=next_number
    )
    blocked, errors = _blocked(core, reach, session, mode)
    upload_error = meta.upload_error
    if upload_error:
        errors.append(upload_error)
    if core.signing_error is not None:
        errors.append(f"signing fails: {core.signing_error}")
    differences = core.config_differences()
    if differences and getattr(core.problem, "code", None) != IdentityMismatch.code:  # said there already
        errors.append(
            "the config's registration data differ from the server's, and the documents carry the server's: "
            + "; ".join(differences)
            + " -- correct the config"
        )
    reachable_for = reach.reachable_for()
    if undelivered and reachable_for is not None and reachable_for > core.settings.check_interval_s:
        errors.append(
            f"{undelivered} documents are still not delivered although the fiscal server has"
            f" answered for {int(reachable_for)} s"
        )
    prohibited = meta.offline_prohibited
    return RegisterStatus(
        mode=mode,
        blocked_reason=blocked,
        shift_open=shift is not None,
        shift_id=shift.id if shift else None,
        z_done=bool(shift and shift.z_doc),
        next_local_num=core.journal.next_local_num(),
        pending_documents=undelivered,
        oldest_pending_at=datetime.fromisoformat(oldest) if oldest else None,
        offline_session_id=meta.session_id or meta.offline_session_id,
        has_offline_seed=meta.offline_seed is not None,
        offline_allowed=None if prohibited is None else not prohibited,
        session_minutes=int(verdict.session_used.total_seconds() // 60),
        month_minutes=int(verdict.month_used.total_seconds() // 60),
        max_session_minutes=int(limits.max_session.total_seconds() // 60),
        max_month_minutes=int(limits.max_month.total_seconds() // 60),
        numbers_left=verdict.numbers_left,
        warnings=verdict.warnings if mode != Mode.ONLINE else (),
        problem=str(core.problem) if core.problem else None,
        upload_error=upload_error,
        last_sync_at=meta.last_sync_at,
        identity_known=meta.identity("tin") is not None or core.registrar.tin is not None,
        errors=tuple(errors),
        offline_while_reachable=meta.offline_while_reachable,
        signing_error=core.signing_error,
    )


__all__ = ["shift_checks", "shift_view", "status", "x_report"]
