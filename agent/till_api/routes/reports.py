"""reports: an X report made now, a report read back (an X the box made, or a shift's Z) as JSON or
text, the reports listed and searched, and the periodic report over the Z reports of a period."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from agent.receipts import layout_receipt, layout_x_report, to_text
from agent.secr import documents as docs
from agent.secr.journal import Page
from agent.till_api import models, pages, records, schemas, views
from agent.till_api.access import Authed
from agent.till_api.context import API, ApiContext, Ctx
from agent.till_api.errors import RESPONSES, ApiError
from agent.till_api.views import Json

router = APIRouter(prefix=API, tags=["reports"], responses=RESPONSES)

KEPT_X_REPORTS = 100  # X reports are read-outs, not records: keep the recent ones


def remember(ctx: ApiContext, body: Json, text: str, *, at: datetime, shift_id: int) -> None:
    """Kept with its text, and the date and shift GET /reports filters by (the "_" keys are not answered)."""
    with ctx.reports_lock:
        ctx.reports[body["id"]] = {**body, "_text": text, "_at": at, "_shift": shift_id}
        while len(ctx.reports) > KEPT_X_REPORTS:
            ctx.reports.pop(next(iter(ctx.reports)))


@router.post("/reports", response_model=schemas.Report, status_code=201)
def x_report(ctx: Ctx, _: Authed, body: models.Empty | None = None) -> dict[str, Any]:
    report = ctx.register.x_report()
    answer = views.report_json(
        report.report,
        rid=str(uuid.uuid4()),
        shift_id=ctx.ids.shift(report.shift_id),
        fiscal_code=None,
        is_z=False,
        facts=ctx.facts,
    )
    layout = layout_x_report(report.report, printed_at=ctx.clock.now(), shift_opened_at=report.opened_at)
    remember(ctx, answer, to_text(layout), at=report.report.head.when, shift_id=report.shift_id)
    return answer


def z_report_of(ctx: ApiContext, report_id: str) -> tuple[Json, str] | None:
    """A Z report is the shift's: its id encodes the shift, its figures are the registered ZREP."""
    shift_id = ctx.ids.z_shift_number(report_id)
    if shift_id is None:
        return None
    view = ctx.register.shift_view(shift_id)
    if view is None or view.z is None or not isinstance(view.z.document, docs.ZReport):
        return None
    body = views.report_json(
        view.z.document,
        rid=report_id,
        shift_id=ctx.ids.shift(shift_id),
        fiscal_code=view.z.fiscal_num,
        is_z=True,
        serial=shift_id,
        facts=ctx.facts,
    )
    layout = layout_receipt(
        view.z.document,
        fiscal_num=view.z.fiscal_num,
        offline=view.z.offline,
        registered_at=view.z.registered_at,
        shift_opened_at=view.opened_at,
    )
    return body, to_text(layout)


def report_of(ctx: ApiContext, report_id: str) -> tuple[Json, str]:
    with ctx.reports_lock:
        found = ctx.reports.get(report_id)
    if found is not None:
        return {k: v for k, v in found.items() if not k.startswith("_")}, str(found["_text"])
    z = z_report_of(ctx, report_id)
    if z is None:
        raise ApiError(404, "report.not_found", f"no report {report_id}")
    return z


def report_query(
    ctx: ApiContext,
    shift_id: list[uuid.UUID] | None,
    from_date: datetime | None,
    to_date: datetime | None,
    serial: str | None,
    is_z_report: bool | None,
) -> records.ReportQuery:
    return records.ReportQuery(
        shifts=ctx.ids.shift_numbers(shift_id),
        since=pages.instant(from_date),
        until=pages.instant(to_date),
        serial=serial,
        is_z=is_z_report,
    )


# The lists before /reports/{report_id}, which would take "search" and "periodical" for ids.
@router.get("/reports", response_model=pages.Page)
def list_reports(
    ctx: Ctx,
    _: Authed,
    from_date: pages.When = None,
    to_date: pages.When = None,
    shift_id: pages.Uuids = None,
    serial: str | None = None,
    is_z_report: bool | None = None,
    desc: pages.Desc = False,
    limit: pages.Limit = pages.DEFAULT_LIMIT,
    offset: pages.Offset = 0,
) -> dict[str, Any]:
    """The reports of the current shift (the last one), or of every shift when a date or shifts are given."""
    query = report_query(ctx, shift_id, from_date, to_date, serial, is_z_report)
    if shift_id is None and from_date is None and to_date is None:
        last = ctx.register.shift_view()
        query = records.ReportQuery(
            shifts=(last.id,) if last is not None else (), serial=serial, is_z=is_z_report
        )
    return records.reports_page(ctx, query, Page(limit, offset, desc))


@router.get("/reports/search", response_model=pages.Page)
def search_reports(
    ctx: Ctx,
    _: Authed,
    from_date: pages.When = None,
    to_date: pages.When = None,
    shift_id: pages.Uuids = None,
    serial: str | None = None,
    is_z_report: bool | None = None,
    desc: pages.Desc = False,
    cash_register_id: pages.Uuids = None,
    limit: pages.Limit = pages.DEFAULT_LIMIT,
    offset: pages.Offset = 0,
) -> dict[str, Any]:
    """The reports of every shift; another cash register's are none of this box's."""
    page = Page(limit, offset, desc)
    if ctx.ids.names_only_other_registers(cash_register_id):
        return pages.page_json([], limit=limit, offset=offset)
    return records.reports_page(
        ctx, report_query(ctx, shift_id, from_date, to_date, serial, is_z_report), page
    )


@router.get("/reports/periodical", response_class=PlainTextResponse)
def periodical_report(
    ctx: Ctx,
    _: Authed,
    from_date: Annotated[datetime, Query(description="from (included); without an offset Kyiv time")],
    to_date: Annotated[datetime, Query(description="to (included); without an offset Kyiv time")],
    width: Annotated[int, Query(ge=20, le=80)] = 42,
) -> PlainTextResponse:
    """The Z reports of the period summed, as text of ``width`` characters (Checkbox answers text/plain)."""
    since, until = pages.instant(from_date), pages.instant(to_date)
    assert since is not None and until is not None
    text = records.periodic_report(ctx, since, until, width)
    return PlainTextResponse(text)


@router.get("/reports/{report_id}", response_model=schemas.Report)
def get_report(report_id: str, ctx: Ctx, _: Authed) -> dict[str, Any]:
    return report_of(ctx, report_id)[0]


@router.get("/reports/{report_id}/text")
def get_report_text(report_id: str, ctx: Ctx, _: Authed) -> Response:
    return Response(report_of(ctx, report_id)[1], media_type="text/plain; charset=utf-8")
