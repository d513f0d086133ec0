"""shifts: open, look up, close (the Z report and the close-shift document)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from agent.till_api import models, records, schemas
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
