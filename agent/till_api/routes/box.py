"""box: the box's own extensions (contract §3): reprint, the drawer, the technician's slip, the status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent.printing import PrintService
from agent.till_api import models, records, schemas
from agent.till_api.access import Authed
from agent.till_api.context import API, ApiContext, Ctx
from agent.till_api.errors import RESPONSES, ApiError
from drivers.printer import PrinterError

router = APIRouter(prefix=API, tags=["box"], responses=RESPONSES)


def printing(ctx: ApiContext) -> PrintService:
    if ctx.printing is None:
        raise ApiError(
            409, "printer.not_configured", "no printer is active on this box ([printer] in the config)"
        )
    return ctx.printing


def printer_error(exc: PrinterError) -> ApiError:
    return ApiError(409, f"printer.{type(exc).__name__.lower()}", f"the printer failed: {exc}")


@router.post("/receipts/{receipt_id}/print", response_model=schemas.Ok)
def reprint(receipt_id: str, ctx: Ctx, _: Authed) -> dict[str, Any]:
    result = records.receipt_of(ctx, receipt_id)
    service = printing(ctx)
    try:
        service.print_now(service.receipt_layout(result, copy=True, printed_at=ctx.clock.now()))
    except PrinterError as exc:
        raise printer_error(exc) from exc
    return {"status": "ok", "id": receipt_id, "copy": True}


@router.post("/box/drawer", response_model=schemas.Ok)
def open_drawer(ctx: Ctx, _: Authed, body: models.Empty | None = None) -> dict[str, Any]:
    service = printing(ctx)
    try:
        service.kick_drawer()
    except PrinterError as exc:
        raise printer_error(exc) from exc
    return {"status": "ok"}


@router.post("/box/slip", response_model=schemas.Ok)
def print_slip(ctx: Ctx, _: Authed, body: models.Empty | None = None) -> dict[str, Any]:
    service = printing(ctx)
    if ctx.slip is None:
        raise ApiError(409, "slip.not_configured", "the slip is not available on this box")
    try:
        service.print_now(ctx.slip())
    except PrinterError as exc:
        raise printer_error(exc) from exc
    return {"status": "ok"}


@router.get("/box/status", response_model=schemas.BoxStatus)
def box_status(ctx: Ctx, _: Authed) -> dict[str, Any]:
    return ctx.box_status()
