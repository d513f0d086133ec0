"""The lists and look-ups tills call (GET /receipts, /shifts, /reports and their searches, the signature
status, the organization's receipt settings): their query parameters as Checkbox declares them, and the
models of their answers for the OpenAPI document.

Checkbox paginates as ``PaginatedResult_X_`` = ``{meta: {limit, offset}, results: [...]}``: ``limit`` 25
by default and at most 1000, ``offset`` 0 and up. Its description writes the lower bound of ``limit`` as
``exclusiveMinimum`` without a minimum (pydantic's ``gt=0`` as FastAPI renders it): 0 and below are a 422
here. A result is what the record's own GET answers, so the page models do not repeat its shape.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from agent.clock import KYIV
from agent.till_api.facts import BoxFacts
from agent.till_api.views import organization_json

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000

Limit = Annotated[int, Query(gt=0, le=MAX_LIMIT, description="how many results at most")]
Offset = Annotated[int, Query(ge=0, description="how many results to skip from the start")]
Desc = Annotated[bool, Query(description="the newest first")]
Uuids = Annotated[list[uuid.UUID] | None, Query()]
When = Annotated[
    datetime | None,
    Query(description="ISO date-time or date; without an offset it is Kyiv time"),
]


class ShiftStatus(StrEnum):
    """Checkbox's shift states; the box's shifts are OPENED or CLOSED (it answers with the final state)."""

    CREATED = "CREATED"
    OPENING = "OPENING"
    OPENED = "OPENED"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


#: the moments a filter is held within: a bound further out finds what these do (no document is dated
#: there), and every one of them can be written in UTC and in Kyiv time
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def instant(value: datetime | None) -> datetime | None:
    """An aware moment, in UTC: a date-time without an offset (or a plain date, midnight) is Kyiv time,
    the time on the box's receipts."""
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=KYIV)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:  # the first or the last day datetime knows, moved past it by the offset
        return EARLIEST if aware.year == 1 else LATEST
    return min(max(utc, EARLIEST), LATEST)


def number(text: str | None) -> int | None:
    """A serial given as text (Checkbox declares it a string): its number, or None when it is none."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class PageMeta(_Out):
    limit: int
    offset: int


class Page(_Out):
    """A page of a list: ``meta`` echoes the limit and offset asked for; each result is what the
    record's own GET answers (GET /receipts/{id}, /shifts/{id}, /reports/{id})."""

    meta: PageMeta
    results: list[dict[str, Any]]


class CashierSignatureStatus(_Out):
    online: bool
    type: str  # AGENT: the box signs itself, with its own key
    shift_open_possibility: bool


class ShortOrganization(_Out):
    id: str
    title: str
    edrpou: str
    tax_number: str


class OrganizationReceiptConfig(_Out):
    organization: ShortOrganization
    text_global_header: str | None = None
    text_global_footer: str | None = None


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CashierSignatureStatus",
    "Desc",
    "Limit",
    "Offset",
    "OrganizationReceiptConfig",
    "Page",
    "PageMeta",
    "ShiftStatus",
    "ShortOrganization",
    "Uuids",
    "When",
    "instant",
    "number",
]


def page_json(results: list[dict[str, Any]], *, limit: int, offset: int) -> dict[str, Any]:
    """A page as Checkbox paginates (PaginatedResult_X_): the limit and offset asked for, then the results."""
    return {"meta": {"limit": limit, "offset": offset}, "results": results}


def signature_status_json(*, online: bool, can_open_shift: bool) -> dict[str, Any]:
    """GET cashier/check-signature: the box signs itself (AGENT), with its own key."""
    return {"online": online, "type": "AGENT", "shift_open_possibility": can_open_shift}


def receipt_config_json(facts: BoxFacts) -> dict[str, Any]:
    """GET organization/receipt-config: the taxpayer as registered; the box adds no text of its own to
    receipts, so the header and footer are null."""
    organization = organization_json(facts)
    return {
        "organization": {k: organization[k] for k in ("id", "title", "edrpou", "tax_number")},
        "text_global_header": None,
        "text_global_footer": None,
    }
