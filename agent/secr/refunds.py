"""What may still be returned of a sale, given the returns already made of it. Pure: the register looks the
sale and its earlier returns up in the journal and hands them in.

A return names goods of the sale at the price they were sold, no more of each than is left, and pays back
no more than is left of the sale's total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from agent.secr import documents as docs
from agent.secr.errors import InvalidInput

#: a line of a sale: the goods' name and the price they were sold at
GoodsKey = tuple[str, Decimal]


@dataclass(frozen=True)
class Left:
    """What is left to return of one sale."""

    quantities: Mapping[GoodsKey, Decimal]
    total: Decimal


def left_of(sale: docs.Check, earlier_refunds: Iterable[docs.Check]) -> Left:
    quantities: dict[GoodsKey, Decimal] = {}
    for line in sale.lines:
        key = (line.item.name, line.item.price)
        quantities[key] = quantities.get(key, Decimal(0)) + line.item.quantity
    total = sale.total or Decimal(0)
    for earlier in earlier_refunds:
        total -= earlier.total or Decimal(0)
        for line in earlier.lines:
            key = (line.item.name, line.item.price)
            quantities[key] = quantities.get(key, Decimal(0)) - line.item.quantity
    return Left(quantities, total)


def check_sale(sale_fiscal_num: str, *, found: bool, stornoed: bool) -> None:
    """The receipt named must be a sale of this register that was not cancelled."""
    if not found:
        raise InvalidInput(
            f"no sale with fiscal number {sale_fiscal_num} was made on this register",
            field="related_receipt_id",
            what_to_do="give the fiscal number of the sale being returned",
        )
    if stornoed:
        raise InvalidInput(
            f"sale {sale_fiscal_num} was cancelled (storno); it cannot be returned",
            field="related_receipt_id",
        )


def check_refund(
    items: Sequence[docs.Item],
    payments: Sequence[docs.Payment],
    left: Left,
    sale_fiscal_num: str,
    *,
    check_amount: bool = True,
) -> None:
    """Raise InvalidInput (naming the field) unless this return fits in what is left of the sale.

    ``check_amount=False`` leaves the sum to ``check_total`` on the built return: a return with cash
    rounding pays back the rounded sum, which the payments as the till sent them do not show.
    """
    remaining = dict(left.quantities)
    for index, item in enumerate(items):
        key = (item.name, item.price)
        if key not in remaining:
            raise InvalidInput(
                f"{item.name!r} at {item.price} was not sold in receipt {sale_fiscal_num}",
                field=f"goods[{index}]",
                what_to_do="return only goods of that receipt, at the price they were sold",
            )
        remaining[key] -= item.quantity
        if remaining[key] < 0:
            raise InvalidInput(
                f"the return of {item.name!r} is more than was sold in receipt {sale_fiscal_num}"
                " (earlier returns counted)",
                field=f"goods[{index}].quantity",
            )
    if check_amount:
        check_total(sum((p.amount for p in payments), Decimal(0)), left, sale_fiscal_num)


def check_total(paid_back: Decimal, left: Left, sale_fiscal_num: str) -> None:
    if paid_back > left.total:
        raise InvalidInput(
            f"the refund of {paid_back:.2f} is more than the {left.total:.2f} left of receipt {sale_fiscal_num}",
            field="payments",
        )


__all__ = ["GoodsKey", "Left", "check_refund", "check_sale", "check_total", "left_of"]
