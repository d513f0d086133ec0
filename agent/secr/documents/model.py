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
    discount: Decimal = Decimal("0.00")  # amount off this line (>= 0)
    # added by the documents work:
    discount_percent: Decimal | None = None  # informational: the percent that produced ``discount``
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
