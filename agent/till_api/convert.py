"""A till's request → the register's inputs: goods → docs.Item (discounts applied), payments → docs.Payment.

Plain functions of the request body and the configured taxes. What the register's rules check (sums,
payments that cover the total, tax combinations) is left to the register, so its messages reach the till.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from agent.secr import documents as docs
from agent.secr.errors import InvalidInput, NotSupported
from agent.till_api import models

KOP = Decimal("100")
THOUSAND = Decimal("1000")


def money(kopecks: int) -> Decimal:
    return (Decimal(kopecks) / KOP).quantize(docs.KOPECK)


def receipt_id(body_id: str | None, header_id: str | None) -> str:
    """The idempotency key: the body's id, else the x-request-id header, else a new one."""
    return body_id or header_id or str(uuid.uuid4())


def tax_letters(taxes: Mapping[int, docs.Tax]) -> dict[str, int]:
    return {t.letter: t.code for t in taxes.values()}


def tax_codes(good: models.Good, letters: Mapping[str, int], index: int) -> tuple[int, ...]:
    """Tills name a tax by its code or by its letter (`letters`: letter → code); the register takes codes."""
    codes: list[int] = []
    for tax in good.tax:
        if isinstance(tax, int):
            codes.append(tax)
        elif tax in letters:
            codes.append(letters[tax])
        else:
            raise InvalidInput(f"unknown tax letter {tax!r}", field=f"goods[{index}].good.tax")
    return tuple(codes)


def line_discount(
    price: Decimal, quantity: Decimal, discounts: Sequence[models.Discount], index: int = 0
) -> Decimal:
    """The amount off a line: VALUE discounts in kopecks, PERCENT ones of the line's cost, each rounded."""
    discount = Decimal(0)
    for number, d in enumerate(discounts):
        if d.type != "DISCOUNT":
            raise NotSupported(
                "extra charges are not supported", what_to_do="put the charge into the price instead"
            )
        try:
            if d.mode == "VALUE":
                discount += money(int(d.value))
            else:
                cost = (price * quantity).quantize(docs.KOPECK, ROUND_HALF_UP)
                discount += (cost * Decimal(str(d.value)) / 100).quantize(docs.KOPECK, ROUND_HALF_UP)
        except (ArithmeticError, ValueError) as exc:  # decimal's InvalidOperation is both
            raise InvalidInput(
                f"the discount {d.value!r} cannot be applied: {type(exc).__name__}",
                field=f"goods[{index}].discounts[{number}].value",
            ) from exc
    return discount


def to_item(good_item: models.GoodItem, letters: Mapping[str, int], index: int) -> docs.Item:
    good = good_item.good
    codes = tax_codes(good, letters, index)
    price = money(good.price)
    quantity = Decimal(good_item.quantity) / THOUSAND
    return docs.Item(
        name=good.name,
        quantity=quantity,
        price=price,
        tax_codes=codes,
        code=good.code,
        barcode=good.barcode,
        uktzed=good.uktzed,
        discount=line_discount(price, quantity, good_item.discounts, index),
    )


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
