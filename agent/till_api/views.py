"""The box's records as Checkbox's JSON: receipts, shifts, Z and X reports, taxes, the cash register.

Plain functions of the records they are given (a Fiscalized, a ShiftView, a ZReport, the
facts of the box): they read nothing and know nothing of HTTP, so each shape is tested alone
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
from agent.till_api.adjustments import (
    good_discounts_json,
    kop,
    receipt_discounts_json,
    report_rounding_json,
    round_sum_json,
)
from agent.till_api.auth import Session
from agent.till_api.facts import BoxFacts, derived_uuid

THOUSAND = Decimal("1000")
Json = dict[str, Any]

RECEIPT_KINDS: Mapping[int, str] = {
    docs.DocSubType.CHECK_RETURN: "RETURN",
    docs.DocSubType.SERVICE_DEPOSIT: "SERVICE_IN",
    docs.DocSubType.SERVICE_ISSUE: "SERVICE_OUT",
}


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def pay_type(form: int) -> str:
    return "CASH" if form == docs.PayForm.CASH else "CASHLESS"


# --- taxes ---------------------------------------------------------------------------------------


def rate_json(rate: Decimal) -> int | float:
    """Checkbox types a tax rate as an integer (20, 7): written so when whole, a fraction only when not."""
    return int(rate) if rate == rate.to_integral_value() else float(rate)


def tax_json(tax: docs.Tax, facts: BoxFacts) -> Json:
    """A configured tax as Checkbox's TaxModel."""
    return {
        "id": facts.tax_id(tax.code),
        "code": tax.code,
        "label": tax.name,
        "symbol": tax.letter,
        "rate": rate_json(tax.rate),
        "extra_rate": None,
        "included": tax.included,
        "created_at": iso(facts.since),
        "updated_at": None,
        "no_vat": tax.type != 0,
        "advanced_code": None,
    }


def taxes_json(facts: BoxFacts) -> list[Json]:
    """The configured taxes, as GET /tax lists them (by code)."""
    return [tax_json(tax, facts) for tax in sorted(facts.taxes.values(), key=lambda t: t.code)]


def _tax_of_row(letter: str, name: str, rate: Decimal, included: bool, facts: BoxFacts) -> Json:
    """A document's tax (named by letter) as a configured tax; one no longer configured keeps its row."""
    tax = facts.tax_by_letter(letter)
    if tax is None:
        tax = docs.Tax(code=0, letter=letter, rate=rate, name=name, included=included)
    return tax_json(tax, facts)


def tax_row_json(row: docs.TaxRow, facts: BoxFacts) -> Json:
    """A receipt's tax row as Checkbox's GoodTax: the tax, and its sum on this receipt."""
    return {
        **_tax_of_row(row.letter, row.name, row.rate, row.included, facts),
        "rate": rate_json(row.rate),
        "value": kop(row.sum),
        "extra_value": 0,
        "sales_turnover": kop(row.turnover),
    }


def line_tax_json(line: docs.Line, facts: BoxFacts) -> list[Json]:
    """The taxes of one line, each on what the line costs after every discount and extra charge, its
    share of the receipt-level ones included (the base the receipt's tax rows are taken from).

    The receipt's tax rows are computed on the sum of the lines, so a line's value can differ from its
    share of the row by a kopeck of rounding, as in Checkbox's own answers."""
    out = []
    for letter in line.letters:
        tax = facts.tax_by_letter(letter)
        if tax is None:
            continue
        out.append({**tax_json(tax, facts), "value": kop(docs.tax_of(line.net, tax)), "extra_value": 0})
    return out


# --- receipts ------------------------------------------------------------------------------------


def receipt_kind(doc: docs.Check) -> str:
    subtype = doc.doc_subtype
    return RECEIPT_KINDS.get(int(subtype), "SELL") if subtype is not None else "SELL"


