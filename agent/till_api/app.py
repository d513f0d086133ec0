"""The till API: the subset of Checkbox's API v1 that tills use (contract §3, docs/checkbox-compat.md),
as thin glue over the cash register. Errors are mapped at this boundary: bad input → 4xx naming what is
wrong, a refusal of the register → 4xx with the cashier-facing message, never a 5xx for what a till sent.
"""

import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from agent import __version__
from agent.clock import Clock
from agent.printing import PrintService
from agent.receipts import Layout, layout_receipt, layout_x_report, qr_png, qr_url, to_html, to_png, to_text
from agent.secr import documents as docs
from agent.secr.errors import (
    BadInput,
    FiscalBoxError,
    InvalidInput,
    NeedsPerson,
    NotSupported,
    RetryLater,
    SalesBlocked,
    ShiftAlreadyOpen,
    ShiftNotOpen,
)
from agent.secr.register import CashRegister, DuplicateRequest, Fiscalized, ShiftReport
from agent.till_api import models, schemas
from agent.till_api.auth import Session, Sessions
from drivers.printer import PrinterError

API = "/api/v1"
KOP = Decimal("100")
THOUSAND = Decimal("1000")


@dataclass
class ApiContext:
    register: CashRegister
    sessions: Sessions
    license_key: str
    taxes: Mapping[int, docs.Tax]
    fiscal_number: str
    clock: Clock
    box_status: Callable[[], dict[str, Any]]
    jwt_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    printing: PrintService | None = None
    slip: Callable[[], Layout] | None = None  # the technician's slip, laid out for the printer
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports_lock: threading.Lock = field(default_factory=threading.Lock)


