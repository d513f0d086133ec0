"""organization: the taxpayer whose registrar this box is, as receipts name it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent.till_api import pages, records
from agent.till_api.access import Authed
from agent.till_api.context import API, Ctx
from agent.till_api.errors import RESPONSES

router = APIRouter(prefix=API, tags=["organization"], responses=RESPONSES)


@router.get("/organization/receipt-config", response_model=pages.OrganizationReceiptConfig)
def receipt_config(ctx: Ctx, _: Authed) -> dict[str, Any]:
    """The organization from the registration data (the server's, else the config's); its id is derived
    from its tax number (ids.IdScheme.organization)."""
    return records.receipt_config(ctx)
