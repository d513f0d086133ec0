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


Rate = int | float  # Checkbox types a rate as an integer: whole rates are written 20, not 20.0


class Permissions(_Out):
    orders: bool = False


class CashierOut(_Out):
    """Checkbox's CashierModel."""

    id: str
    full_name: str
    nin: str
    key_id: str
    signature_type: str
    permissions: Permissions | None = None
    created_at: str
    updated_at: str | None = None
    certificate_end: str | None = None
    blocked: str | None = None


class Organization(_Out):
    id: str
    title: str
    edrpou: str
    tax_number: str
    created_at: str | None = None


class DetailedCashier(CashierOut):
    """Checkbox's DetailedCashierModel: the signed-in cashier, with the organization."""

    organization: Organization


class Transaction(_Out):
    """Checkbox's ShortTransaction: a document's delivery (on the box: the document itself)."""

    id: str
    type: str
    serial: int
    status: str
    request_signed_at: str | None = None
    request_received_at: str | None = None
    response_status: str | None = None
    response_error_message: str | None = None
    response_id: str | None = None
    offline_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    previous_hash: str | None = None


class ReportPayment(_Out):
    id: str
    code: int | None = None
    type: str
    label: str
    sell_sum: int
    return_sum: int
    service_in: int
    service_out: int
    cash_withdrawal: int
    cash_withdrawal_commission: int


class ReportTax(_Out):
    id: str
    code: int
    label: str
    symbol: str
    rate: float
    sell_sum: int
    return_sum: int
    sales_turnover: int
    returns_turnover: int
    no_vat: bool | None = None
    created_at: str
    setup_date: str


class Report(_Out):
    """Checkbox's ReportModel: an X report (is_z_report false) or a shift's Z report. Money in kopecks."""

    id: str
    serial: int
    shift_id: str | None = None
    fiscal_code: str | None = None
    is_z_report: bool
    payments: list[ReportPayment]
    taxes: list[ReportTax]
    sell_receipts_count: int
    return_receipts_count: int
    cash_withdrawal_receipts_count: int
    transfers_count: int
    transfers_sum: int
    balance: int
    initial: int
    created_at: str
    updated_at: str | None = None
    discounts_sum: int | None = None
    extra_charge_sum: int | None = None


class ShiftBalance(_Out):
    """Checkbox's BalanceModel: the shift's cash figures."""

    initial: int
    balance: int
    cash_sales: int
    card_sales: int
    discounts_sum: int | None = None
    extra_charge_sum: int | None = None
    cash_returns: int
    card_returns: int
    service_in: int
    service_out: int
    updated_at: str | None = None


class ShiftTax(_Out):
    id: str
    code: int
    label: str
    symbol: str
    rate: Rate
    included: bool
    created_at: str
    sales: int
    returns: int
    sales_turnover: int
    returns_turnover: int


class CashRegisterShort(_Out):
    """Checkbox's CashRegisterModel."""

    id: str
    fiscal_number: str
    active: bool
    created_at: str
    updated_at: str | None = None
    number: str | None = None


class Shift(_Out):
    """Checkbox's ShiftWithCashierAndCashRegister. OPENED or CLOSED: the box answers the final state at once."""

    id: str
    serial: int
    status: str
    z_report: Report | None = None
    opened_at: str | None = None
    closed_at: str | None = None
    initial_transaction: Transaction | None = None
    closing_transaction: Transaction | None = None
    created_at: str
    updated_at: str | None = None
    balance: ShiftBalance | None = None  # None in a receipt's shift: its figures are not read there
    taxes: list[ShiftTax]
    emergency_close: bool | None = None
    emergency_close_details: str | None = None
    cash_register: CashRegisterShort
    cashier: CashierOut


class GoodOut(_Out):
    code: str
    name: str
    price: int
    barcode: str | None = None
    uktzed: str | None = None


class GoodTaxOut(_Out):
    """Checkbox's GoodTax: a tax and its sum on the receipt (or the line)."""

    id: str
    code: int
    label: str
    symbol: str
    rate: Rate
    included: bool
    created_at: str
    no_vat: bool | None = None
    value: int
    extra_value: int


class DiscountOut(_Out):
    type: str  # DISCOUNT | EXTRA_CHARGE
    mode: str  # PERCENT | VALUE
    value: float
    name: str | None = None
    sum: int


class GoodItemOut(_Out):
    good: GoodOut
    quantity: int  # thousandths
    sum: int
    total_sum: int | None = None
    is_return: bool
    taxes: list[GoodTaxOut]
    discounts: list[DiscountOut] | None = None


class PaymentOut(_Out):
    type: str
    value: int
    label: str


class BoxPrinting(_Out):
    """The box's extension on a receipt it answers one by one: whether it is on paper yet and the printer's
    state, so the till can tell the cashier "load paper" while the receipt waits in the queue."""

    printer: str | None  # ok | paper_out | cover_open | offline | error; null: no printer or not yet asked
    printer_error: str | None = None  # what the printer's last fault was, while it is not ok
    printer_warning: str | None = None  # paper_near_end
    printed: bool | None = None  # null: the box prints no receipts


class Receipt(_Out):
    """Checkbox's ReceiptModel: DONE at once, online or offline (is_created_offline, control_number)."""

    id: str
    type: str  # SELL | RETURN | SERVICE_IN | SERVICE_OUT
    transaction: Transaction | None = None
    serial: int
    status: str
    goods: list[GoodItemOut]
    payments: list[PaymentOut]
    total_sum: int
    total_payment: int
    total_rest: int
    round_sum: int | None = None
    fiscal_code: str | None = None
    fiscal_date: str | None = None
    delivered_at: str | None = None
    created_at: str
    updated_at: str | None = None
    taxes: list[GoodTaxOut]
    discounts: list[DiscountOut] | None = None
    is_created_offline: bool
    is_sent_dps: bool
    sent_dps_at: str | None = None
    tax_url: str | None = None
    related_receipt_id: str | None = None
    shift: Shift
    control_number: str | None = None
    box: BoxPrinting | None = None  # the box's extension: the answer to a sale and GET receipts/{id}


class DocumentsState(_Out):
    last_receipt_code: int
    last_report_code: int
    last_z_report_code: int


class CashRegister(CashRegisterShort):
    """Checkbox's CashRegisterDeviceModel (GET cash-registers/info), also DetailedCashRegisterModel."""

    address: str
    title: str
    offline_mode: bool
    stay_offline: bool
    has_shift: bool
    documents_state: DocumentsState
    shift: Shift | None = None
    is_test: bool


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
    """Checkbox's TaxModel."""

    id: str
    code: int
    label: str
    symbol: str
    rate: Rate
    included: bool
    created_at: str
    no_vat: bool | None = None


class BoxStatus(_Out):
    """The status model of contract §5."""

    mode: str | None = None
    blocked_reason: str | None = None
    shift: str | None = None
    pending_documents: int | None = None
    errors: list[str] = []
