"""The periodic report (GET /reports/periodical): the Z reports of a period summed and laid out as one
text, a non-fiscal read-out like the X report.

``period_totals`` is pure arithmetic over the registered Z reports (``documents.parse`` of their XML): per
pay form and per tax letter, sales and returns apart, service cash in and out, receipt counts. The layout
reuses the Z report's own body, so the periodic report reads as the Z reports do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agent.receipts.layout import (
    Layout,
    Pair,
    _check_width,
    _header,
    _non_fiscal_end,
    _test_mark,
    _title,
    _z_body,
    kyiv_time,
)
from agent.secr.documents import DocHead, PayFormTotal, TaxRow, ZPay, ZReport

ZERO = Decimal("0.00")


def _optional_sum(values: Iterable[Decimal | None]) -> Decimal | None:
    """The sum of what is given; None when nothing is (the element is absent from every report)."""
    present = [v for v in values if v is not None]
    return sum(present, ZERO) if present else None


def _sum_taxes(blocks: Sequence[ZPay]) -> tuple[TaxRow, ...]:
    rows: dict[tuple[str, Decimal, int, bool], TaxRow] = {}
    for block in blocks:
        for t in block.taxes:
            key = (t.letter, t.rate, t.type, t.included)
            seen = rows.get(key)
            if seen is None:
                rows[key] = t
                continue
            rows[key] = TaxRow(
                type=t.type,
                name=seen.name,
                letter=t.letter,
                rate=t.rate,
                included=t.included,
                turnover=seen.turnover + t.turnover,
                sum=seen.sum + t.sum,
                source_sum=_optional_sum((seen.source_sum, t.source_sum)),
                turnover_discount=_optional_sum((seen.turnover_discount, t.turnover_discount)),
            )
    return tuple(rows.values())


def _sum_block(blocks: Sequence[ZPay]) -> ZPay | None:
    """Sales (or returns) of several Z reports as one block; None when no report has any."""
    if not blocks:
        return None
    forms: dict[int, PayFormTotal] = {}
    for block in blocks:
        for pf in block.pay_forms:
            seen = forms.get(pf.form)
            forms[pf.form] = pf if seen is None else PayFormTotal(pf.form, seen.name, seen.sum + pf.sum)
    return ZPay(
        sum=sum((b.sum for b in blocks), ZERO),
        orders_count=sum(b.orders_count for b in blocks),
        pay_forms=tuple(forms.values()),
        taxes=_sum_taxes(blocks),
        round_sum=_optional_sum(b.round_sum for b in blocks),
        no_round_sum=_optional_sum(b.no_round_sum for b in blocks),
    )


def period_totals(reports: Sequence[ZReport], head: DocHead) -> ZReport:
    """The Z reports' figures summed, under ``head`` (who and when the read-out is for)."""
    return ZReport(
        head=head,
        realiz=_sum_block([r.realiz for r in reports if r.realiz is not None]),
        ret=_sum_block([r.ret for r in reports if r.ret is not None]),
        service_input=_optional_sum(r.service_input for r in reports),
        service_output=_optional_sum(r.service_output for r in reports),
    )


@dataclass(frozen=True)
class Period:
    """The period asked for and the Z reports found in it (their fiscal numbers, in order)."""

    since: datetime
    until: datetime
    z_numbers: tuple[str, ...]


def layout_periodic_report(
    totals: ZReport,
    period: Period,
    *,
    printed_at: datetime,
    width_chars: int = 42,
    product_name: str = "fiscal-box",
) -> Layout:
    """The periodic report: the seller, the period, how many Z reports and which, then their summed body."""
    _check_width(width_chars)
    head = totals.head
    out = Layout(width_chars)
    _test_mark(out, head)
    _header(out, head)
    out.add(_title("ПЕРІОДИЧНИЙ ЗВІТ"))
    out.add(_title("НЕФІСКАЛЬНИЙ ДОКУМЕНТ", double=False))
    out.add(Pair("Період з", kyiv_time(period.since)))
    out.add(Pair("по", kyiv_time(period.until)))
    out.add(Pair("Z-звітів", str(len(period.z_numbers))))
    if period.z_numbers:
        out.add(Pair("Перший Z-звіт №", period.z_numbers[0]))
        out.add(Pair("Останній Z-звіт №", period.z_numbers[-1]))
    _z_body(out, totals, None)
    _non_fiscal_end(out, head, head.seller.cash_register_num, printed_at, product_name)
    return out


__all__ = ["Period", "layout_periodic_report", "period_totals"]