def transaction_json(
    kind: str, uid: str | None, serial: int | None, fiscal_num: str | None, when: datetime | None
) -> Json:
    """Checkbox reports each document's delivery as a transaction. On a box the transaction is the
    document itself: its UID names it, its local number is its serial, and it is done once fiscal (an
    offline document is done with its offline fiscal number, delivered or not)."""
    return {
        "id": uid or derived_uuid("transaction", kind, fiscal_num),
        "type": kind,
        "serial": serial or 0,
        "status": "DONE",
        "request_signed_at": iso(when),
        "request_received_at": iso(when),
        "response_status": "OK",
        "response_error_message": None,
        "response_id": fiscal_num,
        "offline_id": None,
        "created_at": iso(when),
        "updated_at": iso(when),
        "previous_hash": None,
    }


def good_json(line: docs.Line, *, is_return: bool, facts: BoxFacts | None = None) -> Json:
    item = line.item
    return {
        "good": {
            "code": item.code or "",
            "name": item.name,
            "price": kop(item.price),
            "barcode": item.barcode,
            "uktzed": item.uktzed,
        },
        "good_id": None,
        "quantity": int(item.quantity * THOUSAND),
        "sum": kop(line.cost),
        "total_sum": kop(line.cost - item.discount),
        "is_return": is_return,
        "discounts": good_discounts_json(line),
        "taxes": line_tax_json(line, facts) if facts is not None else [],
    }


