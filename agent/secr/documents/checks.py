"""Input checks: every builder argument validated, ``InvalidInput`` naming the field and what is expected."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from agent.clock import KYIV
from agent.secr.errors import InvalidInput

from .model import KOPECK, QTY_STEP, DocHead, Item, PayForm, Payment, Tax

_TIN_RE = re.compile(r"[0-9]{5,10}|[АБВГДЕЄЖЗИІКЛМНОПРСТУФХЦЧШЩЮЯ]{2}[0-9]{6}")
_IPN_RE = re.compile(r"0|[0-9]{6,12}|[АБВГДЕЄЖЗИІКЛМНОПРСТУФХЦЧШЩЮЯ]{2}[0-9]{6}")
_UKTZED_RE = re.compile(r"[0-9]{10}|[0-9]{8}|[0-9]{6}|00[0-9]{3}|[0-9]{4}")
_DKPP_RE = re.compile(
    r"([\d]{2}\.[\d]{2}\.[\d]{2}-[\d]{2}(\.[\d]{1,2})*)|([\d]{2}\.[\d]{2}\.[\d]{2}(-[\d]{1,2})*)"
    r"|([\d]{2}\.[\d]{2}(\.[\d]{1,2})*)"
)
MIN_PERCENT = Decimal("-1000")  # the largest extra charge by percent, as a negative discount percent
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


def _money(value: object, fld: str, *, positive: bool = False, signed: bool = False) -> Decimal:
    dec = _decimal(value, fld)
    if dec != dec.quantize(KOPECK, rounding=ROUND_HALF_UP):
        raise _bad(f"{fld} is {dec}: money may have at most 2 decimal places (kopecks)", fld)
    if positive and dec <= 0:
        raise _bad(f"{fld} is {dec}; expected an amount greater than 0.00", fld)
    if dec < 0 and not signed:
        raise _bad(f"{fld} is {dec}; negative amounts are not allowed", fld)
    return dec.quantize(KOPECK)


def _int(value: object, fld: str, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{fld} must be a whole number, got {value!r}", fld)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise _bad(f"{fld} is {value}; expected {bound}", fld)
    return value


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
    # signed: a negative discount is an extra charge (see Item.discount)
    discount = _money(item.discount, f"{p}.discount", signed=True)
    _text(item.code, f"{p}.code", max_len=64, required=False)
    _text(item.barcode, f"{p}.barcode", max_len=64, required=False)
    _check_classifier(p, item)
    if item.unit_code is not None:
        _int(item.unit_code, f"{p}.unit_code", minimum=1, maximum=99999)
    _text(item.unit_name, f"{p}.unit_name", max_len=64, required=False)
    if item.discount_percent is not None:
        pct = _money(item.discount_percent, f"{p}.discount_percent", signed=True)
        # a discount takes at most the whole line; an extra charge (negative) of over 1000 % is a price
        if not MIN_PERCENT <= pct <= 100:
            raise _bad(
                f"{p}.discount_percent is {pct}; expected {MIN_PERCENT}..100 (negative: an extra charge)",
                f"{p}.discount_percent",
            )
        if (pct < 0) != (discount < 0):
            raise _bad(
                f"{p}.discount_percent ({pct}) and {p}.discount ({discount}) must have the same sign",
                f"{p}.discount_percent",
            )
    for j, label in enumerate(item.excise_labels):
        _req_text(label, f"{p}.excise_labels[{j}]", max_len=64)
    return qty, price, discount


def _check_classifier(p: str, item: Item) -> None:
    """УКТЗЕД (goods) or ДКПП (services), at most one of them."""
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


def _item_taxes(i: int, item: Item, taxes: Mapping[int, Tax]) -> list[Tax]:
    """The configured taxes an item's codes name, each once, at most one of them VAT."""
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
    return line_tax


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


def _check_payment(i: int, pay: Payment, total: Decimal) -> tuple[Decimal, Decimal | None]:
    """Return (amount, provided) after validating the payment row."""
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
    # check01.xsd TROWSPAYSYS: ACQUIREID and POSTRANSNUM are Str128Column, CLIENTINFO Str256Column.
    _text(pay.acquirer_id, f"{p}.acquirer_id", max_len=128, required=False)
    _text(pay.pos_receipt_no, f"{p}.pos_receipt_no", max_len=128, required=False)
    _text(pay.client_info, f"{p}.client_info", max_len=256, required=False)
    if pay.commission is not None:
        _money(pay.commission, f"{p}.commission")
    return amount, provided