class ApiError(Exception):
    """An answer other than 200: status, Checkbox-style code, message, optional detail rows."""

    def __init__(
        self, status: int, code: str, message: str, detail: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail or []


def _error_body(code: str, message: str, detail: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"message": message, "code": code, "detail": detail or []}


def _from_box_error(exc: FiscalBoxError) -> ApiError:
    """The register's exception tree → HTTP: bad input 400, a refusal of the box 409, retry later 503."""
    text = str(exc)
    if isinstance(exc, DuplicateRequest):
        return ApiError(400, "receipt.already_exists", text)
    if isinstance(exc, ShiftNotOpen):
        return ApiError(400, "shift.not_opened", text)
    if isinstance(exc, ShiftAlreadyOpen):
        return ApiError(400, "shift.already_opened", text)
    if isinstance(exc, InvalidInput):
        loc = (
            ["body", *str(exc.field).replace("]", "").replace("[", ".").split(".")] if exc.field else ["body"]
        )
        return ApiError(400, exc.code, text, [{"loc": loc, "msg": exc.message, "type": exc.code}])
    if isinstance(exc, BadInput):
        return ApiError(400, exc.code, text)
    if isinstance(exc, SalesBlocked):
        return ApiError(409, f"sales_blocked.{exc.reason}", text)
    if isinstance(exc, NeedsPerson):
        return ApiError(409, exc.code, text)
    assert isinstance(exc, RetryLater)
    return ApiError(503, exc.code, text)


def _kop(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * KOP)


def _money(kopecks: int) -> Decimal:
    return (Decimal(kopecks) / KOP).quantize(docs.KOPECK)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="fiscal-box till API",
        version=__version__,
        description="The subset of Checkbox's API v1 that tills use, served by the box itself.",
        openapi_url=f"{API}/openapi.json",
        # Every operation may answer these, always as an ErrorBody (the till shows its message).
        responses={
            status: {"model": schemas.ErrorBody, "description": text}
            for status, text in (
                (400, "refused: bad input or the register's rules"),
                (401, "not signed in, or the token expired"),
                (403, "the licence key is missing or wrong"),
                (404, "not found"),
                (409, "refused by the box's state: sales blocked, printer, fiscal server"),
                (503, "retry later"),
            )
        },
        docs_url=f"{API}/docs",
        redoc_url=None,
    )
    register = ctx.register
    prefix = hashlib.sha256(f"fiscal-box:{ctx.fiscal_number}".encode()).hexdigest()[:8]

    # --- errors: every answer is a JSON object (the SDK parses error bodies as objects) -----------

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_error_body(exc.code, exc.message, exc.detail), status_code=exc.status)

    @app.exception_handler(FiscalBoxError)
    async def box_error(_: Request, exc: FiscalBoxError) -> JSONResponse:
        err = _from_box_error(exc)
        headers = {"Retry-After": "5"} if err.status == 503 else None
        return JSONResponse(
            _error_body(err.code, err.message, err.detail), status_code=err.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e.get("loc", [])), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        fields = ", ".join(".".join(str(p) for p in d["loc"][1:]) or "body" for d in detail[:5])
        return JSONResponse(
            _error_body("validation_error", f"invalid request: {fields}", detail), status_code=422
        )

    # --- access ---------------------------------------------------------------------------------

    def check_license(key: str | None) -> None:
        if key is None:
            raise ApiError(403, "license_key.missing", "the X-License-Key header is required")
        if not secrets.compare_digest(key.encode(), ctx.license_key.encode()):
            raise ApiError(403, "license_key.invalid", "the X-License-Key does not match this box")

    def session(
        authorization: Annotated[str | None, Header()] = None,
        x_license_key: Annotated[str | None, Header()] = None,
    ) -> Session:
        check_license(x_license_key)
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(
                401, "auth.unauthorized", "sign in first: the Authorization: Bearer token is missing"
            )
        try:
            claims = jwt.decode(authorization[7:].strip(), ctx.jwt_secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            claims = {}
        found = ctx.sessions.get(str(claims.get("sid", "")))
        if found is None:
            raise ApiError(401, "auth.unauthorized", "the token is unknown or has expired: sign in again")
        return found

    Authed = Annotated[Session, Depends(session)]

    def issue_token(s: Session) -> dict[str, Any]:
        # Tills may decode the token (checkbox-sdk's token_data does): a real JWT around the session.
        claims = {"sub": s.cashier_id, "sid": s.token, "iat": int(time.time())}
        return {
            "type": "bearer",
            "token_type": "bearer",
            "access_token": jwt.encode(claims, ctx.jwt_secret, "HS256"),
        }

    # --- JSON views of the box's records ---------------------------------------------------------

    def shift_uuid(shift_id: int) -> str:
        return f"{prefix}-0000-4000-8000-{shift_id:012x}"

    def z_uuid(shift_id: int) -> str:
        return f"{prefix}-0000-4000-9000-{shift_id:012x}"

    def shift_id_of(value: str) -> int:
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            raise ApiError(404, "shift.not_found", f"no shift {value!r}") from None
        text = str(parsed)
        if not text.startswith(prefix) or text[9:23] != "0000-4000-8000":
            raise ApiError(404, "shift.not_found", f"no shift {value}")
        return int(text[-12:], 16)

    def tax_json(row: docs.TaxRow) -> dict[str, Any]:
        code = next((t.code for t in ctx.taxes.values() if t.letter == row.letter), None)
        return {
            "code": code,
            "label": row.name,
            "symbol": row.letter,
            "rate": float(row.rate),
            "included": row.included,
            "value": _kop(row.sum),
            "sales_turnover": _kop(row.turnover),
        }

    def z_json(
        report: docs.ZReport, *, rid: str, shift_id: str, fiscal_code: str | None, is_z: bool
    ) -> dict[str, Any]:
        realiz, ret = report.realiz, report.ret
        pay: dict[int, dict[str, Any]] = {}
        for block, key in ((realiz, "sell_sum"), (ret, "return_sum")):
            for form in block.pay_forms if block else ():
                row = pay.setdefault(
                    form.form,
                    {
                        "type": "CASH" if form.form == docs.PayForm.CASH else "CASHLESS",
                        "label": form.name,
                        "sell_sum": 0,
                        "return_sum": 0,
                        "service_in": 0,
                        "service_out": 0,
                    },
                )
                row[key] += _kop(form.sum)
        if report.service_input or report.service_output:
            cash = pay.setdefault(0, {"type": "CASH", "label": "Готівка", "sell_sum": 0, "return_sum": 0})
            cash["service_in"] = _kop(report.service_input)
            cash["service_out"] = _kop(report.service_output)
        taxes: dict[str, dict[str, Any]] = {}
        for block, key, turnover in (
            (realiz, "sell_sum", "sales_turnover"),
            (ret, "return_sum", "returns_turnover"),
        ):
            for tax_row in block.taxes if block else ():
                t = taxes.setdefault(
                    tax_row.letter,
                    {
                        "symbol": tax_row.letter,
                        "label": tax_row.name,
                        "rate": float(tax_row.rate),
                        "sell_sum": 0,
                        "return_sum": 0,
                        "sales_turnover": 0,
                        "returns_turnover": 0,
                    },
                )
                t[key] += _kop(tax_row.sum)
                t[turnover] += _kop(tax_row.turnover)
        cash_sales = sum(
            _kop(f.sum) for f in (realiz.pay_forms if realiz else ()) if f.form == docs.PayForm.CASH
        )
        cash_returns = sum(_kop(f.sum) for f in (ret.pay_forms if ret else ()) if f.form == docs.PayForm.CASH)
        return {
            "id": rid,
            "shift_id": shift_id,
            "fiscal_code": fiscal_code,
            "is_z_report": is_z,
            "payments": list(pay.values()),
            "taxes": list(taxes.values()),
            "sell_receipts_count": realiz.orders_count if realiz else 0,
            "return_receipts_count": ret.orders_count if ret else 0,
            "sell_sum": _kop(realiz.sum if realiz else None),
            "return_sum": _kop(ret.sum if ret else None),
            "service_in": _kop(report.service_input),
            "service_out": _kop(report.service_output),
            "balance": _kop(report.service_input) + cash_sales - cash_returns - _kop(report.service_output),
            "created_at": _iso(report.head.when),
        }

    def shift_json(shift_id: int, *, with_balance: bool = True) -> dict[str, Any] | None:
        view = register.shift_view(shift_id, with_figures=with_balance)
        if view is None:
            return None
        sid = shift_uuid(view.id)
        z_report = None
        if view.z is not None and isinstance(view.z.document, docs.ZReport):
            z_report = z_json(
                view.z.document, rid=z_uuid(view.id), shift_id=sid, fiscal_code=view.z.fiscal_num, is_z=True
            )
        status = "CLOSED" if view.closed_at else "OPENED"
        figures = view.figures
        realiz = figures.realiz if figures else None
        return {
            "id": sid,
            "serial": view.id,
            "status": status,
            "z_report": z_report,
            "opened_at": _iso(view.opened_at),
            "closed_at": _iso(view.closed_at),
            "created_at": _iso(view.opened_at),
            "updated_at": _iso(view.closed_at),
            "initial_transaction": _transaction("SHIFT_OPEN", view.open_fiscal_num),
            "closing_transaction": _transaction("Z_REPORT", view.z.fiscal_num)
            if view.closed_at and view.z
            else None,
            "balance": {
                "initial": 0,
                "balance": z_json(figures, rid="", shift_id=sid, fiscal_code=None, is_z=False)["balance"]
                if figures
                else 0,
                "service_in": _kop(figures.service_input) if figures else 0,
                "service_out": _kop(figures.service_output) if figures else 0,
                "sell_sum": _kop(realiz.sum) if realiz else 0,
            },
            "taxes": [],
            "cashier_name": view.cashier,
            "fiscal_number": ctx.fiscal_number,
        }

    def receipt_json(result: Fiscalized) -> dict[str, Any]:
        doc = result.document
        assert isinstance(doc, docs.Check)
        subtype = doc.doc_subtype
        kinds: dict[int, str] = {
            docs.DocSubType.CHECK_RETURN: "RETURN",
            docs.DocSubType.SERVICE_DEPOSIT: "SERVICE_IN",
            docs.DocSubType.SERVICE_ISSUE: "SERVICE_OUT",
        }
        kind = kinds.get(int(subtype), "SELL") if subtype is not None else "SELL"
        goods = [
            {
                "good": {
                    "code": line.item.code or "",
                    "name": line.item.name,
                    "price": _kop(line.item.price),
                    "barcode": line.item.barcode,
                    "uktzed": line.item.uktzed,
                },
                "quantity": int(line.item.quantity * THOUSAND),
                "sum": _kop(line.cost),
                "total_sum": _kop(line.cost - line.item.discount),
                "is_return": kind == "RETURN",
                "discounts": [{"type": "DISCOUNT", "mode": "VALUE", "value": _kop(line.item.discount)}]
                if line.item.discount
                else [],
                "taxes": [],
            }
            for line in doc.lines
        ]
        payments = [
            {
                "type": "CASH" if p.form == docs.PayForm.CASH else "CASHLESS",
                "value": _kop(p.provided if p.provided is not None else p.amount),
                "label": p.name,
                "card_mask": p.card_mask,
                "auth_code": p.auth_code,
                "rrn": p.rrn,
                "payment_system": p.payment_system,
            }
            for p in doc.payments
        ]
        if kind in ("SERVICE_IN", "SERVICE_OUT") and not payments:
            payments = [{"type": "CASH", "value": _kop(doc.total), "label": "Готівка"}]
        rest = sum((p.provided - p.amount for p in doc.payments if p.provided is not None), Decimal(0))
        offline_mark = doc.head.offline
        url = None
        if kind in ("SELL", "RETURN"):
            url = qr_url(
                when=doc.head.when,
                fiscal_num=result.fiscal_num,
                total=doc.total or Decimal(0),
                fn=str(doc.head.seller.cash_register_num),
                mac=offline_mark.prev_doc_hash if offline_mark else None,
            )
        return {
            "id": result.request_id or result.uid,
            "type": kind,
            "status": "DONE",
            "serial": result.local_num,
            "fiscal_code": result.fiscal_num,
            "fiscal_date": _iso(doc.head.when),
            "delivered_at": _iso(result.registered_at) if result.delivered else None,
            "created_at": _iso(doc.head.when),
            "updated_at": _iso(result.registered_at),
            "goods": goods,
            "payments": payments,
            "total_sum": _kop(doc.total),
            "total_payment": sum(p["value"] for p in payments),
            "total_rest": _kop(rest),
            "round_sum": _kop(doc.round_sum) if doc.round_sum is not None else 0,
            "taxes": [tax_json(row) for row in doc.taxes],
            "discounts": [],
            "is_created_offline": result.offline,
            "is_sent_dps": result.delivered,
            "control_number": str(result.control_number) if result.control_number is not None else None,
            "tax_url": url,
            "related_receipt_id": None,
            "cashier_name": doc.head.cashier,
            "transaction": _transaction("RECEIPT", result.fiscal_num),
            "shift": shift_json(result.shift_id, with_balance=False) if result.shift_id is not None else None,
        }

    def receipt_of(receipt_id: str) -> Fiscalized:
        result = register.get(receipt_id)
        if result is None or not isinstance(result.document, docs.Check):
            raise ApiError(404, "receipt.not_found", f"no receipt with id {receipt_id}")
        return result

    # --- cashier --------------------------------------------------------------------------------

    @app.post(f"{API}/cashier/signin", tags=["cashier"], response_model=schemas.Token)
    def signin(body: models.SignIn, x_license_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        if x_license_key is not None:
            check_license(x_license_key)
        found = ctx.sessions.sign_in_password(body.login, body.password)
        if found is None:
            raise ApiError(401, "base.credentials", "wrong login or password")
        return issue_token(found)

    @app.post(f"{API}/cashier/signinPinCode", tags=["cashier"], response_model=schemas.Token)
    def signin_pin(
        body: models.SignInPin, x_license_key: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        if x_license_key is not None:
            check_license(x_license_key)
        found = ctx.sessions.sign_in_pin(body.pin_code)
        if found is None:
            raise ApiError(401, "base.credentials", "wrong PIN code")
        return issue_token(found)

    @app.post(f"{API}/cashier/signout", tags=["cashier"])
    def signout(s: Authed) -> dict[str, Any]:
        ctx.sessions.sign_out(s.token)
        return {}

    @app.get(f"{API}/cashier/me", tags=["cashier"], response_model=schemas.CashierOut)
    def me(s: Authed) -> dict[str, Any]:
        return {
            "id": s.cashier_id,
            "full_name": s.cashier.name,
            "login": s.cashier.login,
            "key_id": register.signer.subject_key_id,
            "signature_type": "AGENT",
            "permissions": {"orders": False},
            "blocked": None,
        }

    @app.get(f"{API}/cashier/shift", tags=["cashier"], response_model=schemas.Shift | None)
    def cashier_shift(_: Authed) -> dict[str, Any] | None:
        view = register.shift_view()
        return shift_json(view.id) if view is not None and view.closed_at is None else None

    # --- shifts ---------------------------------------------------------------------------------

    @app.post(f"{API}/shifts", tags=["shifts"], response_model=schemas.Shift)
    def open_shift(s: Authed, body: models.ShiftOpen | None = None) -> dict[str, Any]:
        result = register.open_shift(cashier=s.cashier.name)
        assert result.shift_id is not None
        shift = shift_json(result.shift_id)
        assert shift is not None
        return shift

    @app.get(f"{API}/shifts/{{shift_id}}", tags=["shifts"], response_model=schemas.Shift)
    def get_shift(shift_id: str, _: Authed) -> dict[str, Any]:
        shift = shift_json(shift_id_of(shift_id))
        if shift is None:
            raise ApiError(404, "shift.not_found", f"no shift {shift_id}")
        return shift

    @app.post(f"{API}/shifts/close", tags=["shifts"], response_model=schemas.Shift)
    def close_shift(s: Authed, body: models.Empty | None = None) -> dict[str, Any]:
        z, _close = register.close_shift(cashier=s.cashier.name)
        assert z.shift_id is not None
        shift = shift_json(z.shift_id)
        assert shift is not None
        return shift

    # --- receipts -------------------------------------------------------------------------------

    def to_items(body: models.ReceiptSell) -> list[docs.Item]:
        letters = {t.letter: t.code for t in ctx.taxes.values()}
        items = []
        for index, good_item in enumerate(body.goods):
            good = good_item.good
            codes: list[int] = []
            for tax in good.tax:
                if isinstance(tax, int):
                    codes.append(tax)
                elif tax in letters:
                    codes.append(letters[tax])
                else:
                    raise InvalidInput(f"unknown tax letter {tax!r}", field=f"goods[{index}].good.tax")
            price = _money(good.price)
            quantity = Decimal(good_item.quantity) / THOUSAND
            discount = Decimal(0)
            for d in good_item.discounts:
                if d.type != "DISCOUNT":
                    raise NotSupported(
                        "extra charges are not supported", what_to_do="put the charge into the price instead"
                    )
                if d.mode == "VALUE":
                    discount += _money(int(d.value))
                else:
                    cost = (price * quantity).quantize(docs.KOPECK, ROUND_HALF_UP)
                    discount += (cost * Decimal(str(d.value)) / 100).quantize(docs.KOPECK, ROUND_HALF_UP)
            items.append(
                docs.Item(
                    name=good.name,
                    quantity=quantity,
                    price=price,
                    tax_codes=tuple(codes),
                    code=good.code,
                    barcode=good.barcode,
                    uktzed=good.uktzed,
                    discount=discount,
                )
            )
        return items

    def to_payments(payments: list[models.Payment]) -> list[docs.Payment]:
        return [
            docs.Payment(
                form=docs.PayForm.CASH if p.type == "CASH" else docs.PayForm.CARD,
                name=p.label or ("ГОТІВКА" if p.type == "CASH" else "КАРТКА"),
                amount=_money(p.value),
                payment_system=p.payment_system,
                card_mask=p.card_mask,
                auth_code=p.auth_code,
                rrn=p.rrn,
                terminal=p.terminal,
                acquirer=p.acquirer_and_seller or p.bank_name,
            )
            for p in payments
        ]

    def receipt_id(body_id: str | None, header_id: str | None) -> str:
        return body_id or header_id or str(uuid.uuid4())

    def print_receipt(result: Fiscalized) -> None:
        """Queued: the till has its answer before the paper moves; the drawer opens when cash moved."""
        if ctx.printing is None:
            return
        doc = result.document
        cash = isinstance(doc, docs.Check) and (
            any(p.form == docs.PayForm.CASH for p in doc.payments)
            or doc.doc_subtype in (docs.DocSubType.SERVICE_DEPOSIT, docs.DocSubType.SERVICE_ISSUE)
        )
        ctx.printing.enqueue(ctx.printing.receipt_layout(result), kick_drawer=cash)

    def fiscalize(action: Callable[[str], Fiscalized], rid: str) -> dict[str, Any]:
        try:
            result = action(rid)
            print_receipt(result)
            return receipt_json(result)
        except DuplicateRequest as exc:
            raise ApiError(
                400,
                "receipt.already_exists",
                f"a receipt with id {rid} already exists (fiscal number {exc.result.fiscal_num}); fetch it by id",
            ) from exc

    @app.post(f"{API}/receipts/sell", tags=["receipts"], response_model=schemas.Receipt)
    def sell(
        body: models.ReceiptSell, s: Authed, x_request_id: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        if body.discounts:
            raise NotSupported(
                "receipt-level discounts are not supported",
                what_to_do="give the discount on the goods instead",
            )
        returns = [g.is_return for g in body.goods]
        items = to_items(body)
        payments = to_payments(body.payments)
        rid = receipt_id(body.id, x_request_id)
        cashier = body.cashier_name or s.cashier.name
        if any(returns):
            if not all(returns):
                raise InvalidInput(
                    "a receipt either sells or returns: all goods must have the same is_return", field="goods"
                )
            if not body.related_receipt_id:
                raise InvalidInput(
                    "a return needs related_receipt_id: the id of the sale", field="related_receipt_id"
                )
            sale = register.get(body.related_receipt_id)
            if sale is None:
                raise InvalidInput(
                    f"no receipt with id {body.related_receipt_id}", field="related_receipt_id"
                )
            sale_num = sale.fiscal_num
            return fiscalize(
                lambda r: register.refund(
                    items, payments, sale_fiscal_num=sale_num, cashier=cashier, request_id=r
                ),
                rid,
            )
        return fiscalize(lambda r: register.sell(items, payments, cashier=cashier, request_id=r), rid)

    @app.post(f"{API}/receipts/service", tags=["receipts"], response_model=schemas.Receipt)
    def service(
        body: models.ReceiptService, s: Authed, x_request_id: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        value = body.payment.value
        if value == 0:
            raise InvalidInput("a service receipt of 0.00 is meaningless", field="payment.value")
        if body.payment.type != "CASH":
            raise NotSupported("service receipts move cash only", what_to_do="use payment.type CASH")
        rid = receipt_id(body.id, x_request_id)
        amount = _money(abs(value))
        if value > 0:
            return fiscalize(lambda r: register.cash_in(amount, cashier=s.cashier.name, request_id=r), rid)
        return fiscalize(lambda r: register.cash_out(amount, cashier=s.cashier.name, request_id=r), rid)

    @app.get(f"{API}/receipts/{{receipt_id}}", tags=["receipts"], response_model=schemas.Receipt)
    def get_receipt(receipt_id: str, _: Authed) -> dict[str, Any]:
        return receipt_json(receipt_of(receipt_id))

    def receipt_layout(result: Fiscalized, width: int, copy: bool) -> Any:
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

    @app.get(f"{API}/receipts/{{receipt_id}}/text", tags=["receipts"])
    def receipt_text(receipt_id: str, _: Authed, width: Width = 42, is_second_copy: bool = False) -> Response:
        layout = receipt_layout(receipt_of(receipt_id), width, is_second_copy)
        return Response(to_text(layout), media_type="text/plain; charset=utf-8")

    @app.get(f"{API}/receipts/{{receipt_id}}/html", tags=["receipts"])
    def receipt_html(receipt_id: str, _: Authed, is_second_copy: bool = False) -> Response:
        layout = receipt_layout(receipt_of(receipt_id), 42, is_second_copy)
        return Response(to_html(layout), media_type="text/html; charset=utf-8")

    @app.get(f"{API}/receipts/{{receipt_id}}/png", tags=["receipts"])
    def receipt_png(
        receipt_id: str,
        _: Authed,
        is_second_copy: bool = False,
        paper_width: Annotated[int, Query()] = 58,
        width: Annotated[int, Query(ge=1, le=80)] = 30,
    ) -> Response:
        if paper_width not in (58, 80):
            raise ApiError(400, "invalid_input", "paper_width is 58 or 80 (mm)")
        chars = 32 if paper_width == 58 else 48
        layout = receipt_layout(receipt_of(receipt_id), chars, is_second_copy)
        return Response(to_png(layout), media_type="image/png")

    @app.get(f"{API}/receipts/{{receipt_id}}/xml", tags=["receipts"])
    def receipt_xml(receipt_id: str, _: Authed) -> Response:
        # The document as registered, re-encoded to UTF-8: tills decode visualizations as UTF-8.
        xml = (
            receipt_of(receipt_id)
            .xml.decode("cp1251")
            .replace('encoding="windows-1251"', 'encoding="utf-8"', 1)
        )
        return Response(xml.encode("utf-8"), media_type="application/xml; charset=utf-8")

    @app.get(f"{API}/receipts/{{receipt_id}}/qrcode", tags=["receipts"])
    def receipt_qrcode(receipt_id: str, _: Authed) -> Response:
        url = receipt_json(receipt_of(receipt_id))["tax_url"]
        if url is None:
            raise ApiError(404, "receipt.no_qrcode", "service receipts carry no QR code")
        return Response(qr_png(url), media_type="image/png")

    # --- reports --------------------------------------------------------------------------------

    def x_json(report: ShiftReport) -> dict[str, Any]:
        rid = str(uuid.uuid4())
        body = z_json(
            report.report, rid=rid, shift_id=shift_uuid(report.shift_id), fiscal_code=None, is_z=False
        )
        layout = layout_x_report(report.report, printed_at=ctx.clock.now(), shift_opened_at=report.opened_at)
        with ctx.reports_lock:
            ctx.reports[rid] = {**body, "_text": to_text(layout)}
            while len(ctx.reports) > 100:  # X reports are read-outs, not records: keep the recent ones
                ctx.reports.pop(next(iter(ctx.reports)))
        return body

    @app.post(f"{API}/reports", tags=["reports"], response_model=schemas.Report)
    def x_report(_: Authed, body: models.Empty | None = None) -> dict[str, Any]:
        return x_json(register.x_report())

    def z_report_of(report_id: str) -> tuple[dict[str, Any], str] | None:
        """A Z report is the shift's: its id encodes the shift, its figures are the registered ZREP."""
        text = report_id.lower()
        if not text.startswith(prefix) or text[9:23] != "0000-4000-9000":
            return None
        try:
            shift_id = int(text[-12:], 16)
        except ValueError:
            return None
        view = register.shift_view(shift_id)
        if view is None or view.z is None or not isinstance(view.z.document, docs.ZReport):
            return None
        body = z_json(
            view.z.document,
            rid=report_id,
            shift_id=shift_uuid(shift_id),
            fiscal_code=view.z.fiscal_num,
            is_z=True,
        )
        layout = layout_receipt(
            view.z.document,
            fiscal_num=view.z.fiscal_num,
            offline=view.z.offline,
            registered_at=view.z.registered_at,
            shift_opened_at=view.opened_at,
        )
        return body, to_text(layout)

    def report_of(report_id: str) -> tuple[dict[str, Any], str]:
        with ctx.reports_lock:
            found = ctx.reports.get(report_id)
        if found is not None:
            return {k: v for k, v in found.items() if not k.startswith("_")}, str(found["_text"])
        z = z_report_of(report_id)
        if z is None:
            raise ApiError(404, "report.not_found", f"no report {report_id}")
        return z

    @app.get(f"{API}/reports/{{report_id}}", tags=["reports"], response_model=schemas.Report)
    def get_report(report_id: str, _: Authed) -> dict[str, Any]:
        return report_of(report_id)[0]

    @app.get(f"{API}/reports/{{report_id}}/text", tags=["reports"])
    def get_report_text(report_id: str, _: Authed) -> Response:
        return Response(report_of(report_id)[1], media_type="text/plain; charset=utf-8")

    # --- taxes ------------------------------------------------------------------------------------

    @app.get(f"{API}/tax", tags=["tax"], response_model=list[schemas.TaxInfo])
    def taxes(_: Authed) -> list[dict[str, Any]]:
        return [
            {
                "code": tax.code,
                "label": tax.name,
                "symbol": tax.letter,
                "rate": float(tax.rate),
                "included": tax.included,
                "no_vat": tax.type != 0,
            }
            for tax in sorted(ctx.taxes.values(), key=lambda t: t.code)
        ]

    # --- cash register and offline ---------------------------------------------------------------

    register_uuid = f"{prefix}-0000-4000-a000-{int(ctx.fiscal_number) % 16**12:012x}"

    def register_json() -> dict[str, Any]:
        status = register.status()
        view = register.shift_view()
        return {
            "id": register_uuid,
            "fiscal_number": ctx.fiscal_number,
            "number": str(ctx.fiscal_number),
            "title": f"fiscal-box {ctx.fiscal_number}",
            "offline_mode": status.mode != "online",
            "stay_offline": False,
            "has_shift": status.shift_open,
            "shift": shift_json(view.id) if view is not None and view.closed_at is None else None,
            "is_test": register.registrar.testing,
            "active": True,
            "type": 0,
            "documents_state": {"last_receipt_code": status.next_local_num - 1},
        }

    @app.get(f"{API}/cash-registers/info", tags=["cash-registers"], response_model=schemas.CashRegister)
    def register_info(_: Authed) -> dict[str, Any]:
        return register_json()

    @app.post(f"{API}/cash-registers/go-online", tags=["cash-registers"], response_model=schemas.Ok)
    def go_online(_: Authed, body: models.Empty | None = None) -> dict[str, Any]:
        report = register.go_online()
        if not report.reachable:
            raise ApiError(
                409, "tax_service.unreachable", f"the fiscal server does not answer: {report.error}"
            )
        if report.error:
            raise ApiError(409, "go_online.failed", report.error)
        return {"status": "ok", "mode": report.mode.value, "documents_delivered": report.documents_delivered}

    @app.post(f"{API}/cash-registers/go-offline", tags=["cash-registers"], response_model=schemas.Ok)
    def go_offline(_: Authed, body: dict[str, Any] | None = None) -> dict[str, Any]:
        # The law allows offline only while the server cannot be reached; the box decides that itself.
        status = register.status()
        message = (
            "the box is offline"
            if status.mode != "online"
            else "the box goes offline by itself when the fiscal server cannot be reached; the server answers now"
        )
        return {"status": "ok", "mode": status.mode.value, "message": message}

    @app.post(f"{API}/cash-registers/ping-tax-service", tags=["cash-registers"], response_model=schemas.Ping)
    def ping(_: Authed, body: models.Empty | None = None) -> dict[str, Any]:
        try:
            register.server.server_state(timeout=5)
        except FiscalBoxError as exc:
            return {"status": "ERROR", "error": str(exc)}
        return {"status": "DONE", "error": None}

    @app.get(
        f"{API}/cash-registers/get-offline-codes-count",
        tags=["cash-registers"],
        response_model=schemas.OfflineCodesCount,
    )
    def offline_codes_count(_: Authed) -> dict[str, Any]:
        # EVPZ issues no codes in advance: the range is the session id and seed. Where the server gives
        # a finite reserve the count is real; otherwise the range is unlimited.
        status = register.status()
        refusal = status.blocked_reason
        left = status.numbers_left
        return {
            "available": left if left is not None else 1_000_000,
            "unlimited": left is None,
            "used": 0,
            "enough_offline_codes": refusal is None and status.offline_allowed is not False,
        }

    @app.get(f"{API}/cash-registers/ask-offline-codes", tags=["cash-registers"], response_model=schemas.Ok)
    def ask_offline_codes(_: Authed, count: int = 2000, sync: bool = False) -> dict[str, Any]:
        register.go_online()  # refreshes the range while online
        return {"status": "ok"}

    @app.get(f"{API}/cash-registers/get-offline-codes", tags=["cash-registers"])
    def offline_codes(_: Authed, count: int = 2000) -> list[dict[str, Any]]:
        return []  # numbers are computed per document from the session's seed, not handed out

    @app.get(
        f"{API}/cash-registers/get-offline-time", tags=["cash-registers"], response_model=schemas.OfflineTime
    )
    def offline_time(_: Authed, from_date: str | None = None, to_date: str | None = None) -> dict[str, Any]:
        status = register.status()
        return {
            "status": {"current": status.session_minutes * 60, "total": status.month_minutes * 60},
            "limits": {"session": status.max_session_minutes * 60, "month": status.max_month_minutes * 60},
            "sessions": [],
        }

    # After the fixed paths above: a path parameter would swallow them.
    @app.get(
        f"{API}/cash-registers/{{register_id}}", tags=["cash-registers"], response_model=schemas.CashRegister
    )
    def register_by_id(register_id: str, _: Authed) -> dict[str, Any]:
        if register_id != register_uuid:
            raise ApiError(404, "cash_register.not_found", f"this box serves cash register {register_uuid}")
        return register_json()

    # --- box extensions ---------------------------------------------------------------------------

    def printing() -> PrintService:
        if ctx.printing is None:
            raise ApiError(
                409, "printer.not_configured", "no printer is active on this box ([printer] in the config)"
            )
        return ctx.printing

    def printer_error(exc: PrinterError) -> ApiError:
        return ApiError(409, f"printer.{type(exc).__name__.lower()}", f"the printer failed: {exc}")

    @app.post(f"{API}/receipts/{{receipt_id}}/print", tags=["box"], response_model=schemas.Ok)
    def reprint(receipt_id: str, _: Authed) -> dict[str, Any]:
        result = receipt_of(receipt_id)
        service = printing()
        try:
            service.print_now(service.receipt_layout(result, copy=True, printed_at=ctx.clock.now()))
        except PrinterError as exc:
            raise printer_error(exc) from exc
        return {"status": "ok", "id": receipt_id, "copy": True}

    @app.post(f"{API}/box/drawer", tags=["box"], response_model=schemas.Ok)
    def open_drawer(_: Authed, body: models.Empty | None = None) -> dict[str, Any]:
        service = printing()
        try:
            service.kick_drawer()
        except PrinterError as exc:
            raise printer_error(exc) from exc
        return {"status": "ok"}

    @app.post(f"{API}/box/slip", tags=["box"], response_model=schemas.Ok)
    def print_slip(_: Authed, body: models.Empty | None = None) -> dict[str, Any]:
        service = printing()
        if ctx.slip is None:
            raise ApiError(409, "slip.not_configured", "the slip is not available on this box")
        try:
            service.print_now(ctx.slip())
        except PrinterError as exc:
            raise printer_error(exc) from exc
        return {"status": "ok"}

    @app.get(f"{API}/box/status", tags=["box"], response_model=schemas.BoxStatus)
    def box_status(_: Authed) -> dict[str, Any]:
        return ctx.box_status()

    return app


def _transaction(kind: str, fiscal_num: str | None) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "DONE",
        "response_status": "OK",
        "response_error_message": None,
        "response_id": fiscal_num,
    }


__all__ = ["API", "ApiContext", "ApiError", "create_app"]
