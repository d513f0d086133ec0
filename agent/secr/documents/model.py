"""The documents' model: what a check01 / zrep01 document carries, as frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
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
    # The line's own discount, signed: positive is an amount off, negative an extra charge (the XSD's
    # DISCOUNTSUM is "сума знижки/націнки", discount *or* mark-up, in one signed DGDecimal2; see
    # ``Line.share`` for the line's part of a receipt-level one).
    discount: Decimal = Decimal("0.00")
    # added by the documents work:
    # the percent that produced ``discount`` (DISCOUNTTYPE 1), signed like it: -5.00 is a 5 % extra charge;
    # the builder checks that ``discount`` is ``cost * discount_percent / 100`` rounded half up
    discount_percent: Decimal | None = None
    excise_labels: tuple[str, ...] = ()  # EXCISELABELS/ROW/EXCISELABEL (excise stamp series+number)
    dkpp: str | None = None  # the XSD's alternative to UKTZED for services


@dataclass(frozen=True)
class Payment:
    form: int  # PayForm value
    name: str  # PAYFORMNM, e.g. "ГОТІВКА", "КАРТКА"
    amount: Decimal
    provided: Decimal | None = None  # cash handed over, when there is change
    # card fields, all optional: the one CHECKPAY/ROW/PAYSYS/ROW of check01.xsd TROWSPAYSYS, element named
    payment_system: str | None = None  # NAME: «Найменування платіжної системи»
    card_mask: str | None = None  # EPZDETAILS: «Реквізити електронного платіжного засобу»
    auth_code: str | None = None  # AUTHCD: «Код авторизації»
    rrn: str | None = None  # ACQUIRETRANSID: the acquirer's transaction id
    terminal: str | None = None  # DEVICEID: «Ідентифікатор платіжного пристрою»
    acquirer: str | None = None  # ACQUIRENM: «Найменування еквайра торговця»
    acquirer_id: str | None = None  # ACQUIREID: «Ідентифікатор еквайра торговця»
    pos_receipt_no: str | None = None  # POSTRANSNUM: «POS-термінал. Номер чека транзакції»
    client_info: str | None = None  # CLIENTINFO: «Дані клієнта (ПІБ …)»
    commission: Decimal | None = None  # COMMISSION: «Сума комісії»

    def has_paysys(self) -> bool:
        """Whether anything goes into a PAYSYS row: render writes one, parse reads it, the print's card block shows it."""
        return any(
            v is not None
            for v in (
                self.payment_system,
                self.card_mask,
                self.auth_code,
                self.rrn,
                self.terminal,
                self.acquirer,
                self.acquirer_id,
                self.pos_receipt_no,
                self.client_info,
                self.commission,
            )
        )


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
    # The line's part of the receipt-level discounts and extra charges (signed like ``item.discount``);
    # None when the line took no part in one. In the XML: USAGETYPE 1 ("проміжний підсумок") and
    # SUBTOTAL = cost - item.discount (the amount the receipt-level part was charged on), DISCOUNTSUM =
    # item.discount + share; so parse gets both parts back from what render wrote.
    share: Decimal | None = None

    @property
    def adjustment(self) -> Decimal:
        """Everything off this line (signed): its own discount or charge plus its receipt-level part."""
        return self.item.discount + (self.share or Decimal("0.00"))

    @property
    def net(self) -> Decimal:
        """What the line costs after every discount and extra charge: the tax base of its letters."""
        return self.cost - self.adjustment


@dataclass(frozen=True)
class Adjustment:
    """A receipt-level discount or extra charge as the till asks for it (Checkbox's DiscountPayload)."""

    kind: str  # "DISCOUNT" | "EXTRA_CHARGE"
    mode: str  # "PERCENT" | "VALUE"
    value: Decimal  # the percent (PERCENT) or the amount in hryvnias (VALUE), >= 0
    tax_codes: tuple[int, ...] = ()  # only the lines carrying one of these taxes; () = every line
    name: str | None = None


@dataclass(frozen=True)
class ReceiptDiscount:
    """CHECKTOTAL's description of the receipt-level part (USAGETYPE 1, SUBCHECK, DISCOUNTTYPE/PERCENT).

    Its sum is the lines' shares (``receipt_discount_sum``); CHECKTOTAL/DISCOUNTSUM stays the total of
    every line's DISCOUNTSUM, as in the official "Знижки" example (90.00 = 50.00 + 40.00).
    """

    subtotal: Decimal  # SUBCHECK: what the receipt-level part was charged on (sum of the lines' SUBTOTAL)
    percent: Decimal | None = None  # DISCOUNTPERCENT, signed (negative: extra charge), when one percent


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
    # added by the documents work (parsed documents; the builders do not round):
    round_sum: Decimal | None = None  # CHECKTOTAL/RNDSUM, signed
    no_round_sum: Decimal | None = None  # CHECKTOTAL/NORNDSUM
    receipt_discount: ReceiptDiscount | None = None  # the receipt-level discount/charge, when there is one

    @property
    def receipt_discount_sum(self) -> Decimal:
        """The receipt-level discounts less extra charges: the sum of the lines' shares."""
        return sum((ln.share for ln in self.lines if ln.share is not None), Decimal("0.00"))


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
    # added by the documents work:
    round_sum: Decimal | None = None  # RNDSUM
    no_round_sum: Decimal | None = None  # NORNDSUM
    # Not in zrep01 (it has no such elements): known where the Z was summed from its checks (z_report,
    # the X report), None on a parsed Z. compare=False, so a Z equals its parsed document.
    discounts_sum: Decimal | None = field(default=None, compare=False)  # every DISCOUNTSUM > 0, summed
    extra_charge_sum: Decimal | None = field(default=None, compare=False)  # every DISCOUNTSUM < 0, negated
    round_up: Decimal | None = field(default=None, compare=False)  # the roundings up (RNDSUM < 0), negated
    round_down: Decimal | None = field(default=None, compare=False)  # the roundings down (RNDSUM > 0)


@dataclass(frozen=True)
class ZReport:
    head: DocHead
    realiz: ZPay | None = None
    ret: ZPay | None = None
    service_input: Decimal | None = None
    service_output: Decimal | None = None
    # added by the documents work: parsed head elements the model does not name (VER, ORDERTAXNUM, REVOKED)
    extra: Mapping[str, str] = field(default_factory=dict)


Document = Check | ZReport


# Head elements the model does not name; parse keeps them in ``extra`` and render puts them back.
_CHECK_HEAD_EXTRA = frozenset(
    {
        "ORDERRETCASHREGNUM",
        "ORDERRETDATE",
        "OPERTYPENM",
        "VEHICLERN",
        "REVOKELASTONLINEDOC",
        "LOGOURL",
        "COMMENT",
        "VER",
        "ORDERTAXNUM",
        "REVOKED",
        "STORNED",
    }
)
_ZREP_HEAD_EXTRA = frozenset({"VER", "ORDERTAXNUM", "REVOKED"})
