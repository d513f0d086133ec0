"""The builders: validate, compute, and return a whole document or raise ``InvalidInput``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from . import discounts
from .arithmetic import _compute_taxes, _round, _round_cash_total, _round_payments, _settle
from .checks import (
    _bad,
    _check_head,
    _check_item,
    _check_no_revoke,
    _check_taxes,
    _item_taxes,
    _money,
    _req_text,
)
from .model import Adjustment, Check, DocHead, DocSubType, DocType, Item, Line, Payment, Tax


def _goods(
    head: DocHead,
    items: Sequence[Item],
    payments: Sequence[Payment],
    taxes: Mapping[int, Tax],
    subtype: DocSubType,
    ret_num: str | None,
    round_cash: bool = False,
    adjustments: Sequence[Adjustment] = (),
) -> Check:
    _check_head(head)
    _check_no_revoke(head)
    if not isinstance(taxes, Mapping):
        raise _bad("taxes must be a mapping of tax code to Tax", "taxes")
    _check_taxes(taxes)
    if not items:
        raise _bad("the receipt has no items; add at least one item", "items")
    checked = [_line(i, item, taxes) for i, item in enumerate(items)]
    lines, receipt_discount = discounts.apply([line for line, _ in checked], adjustments)
    line_taxes: list[tuple[Sequence[Tax], Decimal, Decimal]] = [
        (line_tax, line.cost, line.net) for line, (_, line_tax) in zip(lines, checked, strict=True)
    ]
    tax_rows, not_included = _compute_taxes(line_taxes)
    total = sum((line.net for line in lines), Decimal("0.00")) + not_included
    round_sum = no_round_sum = None
    if round_cash:
        rounded = _round_cash_total(payments, total)
        if rounded != total:
            # Taxes stay on the unrounded sum; the document says by how much the cash part moved
            # ("Заокруглення": SUM 12.60, RNDSUM -0.03, NORNDSUM 12.57: RNDSUM = NORNDSUM - SUM).
            payments = _round_payments(payments, total, rounded)
            no_round_sum, round_sum, total = total, total - rounded, rounded
    pays = _settle(payments, total)
    adjusted = any(line.adjustment != 0 or line.share is not None for line in lines)
    return Check(
        head=head,
        doc_type=DocType.SALE_GOODS,
        doc_subtype=subtype,
        lines=tuple(lines),
        payments=pays,
        taxes=tax_rows,
        total=total,
        # the total of every line's DISCOUNTSUM, signed, as in the official "Знижки" example
        discount_sum=sum((line.adjustment for line in lines), Decimal("0.00")) if adjusted else None,
        ret_num=ret_num,
        round_sum=round_sum,
        no_round_sum=no_round_sum,
        receipt_discount=receipt_discount,
    )


def _line(i: int, item: Item, taxes: Mapping[int, Tax]) -> tuple[Line, list[Tax]]:
    """The checked item as a CHECKBODY line, and the taxes it carries."""
    qty, price, discount = _check_item(i, item)
    line_tax = _item_taxes(i, item, taxes)
    cost = _round(qty * price)
    if discount > cost:
        raise _bad(
            f"items[{i}].discount ({discount}) is larger than the line cost ({cost})",
            f"items[{i}].discount",
        )
    pct = item.discount_percent
    if pct is not None and discounts.percent_of(cost, pct) != discount:
        # DISCOUNTTYPE 1 says the sum is the percent of COST; the emulator checks it so, and so may the server
        raise _bad(
            f"items[{i}].discount ({discount}) is not {pct} % of the line cost ({cost}): "
            f"expected {discounts.percent_of(cost, pct)}",
            f"items[{i}].discount_percent",
        )
    line = Line(
        item=replace(item, quantity=qty, price=price, discount=discount),
        letters="".join(t.letter for t in line_tax),
        cost=cost,
    )
    return line, line_tax


def sale(
    head: DocHead,
    items: Sequence[Item],
    payments: Sequence[Payment],
    taxes: Mapping[int, Tax],
    *,
    round_cash: bool = False,
    adjustments: Sequence[Adjustment] = (),
) -> Check:
    """A sale receipt. ``round_cash`` rounds the part paid in cash to 10 kopecks (RNDSUM/NORNDSUM);
    ``adjustments`` are the receipt-level discounts and extra charges, spread over the lines."""
    return _goods(head, items, payments, taxes, DocSubType.CHECK_GOODS, None, round_cash, adjustments)


def refund(
    head: DocHead,
    items: Sequence[Item],
    payments: Sequence[Payment],
    taxes: Mapping[int, Tax],
    ret_num: str,
    *,
    round_cash: bool = False,
    adjustments: Sequence[Adjustment] = (),
) -> Check:
    """A return receipt for the sale with fiscal number ``ret_num``.

    ``round_cash`` rounds the cash paid back as a sale's cash is rounded: the National Bank's rule is
    about settling in cash without the small coins, whichever way the money goes, and check01 carries
    RNDSUM/NORNDSUM on any goods check. A return of a rounded sale is not rounded by itself: the till
    asks for it (Checkbox's `rounding` is per receipt), and what is paid back never exceeds what is left
    of the sale's rounded total (refunds.py), so a sale rounded down is returned with rounding too.
    """
    num = _req_text(ret_num, "ret_num", max_len=128)
    return _goods(head, items, payments, taxes, DocSubType.CHECK_RETURN, num, round_cash, adjustments)


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
