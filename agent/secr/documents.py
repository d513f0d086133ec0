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

Tax arithmetic follows the official examples ("Знижки", "Два податки"):

* ``TURNOVER`` is the sum of line costs *before* discounts, ``TURNOVERDISCOUNT`` (2025 XSD, "з урахуванням
  знижки") the sum after them -- given only when a discount touched the letter -- and ``SOURCESUM`` the
  base the tax is taken from.
* Taxes other than VAT (excise, ...) are taken from the discounted turnover; VAT from the discounted
  turnover minus the included non-VAT taxes on the same lines ("Два податки": excise 5 % of 259.90 is
  12.38, VAT is 20/120 of 247.52).
* Every sum is rounded ROUND_HALF_UP per tax row to the kopeck.
* ``sale``/``refund`` with ``round_cash=True`` round the cash part of the total to 10 kopecks and carry
  RNDSUM/NORNDSUM ("Заокруглення"); taxes stay on the unrounded sum.
* The Z sums the documents' own rows (never recomputes from turnover), pay forms per (code, name).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import IntEnum
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from agent.clock import KYIV
from agent.secr.errors import FiscalBoxError, InvalidDocument, InvalidInput, NotSupported

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


# ------------------------------------------------------------------------------------------------
# validation helpers
# ------------------------------------------------------------------------------------------------

_TIN_RE = re.compile(r"[0-9]{5,10}|[АБВГДЕЄЖЗИІКЛМНОПРСТУФХЦЧШЩЮЯ]{2}[0-9]{6}")
_IPN_RE = re.compile(r"0|[0-9]{6,12}|[АБВГДЕЄЖЗИІКЛМНОПРСТУФХЦЧШЩЮЯ]{2}[0-9]{6}")
_UKTZED_RE = re.compile(r"[0-9]{10}|[0-9]{8}|[0-9]{6}|00[0-9]{3}|[0-9]{4}")
_DKPP_RE = re.compile(
    r"([\d]{2}\.[\d]{2}\.[\d]{2}-[\d]{2}(\.[\d]{1,2})*)|([\d]{2}\.[\d]{2}\.[\d]{2}(-[\d]{1,2})*)"
    r"|([\d]{2}\.[\d]{2}(\.[\d]{1,2})*)"
)
# XML 1.0 cannot carry most control characters at all, not even escaped.
_BAD_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _bad(message: str, fld: str) -> InvalidInput:
    return InvalidInput(message, field=fld)


def _text(value: object, fld: str, *, max_len: int, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise _bad(f"{fld} is missing; expected text of up to {max_len} characters", fld)
        return None
    if not isinstance(value, str):
        raise _bad(f"{fld} must be text, got {type(value).__name__}", fld)
    if not value.strip():
        if required:
            raise _bad(f"{fld} is empty; expected text of up to {max_len} characters", fld)
        raise _bad(f"{fld} is blank; leave it out (None) or give a value", fld)
    if len(value) > max_len:
        raise _bad(f"{fld} is {len(value)} characters long; at most {max_len} are allowed", fld)
    if _BAD_CHARS_RE.search(value):
        raise _bad(f"{fld} contains control characters that XML cannot carry; remove them", fld)
    return value


def _req_text(value: object, fld: str, *, max_len: int) -> str:
    out = _text(value, fld, max_len=max_len)
    assert out is not None
    return out


def _decimal(value: object, fld: str) -> Decimal:
    # Floats are refused: 0.1 + 0.2 style binary noise must never reach a fiscal document.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise _bad(f"{fld} must be a Decimal (or an int / decimal string), got {type(value).__name__}", fld)
    try:
        dec = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation:
        raise _bad(f"{fld} is not a number: {value!r}", fld) from None
    if not dec.is_finite():
        raise _bad(f"{fld} must be a finite number, got {value!r}", fld)
    return dec


def _money(value: object, fld: str, *, positive: bool = False) -> Decimal:
    dec = _decimal(value, fld)
    if dec != dec.quantize(KOPECK, rounding=ROUND_HALF_UP):
        raise _bad(f"{fld} is {dec}: money may have at most 2 decimal places (kopecks)", fld)
    if positive and dec <= 0:
        raise _bad(f"{fld} is {dec}; expected an amount greater than 0.00", fld)
    if dec < 0:
        raise _bad(f"{fld} is {dec}; negative amounts are not allowed", fld)
    return dec.quantize(KOPECK)


def _int(value: object, fld: str, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{fld} must be a whole number, got {value!r}", fld)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise _bad(f"{fld} is {value}; expected {bound}", fld)
    return value


def _round(value: Decimal) -> Decimal:
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def _check_head(head: DocHead) -> None:
    if not isinstance(head, DocHead):
        raise _bad("head must be a DocHead", "head")
    _req_text(head.uid, "head.uid", max_len=128)
    s = head.seller
    if not isinstance(s.tin, str) or not _TIN_RE.fullmatch(s.tin):
        raise _bad(
            f"head.seller.tin {s.tin!r} is not a tax id: expected 5-10 digits or 2 Cyrillic capitals "
            "and 6 digits (passport)",
            "head.seller.tin",
        )
    if s.ipn is not None and (not isinstance(s.ipn, str) or not _IPN_RE.fullmatch(s.ipn)):
        raise _bad(
            f"head.seller.ipn {s.ipn!r} is not a VAT number: expected 0, 6-12 digits or a passport number",
            "head.seller.ipn",
        )
    _text(s.org_name, "head.seller.org_name", max_len=256)
    _text(s.point_name, "head.seller.point_name", max_len=256)
    _text(s.point_address, "head.seller.point_address", max_len=256, required=False)
    _int(s.cash_desk_num, "head.seller.cash_desk_num", minimum=1)
    _int(s.cash_register_num, "head.seller.cash_register_num", minimum=1)
    _int(head.order_num, "head.order_num", minimum=1)
    if not isinstance(head.when, datetime) or head.when.tzinfo is None or head.when.utcoffset() is None:
        raise _bad("head.when must be a timezone-aware datetime", "head.when")
    year = head.when.astimezone(KYIV).year
    if not 1900 <= year <= 2099:
        raise _bad(f"head.when year {year} is outside 1900..2099, which the format cannot carry", "head.when")
    _text(head.cashier, "head.cashier", max_len=128, required=False)
    if head.offline is not None:
        off = head.offline
        _text(off.tax_num, "head.offline.tax_num", max_len=128)
        if off.prev_doc_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", off.prev_doc_hash):
            raise _bad(
                "head.offline.prev_doc_hash must be 64 lowercase hex characters (SHA-256)",
                "head.offline.prev_doc_hash",
            )


def _check_no_revoke(head: DocHead) -> None:
    if head.offline is not None and head.offline.revoke_last_online_doc:
        raise _bad(
            "revoke_last_online_doc belongs only on the offline-begin document (102)",
            "head.offline.revoke_last_online_doc",
        )


# ------------------------------------------------------------------------------------------------
# builders
# ------------------------------------------------------------------------------------------------


def _check_item(i: int, item: Item) -> tuple[Decimal, Decimal, Decimal]:
    """Return (quantity, price, discount) after validating the line."""
    p = f"items[{i}]"
    if not isinstance(item, Item):
        raise _bad(f"{p} must be an Item", p)
    _req_text(item.name, f"{p}.name", max_len=1024)
    qty = _decimal(item.quantity, f"{p}.quantity")
    if qty <= 0:
        raise _bad(f"{p}.quantity is {qty}; expected a quantity greater than 0", f"{p}.quantity")
    if qty != qty.quantize(QTY_STEP, rounding=ROUND_HALF_UP):
        raise _bad(f"{p}.quantity is {qty}: at most 3 decimal places are allowed", f"{p}.quantity")
    price = _money(item.price, f"{p}.price")
    discount = _money(item.discount, f"{p}.discount")
    _text(item.code, f"{p}.code", max_len=64, required=False)
    _text(item.barcode, f"{p}.barcode", max_len=64, required=False)
    if item.uktzed is not None and (
        not isinstance(item.uktzed, str) or not _UKTZED_RE.fullmatch(item.uktzed) or int(item.uktzed) == 0
    ):
        raise _bad(
            f"{p}.uktzed {item.uktzed!r} is not a УКТЗЕД code: expected 10, 8, 6 or 4 digits, or 00 + 3 digits",
            f"{p}.uktzed",
        )
    if item.dkpp is not None:
        if not isinstance(item.dkpp, str) or not _DKPP_RE.fullmatch(item.dkpp):
            raise _bad(f"{p}.dkpp {item.dkpp!r} is not a ДКПП code like 11.22.33-44.55", f"{p}.dkpp")
        if item.uktzed is not None:
            raise _bad(f"{p}: give either uktzed or dkpp, not both", f"{p}.dkpp")
    if item.unit_code is not None:
        _int(item.unit_code, f"{p}.unit_code", minimum=1, maximum=99999)
    _text(item.unit_name, f"{p}.unit_name", max_len=64, required=False)
    if item.discount_percent is not None:
        pct = _money(item.discount_percent, f"{p}.discount_percent")
        if pct > 100:
            raise _bad(f"{p}.discount_percent is {pct}; expected 0..100", f"{p}.discount_percent")
    for j, label in enumerate(item.excise_labels):
        _req_text(label, f"{p}.excise_labels[{j}]", max_len=64)
    return qty, price, discount


def _compute_taxes(
    line_taxes: Sequence[tuple[Sequence[Tax], Decimal, Decimal]],
) -> tuple[tuple[TaxRow, ...], Decimal]:
    """Tax rows and the sum of not-included taxes, from (taxes, cost, discounted cost) per line."""
    used: dict[int, Tax] = {}
    for taxes, _, _ in line_taxes:
        for t in taxes:
            used.setdefault(t.code, t)
    rows: list[TaxRow] = []
    extra_total = Decimal("0.00")
    for tax in sorted(used.values(), key=lambda t: (t.type, t.letter, t.code)):
        mine = [(ts, c, d) for ts, c, d in line_taxes if any(t.code == tax.code for t in ts)]
        turnover = sum((c for _, c, _ in mine), Decimal("0.00"))
        discounted = sum((d for _, _, d in mine), Decimal("0.00"))
        source = discounted
        if tax.type == 0:
            # VAT is taken from the price without the other included taxes ("Два податки"), one
            # deduction per co-occurring tax, computed on exactly the lines that carry both.
            others: dict[int, Tax] = {}
            for ts, _, _ in mine:
                for t in ts:
                    if t.type != 0 and t.included:
                        others.setdefault(t.code, t)
            for other in others.values():
                both = sum((d for ts, _, d in mine if any(t.code == other.code for t in ts)), Decimal("0.00"))
                source -= _round(both * other.rate / (100 + other.rate))
        if tax.included:
            tax_sum = _round(source * tax.rate / (100 + tax.rate))
        else:
            tax_sum = _round(source * tax.rate / 100)
            extra_total += tax_sum
        rows.append(
            TaxRow(
                type=tax.type,
                name=tax.name,
                letter=tax.letter,
                rate=tax.rate.quantize(KOPECK),
                included=tax.included,
                turnover=turnover,
                sum=tax_sum,
                source_sum=source,
                turnover_discount=discounted if discounted != turnover else None,
            )
        )
    return tuple(rows), extra_total


def _check_taxes(taxes: Mapping[int, Tax]) -> None:
    letters: dict[str, int] = {}
    for code, tax in taxes.items():
        f = f"taxes[{code}]"
        if not isinstance(tax, Tax):
            raise _bad(f"{f} must be a Tax", f)
        if tax.code != code:
            raise _bad(f"{f} is keyed {code} but its code is {tax.code}; they must be the same", f"{f}.code")
        if not isinstance(tax.letter, str) or len(tax.letter) != 1:
            raise _bad(f"{f}.letter {tax.letter!r} must be exactly one character", f"{f}.letter")
        if tax.letter in letters:
            raise _bad(
                f"{f}: letter {tax.letter} is already used by tax code {letters[tax.letter]}; "
                "each configured tax needs its own letter",
                f"{f}.letter",
            )
        letters[tax.letter] = code
        rate = _money(tax.rate, f"{f}.rate")
        if rate >= 100:
            raise _bad(f"{f}.rate is {rate}; expected a percent below 100", f"{f}.rate")
        _req_text(tax.name, f"{f}.name", max_len=64)
        _int(tax.type, f"{f}.type", minimum=0)


def _settle(payments: Sequence[Payment], total: Decimal) -> tuple[Payment, ...]:
    """Validate payments against the total; turn cash overpayment into PROVIDED/REMAINS."""
    if not payments:
        raise _bad("the receipt has no payments; add at least one payment covering the total", "payments")
    amounts: list[Decimal] = []
    handed: list[Decimal | None] = []
    for i, pay in enumerate(payments):
        p = f"payments[{i}]"
        if not isinstance(pay, Payment):
            raise _bad(f"{p} must be a Payment", p)
        _int(pay.form, f"{p}.form", minimum=0)
        _req_text(pay.name, f"{p}.name", max_len=128)
        # a 0.00 row is noise on the document, unless the whole receipt is free
        amount = _money(pay.amount, f"{p}.amount", positive=total > 0)
        provided = None
        if pay.provided is not None:
            provided = _money(pay.provided, f"{p}.provided")
            if pay.form != PayForm.CASH:
                raise _bad(f"{p}.provided is only for cash payments (form 0); leave it out", f"{p}.provided")
            if provided < amount:
                raise _bad(
                    f"{p}.provided ({provided}) is less than the amount ({amount}); "
                    "provided is the cash handed over and must be at least the amount",
                    f"{p}.provided",
                )
        _text(pay.payment_system, f"{p}.payment_system", max_len=256, required=False)
        _text(pay.card_mask, f"{p}.card_mask", max_len=128, required=False)
        _text(pay.auth_code, f"{p}.auth_code", max_len=64, required=False)
        _text(pay.rrn, f"{p}.rrn", max_len=128, required=False)
        _text(pay.terminal, f"{p}.terminal", max_len=128, required=False)
        _text(pay.acquirer, f"{p}.acquirer", max_len=256, required=False)
        amounts.append(amount)
        handed.append(provided)
    paid = sum(amounts, Decimal("0.00"))
    if paid < total:
        raise _bad(
            f"payments ({paid}) do not cover the total ({total}); {total - paid} is missing", "payments"
        )
    cashless = sum((a for a, p in zip(amounts, payments, strict=True) if p.form != PayForm.CASH), Decimal(0))
    if cashless > total:
        raise _bad(
            f"non-cash payments ({cashless}) exceed the total ({total}); only cash can be overpaid "
            "(the difference is given back as change)",
            "payments",
        )
    # Change comes out of the cash rows, last first: the till says what was handed over, the
    # document says what was kept (SUM) and what was given back (REMAINS).
    excess = paid - total
    applied = list(amounts)
    for i in reversed(range(len(payments))):
        if excess <= 0:
            break
        if payments[i].form == PayForm.CASH:
            take = min(excess, applied[i])
            applied[i] -= take
            excess -= take
    out: list[Payment] = []
    for pay, amount, kept, prov in zip(payments, amounts, applied, handed, strict=True):
        given = prov if prov is not None else amount
        out.append(
            replace(
                pay, amount=kept.quantize(KOPECK), provided=given.quantize(KOPECK) if given > kept else None
            )
        )
    return tuple(out)


def _goods(
    head: DocHead,
    items: Sequence[Item],
    payments: Sequence[Payment],
    taxes: Mapping[int, Tax],
    subtype: DocSubType,
    ret_num: str | None,
    round_cash: bool = False,
) -> Check:
    _check_head(head)
    _check_no_revoke(head)
    if not isinstance(taxes, Mapping):
        raise _bad("taxes must be a mapping of tax code to Tax", "taxes")
    _check_taxes(taxes)
    if not items:
        raise _bad("the receipt has no items; add at least one item", "items")
    lines: list[Line] = []
    line_taxes: list[tuple[Sequence[Tax], Decimal, Decimal]] = []
    discount_total = Decimal("0.00")
    for i, item in enumerate(items):
        qty, price, discount = _check_item(i, item)
        line_tax: list[Tax] = []
        for j, code in enumerate(item.tax_codes):
            tax = taxes.get(code)
            if tax is None:
                known = ", ".join(str(c) for c in taxes) or "none configured"
                raise _bad(
                    f"items[{i}].tax_codes[{j}]: unknown tax code {code!r}; configured codes: {known}",
                    f"items[{i}].tax_codes[{j}]",
                )
            if tax in line_tax:
                continue
            if tax.type == 0 and any(t.type == 0 for t in line_tax):
                raise _bad(
                    f"items[{i}] carries two VAT rates ({line_tax[0].letter} and {tax.letter}); "
                    "an item has at most one VAT rate",
                    f"items[{i}].tax_codes",
                )
            line_tax.append(tax)
        cost = _round(qty * price)
        if discount > cost:
            raise _bad(
                f"items[{i}].discount ({discount}) is larger than the line cost ({cost})",
                f"items[{i}].discount",
            )
        discount_total += discount
        lines.append(
            Line(
                item=replace(item, quantity=qty, price=price, discount=discount),
                letters="".join(t.letter for t in line_tax),
                cost=cost,
            )
        )
        line_taxes.append((line_tax, cost, cost - discount))
    tax_rows, not_included = _compute_taxes(line_taxes)
    total = sum((d for _, _, d in line_taxes), Decimal("0.00")) + not_included
    round_sum = no_round_sum = None
    if round_cash:
        rounded = _round_cash_total(payments, total)
        if rounded != total:
            # Taxes stay on the unrounded sum; the document says by how much the cash part moved
            # ("Заокруглення": SUM 12.60, RNDSUM -0.03, NORNDSUM 12.57).
            no_round_sum, round_sum, total = total, total - rounded, rounded
    pays = _settle(payments, total)
    return Check(
        head=head,
        doc_type=DocType.SALE_GOODS,
        doc_subtype=subtype,
        lines=tuple(lines),
        payments=pays,
        taxes=tax_rows,
        total=total,
        discount_sum=discount_total if discount_total > 0 else None,
        ret_num=ret_num,
        round_sum=round_sum,
        no_round_sum=no_round_sum,
    )


_CASH_STEP = Decimal("0.1")  # quantize takes the exponent, so "0.10" would mean kopecks


def _round_cash_total(payments: Sequence[Payment], total: Decimal) -> Decimal:
    """The total with its cash part rounded to 10 kopecks (1, 2 and 5 kopeck coins are withdrawn)."""
    cashless = Decimal("0.00")
    has_cash = False
    for pay in payments:
        if isinstance(pay, Payment) and pay.form == PayForm.CASH:
            has_cash = True
        elif isinstance(pay, Payment) and isinstance(pay.amount, Decimal) and pay.amount.is_finite():
            cashless += pay.amount
    cash_due = total - cashless
    if not has_cash or cash_due <= 0:
        return total  # nothing is paid in cash; _settle reports whatever else is wrong
    return total - cash_due + cash_due.quantize(_CASH_STEP, rounding=ROUND_HALF_UP).quantize(KOPECK)


def sale(
    head: DocHead,
    items: Sequence[Item],
    payments: Sequence[Payment],
    taxes: Mapping[int, Tax],
    *,
    round_cash: bool = False,
) -> Check:
    """A sale receipt. ``round_cash`` rounds the part paid in cash to 10 kopecks (RNDSUM/NORNDSUM)."""
    return _goods(head, items, payments, taxes, DocSubType.CHECK_GOODS, None, round_cash)


def refund(
    head: DocHead,
    items: Sequence[Item],
    payments: Sequence[Payment],
    taxes: Mapping[int, Tax],
    ret_num: str,
    *,
    round_cash: bool = False,
) -> Check:
    """A return receipt for the sale with fiscal number ``ret_num``."""
    num = _req_text(ret_num, "ret_num", max_len=128)
    return _goods(head, items, payments, taxes, DocSubType.CHECK_RETURN, num, round_cash)


def _service(head: DocHead, amount: Decimal, subtype: DocSubType) -> Check:
    _check_head(head)
    _check_no_revoke(head)
    total = _money(amount, "amount", positive=True)
    return Check(head=head, doc_type=DocType.SALE_GOODS, doc_subtype=subtype, total=total)


def service_deposit(head: DocHead, amount: Decimal) -> Check:
    return _service(head, amount, DocSubType.SERVICE_DEPOSIT)


def service_issue(head: DocHead, amount: Decimal) -> Check:
    return _service(head, amount, DocSubType.SERVICE_ISSUE)


def storno(head: DocHead, storno_num: str) -> Check:
    _check_head(head)
    _check_no_revoke(head)
    num = _req_text(storno_num, "storno_num", max_len=128)
    return Check(head=head, doc_type=DocType.SALE_GOODS, doc_subtype=DocSubType.CHECK_STORNO, storno_num=num)


def open_shift(head: DocHead) -> Check:
    _check_head(head)
    _check_no_revoke(head)
    return Check(head=head, doc_type=DocType.OPEN_SHIFT)


def close_shift(head: DocHead) -> Check:
    _check_head(head)
    _check_no_revoke(head)
    return Check(head=head, doc_type=DocType.CLOSE_SHIFT)


def _offline_session(head: DocHead, doc_type: DocType) -> Check:
    _check_head(head)
    if head.offline is None:
        raise _bad(
            f"an offline session document ({int(doc_type)}) needs head.offline with its offline fiscal number",
            "head.offline",
        )
    if doc_type == DocType.OFFLINE_END:
        _check_no_revoke(head)
    # The format forbids TESTING on 102/103 (reference 3.4), even for a test-mode registrar.
    return Check(head=replace(head, testing=False), doc_type=doc_type)


def offline_begin(head: DocHead) -> Check:
    return _offline_session(head, DocType.OFFLINE_BEGIN)


def offline_end(head: DocHead) -> Check:
    return _offline_session(head, DocType.OFFLINE_END)


_TaxKey = tuple[int, str, Decimal, bool]


class _ZAcc:
    """Sums one ZPay section from the documents' own rows, so the Z matches them to the kopeck."""

    def __init__(self) -> None:
        self.sum = Decimal("0.00")
        self.count = 0
        self.round_sum: Decimal | None = None
        self.no_round_sum = Decimal("0.00")  # reported only when some document was rounded
        self.forms: dict[tuple[int, str], Decimal] = {}
        self.taxes: dict[_TaxKey, list[TaxRow]] = {}

    def add(self, check: Check) -> None:
        self.count += 1
        self.sum += check.total if check.total is not None else Decimal("0.00")
        if check.round_sum is not None:
            self.round_sum = (self.round_sum or Decimal("0.00")) + check.round_sum
        if check.no_round_sum is not None:
            self.no_round_sum += check.no_round_sum
        else:
            self.no_round_sum += check.total if check.total is not None else Decimal("0.00")
        for pay in check.payments:
            key = (pay.form, pay.name)
            self.forms[key] = self.forms.get(key, Decimal("0.00")) + pay.amount
        for row in check.taxes:
            self.taxes.setdefault((row.type, row.letter, row.rate, row.included), []).append(row)

    def result(self) -> ZPay | None:
        if self.count == 0:
            return None
        taxes: list[TaxRow] = []
        for key in sorted(self.taxes, key=lambda k: (k[0], k[1], k[2], k[3])):
            rows = self.taxes[key]
            any_disc = any(r.turnover_discount is not None for r in rows)
            any_src = any(r.source_sum is not None for r in rows)
            turnover = sum((r.turnover for r in rows), Decimal("0.00"))

            def disc(r: TaxRow) -> Decimal:
                return r.turnover_discount if r.turnover_discount is not None else r.turnover

            def src(r: TaxRow) -> Decimal:
                return r.source_sum if r.source_sum is not None else disc(r)

            taxes.append(
                TaxRow(
                    type=key[0],
                    name=rows[0].name,
                    letter=key[1],
                    rate=key[2],
                    included=key[3],
                    turnover=turnover,
                    sum=sum((r.sum for r in rows), Decimal("0.00")),
                    source_sum=sum((src(r) for r in rows), Decimal("0.00")) if any_src else None,
                    turnover_discount=sum((disc(r) for r in rows), Decimal("0.00")) if any_disc else None,
                )
            )
        forms = tuple(
            PayFormTotal(form=k[0], name=k[1], sum=v)
            for k, v in sorted(self.forms.items(), key=lambda kv: kv[0])
        )
        return ZPay(
            sum=self.sum,
            orders_count=self.count,
            pay_forms=forms,
            taxes=tuple(taxes),
            round_sum=self.round_sum,
            no_round_sum=self.no_round_sum if self.round_sum is not None else None,
        )


def z_report(head: DocHead, checks: Iterable[Check]) -> ZReport:
    """The shift's Z from its documents (the caller has already left out stornoed ones).

    Pay-form rows are summed per (code, name), as in the official example where prepayment and a gift
    certificate both use code 2 but stay separate rows.
    """
    _check_head(head)
    _check_no_revoke(head)
    realiz, ret = _ZAcc(), _ZAcc()
    service_in: Decimal | None = None
    service_out: Decimal | None = None
    for i, check in enumerate(checks):
        if not isinstance(check, Check):
            raise _bad(f"checks[{i}] must be a Check", f"checks[{i}]")
        if check.doc_type in (
            DocType.OPEN_SHIFT,
            DocType.CLOSE_SHIFT,
            DocType.OFFLINE_BEGIN,
            DocType.OFFLINE_END,
        ):
            continue
        if check.doc_type != DocType.SALE_GOODS:
            raise NotSupported(f"Z-report over DOCTYPE {int(check.doc_type)} documents not supported")
        sub = check.doc_subtype
        if sub in (None, DocSubType.CHECK_GOODS):
            realiz.add(check)
        elif sub == DocSubType.CHECK_RETURN:
            ret.add(check)
        elif sub in (DocSubType.SERVICE_DEPOSIT, DocSubType.ADDITIONAL_DEPOSIT):
            service_in = (service_in or Decimal("0.00")) + (check.total or Decimal("0.00"))
        elif sub == DocSubType.SERVICE_ISSUE:
            service_out = (service_out or Decimal("0.00")) + (check.total or Decimal("0.00"))
        # storno documents carry no sums; the stornoed document was already left out by the caller
    return ZReport(
        head=head,
        realiz=realiz.result(),
        ret=ret.result(),
        service_input=service_in,
        service_output=service_out,
    )


# ------------------------------------------------------------------------------------------------
# render
# ------------------------------------------------------------------------------------------------

_PROLOG = '<?xml version="1.0" encoding="windows-1251"?>\n'
_CHECK_OPEN = '<CHECK xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="check01.xsd">'
_ZREP_OPEN = (
    '<ZREP xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="zrep01.xsd">'
)

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


def _esc(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        # a literal CR would be normalised away by every XML reader
        value = value.replace("\r", "&#13;")
    return value


def _m(value: Decimal) -> str:
    return str(value.quantize(KOPECK, rounding=ROUND_HALF_UP))


def _q(value: Decimal) -> str:
    # DGDecimal3_R: an integer or up to 3 decimals; "5.701", "6", "0.5" -- never an exponent.
    q = value.quantize(QTY_STEP, rounding=ROUND_HALF_UP)
    text = f"{q:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _b(value: bool) -> str:
    return "true" if value else "false"


def _head_common(out: list[str], head: DocHead) -> None:
    s = head.seller
    out.append(f"<UID>{_esc(head.uid)}</UID><TIN>{_esc(s.tin)}</TIN>")
    if s.ipn is not None:
        out.append(f"<IPN>{_esc(s.ipn)}</IPN>")
    out.append(f"<ORGNM>{_esc(s.org_name)}</ORGNM><POINTNM>{_esc(s.point_name)}</POINTNM>")
    if s.point_address is not None:
        out.append(f"<POINTADDR>{_esc(s.point_address)}</POINTADDR>")
    local = head.when.astimezone(KYIV)
    out.append(
        f"<ORDERDATE>{local.day:02d}{local.month:02d}{local.year:04d}</ORDERDATE>"
        f"<ORDERTIME>{local.hour:02d}{local.minute:02d}{local.second:02d}</ORDERTIME>"
        f"<ORDERNUM>{head.order_num}</ORDERNUM><CASHDESKNUM>{s.cash_desk_num}</CASHDESKNUM>"
        f"<CASHREGISTERNUM>{s.cash_register_num}</CASHREGISTERNUM>"
    )


def _opt(out: list[str], tag: str, value: str | None) -> None:
    if value is not None:
        out.append(f"<{tag}>{_esc(value)}</{tag}>")


def _head_tail(out: list[str], head: DocHead, extra: Mapping[str, str], *, stored: tuple[str, ...]) -> None:
    """VER .. TESTING, shared by CHECKHEAD and ZREPHEAD."""
    out.append(f"<VER>{_esc(extra.get('VER', '1'))}</VER>")
    off = head.offline
    if off is not None:
        out.append(f"<ORDERTAXNUM>{_esc(off.tax_num)}</ORDERTAXNUM><OFFLINE>true</OFFLINE>")
        _opt(out, "PREVDOCHASH", off.prev_doc_hash)
    else:
        _opt(out, "ORDERTAXNUM", extra.get("ORDERTAXNUM"))
    for tag in stored:
        _opt(out, tag, extra.get(tag))
    if head.testing:
        out.append("<TESTING>true</TESTING>")


def _check_extra(extra: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = set(extra) - allowed
    if unknown:
        raise NotSupported(f"rendering extra elements not supported: {', '.join(sorted(unknown))}")


def _render_tax_rows(out: list[str], rows: Sequence[TaxRow]) -> None:
    for n, t in enumerate(rows, 1):
        out.append(f'<ROW ROWNUM="{n}"><TYPE>{int(t.type)}</TYPE><NAME>{_esc(t.name)}</NAME>')
        if t.letter:
            out.append(f"<LETTER>{_esc(t.letter)}</LETTER>")
        out.append(
            f"<PRC>{_m(t.rate)}</PRC><SIGN>{_b(not t.included)}</SIGN><TURNOVER>{_m(t.turnover)}</TURNOVER>"
        )
        if t.turnover_discount is not None:
            out.append(f"<TURNOVERDISCOUNT>{_m(t.turnover_discount)}</TURNOVERDISCOUNT>")
        if t.source_sum is not None:
            out.append(f"<SOURCESUM>{_m(t.source_sum)}</SOURCESUM>")
        out.append(f"<SUM>{_m(t.sum)}</SUM></ROW>")


def _render_check(doc: Check) -> str:
    head = doc.head
    extra = doc.extra
    _check_extra(extra, _CHECK_HEAD_EXTRA)
    out: list[str] = [_PROLOG, _CHECK_OPEN, f"<CHECKHEAD><DOCTYPE>{int(doc.doc_type)}</DOCTYPE>"]
    if doc.doc_subtype is not None:
        out.append(f"<DOCSUBTYPE>{int(doc.doc_subtype)}</DOCSUBTYPE>")
    _head_common(out, head)
    _opt(out, "ORDERRETCASHREGNUM", extra.get("ORDERRETCASHREGNUM"))
    _opt(out, "ORDERRETDATE", extra.get("ORDERRETDATE"))
    _opt(out, "ORDERRETNUM", doc.ret_num)
    _opt(out, "ORDERSTORNUM", doc.storno_num)
    _opt(out, "OPERTYPENM", extra.get("OPERTYPENM"))
    _opt(out, "VEHICLERN", extra.get("VEHICLERN"))
    if head.offline is not None and head.offline.revoke_last_online_doc:
        out.append("<REVOKELASTONLINEDOC>true</REVOKELASTONLINEDOC>")
    elif head.offline is None:
        _opt(out, "REVOKELASTONLINEDOC", extra.get("REVOKELASTONLINEDOC"))
    _opt(out, "CASHIER", head.cashier)
    _opt(out, "LOGOURL", extra.get("LOGOURL"))
    _opt(out, "COMMENT", extra.get("COMMENT"))
    _head_tail(out, head, extra, stored=("REVOKED", "STORNED"))
    out.append("</CHECKHEAD>")

    if doc.total is not None or doc.round_sum is not None or doc.no_round_sum is not None or doc.discount_sum:
        out.append("<CHECKTOTAL>")
        if doc.total is not None:
            out.append(f"<SUM>{_m(doc.total)}</SUM>")
        if doc.round_sum is not None:
            out.append(f"<RNDSUM>{_m(doc.round_sum)}</RNDSUM>")
        if doc.no_round_sum is not None:
            out.append(f"<NORNDSUM>{_m(doc.no_round_sum)}</NORNDSUM>")
        if doc.discount_sum is not None:
            out.append(f"<DISCOUNTSUM>{_m(doc.discount_sum)}</DISCOUNTSUM>")
        out.append("</CHECKTOTAL>")

    if doc.payments:
        out.append("<CHECKPAY>")
        for n, p in enumerate(doc.payments, 1):
            out.append(
                f'<ROW ROWNUM="{n}"><PAYFORMCD>{int(p.form)}</PAYFORMCD><PAYFORMNM>{_esc(p.name)}</PAYFORMNM>'
                f"<SUM>{_m(p.amount)}</SUM>"
            )
            if p.provided is not None:
                out.append(f"<PROVIDED>{_m(p.provided)}</PROVIDED>")
                if p.provided > p.amount:
                    out.append(f"<REMAINS>{_m(p.provided - p.amount)}</REMAINS>")
            if (
                p.payment_system is not None
                or p.acquirer is not None
                or p.rrn is not None
                or p.terminal is not None
                or p.card_mask is not None
                or p.auth_code is not None
            ):
                out.append('<PAYSYS><ROW ROWNUM="1">')
                _opt(out, "NAME", p.payment_system)
                _opt(out, "ACQUIRENM", p.acquirer)
                _opt(out, "ACQUIRETRANSID", p.rrn)
                _opt(out, "DEVICEID", p.terminal)
                _opt(out, "EPZDETAILS", p.card_mask)
                _opt(out, "AUTHCD", p.auth_code)
                out.append(f"<SUM>{_m(p.amount)}</SUM></ROW></PAYSYS>")
            out.append("</ROW>")
        out.append("</CHECKPAY>")

    if doc.taxes:
        out.append("<CHECKTAX>")
        _render_tax_rows(out, doc.taxes)
        out.append("</CHECKTAX>")

    if doc.lines:
        out.append("<CHECKBODY>")
        for n, line in enumerate(doc.lines, 1):
            it = line.item
            out.append(f'<ROW ROWNUM="{n}">')
            _opt(out, "CODE", it.code)
            _opt(out, "BARCODE", it.barcode)
            _opt(out, "UKTZED", it.uktzed)
            _opt(out, "DKPP", it.dkpp)
            out.append(f"<NAME>{_esc(it.name)}</NAME>")
            if it.unit_code is not None:
                out.append(f"<UNITCD>{it.unit_code}</UNITCD>")
            _opt(out, "UNITNM", it.unit_name)
            out.append(f"<AMOUNT>{_q(it.quantity)}</AMOUNT><PRICE>{_m(it.price)}</PRICE>")
            if line.letters:
                out.append(f"<LETTERS>{_esc(line.letters)}</LETTERS>")
            out.append(f"<COST>{_m(line.cost)}</COST>")
            if it.discount or it.discount_percent is not None:
                if it.discount_percent is not None:
                    out.append(
                        f"<DISCOUNTTYPE>1</DISCOUNTTYPE><DISCOUNTPERCENT>{_m(it.discount_percent)}</DISCOUNTPERCENT>"
                    )
                else:
                    out.append("<DISCOUNTTYPE>0</DISCOUNTTYPE>")
                out.append(f"<DISCOUNTSUM>{_m(it.discount)}</DISCOUNTSUM>")
            if it.excise_labels:
                out.append("<EXCISELABELS>")
                for k, label in enumerate(it.excise_labels, 1):
                    out.append(f'<ROW ROWNUM="{k}"><EXCISELABEL>{_esc(label)}</EXCISELABEL></ROW>')
                out.append("</EXCISELABELS>")
            out.append("</ROW>")
        out.append("</CHECKBODY>")
    out.append("</CHECK>")
    return "".join(out)


def _render_zpay(out: list[str], tag: str, z: ZPay) -> None:
    out.append(f"<{tag}><SUM>{_m(z.sum)}</SUM>")
    if z.round_sum is not None:
        out.append(f"<RNDSUM>{_m(z.round_sum)}</RNDSUM>")
    if z.no_round_sum is not None:
        out.append(f"<NORNDSUM>{_m(z.no_round_sum)}</NORNDSUM>")
    out.append(f"<ORDERSCNT>{z.orders_count}</ORDERSCNT>")
    if z.pay_forms:
        out.append("<PAYFORMS>")
        for n, f in enumerate(z.pay_forms, 1):
            out.append(
                f'<ROW ROWNUM="{n}"><PAYFORMCD>{int(f.form)}</PAYFORMCD><PAYFORMNM>{_esc(f.name)}</PAYFORMNM>'
                f"<SUM>{_m(f.sum)}</SUM></ROW>"
            )
        out.append("</PAYFORMS>")
    if z.taxes:
        out.append("<TAXES>")
        _render_tax_rows(out, z.taxes)
        out.append("</TAXES>")
    out.append(f"</{tag}>")


def _render_zrep(doc: ZReport) -> str:
    head = doc.head
    _check_extra(doc.extra, _ZREP_HEAD_EXTRA)
    out: list[str] = [_PROLOG, _ZREP_OPEN, "<ZREPHEAD>"]
    _head_common(out, head)
    _opt(out, "CASHIER", head.cashier)
    _head_tail(out, head, doc.extra, stored=("REVOKED",))
    out.append("</ZREPHEAD>")
    if doc.realiz is not None:
        _render_zpay(out, "ZREPREALIZ", doc.realiz)
    if doc.ret is not None:
        _render_zpay(out, "ZREPRETURN", doc.ret)
    if doc.service_input is not None or doc.service_output is not None:
        out.append("<ZREPBODY>")
        if doc.service_input is not None:
            out.append(f"<SERVICEINPUT>{_m(doc.service_input)}</SERVICEINPUT>")
        if doc.service_output is not None:
            out.append(f"<SERVICEOUTPUT>{_m(doc.service_output)}</SERVICEOUTPUT>")
        out.append("</ZREPBODY>")
    out.append("</ZREP>")
    return "".join(out)


def render(doc: Document) -> bytes:
    text = _render_check(doc) if isinstance(doc, Check) else _render_zrep(doc)
    # Characters outside windows-1251 (e.g. emoji in a product name) become character references,
    # which every XML reader turns back into the same text.
    return text.encode("cp1251", errors="xmlcharrefreplace")


# ------------------------------------------------------------------------------------------------
# schemas and validation
# ------------------------------------------------------------------------------------------------

_SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_SCHEMA_FILES = {"CHECK": "check01.xsd", "ZREP": "zrep01.xsd", "TICKET": "ticket01.xsd"}
# libxml2 keeps the last errors on the schema object; one validation at a time keeps them ours.
_schema_lock = threading.Lock()


@cache
def _schema(root: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(_SCHEMA_DIR / _SCHEMA_FILES[root])))


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)


# lxml parser objects must not be shared between threads; one per thread, made on first use.
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _xml_parser()
    return parser


def _parse_tree(xml: bytes) -> etree._Element:
    if not isinstance(xml, bytes | bytearray):
        raise InvalidDocument(f"expected the document as bytes, got {type(xml).__name__}")
    try:
        return etree.fromstring(bytes(xml), _parser())
    except etree.XMLSyntaxError as exc:
        line = f" (line {exc.lineno})" if exc.lineno and "line" not in str(exc.msg) else ""
        hint = ""
        if "EntityRef" in str(exc) or "xmlParseEntityRef" in str(exc):
            hint = "; an unescaped '&' in text must be written as &amp;"
        raise InvalidDocument(f"not well-formed XML: {exc.msg}{line}{hint}") from None


def _validate_tree(root: etree._Element) -> None:
    tag = root.tag
    if tag not in _SCHEMA_FILES:
        raise InvalidDocument(f"unknown document root <{tag}>; expected CHECK, ZREP or TICKET")
    schema = _schema(str(tag))
    with _schema_lock:
        if schema.validate(root):
            return
        # lxml-stubs do not declare _ErrorLog a sequence; at runtime it is one, oldest error first.
        log: Any = schema.error_log
        err = log[0] if len(log) else None
    if err is None:
        raise InvalidDocument(f"{tag} document is not valid against {_SCHEMA_FILES[str(tag)]}")
    raise InvalidDocument(
        f"{tag} document is not valid against {_SCHEMA_FILES[str(tag)]}: {err.message} (line {err.line})"
    )


def validate(xml: bytes) -> None:
    _validate_tree(_parse_tree(xml))


# ------------------------------------------------------------------------------------------------
# parse
# ------------------------------------------------------------------------------------------------

# Why an element is refused, for the NotSupported message.
_FEATURES: dict[str, str] = {
    "PARTPAYTYPE": "partial payments",
    "PARTPAYPERCENT": "partial payments",
    "PARTPAYSUM": "partial payments",
    "PARTPAYORDPREPAYNUM": "partial payments",
    "PWNSUMISSUED": "pawnshop operations",
    "PWNSUMRECEIVED": "pawnshop operations",
    "PWNDIR": "pawnshop operations",
    "CHECKPTKS": "self-service terminals (ПТКС)",
    "CHECKDUTYFREE": "duty-free sales",
    "CHECKDUTYFREEREMAINS": "duty-free sales",
    "NOTAXSUM": "sums without taxes (NOTAXSUM)",
    "COMMISSION": "commissions",
    "ZREPVAL": "currency exchange Z sections",
    "ZREPFUEL": "fuel station Z sections",
    "ZREPCASH": "cash withdrawal Z sections",
    "TOTALCURRENCYCOST": "currency totals",
    "TOTALCURRENCYSUM": "currency totals",
    "TOTALCURRENCYCOMMISSION": "currency totals",
}
_PREFIX_FEATURES = (
    ("FUEL", "fuel station (АЗС) rows"),
    ("VAL", "currency exchange rows"),
    ("PWN", "pawnshop operations"),
    ("PTKS", "self-service terminals (ПТКС)"),
)


def _unsupported(path: str) -> NotSupported:
    tag = path.rsplit("/", 1)[-1]
    what = _FEATURES.get(tag)
    if what is None:
        what = next((w for p, w in _PREFIX_FEATURES if tag.startswith(p)), f"element {tag}")
    return NotSupported(f"{what} not supported: <{path}>")


def _children(node: etree._Element, allowed: frozenset[str], path: str) -> dict[str, etree._Element]:
    out: dict[str, etree._Element] = {}
    for child in node:
        tag = child.tag
        if not isinstance(tag, str):  # processing instructions
            continue
        if tag not in allowed:
            raise _unsupported(f"{path}/{tag}")
        out[tag] = child
    return out


def _rows(node: etree._Element, path: str) -> list[etree._Element]:
    rows = []
    for child in node:
        if not isinstance(child.tag, str):
            continue
        if child.tag != "ROW":
            raise _unsupported(f"{path}/{child.tag}")
        rows.append(child)
    return rows


def _t(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return el.text if el.text is not None else ""


def _get(d: Mapping[str, etree._Element], tag: str) -> str | None:
    return _t(d.get(tag))


def _need(d: Mapping[str, etree._Element], tag: str, path: str) -> str:
    v = _get(d, tag)
    if v is None:
        raise InvalidDocument(f"<{path}/{tag}> is missing")
    return v


def _dec_or_none(d: Mapping[str, etree._Element], tag: str) -> Decimal | None:
    v = _get(d, tag)
    return None if v is None else Decimal(v.strip())


def _int_text(v: str) -> int:
    # zrep01 types PAYFORMCD / TYPE as DGDecimal0, which allows "2.00".
    return int(Decimal(v.strip()))


def _bool(v: str | None) -> bool:
    return v is not None and v.strip() in ("true", "1")


_HEAD_COMMON = (
    "UID",
    "TIN",
    "IPN",
    "ORGNM",
    "POINTNM",
    "POINTADDR",
    "ORDERDATE",
    "ORDERTIME",
    "ORDERNUM",
    "CASHDESKNUM",
    "CASHREGISTERNUM",
    "CASHIER",
    "VER",
    "ORDERTAXNUM",
    "OFFLINE",
    "PREVDOCHASH",
    "REVOKED",
    "TESTING",
)
_CHECK_HEAD_TAGS = frozenset(
    (
        *_HEAD_COMMON,
        "DOCTYPE",
        "DOCSUBTYPE",
        "ORDERRETCASHREGNUM",
        "ORDERRETDATE",
        "ORDERRETNUM",
        "ORDERSTORNUM",
        "OPERTYPENM",
        "VEHICLERN",
        "REVOKELASTONLINEDOC",
        "LOGOURL",
        "COMMENT",
        "STORNED",
    )
)
_ZREP_HEAD_TAGS = frozenset(_HEAD_COMMON)


def _parse_head(
    h: Mapping[str, etree._Element], path: str, extra_tags: frozenset[str]
) -> tuple[DocHead, dict[str, str]]:
    date = _need(h, "ORDERDATE", path)
    time = _need(h, "ORDERTIME", path)
    when = datetime(
        int(date[4:8]),
        int(date[2:4]),
        int(date[0:2]),
        int(time[0:2]),
        int(time[2:4]),
        int(time[4:6]),
        tzinfo=KYIV,
    )
    seller = Seller(
        tin=_need(h, "TIN", path),
        org_name=_need(h, "ORGNM", path),
        point_name=_need(h, "POINTNM", path),
        cash_desk_num=int(_need(h, "CASHDESKNUM", path)),
        cash_register_num=int(_need(h, "CASHREGISTERNUM", path)),
        ipn=_get(h, "IPN"),
        point_address=_get(h, "POINTADDR"),
    )
    extra: dict[str, str] = {}
    offline: OfflineMark | None = None
    if _bool(_get(h, "OFFLINE")):
        tax_num = _get(h, "ORDERTAXNUM")
        if tax_num is None:
            raise NotSupported(f"offline document without ORDERTAXNUM not supported: <{path}>")
        offline = OfflineMark(
            tax_num=tax_num,
            prev_doc_hash=_get(h, "PREVDOCHASH"),
            revoke_last_online_doc=_bool(_get(h, "REVOKELASTONLINEDOC")),
        )
    else:
        # OFFLINE=false says nothing beyond its absence; a chain hash on an online document would be lost.
        if "PREVDOCHASH" in h:
            raise NotSupported(f"PREVDOCHASH on an online document not supported: <{path}/PREVDOCHASH>")
    for tag in sorted(extra_tags):
        if tag in h and not (offline is not None and tag in ("ORDERTAXNUM", "REVOKELASTONLINEDOC")):
            extra[tag] = _t(h[tag]) or ""
    if extra.get("VER", "").strip() == "1":
        del extra["VER"]
    head = DocHead(
        uid=_need(h, "UID", path),
        seller=seller,
        when=when,
        order_num=int(_need(h, "ORDERNUM", path)),
        cashier=_get(h, "CASHIER"),
        testing=_bool(_get(h, "TESTING")),
        offline=offline,
    )
    return head, extra


_TOTAL_TAGS = frozenset({"SUM", "RNDSUM", "NORNDSUM", "DISCOUNTSUM"})
_PAY_TAGS = frozenset({"PAYFORMCD", "PAYFORMNM", "SUM", "PROVIDED", "REMAINS", "PAYSYS"})
_PAYSYS_TAGS = frozenset({"NAME", "ACQUIRENM", "ACQUIRETRANSID", "DEVICEID", "EPZDETAILS", "AUTHCD", "SUM"})
_TAX_TAGS = frozenset(
    {"TYPE", "NAME", "LETTER", "PRC", "SIGN", "TURNOVER", "TURNOVERDISCOUNT", "SOURCESUM", "SUM"}
)
_BODY_TAGS = frozenset(
    {
        "CODE",
        "BARCODE",
        "UKTZED",
        "DKPP",
        "NAME",
        "UNITCD",
        "UNITNM",
        "AMOUNT",
        "PRICE",
        "LETTERS",
        "COST",
        "DISCOUNTTYPE",
        "DISCOUNTPERCENT",
        "DISCOUNTSUM",
        "EXCISELABELS",
    }
)


def _parse_tax_rows(node: etree._Element, path: str) -> tuple[TaxRow, ...]:
    rows = []
    for row in _rows(node, path):
        r = _children(row, _TAX_TAGS, f"{path}/ROW")
        rows.append(
            TaxRow(
                type=_int_text(_need(r, "TYPE", path)),
                name=_need(r, "NAME", path),
                letter=_get(r, "LETTER") or "",
                rate=Decimal(_need(r, "PRC", path)),
                # SIGN absent means "included", the common Ukrainian case and the XSD's reading.
                included=not _bool(_get(r, "SIGN")),
                turnover=Decimal(_need(r, "TURNOVER", path)),
                sum=Decimal(_need(r, "SUM", path)),
                source_sum=_dec_or_none(r, "SOURCESUM"),
                turnover_discount=_dec_or_none(r, "TURNOVERDISCOUNT"),
            )
        )
    return tuple(rows)


def _parse_payments(node: etree._Element) -> tuple[Payment, ...]:
    path = "CHECKPAY/ROW"
    out = []
    for row in _rows(node, "CHECKPAY"):
        r = _children(row, _PAY_TAGS, path)
        amount = _dec_or_none(r, "SUM")
        if amount is None:
            raise NotSupported(f"payment row without SUM not supported: <{path}>")
        provided = _dec_or_none(r, "PROVIDED")
        remains = _dec_or_none(r, "REMAINS")
        expected = provided - amount if provided is not None else None
        if remains is not None and remains != expected:
            raise NotSupported(f"REMAINS other than PROVIDED - SUM not supported: <{path}/REMAINS>")
        card: dict[str, str | None] = {}
        if "PAYSYS" in r:
            sys_rows = _rows(r["PAYSYS"], f"{path}/PAYSYS")
            if len(sys_rows) > 1:
                raise NotSupported(
                    f"several payment systems in one payment row not supported: <{path}/PAYSYS>"
                )
            s = _children(sys_rows[0], _PAYSYS_TAGS, f"{path}/PAYSYS/ROW")
            sys_sum = _dec_or_none(s, "SUM")
            if sys_sum is not None and sys_sum != amount:
                raise NotSupported(
                    f"PAYSYS sum other than the payment sum not supported: <{path}/PAYSYS/ROW/SUM>"
                )
            card = {
                "payment_system": _get(s, "NAME"),
                "acquirer": _get(s, "ACQUIRENM"),
                "rrn": _get(s, "ACQUIRETRANSID"),
                "terminal": _get(s, "DEVICEID"),
                "card_mask": _get(s, "EPZDETAILS"),
                "auth_code": _get(s, "AUTHCD"),
            }
            if all(v is None for v in card.values()):
                raise NotSupported(f"an empty payment-system row not supported: <{path}/PAYSYS/ROW>")
        out.append(
            Payment(
                form=_int_text(_need(r, "PAYFORMCD", path)),
                name=_need(r, "PAYFORMNM", path),
                amount=amount,
                provided=provided,
                payment_system=card.get("payment_system"),
                card_mask=card.get("card_mask"),
                auth_code=card.get("auth_code"),
                rrn=card.get("rrn"),
                terminal=card.get("terminal"),
                acquirer=card.get("acquirer"),
            )
        )
    return tuple(out)


def _parse_lines(node: etree._Element) -> tuple[Line, ...]:
    path = "CHECKBODY/ROW"
    out = []
    for row in _rows(node, "CHECKBODY"):
        r = _children(row, _BODY_TAGS, path)
        for tag in ("NAME", "AMOUNT", "PRICE", "COST"):
            if tag not in r:
                raise NotSupported(f"goods line without {tag} not supported: <{path}>")
        labels: list[str] = []
        if "EXCISELABELS" in r:
            for lab in _rows(r["EXCISELABELS"], f"{path}/EXCISELABELS"):
                lr = _children(lab, frozenset({"EXCISELABEL"}), f"{path}/EXCISELABELS/ROW")
                labels.append(_need(lr, "EXCISELABEL", f"{path}/EXCISELABELS/ROW"))
        dtype = _get(r, "DISCOUNTTYPE")
        dpct = _dec_or_none(r, "DISCOUNTPERCENT")
        if dtype is not None and dtype.strip() not in ("0", "1"):
            raise NotSupported(f"discount type {dtype} not supported: <{path}/DISCOUNTTYPE>")
        if dtype is not None and dtype.strip() == "0" and dpct is not None:
            raise NotSupported(f"a percent on an amount discount not supported: <{path}/DISCOUNTPERCENT>")
        if dtype is not None and dtype.strip() == "1" and dpct is None:
            raise NotSupported(f"a percent discount without its percent not supported: <{path}/DISCOUNTTYPE>")
        unit = _get(r, "UNITCD")
        item = Item(
            name=_need(r, "NAME", path),
            quantity=Decimal(_need(r, "AMOUNT", path)),
            price=Decimal(_need(r, "PRICE", path)),
            code=_get(r, "CODE"),
            barcode=_get(r, "BARCODE"),
            uktzed=_get(r, "UKTZED"),
            dkpp=_get(r, "DKPP"),
            unit_code=int(unit) if unit is not None else None,
            unit_name=_get(r, "UNITNM"),
            discount=_dec_or_none(r, "DISCOUNTSUM") or Decimal("0.00"),
            discount_percent=dpct,
            excise_labels=tuple(labels),
        )
        out.append(Line(item=item, letters=_get(r, "LETTERS") or "", cost=Decimal(_need(r, "COST", path))))
    return tuple(out)


_DOC_KINDS = {
    1: "money transfer documents (DOCTYPE 1)",
    2: "currency exchange documents (DOCTYPE 2)",
    3: "cash withdrawal documents (DOCTYPE 3)",
    4: "pawnshop documents (DOCTYPE 4)",
}


def _parse_check(root: etree._Element) -> Check:
    sections = _children(
        root,
        frozenset({"CHECKHEAD", "CHECKTOTAL", "CHECKPAY", "CHECKTAX", "CHECKBODY"}),
        "CHECK",
    )
    if "CHECKHEAD" not in sections:
        raise InvalidDocument("CHECK without CHECKHEAD")
    h = _children(sections["CHECKHEAD"], _CHECK_HEAD_TAGS, "CHECKHEAD")
    doc_type_text = _need(h, "DOCTYPE", "CHECKHEAD").strip()
    try:
        doc_type_num = int(doc_type_text)
    except ValueError:
        raise InvalidDocument(f"DOCTYPE {doc_type_text!r} is not a number") from None
    if doc_type_num in _DOC_KINDS:
        raise NotSupported(f"{_DOC_KINDS[doc_type_num]} not supported: the box issues only goods documents")
    try:
        doc_type = DocType(doc_type_num)
    except ValueError:
        raise NotSupported(f"document type not supported: DOCTYPE {doc_type_num}") from None
    sub_text = _get(h, "DOCSUBTYPE")
    subtype: DocSubType | None = None
    if sub_text is not None:
        try:
            subtype = DocSubType(int(sub_text))
        except ValueError:
            raise NotSupported(f"document subtype not supported: DOCSUBTYPE {sub_text}") from None
    head, extra = _parse_head(h, "CHECKHEAD", _CHECK_HEAD_EXTRA)
    total = round_sum = no_round_sum = discount_sum = None
    if "CHECKTOTAL" in sections:
        t = _children(sections["CHECKTOTAL"], _TOTAL_TAGS, "CHECKTOTAL")
        total = _dec_or_none(t, "SUM")
        round_sum = _dec_or_none(t, "RNDSUM")
        no_round_sum = _dec_or_none(t, "NORNDSUM")
        discount_sum = _dec_or_none(t, "DISCOUNTSUM")
    return Check(
        head=head,
        doc_type=doc_type,
        doc_subtype=subtype,
        lines=_parse_lines(sections["CHECKBODY"]) if "CHECKBODY" in sections else (),
        payments=_parse_payments(sections["CHECKPAY"]) if "CHECKPAY" in sections else (),
        taxes=_parse_tax_rows(sections["CHECKTAX"], "CHECKTAX") if "CHECKTAX" in sections else (),
        total=total,
        discount_sum=discount_sum,
        ret_num=_get(h, "ORDERRETNUM"),
        storno_num=_get(h, "ORDERSTORNUM"),
        extra=extra,
        round_sum=round_sum,
        no_round_sum=no_round_sum,
    )


_ZPAY_TAGS = frozenset({"SUM", "RNDSUM", "NORNDSUM", "ORDERSCNT", "PAYFORMS", "TAXES"})


def _parse_zpay(node: etree._Element, path: str) -> ZPay:
    z = _children(node, _ZPAY_TAGS, path)
    forms: list[PayFormTotal] = []
    if "PAYFORMS" in z:
        for row in _rows(z["PAYFORMS"], f"{path}/PAYFORMS"):
            rp = f"{path}/PAYFORMS/ROW"
            r = _children(row, frozenset({"PAYFORMCD", "PAYFORMNM", "SUM"}), rp)
            forms.append(
                PayFormTotal(
                    form=_int_text(_need(r, "PAYFORMCD", rp)),
                    name=_need(r, "PAYFORMNM", rp),
                    sum=Decimal(_need(r, "SUM", rp)),
                )
            )
    return ZPay(
        sum=Decimal(_need(z, "SUM", path)),
        orders_count=int(_need(z, "ORDERSCNT", path)),
        pay_forms=tuple(forms),
        taxes=_parse_tax_rows(z["TAXES"], f"{path}/TAXES") if "TAXES" in z else (),
        round_sum=_dec_or_none(z, "RNDSUM"),
        no_round_sum=_dec_or_none(z, "NORNDSUM"),
    )


def _parse_zrep(root: etree._Element) -> ZReport:
    sections = _children(root, frozenset({"ZREPHEAD", "ZREPREALIZ", "ZREPRETURN", "ZREPBODY"}), "ZREP")
    if "ZREPHEAD" not in sections:
        raise InvalidDocument("ZREP without ZREPHEAD")
    h = _children(sections["ZREPHEAD"], _ZREP_HEAD_TAGS, "ZREPHEAD")
    head, extra = _parse_head(h, "ZREPHEAD", _ZREP_HEAD_EXTRA)
    service_in = service_out = None
    if "ZREPBODY" in sections:
        b = _children(sections["ZREPBODY"], frozenset({"SERVICEINPUT", "SERVICEOUTPUT"}), "ZREPBODY")
        service_in = _dec_or_none(b, "SERVICEINPUT")
        service_out = _dec_or_none(b, "SERVICEOUTPUT")
    return ZReport(
        head=head,
        realiz=_parse_zpay(sections["ZREPREALIZ"], "ZREPREALIZ") if "ZREPREALIZ" in sections else None,
        ret=_parse_zpay(sections["ZREPRETURN"], "ZREPRETURN") if "ZREPRETURN" in sections else None,
        service_input=service_in,
        service_output=service_out,
        extra=extra,
    )


def parse(xml: bytes) -> Document:
    """The model of a CHECK or ZREP document.

    Kinds and features the box does not issue raise ``NotSupported`` naming them; anything the model
    cannot carry is refused rather than dropped. Malformed or schema-invalid XML raises ``InvalidDocument``.
    """
    root = _parse_tree(xml)
    parsers: dict[str, Callable[[etree._Element], Document]] = {"CHECK": _parse_check, "ZREP": _parse_zrep}
    tag = root.tag
    if tag == "TICKET":
        raise NotSupported("server tickets not supported here: parse(...) reads CHECK and ZREP documents")
    if not isinstance(tag, str) or tag not in parsers:
        raise InvalidDocument(f"unknown document root <{tag}>; expected CHECK or ZREP")
    # Refuse unsupported kinds before the schema, so e.g. the official pawnshop example (whose UNITCD 0
    # breaks the schema) is reported as the unsupported kind it is.
    if tag == "CHECK":
        head_el = root.find("CHECKHEAD")
        dt = _t(head_el.find("DOCTYPE")) if head_el is not None else None
        if dt is not None and dt.strip() in {str(k) for k in _DOC_KINDS}:
            raise NotSupported(
                f"{_DOC_KINDS[int(dt.strip())]} not supported: the box issues only goods documents"
            )
    _validate_tree(root)
    try:
        return parsers[tag](root)
    except FiscalBoxError:
        raise
    except (ValueError, ArithmeticError) as exc:
        # The schema admitted it, but the model cannot hold it (e.g. an impossible date).
        raise InvalidDocument(f"{tag} document has a value the box cannot read: {exc}") from None


# ------------------------------------------------------------------------------------------------
# control sum
# ------------------------------------------------------------------------------------------------


def control_sum(doc: Document) -> Decimal | None:
    """The sum for the offline control number (reference 4.4 item 7), or None when the document has none."""
    if not isinstance(doc, Check):
        return None
    if doc.payments:
        return sum((p.amount for p in doc.payments), Decimal("0.00"))
    if doc.doc_type == DocType.SALE_GOODS and doc.doc_subtype in (
        DocSubType.SERVICE_DEPOSIT,
        DocSubType.ADDITIONAL_DEPOSIT,
        DocSubType.SERVICE_ISSUE,
    ):
        return doc.total
    return None
