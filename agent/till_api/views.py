"""The box's records as Checkbox's JSON: receipts, shifts, Z and X reports, taxes, the cash register.

Plain functions of the records they are given (a Fiscalized, a ShiftView, a ZReport, the taxes, the id
scheme): they read nothing and know nothing of HTTP, so each shape is tested alone
(tests/test_till_api_views.py). Money is whole kopecks, quantities whole thousandths, as tills send them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.receipts import qr_url
from agent.secr import documents as docs
from agent.secr.register import Fiscalized, RegisterStatus, ShiftView
from agent.till_api.auth import Session
from agent.till_api.ids import IdScheme

KOP = Decimal("100")
THOUSAND = Decimal("1000")
Json = dict[str, Any]

RECEIPT_KINDS: Mapping[int, str] = {
    docs.DocSubType.CHECK_RETURN: "RETURN",
    docs.DocSubType.SERVICE_DEPOSIT: "SERVICE_IN",
    docs.DocSubType.SERVICE_ISSUE: "SERVICE_OUT",
}


def kop(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * KOP)


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def pay_type(form: int) -> str:
    return "CASH" if form == docs.PayForm.CASH else "CASHLESS"


def transaction_json(kind: str, fiscal_num: str | None) -> Json:
    """Checkbox reports each document's delivery as a transaction; the box's are done once fiscal."""
    return {
        "type": kind,
        "status": "DONE",
        "response_status": "OK",
        "response_error_message": None,
        "response_id": fiscal_num,
    }


# --- taxes ---------------------------------------------------------------------------------------


def tax_row_json(row: docs.TaxRow, taxes: Mapping[int, docs.Tax]) -> Json:
    """A receipt's tax row; documents name a tax by letter, tills by code."""
    code = next((t.code for t in taxes.values() if t.letter == row.letter), None)
    return {
        "code": code,
        "label": row.name,
        "symbol": row.letter,
        "rate": float(row.rate),
        "included": row.included,
        "value": kop(row.sum),
        "sales_turnover": kop(row.turnover),
    }


def taxes_json(taxes: Mapping[int, docs.Tax]) -> list[Json]:
    """The configured taxes, as GET /tax lists them (by code)."""
    return [
        {
            "code": tax.code,
            "label": tax.name,
            "symbol": tax.letter,
            "rate": float(tax.rate),
            "included": tax.included,
            "no_vat": tax.type != 0,
        }
        for tax in sorted(taxes.values(), key=lambda t: t.code)
    ]


# --- receipts ------------------------------------------------------------------------------------


def receipt_kind(doc: docs.Check) -> str:
    subtype = doc.doc_subtype
    return RECEIPT_KINDS.get(int(subtype), "SELL") if subtype is not None else "SELL"


def good_json(line: docs.Line, *, is_return: bool) -> Json:
    item = line.item
    return {
        "good": {
            "code": item.code or "",
            "name": item.name,
            "price": kop(item.price),
            "barcode": item.barcode,
            "uktzed": item.uktzed,
        },
        "quantity": int(item.quantity * THOUSAND),
        "sum": kop(line.cost),
        "total_sum": kop(line.cost - item.discount),
        "is_return": is_return,
        "discounts": [{"type": "DISCOUNT", "mode": "VALUE", "value": kop(item.discount)}]
        if item.discount
        else [],
        "taxes": [],
    }


def payment_json(payment: docs.Payment) -> Json:
    """What the customer handed over (cash with change shows the note given, not the price).

    Shaped as Checkbox's ReceiptModel.payments: CashPaymentPayload for cash, CardPaymentPayload for the
    rest, its card details read back from the registered document's PAYSYS row (docs.Payment names each
    element). `acquiring`, Checkbox's obsolete name of acquirer_and_seller, echoes the same value; `code`
    and `signature_required` have no place in the document and are null.
    """
    value = kop(payment.provided if payment.provided is not None else payment.amount)
    if payment.form == docs.PayForm.CASH and not payment.has_paysys():
        return {"type": "CASH", "pawnshop_is_return": None, "value": value, "label": payment.name}
    return {
        "type": pay_type(payment.form),
        "pawnshop_is_return": None,
        "code": None,
        "value": value,
        "commission": kop(payment.commission) if payment.commission is not None else None,
        "label": payment.name,
        "card_mask": payment.card_mask,
        "bank_name": payment.acquirer,
        "auth_code": payment.auth_code,
        "rrn": payment.rrn,
        "payment_system": payment.payment_system,
        "owner_name": payment.client_info,
        "terminal": payment.terminal,
        "acquiring": payment.acquirer_id,
        "acquirer_and_seller": payment.acquirer_id,
        "receipt_no": payment.pos_receipt_no,
        "signature_required": None,
    }


