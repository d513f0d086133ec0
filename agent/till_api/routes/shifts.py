"""shifts: open, look up, close (the Z report and the close-shift document), and the shifts listed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from agent.secr.journal import Page
from agent.till_api import models, pages, records, schemas
from agent.till_api.access import Authed
from agent.till_api.context import API, ApiContext, Ctx
from agent.till_api.errors import RESPONSES, ApiError

router = APIRouter(prefix=API, tags=["shifts"], responses=RESPONSES)


@router.post("/shifts", response_model=schemas.Shift, status_code=202)
def open_shift(ctx: Ctx, s: Authed, body: models.ShiftOpen | None = None) -> dict[str, Any]:
    result = ctx.register.open_shift(cashier=s.cashier.name)
    assert result.shift_id is not None
    return records.existing_shift(ctx, result.shift_id)


def shift_number(ctx: ApiContext, value: str) -> int:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "shift.not_found", f"no shift {value!r}") from None
    number = ctx.ids.shift_number(value)
    if number is None:
        raise ApiError(404, "shift.not_found", f"no shift {value}")
    return number


@router.get("/shifts/{shift_id}", response_model=schemas.Shift)
def get_shift(shift_id: str, ctx: Ctx, _: Authed) -> dict[str, Any]:
    shift = records.shift(ctx, shift_number(ctx, shift_id))
    if shift is None:
        raise ApiError(404, "shift.not_found", f"no shift {shift_id}")
    return shift


@router.post("/shifts/close", response_model=schemas.Shift, status_code=202)
def close_shift(ctx: Ctx, s: Authed, body: models.Empty | None = None) -> dict[str, Any]:
    z, _close = ctx.register.close_shift(cashier=s.cashier.name)
    assert z.shift_id is not None
    return records.existing_shift(ctx, z.shift_id)


@router.post("/shifts/{shift_id}/close", response_model=schemas.Shift)
def close_shift_by_id(shift_id: str, ctx: Ctx, s: Authed, body: models.Empty | None = None) -> dict[str, Any]:
    """Checkbox's close of a named shift (by a senior cashier): a box has one shift open at a time, so it
    closes that one; a shift already closed is said so, an unknown one is a 404."""
    number = shift_number(ctx, shift_id)
    current = ctx.register.shift_view()
    if current is None or current.id != number or current.closed_at is not None:
        if records.shift(ctx, number, with_balance=False) is None:
            raise ApiError(404, "shift.not_found", f"no shift {shift_id}")
        raise ApiError(400, "shift.not_opened", f"shift {shift_id} is closed already")
    return close_shift(ctx, s)


@router.get("/shifts", response_model=pages.Page)
def list_shifts(
    ctx: Ctx,
    _: Authed,
    statuses: Annotated[list[pages.ShiftStatus] | None, Query()] = None,
    desc: pages.Desc = False,
    limit: pages.Limit = pages.DEFAULT_LIMIT,
    offset: pages.Offset = 0,
) -> dict[str, Any]:
    """The shifts in the order they were opened. The box's shifts are OPENED or CLOSED (it answers with
    the final state at once), so CREATED, OPENING and CLOSING alone find none."""
    page = Page(limit, offset, desc)
    if statuses is None:
        return records.shifts_page(ctx, page, is_open=None)
    wanted = {pages.ShiftStatus.OPENED, pages.ShiftStatus.CLOSED} & set(statuses)
    if not wanted:
        return pages.page_json([], limit=limit, offset=offset)
    is_open = None if len(wanted) == 2 else pages.ShiftStatus.OPENED in wanted
    return records.shifts_page(ctx, page, is_open=is_open)
