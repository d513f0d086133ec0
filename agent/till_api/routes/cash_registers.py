"""cash-registers: this box as Checkbox's cash register, going online, and the offline figures.

The box decides offline by itself (the law allows it only while the fiscal server cannot be reached), so
the offline calls report rather than command.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent.secr.errors import FiscalBoxError
from agent.till_api import models, offline_views, pages, records, schemas
from agent.till_api.access import Authed
from agent.till_api.context import API, Ctx
from agent.till_api.errors import RESPONSES, ApiError

router = APIRouter(prefix=API, tags=["cash-registers"], responses=RESPONSES)


@router.get("/cash-registers", response_model=pages.Page)
def list_cash_registers(
    ctx: Ctx,
    _: Authed,
    in_use: bool | None = None,
    limit: pages.Limit = pages.DEFAULT_LIMIT,
    offset: pages.Offset = 0,
) -> dict[str, Any]:
    """The cash registers a till may work on: a box is one. `in_use` true lists it while a shift is open
    on it, false while none is."""
    register = records.cash_register(ctx)
    listed = in_use is None or in_use == register["has_shift"]
    return pages.page_json([register] if listed and offset == 0 else [], limit=limit, offset=offset)


@router.get("/cash-registers/info", response_model=schemas.CashRegister)
def register_info(ctx: Ctx, _: Authed) -> dict[str, Any]:
    return records.cash_register(ctx)


@router.post("/cash-registers/go-online", response_model=schemas.Ok)
def go_online(ctx: Ctx, _: Authed, body: models.Empty | None = None) -> dict[str, Any]:
    report = ctx.register.go_online()
    if not report.reachable:
        raise ApiError(409, "tax_service.unreachable", f"the fiscal server does not answer: {report.error}")
    if report.error:
        raise ApiError(409, "go_online.failed", report.error)
    return {"status": "ok", "mode": report.mode.value, "documents_delivered": report.documents_delivered}


@router.post("/cash-registers/go-offline", response_model=schemas.Ok)
def go_offline(ctx: Ctx, _: Authed, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return offline_views.go_offline_json(ctx.register.status())


@router.post("/cash-registers/ping-tax-service", response_model=schemas.Ping)
def ping(ctx: Ctx, _: Authed, body: models.Empty | None = None) -> dict[str, Any]:
    try:
        ctx.register.server.server_state(timeout=5)
    except FiscalBoxError as exc:
        return {"status": "ERROR", "error": str(exc)}
    return {"status": "DONE", "error": None}


@router.get("/cash-registers/get-offline-codes-count", response_model=schemas.OfflineCodesCount)
def offline_codes_count(ctx: Ctx, _: Authed) -> dict[str, Any]:
    return offline_views.offline_codes_count_json(ctx.register.status())


@router.get("/cash-registers/ask-offline-codes", response_model=schemas.Ok)
def ask_offline_codes(ctx: Ctx, _: Authed, count: int = 2000, sync: bool = False) -> dict[str, Any]:
    ctx.register.go_online()  # refreshes the range while online
    return {"status": "ok"}


@router.get("/cash-registers/get-offline-codes")
def offline_codes(_: Authed, count: int = 2000) -> list[dict[str, Any]]:
    return []  # numbers are computed per document from the session's seed, not handed out


@router.get("/cash-registers/get-offline-time", response_model=schemas.OfflineTime)
def offline_time(
    ctx: Ctx, _: Authed, from_date: str | None = None, to_date: str | None = None
) -> dict[str, Any]:
    return offline_views.offline_time_json(ctx.register.status())


# Last in the router: a path parameter would swallow the fixed paths above.
@router.get("/cash-registers/{register_id}", response_model=schemas.CashRegister)
def register_by_id(register_id: str, ctx: Ctx, _: Authed) -> dict[str, Any]:
    if register_id != ctx.ids.cash_register:
        raise ApiError(
            404, "cash_register.not_found", f"this box serves cash register {ctx.ids.cash_register}"
        )
    return records.cash_register(ctx)
