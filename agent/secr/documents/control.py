"""The sum that goes into an offline control number."""

from __future__ import annotations

from decimal import Decimal

from .model import Check, DocSubType, DocType, Document


def control_sum(doc: Document) -> Decimal | None:
    """The sum for the offline control number (reference 4.4 item 7), or None when the document has none."""
    if not isinstance(doc, Check):
        return None
    if doc.payments:
        return sum((p.amount for p in doc.payments), Decimal("0.00"))
    if doc.doc_type == DocType.SALE_GOODS and doc.doc_subtype in (
        DocSubType.SERVICE_DEPOSIT,
        DocSubType.ADDITIONAL_DEPOSIT,
        DocSubType.SERVICE_ISSUE,
    ):
        return doc.total
    return None
