"""Fiscal documents: the model, the tax arithmetic, and the tax service's XML (check01 / zrep01).

Pure: no I/O, no clock. Money is ``Decimal`` with two places, quantities ``Decimal`` with up to three.
Dates are aware datetimes, rendered in Kyiv time.

API (implemented by the documents work; the register depends on exactly these names):

* ``DocHead`` -- what every document carries: uid, seller, when, order_num, cashier, testing, offline mark.
* builders (validate, compute, raise ``InvalidInput`` naming the field, never half a document):
  ``sale``, ``refund``, ``service_deposit``, ``service_issue``, ``storno``, ``open_shift``,
  ``close_shift``, ``offline_begin``, ``offline_end``, ``z_report``.
* ``render(doc) -> bytes`` (windows-1251 XML, schema order), ``parse(xml) -> Check | ZReport``,
  ``validate(xml)`` (XSD; raises ``InvalidDocument``), ``control_sum(doc)`` (the sum that goes into an
  offline control number, or None).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import IntEnum

KOPECK = Decimal("0.01")
QTY_STEP = Decimal("0.001")


class DocType(IntEnum):
    SALE_GOODS = 0
    TRANSFER_FUNDS = 1
    CURRENCY_EXCHANGE = 2
    CASH_WITHDRAWAL = 3
    PAWNSHOP = 4
    OPEN_SHIFT = 100
    CLOSE_SHIFT = 101
    OFFLINE_BEGIN = 102
    OFFLINE_END = 103


class DocSubType(IntEnum):
    CHECK_GOODS = 0
    CHECK_RETURN = 1
    SERVICE_DEPOSIT = 2
    ADDITIONAL_DEPOSIT = 3
    SERVICE_ISSUE = 4
    CHECK_STORNO = 5


class PayForm(IntEnum):
    CASH = 0
    CARD = 1
    PREPAYMENT = 2
    CREDIT = 3
    CASHLESS_INSTRUMENT = 100000


@dataclass(frozen=True)
class Seller:
    """Who issues the document: the taxpayer, the business unit and the registrar."""

    tin: str
    org_name: str
    point_name: str
    cash_desk_num: int  # registrar local number (CASHDESKNUM)
    cash_register_num: int  # registrar fiscal number (CASHREGISTERNUM)
    ipn: str | None = None
    point_address: str | None = None


@dataclass(frozen=True)
class Tax:
    """A configured tax (``[[taxes]]``): tills name it by ``code``; documents by ``letter``."""

    code: int
    letter: str
    rate: Decimal  # percent, e.g. Decimal("20.00")
    name: str
    type: int = 0  # 0 VAT, 1 excise, ...
    included: bool = True  # price includes the tax (XML SIGN = false)


@dataclass(frozen=True)
class Item:
    """A receipt line as the till gives it."""

    name: str
    quantity: Decimal
    price: Decimal
    tax_codes: tuple[int, ...] = ()
    code: str | None = None
    barcode: str | None = None
    uktzed: str | None = None
    unit_code: int | None = None
    unit_name: str | None = None
    discount: Decimal = Decimal("0.00")  # amount off this line (>= 0)


@dataclass(frozen=True)
class Payment:
    form: int  # PayForm value
    name: str  # PAYFORMNM, e.g. "ГОТІВКА", "КАРТКА"
    amount: Decimal
    provided: Decimal | None = None  # cash handed over, when there is change
    # card fields (CHECKPAY/ROW/PAYSYS/ROW), all optional
    payment_system: str | None = None
    card_mask: str | None = None
    auth_code: str | None = None
    rrn: str | None = None
    terminal: str | None = None
    acquirer: str | None = None


@dataclass(frozen=True)
class TaxRow:
    """A computed CHECKTAX / ZREP TAXES row."""

    type: int
    name: str
    letter: str
    rate: Decimal
    included: bool
    turnover: Decimal
    sum: Decimal
    source_sum: Decimal | None = None
    turnover_discount: Decimal | None = None


@dataclass(frozen=True)
class Line:
    """A computed CHECKBODY row: the item plus its cost and letters."""

    item: Item
    letters: str
    cost: Decimal  # quantity * price rounded to the kopeck, before discount


@dataclass(frozen=True)
class OfflineMark:
    tax_num: str  # ORDERTAXNUM "session.n.control"
    prev_doc_hash: str | None = None
    revoke_last_online_doc: bool = False


@dataclass(frozen=True)
class DocHead:
    uid: str
    seller: Seller
    when: datetime  # aware
    order_num: int  # local number (ORDERNUM)
    cashier: str | None = None
    testing: bool = False
    offline: OfflineMark | None = None


@dataclass(frozen=True)
class Check:
    head: DocHead
    doc_type: DocType
    doc_subtype: DocSubType | None = None
    lines: tuple[Line, ...] = ()
    payments: tuple[Payment, ...] = ()
    taxes: tuple[TaxRow, ...] = ()
    total: Decimal | None = None  # CHECKTOTAL/SUM
    discount_sum: Decimal | None = None
    ret_num: str | None = None  # ORDERRETNUM
    storno_num: str | None = None  # ORDERSTORNUM
    extra: Mapping[str, str] = field(default_factory=dict)  # parsed elements the model does not name


@dataclass(frozen=True)
class PayFormTotal:
    form: int
    name: str
    sum: Decimal


@dataclass(frozen=True)
class ZPay:
    sum: Decimal
    orders_count: int
    pay_forms: tuple[PayFormTotal, ...] = ()
    taxes: tuple[TaxRow, ...] = ()


@dataclass(frozen=True)
class ZReport:
    head: DocHead
    realiz: ZPay | None = None
    ret: ZPay | None = None
    service_input: Decimal | None = None
    service_output: Decimal | None = None


Document = Check | ZReport


def sale(head: DocHead, items: Sequence[Item], payments: Sequence[Payment], taxes: Mapping[int, Tax]) -> Check:
    raise NotImplementedError


def refund(
    head: DocHead,
    items: Sequence[Item],
    payments: Sequence[Payment],
    taxes: Mapping[int, Tax],
    ret_num: str,
) -> Check:
    raise NotImplementedError


def service_deposit(head: DocHead, amount: Decimal) -> Check:
    raise NotImplementedError


def service_issue(head: DocHead, amount: Decimal) -> Check:
    raise NotImplementedError


def storno(head: DocHead, storno_num: str) -> Check:
    raise NotImplementedError


def open_shift(head: DocHead) -> Check:
    raise NotImplementedError


def close_shift(head: DocHead) -> Check:
    raise NotImplementedError


def offline_begin(head: DocHead) -> Check:
    raise NotImplementedError


def offline_end(head: DocHead) -> Check:
    raise NotImplementedError


def z_report(head: DocHead, checks: Iterable[Check]) -> ZReport:
    raise NotImplementedError


def render(doc: Document) -> bytes:
    raise NotImplementedError


def parse(xml: bytes) -> Document:
    raise NotImplementedError


def validate(xml: bytes) -> None:
    raise NotImplementedError


def control_sum(doc: Document) -> Decimal | None:
    raise NotImplementedError
