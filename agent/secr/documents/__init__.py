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
* Discounts and extra charges: an extra charge is a negative discount (DISCOUNTSUM is "сума
  знижки/націнки", a signed DGDecimal2). A line's own one is ``Item.discount``; receipt-level ones
  (``adjustments=``) are spread over the lines in proportion to what each costs after its own, the
  kopecks left over one each to the lines with the largest remainders, so the parts sum exactly
  (``Line.share``; USAGETYPE 1 / SUBTOTAL in the XML, CHECKTOTAL USAGETYPE/SUBCHECK/DISCOUNTTYPE/
  DISCOUNTPERCENT). Taxes are taken from what the lines cost after both.
* ``sale``/``refund`` with ``round_cash=True`` round the cash part of the total to 10 kopecks and carry
  RNDSUM/NORNDSUM ("Заокруглення"); taxes stay on the unrounded sum.
* The Z sums the documents' own rows (never recomputes from turnover), pay forms per (code, name).

The package, along those lines: ``model`` (the dataclasses), ``checks`` (input checks), ``arithmetic``
(tax rows, cash rounding, settling payments), ``build`` and ``zreport`` (the builders), ``render``,
``schema`` (XSD validation), ``parse`` and ``control`` (the control sum). Import from the package:
the modules are its inside.
"""

from __future__ import annotations

from .arithmetic import tax_of
from .build import (
    close_shift,
    offline_begin,
    offline_end,
    open_shift,
    refund,
    sale,
    service_deposit,
    service_issue,
    storno,
)
from .control import control_sum
from .discounts import percent_of
from .model import (
    KOPECK,
    QTY_STEP,
    Adjustment,
    Check,
    DocHead,
    DocSubType,
    DocType,
    Document,
    Item,
    Line,
    OfflineMark,
    PayForm,
    PayFormTotal,
    Payment,
    ReceiptDiscount,
    Seller,
    Tax,
    TaxRow,
    ZPay,
    ZReport,
)
from .parse import parse
from .render import render
from .schema import validate
from .zreport import z_report

__all__ = [
    "KOPECK",
    "QTY_STEP",
    "Adjustment",
    "Check",
    "DocHead",
    "DocSubType",
    "DocType",
    "Document",
    "Item",
    "Line",
    "OfflineMark",
    "PayForm",
    "PayFormTotal",
    "Payment",
    "ReceiptDiscount",
    "Seller",
    "Tax",
    "TaxRow",
    "ZPay",
    "ZReport",
    "close_shift",
    "control_sum",
    "offline_begin",
    "offline_end",
    "open_shift",
    "parse",
    "percent_of",
    "refund",
    "render",
    "sale",
    "service_deposit",
    "service_issue",
    "storno",
    "tax_of",
    "validate",
    "z_report",
]
