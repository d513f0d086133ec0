"""A till's request → the register's inputs: goods → docs.Item (discounts applied), payments → docs.Payment.

Plain functions of the request body and the configured taxes. What the register's rules check (sums,
payments that cover the total, tax combinations) is left to the register, so its messages reach the till.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from agent.secr import documents as docs
from agent.secr.errors import InvalidInput
from agent.till_api import models

KOP = Decimal("100")
THOUSAND = Decimal("1000")


def money(kopecks: int) -> Decimal:
    return (Decimal(kopecks) / KOP).quantize(docs.KOPECK)


# Names the receipts of tills that key them by an x-request-id header that is not a UUID.
_HEADER_IDS = uuid.UUID("0b7f3c52-8d1e-4f63-a1b0-5d2c9e4f7a18")


def receipt_id(body_id: str | None, header_id: str | None) -> str:
    """The idempotency key, always a UUID (the receipt's id in every answer): the body's id (checked to be
    one), else the x-request-id header (one derived from it when it is not a UUID: the same header, the
    same id), else a new one."""
    if body_id:
        return body_id
    if header_id:
        try:
            return str(uuid.UUID(header_id))
        except ValueError:
            return str(uuid.uuid5(_HEADER_IDS, header_id))
    return str(uuid.uuid4())


def tax_letters(taxes: Mapping[int, docs.Tax]) -> dict[str, int]:
    return {t.letter: t.code for t in taxes.values()}


def _tax_code(tax: int | str, letters: Mapping[str, int], fld: str) -> int:
    if isinstance(tax, int):
        return tax
    if tax in letters:
        return letters[tax]
    raise InvalidInput(f"unknown tax letter {tax!r}", field=fld)


def tax_codes(good: models.Good, letters: Mapping[str, int], index: int) -> tuple[int, ...]:
    """Tills name a tax by its code or by its letter (`letters`: letter → code); the register takes codes."""
    return tuple(_tax_code(tax, letters, f"goods[{index}].good.tax") for tax in good.tax)


def _value(d: models.Discount, fld: str, *, percent_places: bool) -> Decimal:
    """A discount's value as the document takes it: kopecks → hryvnias (VALUE), or the percent."""
    try:
        if d.mode == "VALUE":
            if not isinstance(d.value, int) and d.value != int(d.value):
                raise InvalidInput(f"a VALUE discount is whole kopecks, got {d.value!r}", field=fld)
            return money(int(d.value))
        percent = Decimal(str(d.value))
    except (ArithmeticError, ValueError) as exc:  # decimal's InvalidOperation is both
        raise InvalidInput(
            f"the discount {d.value!r} cannot be applied: {type(exc).__name__}", field=fld
        ) from exc
    if percent_places and percent != percent.quantize(docs.KOPECK):
        # DISCOUNTPERCENT is a two-place decimal: 33.333 % cannot be written as what was applied
        raise InvalidInput(f"a discount percent has at most 2 decimal places, got {d.value!r}", field=fld)
    return percent


def line_discount(
    price: Decimal, quantity: Decimal, discounts: Sequence[models.Discount], index: int = 0
) -> tuple[Decimal, Decimal | None]:
    """The line's own discount, signed (an EXTRA_CHARGE counts negative), and its percent when it is one.

    VALUE discounts are kopecks, PERCENT ones of the line's cost, each rounded half up. The percent
    goes into the document (DISCOUNTTYPE 1) only when a single PERCENT entry made the whole sum.
    """
    cost = (price * quantity).quantize(docs.KOPECK, ROUND_HALF_UP)
    total = Decimal("0.00")
    percents: list[Decimal | None] = []
    for number, d in enumerate(discounts):
        fld = f"goods[{index}].discounts[{number}].value"
        value = _value(d, fld, percent_places=True)
        if d.mode == "PERCENT" and d.type == "DISCOUNT" and value > 100:
            raise InvalidInput(f"a discount of {value} % is more than the whole line", field=fld)
        amount = value if d.mode == "VALUE" else docs.percent_of(cost, value)
        sign = 1 if d.type == "DISCOUNT" else -1
        total += sign * amount
        percents.append(sign * value if d.mode == "PERCENT" else None)
    if total > cost:
        raise InvalidInput(
            f"the discounts of goods[{index}] ({total}) are more than the line costs ({cost})",
            field=f"goods[{index}].discounts",
        )
    percent = percents[0] if len(percents) == 1 else None
    return total, percent


def to_item(good_item: models.GoodItem, letters: Mapping[str, int], index: int) -> docs.Item:
    good = good_item.good
    codes = tax_codes(good, letters, index)
    price = money(good.price)
    quantity = Decimal(good_item.quantity) / THOUSAND
    discount, percent = line_discount(price, quantity, good_item.discounts, index)
    return docs.Item(
        name=good.name,
        quantity=quantity,
        price=price,
        tax_codes=codes,
        code=good.code,
        barcode=good.barcode,
        uktzed=good.uktzed,
        discount=discount,
        discount_percent=percent,
    )


def to_adjustments(
    discounts: Sequence[models.Discount], taxes: Mapping[int, docs.Tax]
) -> list[docs.Adjustment]:
    """Receipt-level discounts and extra charges; the register spreads them over the lines."""
    letters = tax_letters(taxes)
    out: list[docs.Adjustment] = []
    for number, d in enumerate(discounts):
        fld = f"discounts[{number}]"
        named = ([d.tax_code] if d.tax_code is not None else []) + list(d.tax_codes)
        codes = tuple(_tax_code(t, letters, f"{fld}.tax_codes") for t in named)
        out.append(
            docs.Adjustment(
                kind=d.type,
                mode=d.mode,
                value=_value(d, f"{fld}.value", percent_places=True),
                tax_codes=codes,
                name=d.name,
            )
        )
    return out


def to_items(goods: Sequence[models.GoodItem], taxes: Mapping[int, docs.Tax]) -> list[docs.Item]:
    letters = tax_letters(taxes)
    return [to_item(good_item, letters, index) for index, good_item in enumerate(goods)]


def _detail(value: str | None) -> str | None:
    # Tills fill the card fields they have no value for with "": that is an absent detail, not a blank
    # element on the fiscal document (which the register's checks refuse).
    return value if value is not None and value.strip() else None


def to_payment(p: models.Payment) -> docs.Payment:
    """The card details go to the document's PAYSYS row, each to its own element (docs.Payment names it)."""
    cash = p.type == "CASH"
    return docs.Payment(
        form=docs.PayForm.CASH if cash else docs.PayForm.CARD,
        name=p.label or ("ГОТІВКА" if cash else "КАРТКА"),
        amount=money(p.value),
        payment_system=_detail(p.payment_system),
        card_mask=_detail(p.card_mask),
        auth_code=_detail(p.auth_code),
        rrn=_detail(p.rrn),
        terminal=_detail(p.terminal),
        acquirer=_detail(p.bank_name),
        # `acquiring` is Checkbox's obsolete name of acquirer_and_seller: the newer one wins.
        acquirer_id=_detail(p.acquirer_and_seller) or _detail(p.acquiring),
        pos_receipt_no=_detail(p.receipt_no),
        client_info=_detail(p.owner_name),
        commission=money(p.commission) if p.commission is not None else None,
    )


def to_payments(payments: Sequence[models.Payment]) -> list[docs.Payment]:
    return [to_payment(p) for p in payments]