def receipt_payments(doc: docs.Check, kind: str) -> list[Json]:
    payments = [payment_json(p) for p in doc.payments]
    if kind in ("SERVICE_IN", "SERVICE_OUT") and not payments:
        # A service document carries no payment rows; tills still expect the cash that moved.
        payments = [{"type": "CASH", "value": kop(doc.total), "label": "Готівка"}]
    return payments


def change_given(doc: docs.Check) -> Decimal:
    return sum((p.provided - p.amount for p in doc.payments if p.provided is not None), Decimal(0))


def tax_url(result: Fiscalized, doc: docs.Check, kind: str) -> str | None:
    """The receipt's QR link to the tax service; an offline one carries its chain hash (mac)."""
    if kind not in ("SELL", "RETURN"):
        return None
    offline_mark = doc.head.offline
    return qr_url(
        when=doc.head.when,
        fiscal_num=result.fiscal_num,
        total=doc.total or Decimal(0),
        fn=str(doc.head.seller.cash_register_num),
        mac=offline_mark.prev_doc_hash if offline_mark else None,
    )


def receipt_json(result: Fiscalized, *, taxes: Mapping[int, docs.Tax], shift: Json | None) -> Json:
    """A fiscalized check; `shift` is the shift's own view (without figures), or None."""
    doc = result.document
    assert isinstance(doc, docs.Check)
    kind = receipt_kind(doc)
    payments = receipt_payments(doc, kind)
    return {
        "id": result.request_id or result.uid,
        "type": kind,
        "status": "DONE",
        "serial": result.local_num,
        "fiscal_code": result.fiscal_num,
        "fiscal_date": iso(doc.head.when),
        "delivered_at": iso(result.registered_at) if result.delivered else None,
        "created_at": iso(doc.head.when),
        "updated_at": iso(result.registered_at),
        "goods": [good_json(line, is_return=kind == "RETURN") for line in doc.lines],
        "payments": payments,
        "total_sum": kop(doc.total),
        "total_payment": sum(p["value"] for p in payments),
        "total_rest": kop(change_given(doc)),
        "round_sum": kop(doc.round_sum) if doc.round_sum is not None else 0,
        "taxes": [tax_row_json(row, taxes) for row in doc.taxes],
        "discounts": [],
        "is_created_offline": result.offline,
        "is_sent_dps": result.delivered,
        "control_number": str(result.control_number) if result.control_number is not None else None,
        "tax_url": tax_url(result, doc, kind),
        "related_receipt_id": None,
        "cashier_name": doc.head.cashier,
        "transaction": transaction_json("RECEIPT", result.fiscal_num),
        "shift": shift,
    }


# --- Z and X reports -----------------------------------------------------------------------------


def _blocks(report: docs.ZReport) -> tuple[tuple[docs.ZPay | None, str, str], ...]:
    """The sales and the returns blocks, with the keys their sums go under."""
    return ((report.realiz, "sell_sum", "sales_turnover"), (report.ret, "return_sum", "returns_turnover"))


def report_payments(report: docs.ZReport) -> list[Json]:
    """One row per pay form, sales and returns side by side; service cash goes on the cash row."""
    pay: dict[int, Json] = {}
    for block, key, _turnover in _blocks(report):
        for form in block.pay_forms if block else ():
            row = pay.setdefault(
                form.form,
                {
                    "type": pay_type(form.form),
                    "label": form.name,
                    "sell_sum": 0,
                    "return_sum": 0,
                    "service_in": 0,
                    "service_out": 0,
                },
            )
            row[key] += kop(form.sum)
    if report.service_input or report.service_output:
        cash = pay.setdefault(0, {"type": "CASH", "label": "Готівка", "sell_sum": 0, "return_sum": 0})
        cash["service_in"] = kop(report.service_input)
        cash["service_out"] = kop(report.service_output)
    return list(pay.values())


def report_taxes(report: docs.ZReport) -> list[Json]:
    """One row per tax letter, sales and returns side by side."""
    taxes: dict[str, Json] = {}
    for block, key, turnover in _blocks(report):
        for row in block.taxes if block else ():
            t = taxes.setdefault(
                row.letter,
                {
                    "symbol": row.letter,
                    "label": row.name,
                    "rate": float(row.rate),
                    "sell_sum": 0,
                    "return_sum": 0,
                    "sales_turnover": 0,
                    "returns_turnover": 0,
                },
            )
            t[key] += kop(row.sum)
            t[turnover] += kop(row.turnover)
    return list(taxes.values())


def _cash(block: docs.ZPay | None) -> int:
    return sum(kop(f.sum) for f in (block.pay_forms if block else ()) if f.form == docs.PayForm.CASH)


def cash_balance(report: docs.ZReport) -> int:
    """The cash in the drawer by the figures: service in, plus cash sales, less cash returns and service out."""
    return kop(report.service_input) + _cash(report.realiz) - _cash(report.ret) - kop(report.service_output)