def payment_json(payment: docs.Payment) -> Json:
    """What the customer handed over (cash with change shows the note given, not the price).

    Shaped as Checkbox's ReceiptModel.payments: CashPaymentPayload for cash, CardPaymentPayload for the
    rest, its card details read back from the registered document's PAYSYS row (docs.Payment names each
    element). `acquiring`, Checkbox's obsolete name of acquirer_and_seller, echoes the same value; `code`
    and `signature_required` have no place in the document and are null.
    """
    value = kop(payment.provided if payment.provided is not None else payment.amount)
    # Checkbox's label has minLength 1; a document from elsewhere may carry an empty PAYFORMNM.
    label = payment.name or ("Готівка" if payment.form == docs.PayForm.CASH else "Картка")
    if payment.form == docs.PayForm.CASH and not payment.has_paysys():
        return {"type": "CASH", "pawnshop_is_return": None, "value": value, "label": label}
    return {
        "type": pay_type(payment.form),
        "pawnshop_is_return": None,
        "code": None,
        "value": value,
        "commission": kop(payment.commission) if payment.commission is not None else None,
        "label": label,
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


def receipt_id_json(result: Fiscalized) -> str:
    """The receipt's id: the till's own (a UUID: the API takes no other), else the document's UID."""
    return result.request_id or result.uid


def receipt_json(result: Fiscalized, *, facts: BoxFacts, shift: Json) -> Json:
    """A fiscalized check as Checkbox's ReceiptModel; `shift` is the shift's own view (without figures)."""
    doc = result.document
    assert isinstance(doc, docs.Check)
    kind = receipt_kind(doc)
    payments = receipt_payments(doc, kind)
    is_return = kind == "RETURN"
    return {
        "id": receipt_id_json(result),
        "type": kind,
        "transaction": transaction_json(
            "RECEIPT", doc.head.uid, result.local_num, result.fiscal_num, result.registered_at
        ),
        "serial": result.local_num,
        "status": "DONE",
        "goods": [good_json(line, is_return=is_return, facts=facts) for line in doc.lines],
        "payments": payments,
        "total_sum": kop(doc.total),
        "total_payment": sum(p["value"] for p in payments),
        "total_rest": kop(change_given(doc)),
        "round_sum": round_sum_json(doc),
        "fiscal_code": result.fiscal_num,
        "fiscal_date": iso(doc.head.when),
        "delivered_at": iso(result.registered_at) if result.delivered else None,
        "created_at": iso(doc.head.when),
        "updated_at": iso(result.registered_at),
        "taxes": [tax_row_json(row, facts) for row in doc.taxes],
        "discounts": receipt_discounts_json(doc),
        "order_id": None,
        "header": None,
        "footer": None,
        "barcode": None,
        "custom": None,
        "is_created_offline": result.offline,
        "is_sent_dps": result.delivered,
        "sent_dps_at": iso(result.registered_at) if result.delivered else None,
        "tax_url": tax_url(result, doc, kind),
        "related_receipt_id": None,
        "technical_return": False,
        "currency_exchange": None,
        "shift": shift,
        "control_number": str(result.control_number) if result.control_number is not None else None,
        "cashier_name": doc.head.cashier,
    }


# --- Z and X reports -----------------------------------------------------------------------------


def _blocks(report: docs.ZReport) -> tuple[tuple[docs.ZPay | None, str, str], ...]:
    """The sales and the returns blocks, with the keys their sums go under."""
    return ((report.realiz, "sell_sum", "sales_turnover"), (report.ret, "return_sum", "returns_turnover"))


def _payment_row(rid: str, form: int, label: str) -> Json:
    return {
        "id": derived_uuid(rid, "payment", form),
        "code": form,
        "type": pay_type(form),
        "label": label,
        "sell_sum": 0,
        "return_sum": 0,
        "service_in": 0,
        "service_out": 0,
        "cash_withdrawal": 0,
        "cash_withdrawal_commission": 0,
    }


def report_payments(report: docs.ZReport, rid: str = "") -> list[Json]:
    """One row per pay form, sales and returns side by side; service cash goes on the cash row."""
    pay: dict[int, Json] = {}
    for block, key, _turnover in _blocks(report):
        for form in block.pay_forms if block else ():
            row = pay.setdefault(form.form, _payment_row(rid, form.form, form.name))
            row[key] += kop(form.sum)
    if report.service_input or report.service_output:
        cash = pay.setdefault(docs.PayForm.CASH, _payment_row(rid, docs.PayForm.CASH, "Готівка"))
        cash["service_in"] = kop(report.service_input)
        cash["service_out"] = kop(report.service_output)
    return list(pay.values())


def _tax_totals(report: docs.ZReport) -> list[tuple[docs.TaxRow, dict[str, int]]]:
    """Per tax letter: its first row (what the tax is) and its sums, sales and returns side by side."""
    totals: dict[str, tuple[docs.TaxRow, dict[str, int]]] = {}
    for block, key, turnover in _blocks(report):
        for row in block.taxes if block else ():
            _first, sums = totals.setdefault(
                row.letter,
                (row, {"sell_sum": 0, "return_sum": 0, "sales_turnover": 0, "returns_turnover": 0}),
            )
            sums[key] += kop(row.sum)
            sums[turnover] += kop(row.turnover)
    return list(totals.values())


def _tax_code(letter: str, facts: BoxFacts | None) -> int:
    tax = facts.tax_by_letter(letter) if facts else None
    return tax.code if tax else 0


def report_taxes(report: docs.ZReport, rid: str = "", facts: BoxFacts | None = None) -> list[Json]:
    """One row per tax letter, sales and returns side by side, as ReportTaxesModel."""
    return [
        {
            "id": derived_uuid(rid, "tax", row.letter),
            "code": _tax_code(row.letter, facts),
            "label": row.name,
            "symbol": row.letter,
            "rate": float(row.rate),
            **sums,
            "no_vat": row.type != 0,
            "advanced_code": None,
            "created_at": iso(report.head.when),
            "setup_date": iso(facts.since) if facts else iso(report.head.when),
        }
        for row, sums in _tax_totals(report)
    ]


def _cash(block: docs.ZPay | None) -> int:
    return sum(kop(f.sum) for f in (block.pay_forms if block else ()) if f.form == docs.PayForm.CASH)


def _card(block: docs.ZPay | None) -> int:
    return sum(kop(f.sum) for f in (block.pay_forms if block else ()) if f.form != docs.PayForm.CASH)


def cash_balance(report: docs.ZReport) -> int:
    """The cash in the drawer by the figures: service in, plus cash sales, less cash returns and service out."""
    return kop(report.service_input) + _cash(report.realiz) - _cash(report.ret) - kop(report.service_output)


def report_json(
    report: docs.ZReport,
    *,
    rid: str,
    shift_id: str,
    fiscal_code: str | None,
    is_z: bool,
    serial: int = 0,
    facts: BoxFacts | None = None,
) -> Json:
    """A Z report (`is_z`, with the fiscal number it was registered under; its serial is its shift's
    number, one Z per shift) or an X report's figures (serial 0: an X report is a read-out, not a
    numbered document) as ReportModel."""
    realiz, ret = report.realiz, report.ret
    return {
        "id": rid,
        "serial": serial,
        "shift_id": shift_id,
        "fiscal_code": fiscal_code,
        "is_z_report": is_z,
        "payments": report_payments(report, rid),
        "taxes": report_taxes(report, rid, facts),
        "sell_receipts_count": realiz.orders_count if realiz else 0,
        "return_receipts_count": ret.orders_count if ret else 0,
        "cash_withdrawal_receipts_count": 0,
        "transfers_count": 0,
        "transfers_sum": 0,
        "sell_sum": kop(realiz.sum if realiz else None),
        "return_sum": kop(ret.sum if ret else None),
        "service_in": kop(report.service_input),
        "service_out": kop(report.service_output),
        "balance": cash_balance(report),
        # The box keeps no cash at the opening of a shift: each shift starts from its service deposits.
        "initial": 0,
        "created_at": iso(report.head.when),
        "updated_at": None,
        **report_rounding_json(report),
    }


# --- shifts --------------------------------------------------------------------------------------


def shift_balance(figures: docs.ZReport | None, when: datetime | None = None) -> Json | None:
    """The shift's cash figures as BalanceModel; None when the view was read without them (a receipt's
    shift), rather than zeros that would read as an empty shift."""
    if figures is None:
        return None
    adjustments = report_rounding_json(figures)
    return {
        "initial": 0,
        "balance": cash_balance(figures),
        "cash_sales": _cash(figures.realiz),
        "card_sales": _card(figures.realiz),
        "discounts_sum": adjustments["discounts_sum"],
        "extra_charge_sum": adjustments["extra_charge_sum"],
        "cash_returns": _cash(figures.ret),
        "card_returns": _card(figures.ret),
        "service_in": kop(figures.service_input),
        "service_out": kop(figures.service_output),
        "updated_at": iso(when),
        "sell_sum": kop(figures.realiz.sum) if figures.realiz else 0,
    }


def shift_taxes(figures: docs.ZReport | None, facts: BoxFacts, shift_uuid: str) -> list[Json]:
    """The shift's taxes so far as ShiftTaxModel (empty when the view was read without its figures)."""
    if figures is None:
        return []
    out = []
    for row, sums in _tax_totals(figures):
        tax = facts.tax_by_letter(row.letter)
        out.append(
            {
                "id": derived_uuid(shift_uuid, "tax", row.letter),
                "code": tax.code if tax else 0,
                "label": row.name,
                "symbol": row.letter,
                "rate": rate_json(row.rate),
                "extra_rate": None,
                "included": tax.included if tax else True,
                "created_at": iso(facts.since),
                "updated_at": None,
                "no_vat": row.type != 0,
                "advanced_code": None,
                "sales": sums["sell_sum"],
                "returns": sums["return_sum"],
                "sales_turnover": sums["sales_turnover"],
                "returns_turnover": sums["returns_turnover"],
            }
        )
    return out


def shift_z_json(view: ShiftView, facts: BoxFacts) -> Json | None:
    if view.z is None or not isinstance(view.z.document, docs.ZReport):
        return None
    return report_json(
        view.z.document,
        rid=facts.ids.z_report(view.id),
        shift_id=facts.ids.shift(view.id),
        fiscal_code=view.z.fiscal_num,
        is_z=True,
        serial=view.id,
        facts=facts,
    )


def cash_register_short_json(facts: BoxFacts) -> Json:
    """The box as Checkbox's CashRegisterModel (inside a shift)."""
    return {
        "id": facts.ids.cash_register,
        "fiscal_number": facts.fiscal_number,
        "active": True,
        "created_at": iso(facts.since),
        "updated_at": None,
        "number": str(facts.seller.cash_desk_num),
    }


def shift_json(view: ShiftView, facts: BoxFacts) -> Json:
    """A shift as Checkbox's ShiftWithCashierAndCashRegister: OPENED or CLOSED, final at once."""
    shift_uuid = facts.ids.shift(view.id)
    z = view.z
    closing = (
        transaction_json("Z_REPORT", z.uid, z.local_num, z.fiscal_num, z.registered_at)
        if view.closed_at and z
        else None
    )
    return {
        "id": shift_uuid,
        "serial": view.id,
        "status": "CLOSED" if view.closed_at else "OPENED",
        "z_report": shift_z_json(view, facts),
        "opened_at": iso(view.opened_at),
        "closed_at": iso(view.closed_at),
        "initial_transaction": transaction_json(
            "SHIFT_OPEN", view.open_uid, view.open_local_num, view.open_fiscal_num, view.opened_at
        ),
        "closing_transaction": closing,
        "created_at": iso(view.opened_at),
        "updated_at": iso(view.closed_at),
        "balance": shift_balance(view.figures, view.closed_at),
        "taxes": shift_taxes(view.figures, facts, shift_uuid),
        "emergency_close": None,
        "emergency_close_details": None,
        "cash_register": cash_register_short_json(facts),
        "cashier": cashier_json(facts, view.cashier),
        "cashier_name": view.cashier,
        "fiscal_number": facts.fiscal_number,
    }


# --- the cashier and the cash register -----------------------------------------------------------


def cashier_json(facts: BoxFacts, name: str | None, login: str | None = None) -> Json:
    """A cashier as Checkbox's CashierModel. The box signs for every cashier with its own key (signature
    type AGENT, the box's key id); the box does not keep cashiers' tax numbers (nin "")."""
    return {
        "id": facts.cashier_id(name),
        "full_name": name or "",
        "nin": "",
        "key_id": facts.key_id,
        "signature_type": "AGENT",
        "permissions": {"orders": False},
        "created_at": iso(facts.since),
        "updated_at": None,
        "certificate_end": None,
        "blocked": None,
        **({"login": login} if login is not None else {}),
    }


def organization_json(facts: BoxFacts) -> Json:
    """The taxpayer as Checkbox's OrganizationModel; tax_number is the VAT number (ІПН), "" for one who
    is no VAT payer (IPN absent or "0")."""
    seller = facts.seller
    return {
        "id": facts.organization_id,
        "title": seller.org_name,
        "edrpou": seller.tin,
        "tax_number": seller.ipn if seller.ipn and seller.ipn != "0" else "",
        "created_at": iso(facts.since),
        "updated_at": None,
    }


def me_json(session: Session, facts: BoxFacts) -> Json:
    """The signed-in cashier as Checkbox's DetailedCashierModel."""
    return {
        **cashier_json(facts, session.cashier.name, session.cashier.login),
        "id": session.cashier_id,
        "organization": organization_json(facts),
    }


def documents_state_json(status: RegisterStatus, last_z_serial: int | None) -> Json:
    last_z = last_z_serial or 0
    return {
        "last_receipt_code": status.next_local_num - 1,
        "last_report_code": last_z,
        "last_z_report_code": last_z,
    }


def register_json(
    status: RegisterStatus, shift: Json | None, *, facts: BoxFacts, testing: bool, last_z_serial: int | None
) -> Json:
    """The cash register as Checkbox's CashRegisterDeviceModel; `shift` is the open shift's view, or None."""
    seller = facts.seller
    return {
        **cash_register_short_json(facts),
        "address": seller.point_address or "",
        "title": seller.point_name,
        "offline_mode": status.mode != "online",
        "stay_offline": False,
        "has_shift": status.shift_open,
        "documents_state": documents_state_json(status, last_z_serial),
        "emergency_date": None,
        "emergency_details": None,
        "shift": shift,
        "is_test": testing,
        "type": 0,
    }
