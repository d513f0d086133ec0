"""Response bodies of the till API, for its OpenAPI document (and checked on the way out by FastAPI).

Shapes follow Checkbox's API v1 as tills read it (docs/checkbox-compat.md). Extra fields are allowed:
tills and Checkbox itself carry more than the box needs to promise, and a stricter schema would only
break clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(_Out):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(_Out):
    """Every error: a message for the person at the till, a stable code, and the fields involved."""

    message: str
    code: str
    detail: list[ErrorDetail] = []


class Token(_Out):
    type: str
    token_type: str
    access_token: str


class CashierOut(_Out):
    id: str
    full_name: str
    login: str
    key_id: str | None = None
    signature_type: str
    permissions: dict[str, Any]
    blocked: Any = None


class Transaction(_Out):
    type: str
    status: str
    response_status: str | None = None
    response_error_message: str | None = None
    response_id: str | None = None


class ReportPayment(_Out):
    type: str
    label: str
    sell_sum: int = 0
    return_sum: int = 0
    service_in: int = 0
    service_out: int = 0


class ReportTax(_Out):
    symbol: str
    label: str
    rate: float
    sell_sum: int
    return_sum: int
    sales_turnover: int
    returns_turnover: int


class Report(_Out):
    """An X report (is_z_report false) or a shift's Z report. Money in kopecks."""

    id: str
    shift_id: str
    fiscal_code: str | None = None
    is_z_report: bool
    payments: list[ReportPayment]
    taxes: list[ReportTax]
    sell_receipts_count: int
    return_receipts_count: int
    sell_sum: int
    return_sum: int
    service_in: int
    service_out: int
    balance: int
    created_at: str | None = None


class ShiftBalance(_Out):
    initial: int
    balance: int
    service_in: int
    service_out: int
    sell_sum: int


class Shift(_Out):
    id: str
    serial: int
    status: str  # OPENED | CLOSED: the box answers with the final state at once
    z_report: Report | None = None
    opened_at: str | None = None
    closed_at: str | None = None
    initial_transaction: Transaction | None = None
    closing_transaction: Transaction | None = None
    balance: ShiftBalance
    taxes: list[Any] = []
    cashier_name: str | None = None
    fiscal_number: str


class GoodOut(_Out):
    code: str
    name: str
    price: int
    barcode: str | None = None
    uktzed: str | None = None


class GoodItemOut(_Out):
    good: GoodOut
    quantity: int  # thousandths
    sum: int
    total_sum: int
    is_return: bool
    discounts: list[dict[str, Any]] = []


class PaymentOut(_Out):
    type: str
    value: int
    label: str


class TaxOut(_Out):
    code: int | None = None
    label: str
    symbol: str
    rate: float
    included: bool
    value: int
    sales_turnover: int


class Receipt(_Out):
    """A fiscalized receipt: DONE at once, online or offline (is_created_offline, control_number)."""

    id: str
    type: str  # SELL | RETURN | SERVICE_IN | SERVICE_OUT
    status: str
    serial: int
    fiscal_code: str
    fiscal_date: str | None = None
    delivered_at: str | None = None
    created_at: str | None = None
    goods: list[GoodItemOut]
    payments: list[PaymentOut]
    total_sum: int
    total_payment: int
    total_rest: int
    taxes: list[TaxOut]
    is_created_offline: bool
    is_sent_dps: bool
    control_number: str | None = None
    tax_url: str | None = None
    transaction: Transaction
    shift: Shift | None = None


class CashRegister(_Out):
    id: str
    fiscal_number: str
    offline_mode: bool
    stay_offline: bool
    has_shift: bool
    shift: Shift | None = None
    is_test: bool
    active: bool


class Ok(_Out):
    status: str


class Ping(_Out):
    status: str  # DONE | ERROR
    error: str | None = None


class OfflineCodesCount(_Out):
    available: int
    unlimited: bool
    used: int
    enough_offline_codes: bool


class OfflineTime(_Out):
    status: dict[str, int]  # seconds: current session, this month
    limits: dict[str, int]
    sessions: list[Any]


class TaxInfo(_Out):
    code: int
    label: str
    symbol: str
    rate: float
    included: bool
    no_vat: bool


class BoxStatus(_Out):
    """The status model of contract §5."""

    mode: str | None = None
    blocked_reason: str | None = None
    shift: str | None = None
    pending_documents: int | None = None
    errors: list[str] = []
