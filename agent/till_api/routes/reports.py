"""reports: an X report made now, and a report read back (an X the box made, or a shift's Z) as JSON
or text."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from agent.receipts import layout_receipt, layout_x_report, to_text
from agent.secr import documents as docs
from agent.till_api import models, schemas, views
from agent.till_api.access import Authed
from agent.till_api.context import API, ApiContext, Ctx
from agent.till_api.errors import RESPONSES, ApiError
from agent.till_api.views import Json

router = APIRouter(prefix=API, tags=["reports"], responses=RESPONSES)

KEPT_X_REPORTS = 100  # X reports are read-outs, not records: keep the recent ones


def remember(ctx: ApiContext, body: Json, text: str) -> None:
    with ctx.reports_lock:
        ctx.reports[body["id"]] = {**body, "_text": text}
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
    remember(ctx, answer, to_text(layout))
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
        serial=view.z.local_num,
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


@router.get("/reports/{report_id}", response_model=schemas.Report)
def get_report(report_id: str, ctx: Ctx, _: Authed) -> dict[str, Any]:
    return report_of(ctx, report_id)[0]


@router.get("/reports/{report_id}/text")
def get_report_text(report_id: str, ctx: Ctx, _: Authed) -> Response:
    return Response(report_of(ctx, report_id)[1], media_type="text/plain; charset=utf-8")
