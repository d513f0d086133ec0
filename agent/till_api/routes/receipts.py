"""receipts: sell and return, service in and out, a receipt read back as JSON, text, HTML, PNG, the
registered XML or its QR code, and the receipts listed and searched.

A receipt's id is its idempotency key (contract §3): the register makes one document per id, whatever
the till retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from agent.receipts import Layout, layout_receipt, qr_png, to_html, to_png, to_text
from agent.secr import documents as docs
from agent.secr.errors import InvalidInput, NotSupported
from agent.secr.journal import DocumentFilter, Page
from agent.secr.register import DuplicateRequest, Fiscalized
from agent.till_api import convert, models, pages, records, schemas, views
from agent.till_api.access import Authed
from agent.till_api.context import API, ApiContext, Ctx
from agent.till_api.errors import RESPONSES, ApiError

router = APIRouter(prefix=API, tags=["receipts"], responses=RESPONSES)


def fiscalize(ctx: ApiContext, action: Callable[[str], Fiscalized], rid: str) -> dict[str, Any]:
    try:
        # Printing is not decided here: the register queued the receipt, the print worker prints it.
        return records.one_receipt(ctx, action(rid))
    except DuplicateRequest as exc:
        raise ApiError(
            400,
            "receipt.already_exists",
            f"a receipt with id {rid} already exists (fiscal number {exc.result.fiscal_num}); fetch it by id",
        ) from exc


def request_key(ctx: ApiContext, body_id: str | None, header_id: str | None) -> str:
    """The receipt's idempotency key (convert.receipt_id); an x-request-id that is no UUID as written, which
    a box before issue 10 took as it was, keeps naming its receipt, so that a retry across the upgrade is not
    a second sale. Only such a header is looked up: a UUID header is its own key, with no read per sale."""
    key = convert.receipt_id(body_id, header_id)
    if not body_id and header_id and key != header_id and ctx.register.get(header_id) is not None:
        return header_id
    return key


def returned_sale(ctx: ApiContext, body: models.ReceiptSell) -> str:
    """The fiscal number of the sale a return receipt refunds; a receipt either sells or returns."""
    if not all(g.is_return for g in body.goods):
        raise InvalidInput(
            "a receipt either sells or returns: all goods must have the same is_return", field="goods"
        )
    if not body.related_receipt_id:
        raise InvalidInput(
            "a return needs related_receipt_id: the id of the sale", field="related_receipt_id"
        )
    sale = ctx.register.get(body.related_receipt_id)
    if sale is None:
        raise InvalidInput(f"no receipt with id {body.related_receipt_id}", field="related_receipt_id")
    return sale.fiscal_num


@router.post("/receipts/sell", response_model=schemas.Receipt, status_code=201)
def sell(
    body: models.ReceiptSell, ctx: Ctx, s: Authed, x_request_id: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    items = convert.to_items(body.goods, ctx.taxes)
    adjustments = convert.to_adjustments(body.discounts, ctx.taxes)
    rounding = body.rounding
    payments = convert.to_payments(body.payments)
    rid = request_key(ctx, body.id, x_request_id)
    cashier = body.cashier_name or s.cashier.name
    register = ctx.register
    if any(g.is_return for g in body.goods):
        sale_num = returned_sale(ctx, body)
        return fiscalize(
            ctx,
            lambda r: register.refund(
                items,
                payments,
                sale_fiscal_num=sale_num,
                cashier=cashier,
                request_id=r,
                adjustments=adjustments,
                round_cash=rounding,
            ),
            rid,
        )
    return fiscalize(
        ctx,
        lambda r: register.sell(
            items, payments, cashier=cashier, request_id=r, adjustments=adjustments, round_cash=rounding
        ),
        rid,
    )


@router.post("/receipts/service", response_model=schemas.Receipt, status_code=201)
def service(
    body: models.ReceiptService, ctx: Ctx, s: Authed, x_request_id: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    value = body.payment.value
    if value == 0:
        raise InvalidInput("a service receipt of 0.00 is meaningless", field="payment.value")
    if body.payment.type != "CASH":
        raise NotSupported("service receipts move cash only", what_to_do="use payment.type CASH")
    rid = request_key(ctx, body.id, x_request_id)
    amount = convert.money(abs(value))
    register = ctx.register
    if value > 0:
        return fiscalize(ctx, lambda r: register.cash_in(amount, cashier=s.cashier.name, request_id=r), rid)
    return fiscalize(ctx, lambda r: register.cash_out(amount, cashier=s.cashier.name, request_id=r), rid)


def receipt_filter(
    ctx: ApiContext,
    *,
    fiscal_code: str | None = None,
    serial: str | None = None,
    shift_id: list[uuid.UUID] | None = None,
    from_date: datetime | None = None,
    to_date: datetime | None = None,
) -> DocumentFilter:
    """A serial that is no number, or shifts none of which are this box's, match nothing (an empty page)."""
    shifts = ctx.ids.shift_numbers(shift_id)
    local_num = pages.number(serial)
    if serial is not None and local_num is None:
        shifts = ()
    return DocumentFilter(
        fiscal_num=fiscal_code,
        local_num=local_num,
        shift_ids=shifts,
        since=pages.instant(from_date),
        until=pages.instant(to_date),
    )