def report_json(
    report: docs.ZReport, *, rid: str, shift_id: str, fiscal_code: str | None, is_z: bool
) -> Json:
    """A Z report (`is_z`, with the fiscal number it was registered under) or an X report's figures."""
    realiz, ret = report.realiz, report.ret
    return {
        "id": rid,
        "shift_id": shift_id,
        "fiscal_code": fiscal_code,
        "is_z_report": is_z,
        "payments": report_payments(report),
        "taxes": report_taxes(report),
        "sell_receipts_count": realiz.orders_count if realiz else 0,
        "return_receipts_count": ret.orders_count if ret else 0,
        "sell_sum": kop(realiz.sum if realiz else None),
        "return_sum": kop(ret.sum if ret else None),
        "service_in": kop(report.service_input),
        "service_out": kop(report.service_output),
        "balance": cash_balance(report),
        "created_at": iso(report.head.when),
    }


# --- shifts --------------------------------------------------------------------------------------


def shift_balance(figures: docs.ZReport | None) -> Json:
    """The shift's cash figures; all zero when the view was read without them."""
    realiz = figures.realiz if figures else None
    return {
        "initial": 0,
        "balance": cash_balance(figures) if figures else 0,
        "service_in": kop(figures.service_input) if figures else 0,
        "service_out": kop(figures.service_output) if figures else 0,
        "sell_sum": kop(realiz.sum) if realiz else 0,
    }


def shift_z_json(view: ShiftView, ids: IdScheme) -> Json | None:
    if view.z is None or not isinstance(view.z.document, docs.ZReport):
        return None
    return report_json(
        view.z.document,
        rid=ids.z_report(view.id),
        shift_id=ids.shift(view.id),
        fiscal_code=view.z.fiscal_num,
        is_z=True,
    )


def shift_json(view: ShiftView, *, ids: IdScheme, fiscal_number: str) -> Json:
    closing = transaction_json("Z_REPORT", view.z.fiscal_num) if view.closed_at and view.z else None
    return {
        "id": ids.shift(view.id),
        "serial": view.id,
        "status": "CLOSED" if view.closed_at else "OPENED",
        "z_report": shift_z_json(view, ids),
        "opened_at": iso(view.opened_at),
        "closed_at": iso(view.closed_at),
        "created_at": iso(view.opened_at),
        "updated_at": iso(view.closed_at),
        "initial_transaction": transaction_json("SHIFT_OPEN", view.open_fiscal_num),
        "closing_transaction": closing,
        "balance": shift_balance(view.figures),
        "taxes": [],
        "cashier_name": view.cashier,
        "fiscal_number": fiscal_number,
    }


# --- the cashier and the cash register -----------------------------------------------------------


def cashier_json(session: Session, key_id: str | None) -> Json:
    """The signed-in cashier; the box signs for every cashier with its own key (signature type AGENT)."""
    return {
        "id": session.cashier_id,
        "full_name": session.cashier.name,
        "login": session.cashier.login,
        "key_id": key_id,
        "signature_type": "AGENT",
        "permissions": {"orders": False},
        "blocked": None,
    }


def register_json(
    status: RegisterStatus, shift: Json | None, *, ids: IdScheme, fiscal_number: str, testing: bool
) -> Json:
    """The cash register; `shift` is the open shift's view, or None."""
    return {
        "id": ids.cash_register,
        "fiscal_number": fiscal_number,
        "number": str(fiscal_number),
        "title": f"fiscal-box {fiscal_number}",
        "offline_mode": status.mode != "online",
        "stay_offline": False,
        "has_shift": status.shift_open,
        "shift": shift,
        "is_test": testing,
        "active": True,
        "type": 0,
        "documents_state": {"last_receipt_code": status.next_local_num - 1},
    }


def go_offline_json(status: RegisterStatus) -> Json:
    # The law allows offline only while the server cannot be reached; the box decides that itself.
    message = (
        "the box is offline"
        if status.mode != "online"
        else "the box goes offline by itself when the fiscal server cannot be reached; the server answers now"
    )
    return {"status": "ok", "mode": status.mode.value, "message": message}


def offline_codes_count_json(status: RegisterStatus) -> Json:
    # EVPZ issues no codes in advance: the range is the session id and seed. Where the server gives
    # a finite reserve the count is real; otherwise the range is unlimited.
    left = status.numbers_left
    return {
        "available": left if left is not None else 1_000_000,
        "unlimited": left is None,
        "used": 0,
        "enough_offline_codes": status.blocked_reason is None and status.offline_allowed is not False,
    }


def offline_time_json(status: RegisterStatus) -> Json:
    return {
        "status": {"current": status.session_minutes * 60, "total": status.month_minutes * 60},
        "limits": {"session": status.max_session_minutes * 60, "month": status.max_month_minutes * 60},
        "sessions": [],
    }
