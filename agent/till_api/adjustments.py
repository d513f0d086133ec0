"""Discounts, extra charges and rounding as Checkbox's answers show them, read back from the registered
document (a check's lines and CHECKTOTAL, a Z report's sections). Plain functions, as the views are."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agent.secr import documents as docs

Json = dict[str, Any]
KOP = Decimal("100")


def kop(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * KOP)


def discount_json(amount: Decimal, percent: Decimal | None) -> Json:
    """Checkbox's DiscountModel of a signed document sum (negative: an extra charge, as DISCOUNTSUM).

    The document keeps one net sum per line and one receipt-level description, not the till's list,
    so several entries come back as one, and the name the till gave is not kept (check01 has no place
    for it).
    """
    return {
        "type": "DISCOUNT" if amount >= 0 else "EXTRA_CHARGE",
        "mode": "PERCENT" if percent is not None else "VALUE",
        "value": float(abs(percent)) if percent is not None else kop(abs(amount)),
        "sum": kop(abs(amount)),
        "name": None,
    }


def good_discounts_json(line: docs.Line) -> list[Json]:
    """The line's own discount or extra charge; its part of a receipt-level one is the receipt's."""
    item = line.item
    if not item.discount and item.discount_percent is None:
        return []
    return [discount_json(item.discount, item.discount_percent)]


def receipt_discounts_json(doc: docs.Check) -> list[Json]:
    rd = doc.receipt_discount
    if rd is None:
        return []
    return [discount_json(doc.receipt_discount_sum, rd.percent)]


def round_sum_json(doc: docs.Check) -> int:
    """What the rounding added to the payable sum, in kopecks: SUM - NORNDSUM, i.e. -RNDSUM.

    The document's RNDSUM is signed the other way ("Заокруглення": 12.57 paid as 12.60 has RNDSUM
    -0.03); a till adds round_sum to the goods' total to get what is paid, so 12.57 → 12.60 is +3.
    """
    return -kop(doc.round_sum) if doc.round_sum is not None else 0


def _section_rounding(block: docs.ZPay | None) -> tuple[int, int]:
    """(rounded up, rounded down) of a Z section, in kopecks, both >= 0."""
    if block is None:
        return 0, 0
    if block.round_up is not None and block.round_down is not None:
        return kop(block.round_up), kop(block.round_down)
    # a parsed Z carries only the net RNDSUM (negative: rounded up); the split is not in zrep01
    net = block.round_sum or Decimal(0)
    return (kop(-net), 0) if net < 0 else (0, kop(net))


def _section_adjustments(block: docs.ZPay | None) -> tuple[int, int]:
    """(discounts, extra charges) of a Z section, in kopecks, both >= 0."""
    if block is None:
        return 0, 0
    if block.discounts_sum is not None and block.extra_charge_sum is not None:
        return kop(block.discounts_sum), kop(block.extra_charge_sum)
    # zrep01 has no discount sums: a parsed Z gives the net of its VAT rows (turnover less turnover
    # after discounts; every line has one VAT rate at most), split by its sign
    net = sum(
        (r.turnover - r.turnover_discount for r in block.taxes if r.type == 0 and r.turnover_discount is not None),
        Decimal(0),
    )
    return (kop(net), 0) if net >= 0 else (0, kop(-net))


def report_rounding_json(report: docs.ZReport) -> Json:
    """The Z/X report's discount, extra-charge and rounding figures, Checkbox's ReportModel keys.

    Exact for a report summed from its checks (the X report, ``docs.z_report``) and for a shift's Z, which
    the register gives with the splits kept beside the shift (secr/views.with_z_figures); only a Z bare
    from its document falls back to its net figures (see above).
    discounts_sum/extra_charge_sum are the sales' (what was given off or charged on selling); Checkbox
    documents them only as "Сума знижок"/"Сума надбавок", so returns are left out [our reading].
    """
    sales_up, sales_down = _section_rounding(report.realiz)
    returns_up, returns_down = _section_rounding(report.ret)
    sales_disc, sales_charge = _section_adjustments(report.realiz)
    return {
        "discounts_sum": sales_disc,
        "extra_charge_sum": sales_charge,
        "sales_round_up": sales_up,
        "sales_round_down": sales_down,
        "returns_round_up": returns_up,
        "returns_round_down": returns_down,
    }