# The lists before /receipts/{receipt_id}, which would take "search" for an id.
@router.get("/receipts", response_model=pages.Page)
def list_receipts(
    ctx: Ctx,
    _: Authed,
    fiscal_code: str | None = None,
    serial: str | None = None,
    desc: pages.Desc = False,
    limit: pages.Limit = pages.DEFAULT_LIMIT,
    offset: pages.Offset = 0,
) -> dict[str, Any]:
    """Sales, returns, service in and out, in the order they were made; ``serial`` is the local number."""
    where = receipt_filter(ctx, fiscal_code=fiscal_code, serial=serial)
    return records.receipts_page(ctx, where, Page(limit, offset, desc))


@router.get("/receipts/search", response_model=pages.Page)
def search_receipts(
    ctx: Ctx,
    _: Authed,
    fiscal_code: str | None = None,
    barcode: str | None = None,
    shift_id: pages.Uuids = None,
    branch_id: pages.Uuids = None,
    cash_register_id: pages.Uuids = None,
    from_date: pages.When = None,
    to_date: pages.When = None,
    desc: pages.Desc = False,
    self_receipts: bool = False,
    limit: pages.Limit = pages.DEFAULT_LIMIT,
    offset: pages.Offset = 0,
) -> dict[str, Any]:
    """As GET /receipts, narrowed. The box keeps no receipt barcode (a barcode finds nothing) and is one
    point of sale (branch_id narrows nothing); another cash register's receipts are none of this box's.
    self_receipts narrows nothing: the box signs every cashier's receipts with its own key."""
    page = Page(limit, offset, desc)
    if barcode is not None or ctx.ids.names_only_other_registers(cash_register_id):
        return pages.page_json([], limit=limit, offset=offset)
    where = receipt_filter(
        ctx, fiscal_code=fiscal_code, shift_id=shift_id, from_date=from_date, to_date=to_date
    )
    return records.receipts_page(ctx, where, page)


@router.get("/receipts/{receipt_id}", response_model=schemas.Receipt)
def get_receipt(receipt_id: str, ctx: Ctx, _: Authed) -> dict[str, Any]:
    return records.one_receipt(ctx, records.receipt_of(ctx, receipt_id))


def receipt_layout(ctx: ApiContext, receipt_id: str, width: int, copy: bool) -> Layout:
    result = records.receipt_of(ctx, receipt_id)
    return layout_receipt(
        result.document,
        fiscal_num=result.fiscal_num,
        offline=result.offline,
        registered_at=result.registered_at,
        width_chars=width,
        copy=copy,
        printed_at=ctx.clock.now() if copy else None,
    )


Width = Annotated[int, Query(ge=20, le=80)]


@router.get("/receipts/{receipt_id}/text")
def receipt_text(
    receipt_id: str, ctx: Ctx, _: Authed, width: Width = 42, is_second_copy: bool = False
) -> Response:
    layout = receipt_layout(ctx, receipt_id, width, is_second_copy)
    return Response(to_text(layout), media_type="text/plain; charset=utf-8")


@router.get("/receipts/{receipt_id}/html")
def receipt_html(receipt_id: str, ctx: Ctx, _: Authed, is_second_copy: bool = False) -> Response:
    layout = receipt_layout(ctx, receipt_id, 42, is_second_copy)
    return Response(to_html(layout), media_type="text/html; charset=utf-8")


@router.get("/receipts/{receipt_id}/png")
def receipt_png(
    receipt_id: str,
    ctx: Ctx,
    _: Authed,
    is_second_copy: bool = False,
    paper_width: Annotated[int, Query()] = 58,
    width: Annotated[int, Query(ge=1, le=80)] = 30,
) -> Response:
    if paper_width not in (58, 80):
        raise ApiError(400, "invalid_input", "paper_width is 58 or 80 (mm)")
    chars = 32 if paper_width == 58 else 48
    layout = receipt_layout(ctx, receipt_id, chars, is_second_copy)
    return Response(to_png(layout), media_type="image/png")


@router.get("/receipts/{receipt_id}/xml")
def receipt_xml(receipt_id: str, ctx: Ctx, _: Authed) -> Response:
    # The document as registered, re-encoded to UTF-8: tills decode visualizations as UTF-8.
    xml = (
        records.receipt_of(ctx, receipt_id)
        .xml.decode("cp1251")
        .replace('encoding="windows-1251"', 'encoding="utf-8"', 1)
    )
    return Response(xml.encode("utf-8"), media_type="application/xml; charset=utf-8")


@router.get("/receipts/{receipt_id}/qrcode")
def receipt_qrcode(receipt_id: str, ctx: Ctx, _: Authed) -> Response:
    result = records.receipt_of(ctx, receipt_id)
    doc = result.document
    assert isinstance(doc, docs.Check)
    url = views.tax_url(result, doc, views.receipt_kind(doc))
    if url is None:
        raise ApiError(404, "receipt.no_qrcode", "service receipts carry no QR code")
    return Response(qr_png(url), media_type="image/png")
