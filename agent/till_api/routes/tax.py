"""tax: the taxes configured on this box."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent.till_api import schemas, views
from agent.till_api.access import Authed
from agent.till_api.context import API, Ctx
from agent.till_api.errors import RESPONSES

router = APIRouter(prefix=API, tags=["tax"], responses=RESPONSES)


@router.get("/tax", response_model=list[schemas.TaxInfo])
def taxes(ctx: Ctx, _: Authed) -> list[dict[str, Any]]:
    return views.taxes_json(ctx.facts)
