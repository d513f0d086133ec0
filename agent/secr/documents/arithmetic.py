"""Tax arithmetic: tax rows per letter, the cash part rounded to 10 kopecks, payments settled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from .checks import _bad, _check_payment
from .model import KOPECK, PayForm, Payment, Tax, TaxRow


def _round(value: Decimal) -> Decimal:
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def tax_of(amount: Decimal, tax: Tax) -> Decimal:
    """The tax ``tax`` on ``amount``, to the kopeck: taken out of it when included, added on top when not."""
    if tax.included:
        return _round(amount * tax.rate / (100 + tax.rate))
    return _round(amount * tax.rate / 100)


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
        tax_sum = tax_of(source, tax)
        if not tax.included:
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


def _settle(payments: Sequence[Payment], total: Decimal) -> tuple[Payment, ...]:
    """Validate payments against the total; turn cash overpayment into PROVIDED/REMAINS."""
    if not payments:
        raise _bad("the receipt has no payments; add at least one payment covering the total", "payments")
    checked = [_check_payment(i, pay, total) for i, pay in enumerate(payments)]
    amounts = [amount for amount, _ in checked]
    _check_cover(payments, amounts, total)
    kept = _keep(payments, amounts, total)
    out: list[Payment] = []
    for pay, (amount, provided), k in zip(payments, checked, kept, strict=True):
        given = provided if provided is not None else amount
        out.append(
            replace(pay, amount=k.quantize(KOPECK), provided=given.quantize(KOPECK) if given > k else None)
        )
    return tuple(out)


def _check_cover(payments: Sequence[Payment], amounts: Sequence[Decimal], total: Decimal) -> None:
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


def _keep(payments: Sequence[Payment], amounts: Sequence[Decimal], total: Decimal) -> list[Decimal]:
    """What each payment row keeps once the change is given back."""
    # Change comes out of the cash rows, last first: the till says what was handed over, the
    # document says what was kept (SUM) and what was given back (REMAINS).
    excess = sum(amounts, Decimal("0.00")) - total
    kept = list(amounts)
    for i in reversed(range(len(payments))):
        if excess <= 0:
            break
        if payments[i].form == PayForm.CASH:
            take = min(excess, kept[i])
            kept[i] -= take
            excess -= take
    return kept


# The National Bank's rule (in force since 1 July 2018, when it stopped issuing the 1, 2, 5 and
# 25 kopeck coins; NBU press release of 26.06.2018, https://espreso.tv/news/2018/06/26/
# bez_dribyazku_z_1_lypnya_v_ukrayini_diyatymut_novi_pravyla_zaokruglennya_gotivky and the other
# reports of it): the *total* of a receipt settled in cash is rounded to 10 kopecks, a sum ending in 1-4
# kopecks down to 0, one ending in 5-9 up to the next 10; cashless payments are never rounded. That is
# ROUND_HALF_UP to 0.1. The print form has the matching row 23 «Заокруглення», "when the cash part is
# not a multiple of the smallest coin", after the tax rows (reference §6.1, order 13 II п. 9).
# [UNCERTAIN] the NBU's withdrawal of the 10 kopeck coin from 1 October 2025 keeps 10 kopecks legal
# tender; should rounding to 50 kopecks become the rule, this step is the one place to change.
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


def _round_payments(payments: Sequence[Payment], total: Decimal, rounded: Decimal) -> list[Payment]:
    """The payments once the total is rounded: a till that paid exactly the unrounded total (it did not
    know the rounding) has its last cash row moved by the rounding; any other payment is left as given
    (more cash is change, less is refused by ``_settle``)."""
    pays = list(payments)
    amounts = [p.amount for p in pays if isinstance(p, Payment) and isinstance(p.amount, Decimal)]
    if len(amounts) != len(pays) or sum(amounts, Decimal("0.00")) != total:
        return pays
    for i in reversed(range(len(pays))):
        if pays[i].form == PayForm.CASH:
            amount = pays[i].amount + rounded - total
            if amount > 0 or len(pays) == 1:
                pays[i] = replace(pays[i], amount=amount)
            else:
                del pays[i]  # the rounding took the whole cash row (e.g. 0.03 of cash rounded to 0.00)
            break
    return pays
