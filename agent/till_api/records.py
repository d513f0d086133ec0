"""The register's records as the routes answer them: read from the register, then shown by a view.

The one place the routes and the views meet the register's reading side, so a view never reads and a
route never builds JSON itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.receipts import to_text
from agent.receipts.periodic import Period, layout_periodic_report, period_totals
from agent.secr import documents as docs
from agent.secr.errors import FiscalBoxError
from agent.secr.journal import DocumentFilter, Page
from agent.secr.register import Fiscalized
from agent.till_api import pages, views
from agent.till_api.context import ApiContext
from agent.till_api.errors import ApiError
from agent.till_api.pages import number
from agent.till_api.views import Json


def shift(ctx: ApiContext, shift_id: int, *, with_balance: bool = True) -> Json | None:
    view = ctx.register.shift_view(shift_id, with_figures=with_balance)
    if view is None:
        return None
    return views.shift_json(view, ctx.facts)


def open_shift(ctx: ApiContext) -> Json | None:
    """The open shift, or None (tills read None as "no shift", never a 404)."""
    view = ctx.register.shift_view()
    return shift(ctx, view.id) if view is not None and view.closed_at is None else None


def existing_shift(ctx: ApiContext, shift_id: int) -> Json:
    """A shift the register has just made or closed."""
    found = shift(ctx, shift_id)
    assert found is not None
    return found


def receipt_of(ctx: ApiContext, receipt_id: str) -> Fiscalized:
    # A receipt is named by the till's id, or by its document's UID when it was made without one.
    result = ctx.register.get(receipt_id) or ctx.register.get_by_uid(receipt_id)
    if result is None or not isinstance(result.document, docs.Check):
        raise ApiError(404, "receipt.not_found", f"no receipt with id {receipt_id}")
    return result


def receipt(ctx: ApiContext, result: Fiscalized, *, shifts: dict[int, Json | None] | None = None) -> Json:
    """``shifts``: the shifts already read for a list of receipts, by number (filled as they are read)."""
    # The receipt's shift without its figures: those cost a parse of every document of the shift.
    assert result.shift_id is not None  # every check is made in a shift
    in_shift = shifts.get(result.shift_id) if shifts is not None else None
    if in_shift is None:
        in_shift = shift(ctx, result.shift_id, with_balance=False)
        assert in_shift is not None
        if shifts is not None:
            shifts[result.shift_id] = in_shift
    return views.receipt_json(result, facts=ctx.facts, shift=in_shift)


def receipt_printing(ctx: ApiContext, result: Fiscalized) -> Json | None:
    """The box's word on a receipt's paper (schemas.BoxPrinting); None without a print service."""
    printing = ctx.printing
    if printing is None:
        return None
    state, error, warning = printing.printer_state()
    job = printing.journal.print_job(result.entry_id) if printing.journal is not None else None
    return {
        "printer": state,
        "printer_error": error if state != "ok" else None,
        "printer_warning": warning,
        "printed": job is not None and job.printed_at is not None,
    }


def one_receipt(ctx: ApiContext, result: Fiscalized) -> Json:
    """A receipt answered alone (a sale's answer, GET receipts/{id}): with the box's printing extension."""
    answer = receipt(ctx, result)
    answer["box"] = receipt_printing(ctx, result)
    return answer


def last_z_serial(ctx: ApiContext) -> int | None:
    """The serial of the last Z report (its shift's number: a Z report per shift): of the last shift, else
    of the one before (still open)."""
    last = ctx.register.shift_view()
    while last is not None:
        if last.z is not None:
            return last.id
        if last.closed_at is not None or last.id <= 1:
            return None
        last = ctx.register.shift_view(last.id - 1)
    return None


def cash_register(ctx: ApiContext) -> Json:
    status = ctx.register.status()
    return views.register_json(
        status,
        open_shift(ctx),
        facts=ctx.facts,
        testing=ctx.register.registrar.testing,
        last_z_serial=last_z_serial(ctx),
    )


# --- lists and look-ups --------------------------------------------------------------------------


def _meta(page: Page) -> dict[str, int]:
    assert page.limit is not None  # a till's page is always bounded
    return {"limit": page.limit, "offset": page.offset}


def receipts_page(ctx: ApiContext, where: DocumentFilter, page: Page) -> Json:
    """A page of receipts, each as GET /receipts/{id} answers it."""
    shifts: dict[int, Json | None] = {}
    results = [receipt(ctx, r, shifts=shifts) for r in ctx.register.receipts(where, page)]
    return pages.page_json(results, **_meta(page))


def shifts_page(ctx: ApiContext, page: Page, *, is_open: bool | None) -> Json:
    """A page of shifts, each as GET /shifts/{id} answers it, with its cash register."""
    results = []
    for shift_id in ctx.register.shift_ids(page, is_open=is_open):
        found = shift(ctx, shift_id)
        if found is not None:
            results.append(found)  # it carries its cash register, as ShiftWithCashRegisterModel needs
    return pages.page_json(results, **_meta(page))


def z_report(ctx: ApiContext, shift_id: int) -> Json | None:
    """A shift's Z report as GET /reports/{id} answers it, or None."""
    view = ctx.register.shift_view(shift_id)
    return views.shift_z_json(view, ctx.facts) if view is not None else None


@dataclass(frozen=True)
class ReportQuery:
    """What GET /reports is narrowed to. ``shifts`` None: every shift; ``serial``: a Z report's is its
    shift's number (one Z per shift), an X report's what its answer says; ``is_z`` None: both kinds."""

    shifts: tuple[int, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    serial: str | None = None
    is_z: bool | None = None

    def z_filter(self) -> DocumentFilter:
        shifts = self.shifts
        if self.serial is not None:
            n = number(self.serial)
            shifts = () if n is None or (shifts is not None and n not in shifts) else (n,)
        return DocumentFilter(shift_ids=shifts, since=self.since, until=self.until)

    def takes_x(self, kept: dict[str, Any]) -> bool:
        at: datetime = kept["_at"]
        return not (
            (self.shifts is not None and kept["_shift"] not in self.shifts)
            or (self.since is not None and at < self.since)
            or (self.until is not None and at > self.until)
            or (self.serial is not None and str(kept.get("serial")) != self.serial)
        )


def _public(kept: dict[str, Any]) -> Json:
    return {k: v for k, v in kept.items() if not k.startswith("_")}


def reports_page(ctx: ApiContext, query: ReportQuery, page: Page) -> Json:
    """A page of reports by date: the shifts' Z reports from the journal and, unless only Z reports are
    asked for, the X reports the box keeps in memory (the most recent ones, routes/reports.py)."""
    assert page.limit is not None
    register = ctx.register
    if query.is_z:
        found = [z_report(ctx, s) for s, _ in register.z_reports(query.z_filter(), page)]
        return pages.page_json([z for z in found if z is not None], **_meta(page))
    # Both kinds, merged by date: no more Z reports are read than the page can reach.
    reach = Page(limit=page.offset + page.limit, desc=page.desc)
    zs = [] if query.is_z is False else register.z_reports(query.z_filter(), reach)
    with ctx.reports_lock:
        xs = [kept for kept in ctx.reports.values() if query.takes_x(kept)]
    merged: list[tuple[datetime, int, int | dict[str, Any]]] = [(at, 0, s) for s, at in zs]
    merged += [(kept["_at"], 1, kept) for kept in xs]
    merged.sort(key=lambda e: (e[0], e[1]), reverse=page.desc)
    results = []
    for _at, _kind, item in merged[page.offset : page.offset + page.limit]:
        body = z_report(ctx, item) if isinstance(item, int) else _public(item)
        if body is not None:
            results.append(body)
    return pages.page_json(results, **_meta(page))


def periodic_report(ctx: ApiContext, since: datetime, until: datetime, width: int) -> str:
    """The periodic report's text: the Z reports made from ``since`` to ``until`` (both included), summed."""
    reports: list[docs.ZReport] = []
    numbers: list[str] = []
    for shift_id, _at in ctx.register.z_reports(DocumentFilter(since=since, until=until), Page(limit=None)):
        view = ctx.register.shift_view(shift_id)
        if view is not None and view.z is not None and isinstance(view.z.document, docs.ZReport):
            reports.append(view.z.document)
            numbers.append(view.z.fiscal_num)
    now = ctx.clock.now()
    head = docs.DocHead(
        uid="periodic-report",
        seller=ctx.register.seller(),
        when=now,
        order_num=0,
        testing=ctx.register.registrar.testing,
    )
    layout = layout_periodic_report(
        period_totals(reports, head), Period(since, until, tuple(numbers)), printed_at=now, width_chars=width
    )
    return to_text(layout)


def signature_status(ctx: ApiContext) -> Json:
    """The box's own signer (AGENT): online when its key answers; a shift can be opened when none is
    open and nothing blocks the register."""
    try:
        online = bool(ctx.register.signer.subject_key_id)
    except (FiscalBoxError, OSError, ValueError):
        online = False
    status = ctx.register.status()
    return pages.signature_status_json(
        online=online, can_open_shift=not status.shift_open and status.blocked_reason is None
    )


def receipt_config(ctx: ApiContext) -> Json:
    return pages.receipt_config_json(ctx.facts)
