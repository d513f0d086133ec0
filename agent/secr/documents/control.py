"""The sum that goes into an offline control number."""

from __future__ import annotations

from decimal import Decimal

from .model import Check, Document


def control_sum(doc: Document) -> Decimal | None:
    """The sum for the offline control number: CHECKTOTAL/SUM when the check has one, else none.

    The official text: «Загальна сума оплати по документу класу «Чек» (формат «0.00») (якщо елемент
    присутній)» (fsko_evpz_doc.txt, «Розрахунок контрольного числа»): one element, present or not, and
    check01.xsd calls CHECKTOTAL/SUM «Загальна сума». The CHECKPAY rows' sum is not an element and is not
    used (the strict reading the emulator takes, docs/compliance.md); a storno or a shift
    document has no CHECKTOTAL, so no sum."""
    if not isinstance(doc, Check):
        return None
    return doc.total
