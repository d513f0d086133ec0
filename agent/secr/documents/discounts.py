"""Receipt-level discounts and extra charges, spread over the receipt's lines. Pure.

Why spread at all: check01 has tax rows per letter (CHECKTAX) and a discount per line (CHECKBODY/ROW
DISCOUNTSUM), but no place for a receipt-level sum that the tax rows could be taken from. The official
"Знижки" example puts every discount on its line and CHECKTOTAL/DISCOUNTSUM is their total (90.00 =
50.00 + 40.00); a receipt-level one therefore becomes a part of each line's DISCOUNTSUM, and the tax rows
are taken from what the lines cost after it.

An extra charge is a negative discount: the XSD names CHECKBODY/ROW/DISCOUNTSUM and CHECKTOTAL/
DISCOUNTSUM "Загальна сума знижки/націнки" (discount *or* mark-up) and types them DGDecimal2, whose
pattern ``\\-{0,1}[0-9]+\\.[0-9]{2}`` admits the sign; there is no other element that says which one a
sum is. So DISCOUNTSUM -5.00 is a 5.00 mark-up, and DISCOUNTPERCENT -5.00 a 5 % one (the sum stays
COST * PERCENT / 100).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from .checks import MIN_PERCENT, _bad, _money, _text
from .model import KOPECK, Adjustment, Line, ReceiptDiscount

_KINDS = ("DISCOUNT", "EXTRA_CHARGE")
_MODES = ("PERCENT", "VALUE")


def percent_of(base: Decimal, percent: Decimal) -> Decimal:
    """``percent`` % of ``base``, rounded half up to the kopeck (as every sum of the document)."""
    return (base * percent / 100).quantize(KOPECK, rounding=ROUND_HALF_UP)


def spread(amount: Decimal, bases: Sequence[Decimal]) -> list[Decimal]:
    """``amount`` (signed) in parts proportional to ``bases`` (>= 0, their sum > 0) that sum to it exactly.

    Each part is first rounded toward zero; the kopecks left over go one each to the lines with the
    largest remainders (ties: the larger base, then the earlier line). That keeps the choice
    deterministic and, for a discount no larger than the bases' sum, no part larger than its base: a
    line gets at most the ceiling of its exact share, which a whole-kopeck base never exceeds.
    """
    sign = -1 if amount < 0 else 1
    want = int(abs(amount) * 100)
    cents = [int(b * 100) for b in bases]
    whole = sum(cents)
    if whole <= 0:
        raise ValueError("spread needs bases summing to more than zero")
    parts: list[int] = []
    remainders: list[int] = []
    for c in cents:
        q, r = divmod(want * c, whole)
        parts.append(q)
        remainders.append(r)
    left = want - sum(parts)  # < len(bases): each remainder is below `whole`
    order = sorted(range(len(cents)), key=lambda i: (-remainders[i], -cents[i], i))
    for i in order[:left]:
        parts[i] += 1
    return [(Decimal(sign * p) / 100).quantize(KOPECK) for p in parts]


def _checked(j: int, adj: Adjustment) -> Decimal:
    """The adjustment's value after validation (a percent or an amount, >= 0)."""
    p = f"discounts[{j}]"
    if not isinstance(adj, Adjustment):
        raise _bad(f"{p} must be an Adjustment", p)
    if adj.kind not in _KINDS:
        raise _bad(f"{p}.type is {adj.kind!r}; expected DISCOUNT or EXTRA_CHARGE", f"{p}.type")
    if adj.mode not in _MODES:
        raise _bad(f"{p}.mode is {adj.mode!r}; expected PERCENT or VALUE", f"{p}.mode")
    _text(adj.name, f"{p}.name", max_len=128, required=False)
    # two places: the document carries DISCOUNTPERCENT as DGDecimal2, and amounts are kopecks
    value = _money(adj.value, f"{p}.value")
    if adj.mode == "PERCENT":
        top = Decimal(100) if adj.kind == "DISCOUNT" else -MIN_PERCENT
        if value > top:
            raise _bad(f"{p}.value is {value} %; a {adj.kind.lower()} by percent is 0..{top}", f"{p}.value")
    return value


def apply(
    lines: Sequence[Line], adjustments: Sequence[Adjustment]
) -> tuple[list[Line], ReceiptDiscount | None]:
    """The lines with their ``share`` of the receipt-level adjustments, and CHECKTOTAL's description."""
    out = list(lines)
    shares: dict[int, Decimal] = {}
    percents: list[Decimal | None] = []
    for j, adj in enumerate(adjustments):
        value = _checked(j, adj)
        if value == 0:
            continue  # a zero discount moves nothing and would only add noise to the document
        eligible = [
            i
            for i, ln in enumerate(out)
            if not adj.tax_codes or any(code in adj.tax_codes for code in ln.item.tax_codes)
        ]
        if not eligible:
            raise _bad(
                f"discounts[{j}] names tax codes {list(adj.tax_codes)} that no line of the receipt carries",
                f"discounts[{j}].tax_codes",
            )
        bases = [out[i].cost - out[i].item.discount for i in eligible]
        subtotal = sum(bases, Decimal("0.00"))
        if subtotal <= 0:
            raise _bad(
                f"discounts[{j}]: the lines it applies to cost 0.00; there is nothing to discount or charge",
                f"discounts[{j}]",
            )
        amount = value if adj.mode == "VALUE" else percent_of(subtotal, value)
        if adj.kind == "DISCOUNT" and amount > subtotal:
            raise _bad(
                f"discounts[{j}] of {amount} is larger than the receipt ({subtotal}) it applies to",
                f"discounts[{j}].value",
            )
        signed = amount if adj.kind == "DISCOUNT" else -amount
        for i, part in zip(eligible, spread(signed, bases), strict=True):
            shares[i] = shares.get(i, Decimal("0.00")) + part
        percents.append((value if adj.kind == "DISCOUNT" else -value) if adj.mode == "PERCENT" else None)
    if not shares:
        return out, None
    for i, share in shares.items():
        out[i] = replace(out[i], share=share)
        if out[i].net < 0:
            raise _bad(
                f"the receipt-level discounts take more than items[{i}] costs ({out[i].cost - out[i].item.discount})",
                "discounts",
            )
    subtotal = sum((out[i].cost - out[i].item.discount for i in shares), Decimal("0.00"))
    # DISCOUNTTYPE 1 with its percent only when one percent adjustment made the whole receipt-level part
    percent = percents[0] if len(percents) == 1 else None
    return out, ReceiptDiscount(subtotal=subtotal, percent=percent)
