"""The till API's views, request conversion, ids and error mapping, alone: values built directly, no
register, no server, no HTTP. The end-to-end answers are in test_till_api.py (checkbox-sdk over HTTP)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.config import Cashier
from agent.secr import documents as d
from agent.secr.errors import InvalidInput, OfflineProhibited, RetryLater, ShiftNotOpen
from agent.secr.register import DuplicateRequest, Fiscalized, Mode, RegisterStatus, ShiftView
from agent.till_api import convert, errors, ids, models, offline_views, schemas, views
from agent.till_api.auth import Session, cashier_id
from agent.till_api.facts import BoxFacts
from tests import checkbox_openapi

D = Decimal
SELLER = d.Seller(
    tin="12345678",
    org_name="ТОВ Приклад",
    point_name="Магазин",
    cash_desk_num=1,
    cash_register_num=4000000001,
)
WHEN = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)  # 12:00 in Kyiv
REGISTERED = datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC)
VAT20 = d.Tax(code=1, letter="А", rate=D("20.00"), name="ПДВ")
VAT7 = d.Tax(code=2, letter="Б", rate=D("7.00"), name="ПДВ")
EXCISE = d.Tax(code=4, letter="Г", rate=D("5.00"), name="Акциз", type=1)
TAXES = {t.code: t for t in (EXCISE, VAT7, VAT20)}  # not in code order: the tax list sorts
IDS = ids.IdScheme.of("4000000001")
SINCE = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CASHIERS = (Cashier(name="Іваненко І. І.", login="ivanenko", pin="1234"),)
FACTS = BoxFacts(
    ids=IDS,
    fiscal_number="4000000001",
    seller=SELLER,
    since=SINCE,
    key_id="key-id",
    cashiers=CASHIERS,
    taxes=TAXES,
)


def as_checkbox(body: Any, model: str) -> None:
    """Checkbox's own description accepts it (tests/checkbox_openapi.py)."""
    problems = checkbox_openapi.problems_of(body, model)
    assert not problems, "\n".join(problems)


PREV_HASH = hashlib.sha256(b"the previous document").hexdigest()
OPENED = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
CLOSED = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def shift_view(**kw: Any) -> ShiftView:
    values: dict[str, Any] = {
        "id": 7,
        "opened_at": OPENED,
        "closed_at": None,
        "cashier": "Іваненко І.",
        "open_fiscal_num": "1000000040",
        "z": None,
        "figures": None,
    }
    return ShiftView(**{**values, **kw})


# What records.receipt passes in: the receipt's shift, read without its figures.
SHIFT = views.shift_json(shift_view(), FACTS)


def doc_uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"  # documents' UIDs are UUIDs


def head(n: int = 1, **kw: Any) -> d.DocHead:
    return replace(
        d.DocHead(uid=doc_uid(n), seller=SELLER, when=WHEN, order_num=n, cashier="Іваненко І."), **kw
    )


def bread(qty: str = "2", **kw: Any) -> d.Item:
    return replace(d.Item(name="Хліб", quantity=D(qty), price=D("12.50"), tax_codes=(1,), code="b1"), **kw)


def water(**kw: Any) -> d.Item:
    return replace(d.Item(name="Вода", quantity=D("1"), price=D("15.99"), tax_codes=(2,), code="w1"), **kw)


def cash(amount: str) -> d.Payment:
    return d.Payment(form=d.PayForm.CASH, name="ГОТІВКА", amount=D(amount))


def card(amount: str) -> d.Payment:
    return d.Payment(
        form=d.PayForm.CARD,
        name="КАРТКА",
        amount=D(amount),
        payment_system="VISA",
        card_mask="4111****1111",
        auth_code="A1B2C3",
        rrn="123456789012",
    )


def fiscalized(
    doc: d.Document,
    *,
    fiscal_num: str = "1000000042",
    request_id: str | None = "3b0f6c1e-2a51-4d7e-9a0c-7e1f00000001",
    **kw: Any,
) -> Fiscalized:
    values: dict[str, Any] = {
        "entry_id": 1,
        "uid": doc.head.uid,
        "request_id": request_id,
        "local_num": doc.head.order_num,
        "fiscal_num": fiscal_num,
        "offline": False,
        "registered_at": REGISTERED,
        "document": doc,
        "xml": b"",
        "shift_id": 7,
    }
    return Fiscalized(**{**values, **kw})


def receipt(result: Fiscalized) -> dict[str, Any]:
    body = views.receipt_json(result, facts=FACTS, shift=SHIFT)
    schemas.Receipt.model_validate(body)  # what FastAPI checks on the way out
    as_checkbox(body, "ReceiptModel")
    return body


def query(url: str | None) -> dict[str, str]:
    assert url is not None and url.startswith("https://cabinet.tax.gov.ua/cashregs/check?")
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- receipts ------------------------------------------------------------------------------------


def test_a_cash_sale_with_change() -> None:
    doc = d.sale(head(), [bread(), water(discount=D("1.00"))], [cash("50.00")], TAXES)
    body = receipt(fiscalized(doc))
    assert (
        body["id"] == "3b0f6c1e-2a51-4d7e-9a0c-7e1f00000001"
        and body["type"] == "SELL"
        and body["status"] == "DONE"
    )
    assert body["serial"] == 1 and body["fiscal_code"] == "1000000042"
    assert body["total_sum"] == 3999
    # what was handed over, and the change given back
    assert body["payments"] == [
        {"type": "CASH", "pawnshop_is_return": None, "value": 5000, "label": "ГОТІВКА"}
    ]  # Checkbox's CashPaymentPayload: no card fields on cash
    assert body["total_payment"] == 5000 and body["total_rest"] == 1001
    first, second = body["goods"]
    assert first["good"] == {"code": "b1", "name": "Хліб", "price": 1250, "barcode": None, "uktzed": None}
    assert first["quantity"] == 2000 and first["sum"] == 2500 and first["total_sum"] == 2500
    assert first["discounts"] == [] and first["is_return"] is False
    assert second["sum"] == 1599 and second["total_sum"] == 1499
    assert second["discounts"] == [{"type": "DISCOUNT", "mode": "VALUE", "value": 100, "sum": 100, "name": None}]
    keys = ("id", "code", "label", "symbol", "rate", "included", "value", "extra_value", "sales_turnover")
    assert [{k: t[k] for k in keys} for t in body["taxes"]] == [
        {
            "id": FACTS.tax_id(1),
            "code": 1,
            "label": "ПДВ",
            "symbol": "А",
            "rate": 20,
            "included": True,
            "value": 417,
            "extra_value": 0,
            "sales_turnover": 2500,
        },
        {
            "id": FACTS.tax_id(2),
            "code": 2,
            "label": "ПДВ",
            "symbol": "Б",
            "rate": 7,
            "included": True,
            "value": 98,
            "extra_value": 0,
            "sales_turnover": 1599,
        },
    ]
    # each good carries its own tax: 25.00 at 20% included is 4.17
    assert [(t["symbol"], t["value"]) for t in body["goods"][0]["taxes"]] == [("А", 417)]
    assert body["fiscal_date"] == body["created_at"] == WHEN.isoformat()
    assert body["delivered_at"] == body["updated_at"] == REGISTERED.isoformat()
    assert body["is_created_offline"] is False and body["is_sent_dps"] is True
    assert body["control_number"] is None and body["round_sum"] == 0
    assert body["cashier_name"] == "Іваненко І."
    assert body["transaction"].items() >= {
        "id": doc_uid(1),  # the document is its own transaction: its UID, its local number
        "serial": 1,
        "type": "RECEIPT",
        "status": "DONE",
        "response_status": "OK",
        "response_error_message": None,
        "response_id": "1000000042",
    }.items()
    assert body["shift"] is SHIFT
    assert query(body["tax_url"]) == {
        "date": "20261125",
        "time": "120000",
        "id": "1000000042",
        "sm": "39.99",
        "fn": "4000000001",
    }


def test_a_good_s_taxes_are_on_what_it_costs_after_every_discount() -> None:
    """A line that shares a receipt-level discount is taxed on what it costs after it, as the receipt's
    tax rows are: 10 % off the whole receipt takes bread's 25.00 to 22.50, whose VAT at 20 % is 3.75."""
    sale = d.sale(
        head(),
        [bread(), water()],
        [cash("50.00")],
        TAXES,
        adjustments=[d.Adjustment(kind="DISCOUNT", mode="PERCENT", value=D("10"))],
    )
    doc = d.parse(d.render(sale))
    assert isinstance(doc, d.Check)
    line = doc.lines[0]
    assert line.net == D("22.50")
    [vat] = views.good_json(line, is_return=False, facts=FACTS)["taxes"]
    row = next(r for r in doc.taxes if r.letter == "А")
    assert vat["symbol"] == "А" and vat["value"] == 375 == int(row.sum * 100)


def test_a_card_sale() -> None:
    doc = d.sale(head(), [bread("1")], [card("12.50")], TAXES)
    body = receipt(fiscalized(doc, request_id=None))
    assert body["id"] == doc_uid(1)  # a document made without a till's id is named by its own uid
    assert body["payments"] == [
        {
            "type": "CASHLESS",
            "pawnshop_is_return": None,
            "code": None,
            "value": 1250,
            "commission": None,
            "label": "КАРТКА",
            "card_mask": "4111****1111",
            "bank_name": None,
            "auth_code": "A1B2C3",
            "rrn": "123456789012",
            "payment_system": "VISA",
            "owner_name": None,
            "terminal": None,
            "acquiring": None,
            "acquirer_and_seller": None,
            "receipt_no": None,
            "signature_required": None,
        }
    ]
    assert body["total_payment"] == 1250 and body["total_rest"] == 0


def test_card_details_are_read_back_from_the_registered_document() -> None:
    """Every CardPaymentPayload field the till sent comes back from the parsed XML, not from the request."""
    sent = models.Payment(
        type="CASHLESS",
        value=1250,
        label="Картка",
        card_mask="5168********1234",
        bank_name="АТ КБ ПриватБанк",
        auth_code="A1B2C3",
        rrn="000111222333",
        payment_system="Mastercard",
        owner_name="IVANENKO IVAN",
        terminal="T0001",
        acquiring="old-style id",
        acquirer_and_seller="S1234567",
        receipt_no="0042",
        commission=15,
    )
    doc = d.parse(d.render(d.sale(head(), [bread("1")], [convert.to_payment(sent)], TAXES)))
    (back,) = receipt(fiscalized(doc))["payments"]
    echoed = {k: v for k, v in back.items() if v is not None}
    expected = sent.model_dump(exclude_none=True)
    # `acquiring` is the obsolete name of acquirer_and_seller: the document keeps one ACQUIREID.
    expected["acquiring"] = expected["acquirer_and_seller"]
    assert echoed == expected


def test_obsolete_acquiring_alone_is_the_acquirer_id() -> None:
    pay = convert.to_payment(models.Payment(type="CARD", value=1, acquiring="A-77"))
    assert pay.acquirer_id == "A-77" and pay.acquirer is None
    (back,) = receipt(fiscalized(d.sale(head(), [bread("1")], [replace(pay, amount=D("12.50"))], TAXES)))[
        "payments"
    ]
    assert back["acquirer_and_seller"] == back["acquiring"] == "A-77"


def test_blank_card_details_are_absent_details() -> None:
    pay = convert.to_payment(models.Payment(type="CARD", value=100, card_mask="", rrn="  ", owner_name=""))
    assert not pay.has_paysys()


def test_a_return() -> None:
    doc = d.refund(head(2), [bread("1")], [cash("12.50")], TAXES, "1000000042")
    body = receipt(fiscalized(doc, fiscal_num="1000000043"))
    assert body["type"] == "RETURN" and body["total_sum"] == 1250
    assert [g["is_return"] for g in body["goods"]] == [True]
    assert query(body["tax_url"])["id"] == "1000000043"


@pytest.mark.parametrize(
    ("build", "kind"), [(d.service_deposit, "SERVICE_IN"), (d.service_issue, "SERVICE_OUT")]
)
def test_service_in_and_out(build: Any, kind: str) -> None:
    body = receipt(fiscalized(build(head(3), D("200.00"))))
    assert body["type"] == kind and body["total_sum"] == 20000
    # the document has no payment rows; tills still see the cash that moved
    assert body["payments"] == [{"type": "CASH", "value": 20000, "label": "Готівка"}]
    assert body["total_payment"] == 20000 and body["goods"] == [] and body["taxes"] == []
    assert body["tax_url"] is None  # service receipts carry no QR code


def test_an_offline_receipt() -> None:
    mark = d.OfflineMark(tax_num="4321.5.987", prev_doc_hash=PREV_HASH)
    doc = d.sale(head(5, offline=mark), [bread("1")], [cash("12.50")], TAXES)
    body = receipt(fiscalized(doc, fiscal_num="4321.5.987", offline=True, delivered=False))
    assert body["is_created_offline"] is True and body["is_sent_dps"] is False
    assert body["control_number"] == "987"
    assert body["delivered_at"] is None and body["updated_at"] == REGISTERED.isoformat()
    assert body["status"] == "DONE"  # an offline receipt is done for the till (checkbox-compat §0.5)
    url = query(body["tax_url"])
    assert url["mac"] == PREV_HASH and url["id"] == "4321.5.987"


def test_an_uploaded_offline_receipt_is_sent() -> None:
    mark = d.OfflineMark(tax_num="4321.5.987", prev_doc_hash=PREV_HASH)
    doc = d.sale(head(5, offline=mark), [bread("1")], [cash("12.50")], TAXES)
    body = receipt(fiscalized(doc, fiscal_num="4321.5.987", offline=True, delivered=True))
    assert body["is_created_offline"] is True and body["is_sent_dps"] is True
    assert body["delivered_at"] == REGISTERED.isoformat()


# --- Z and X reports -----------------------------------------------------------------------------


def a_day() -> d.ZReport:
    checks = [
        d.sale(head(1), [bread()], [cash("30.00")], TAXES),  # 25.00 cash, 5.00 change
        d.sale(head(2), [water()], [card("15.99")], TAXES),
        d.refund(head(3), [bread("1")], [cash("12.50")], TAXES, "1000000001"),
        d.service_deposit(head(4), D("100.00")),
        d.service_issue(head(5), D("40.00")),
    ]
    return d.z_report(head(6), checks)


def test_a_z_report() -> None:
    body = views.report_json(
        a_day(),
        rid=IDS.z_report(7),
        shift_id=IDS.shift(7),
        fiscal_code="1000000050",
        is_z=True,
        serial=9,
        facts=FACTS,
    )
    schemas.Report.model_validate(body)
    as_checkbox(body, "ReportModel")
    assert body["serial"] == 9 and body["initial"] == 0
    assert body["id"] == IDS.z_report(7) and body["shift_id"] == IDS.shift(7)
    assert body["fiscal_code"] == "1000000050" and body["is_z_report"] is True
    cash_row, card_row = body["payments"]
    assert (
        cash_row.items()
        >= {
            "type": "CASH",
            "label": "ГОТІВКА",
            "sell_sum": 2500,
            "return_sum": 1250,
            "service_in": 10000,
            "service_out": 4000,
        }.items()
    )
    assert (
        card_row.items()
        >= {
            "type": "CASHLESS",
            "label": "КАРТКА",
            "sell_sum": 1599,
            "return_sum": 0,
            "service_in": 0,
            "service_out": 0,
        }.items()
    )
    assert cash_row["id"] != card_row["id"]  # stable per report and pay form
    vat20, vat7 = body["taxes"]
    assert (
        vat20.items()
        >= {
            "code": 1,
            "symbol": "А",
            "label": "ПДВ",
            "rate": 20.0,
            "sell_sum": 417,
            "return_sum": 208,
            "sales_turnover": 2500,
            "returns_turnover": 1250,
            "setup_date": SINCE.isoformat(),
        }.items()
    )
    assert vat7["symbol"] == "Б" and vat7["sell_sum"] == 105 and vat7["return_sum"] == 0
    assert body["sell_receipts_count"] == 2 and body["return_receipts_count"] == 1
    assert body["sell_sum"] == 4099 and body["return_sum"] == 1250
    assert body["service_in"] == 10000 and body["service_out"] == 4000
    # the drawer: 100.00 in + 25.00 cash sales - 12.50 cash returns - 40.00 out; card money is not in it
    assert body["balance"] == 7250
    assert body["created_at"] == WHEN.isoformat()


def test_service_cash_alone_makes_a_cash_row() -> None:
    report = d.z_report(head(2), [d.service_deposit(head(1), D("10.00"))])
    body = views.report_json(report, rid="x", shift_id="s", fiscal_code=None, is_z=False)
    assert [{k: v for k, v in row.items() if k not in ("id", "code")} for row in body["payments"]] == [
        {
            "type": "CASH",
            "label": "Готівка",
            "cash_withdrawal": 0,
            "cash_withdrawal_commission": 0,
            "sell_sum": 0,
            "return_sum": 0,
            "service_in": 1000,
            "service_out": 0,
        }
    ]
    assert body["taxes"] == [] and body["sell_sum"] == 0 and body["balance"] == 1000
    assert body["sell_receipts_count"] == 0 and body["fiscal_code"] is None and body["is_z_report"] is False


# --- shifts --------------------------------------------------------------------------------------


def shift(view: ShiftView) -> dict[str, Any]:
    body = views.shift_json(view, FACTS)
    schemas.Shift.model_validate(body)
    as_checkbox(body, "ShiftWithCashierAndCashRegister")
    return body


def test_an_open_shift_without_figures() -> None:
    body = shift(shift_view())
    assert body["id"] == IDS.shift(7) and body["serial"] == 7 and body["status"] == "OPENED"
    assert body["z_report"] is None and body["closing_transaction"] is None
    assert body["initial_transaction"]["type"] == "SHIFT_OPEN"
    assert body["initial_transaction"]["response_id"] == "1000000040"
    assert body["opened_at"] == body["created_at"] == OPENED.isoformat()
    assert body["closed_at"] is None and body["updated_at"] is None
    assert body["balance"] is None and body["taxes"] == []  # not read: no zeros that would mean "empty"
    assert body["cashier_name"] == "Іваненко І." and body["fiscal_number"] == "4000000001"
    assert body["cash_register"]["id"] == IDS.cash_register
    assert body["cashier"]["full_name"] == "Іваненко І." and body["cashier"]["signature_type"] == "AGENT"


def test_an_open_shift_with_its_figures() -> None:
    body = shift(shift_view(figures=a_day()))
    assert (
        body["balance"].items()
        >= {
            "initial": 0,
            "balance": 7250,
            "cash_sales": 2500,
            "card_sales": 1599,
            "cash_returns": 1250,
            "card_returns": 0,
            "service_in": 10000,
            "service_out": 4000,
        }.items()
    )
    assert [(t["symbol"], t["sales"], t["returns"]) for t in body["taxes"]] == [
        ("А", 417, 208),
        ("Б", 105, 0),
    ]
    assert body["z_report"] is None


def test_a_closed_shift_with_its_z() -> None:
    z_doc = a_day()
    z = fiscalized(z_doc, fiscal_num="1000000050", request_id=None)
    body = shift(shift_view(closed_at=CLOSED, z=z, figures=z_doc))
    assert body["status"] == "CLOSED" and body["closed_at"] == body["updated_at"] == CLOSED.isoformat()
    assert body["z_report"] == views.report_json(
        z_doc,
        rid=IDS.z_report(7),
        shift_id=IDS.shift(7),
        fiscal_code="1000000050",
        is_z=True,
        serial=7,
        facts=FACTS,
    )
    assert body["closing_transaction"]["type"] == "Z_REPORT"
    assert body["closing_transaction"]["response_id"] == "1000000050"
    assert body["balance"]["balance"] == body["z_report"]["balance"] == 7250


# --- taxes, the cashier, the cash register -------------------------------------------------------


def test_tax_rows() -> None:
    listed = views.taxes_json(FACTS)
    for listed_row in listed:
        schemas.TaxInfo.model_validate(listed_row)
        as_checkbox(listed_row, "TaxModel")
    assert [t["code"] for t in listed] == [1, 2, 4]
    assert (
        listed[0].items()
        >= {
            "id": FACTS.tax_id(1),
            "code": 1,
            "label": "ПДВ",
            "symbol": "А",
            "rate": 20,
            "included": True,
            "no_vat": False,
            "created_at": SINCE.isoformat(),
        }.items()
    )
    assert isinstance(listed[0]["rate"], int)  # Checkbox types rates as integers
    assert listed[2]["no_vat"] is True  # excise
    # a receipt's row names the tax by the configured code of its letter; an unknown letter has none
    row = d.TaxRow(
        type=0, name="ПДВ", letter="В", rate=D("0.00"), included=True, turnover=D("5.00"), sum=D("0")
    )
    assert views.tax_row_json(row, FACTS)["code"] == 0
    assert views.tax_row_json(replace(row, letter="Б"), FACTS)["code"] == 2


def status(**kw: Any) -> RegisterStatus:
    values: dict[str, Any] = {
        "mode": Mode.ONLINE,
        "blocked_reason": None,
        "shift_open": True,
        "shift_id": 7,
        "z_done": False,
        "next_local_num": 43,
        "pending_documents": 0,
        "oldest_pending_at": None,
        "offline_session_id": None,
        "has_offline_seed": True,
        "offline_allowed": True,
        "session_minutes": 0,
        "month_minutes": 90,
        "max_session_minutes": 4320,
        "max_month_minutes": 10080,
        "numbers_left": None,
        "warnings": [],
        "problem": None,
        "upload_error": None,
        "last_sync_at": None,
        "identity_known": True,
    }
    return RegisterStatus(**{**values, **kw})


def test_the_cash_register() -> None:
    body = views.register_json(status(), SHIFT, facts=FACTS, testing=True, last_z_serial=40)
    schemas.CashRegister.model_validate(body)
    as_checkbox(body, "CashRegisterDeviceModel")
    assert body["id"] == IDS.cash_register and body["fiscal_number"] == "4000000001"
    assert body["number"] == "1"  # the register's local number (CASHDESKNUM)
    assert body["offline_mode"] is False and body["has_shift"] is True and body["shift"] is SHIFT
    assert body["is_test"] is True
    assert body["documents_state"] == {
        "last_receipt_code": 42,
        "last_report_code": 40,
        "last_z_report_code": 40,
    }
    offline = views.register_json(
        status(mode=Mode.OFFLINE, shift_open=False), None, facts=FACTS, testing=False, last_z_serial=None
    )
    assert offline["offline_mode"] is True and offline["has_shift"] is False and offline["shift"] is None


def test_the_offline_figures() -> None:
    assert offline_views.offline_codes_count_json(status()) == {
        "available": 1_000_000,
        "unlimited": True,
        "used": 0,
        "enough_offline_codes": True,
    }
    finite = offline_views.offline_codes_count_json(status(numbers_left=12, offline_allowed=False))
    assert (
        finite["available"] == 12 and finite["unlimited"] is False and finite["enough_offline_codes"] is False
    )
    blocked = offline_views.offline_codes_count_json(status(blocked_reason="offline_prohibited"))
    assert blocked["enough_offline_codes"] is False
    assert offline_views.offline_time_json(status(session_minutes=5)) == {
        "status": {"current": 300, "total": 5400},
        "limits": {"session": 259200, "month": 604800},
        "sessions": [],
    }
    assert offline_views.go_offline_json(status(mode=Mode.OFFLINE))["message"] == "the box is offline"
    assert offline_views.go_offline_json(status())["mode"] == "online"


def test_the_cashier() -> None:
    cashier = Cashier(name="Іваненко І. І.", login="ivanenko", pin="1234")
    session = Session(token="t", cashier=cashier, cashier_id=cashier_id(cashier), expires_at=0)
    body = views.me_json(session, FACTS)
    schemas.DetailedCashier.model_validate(body)
    as_checkbox(body, "DetailedCashierModel")
    assert (
        body["organization"]["edrpou"] == SELLER.tin and body["organization"]["id"] == FACTS.organization_id
    )
    assert body["id"] == cashier_id(cashier) and body["full_name"] == "Іваненко І. І."
    assert body["login"] == "ivanenko" and body["key_id"] == "key-id" and body["signature_type"] == "AGENT"


# --- the id scheme -------------------------------------------------------------------------------


def test_ids_name_this_box_s_records_only() -> None:
    shift_id = IDS.shift(0x2A)
    assert shift_id.startswith(IDS.prefix) and shift_id.endswith("-00000000002a")
    assert IDS.shift_number(shift_id) == 0x2A
    assert IDS.shift_number(shift_id.upper()) == 0x2A  # a UUID in any case
    assert IDS.shift_number("not-a-uuid") is None
    assert IDS.shift_number(IDS.z_report(0x2A)) is None  # a Z id is not a shift id
    other = ids.IdScheme.of("4000000002")
    assert other.prefix != IDS.prefix and IDS.shift_number(other.shift(0x2A)) is None
    assert IDS.z_shift_number(IDS.z_report(3)) == 3 and IDS.z_shift_number(IDS.shift(3)) is None
    assert IDS.z_shift_number(IDS.z_report(3)[:-12] + "zzzzzzzzzzzz") is None
    assert IDS.cash_register == f"{IDS.prefix}-0000-4000-a000-{4000000001:012x}"
    assert ids.IdScheme.of("4000000001") == IDS  # derived, not stored: the same after a restart


# --- a request → the register's inputs -----------------------------------------------------------


def goods(*items: dict[str, Any]) -> list[models.GoodItem]:
    return [models.GoodItem.model_validate(item) for item in items]


def test_goods_become_items_with_their_discounts() -> None:
    items = convert.to_items(
        goods(
            {
                "good": {"code": "b1", "name": "Хліб", "price": 1250, "tax": ["А"], "barcode": "482"},
                "quantity": 1500,
                "discounts": [{"mode": "PERCENT", "value": 10}, {"mode": "VALUE", "value": 25}],
            },
            {"good": {"code": "w1", "name": "Вода", "price": 1599, "tax": [2, 4]}, "quantity": 1000},
        ),
        TAXES,
    )
    first, second = items
    assert first.quantity == D("1.5") and first.price == D("12.50") and first.tax_codes == (1,)
    # 10% of 18.75 is 1.875 → 1.88, plus 0.25
    assert first.discount == D("2.13") and first.barcode == "482" and first.code == "b1"
    assert second.tax_codes == (2, 4) and second.discount == D("0")


def test_an_unknown_tax_letter_names_its_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        convert.to_items(
            goods(
                {"good": {"code": "a", "name": "A", "price": 100}, "quantity": 1000},
                {"good": {"code": "b", "name": "B", "price": 100, "tax": ["Я"]}, "quantity": 1000},
            ),
            TAXES,
        )
    assert raised.value.field == "goods[1].good.tax"
    assert errors.from_box_error(raised.value).detail[0]["loc"] == ["body", "goods", "1", "good", "tax"]


def test_a_line_extra_charge_is_a_negative_discount() -> None:
    (item,) = convert.to_items(
        goods(
            {
                "good": {"code": "a", "name": "A", "price": 1000},
                "quantity": 1000,
                "discounts": [{"type": "EXTRA_CHARGE", "mode": "PERCENT", "value": 5}],
            }
        ),
        TAXES,
    )
    assert (item.discount, item.discount_percent) == (Decimal("-0.50"), Decimal("-5"))
    (mixed,) = convert.to_items(
        goods(
            {
                "good": {"code": "a", "name": "A", "price": 1000},
                "quantity": 1000,
                "discounts": [{"type": "EXTRA_CHARGE", "value": 30}, {"type": "DISCOUNT", "value": 100}],
            }
        ),
        TAXES,
    )
    assert (mixed.discount, mixed.discount_percent) == (Decimal("0.70"), None)


def test_line_discounts_larger_than_the_line_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as info:
        convert.to_items(
            goods(
                {
                    "good": {"code": "a", "name": "A", "price": 100},
                    "quantity": 1000,
                    "discounts": [{"type": "DISCOUNT", "value": 60}, {"type": "DISCOUNT", "value": 60}],
                }
            ),
            TAXES,
        )
    assert info.value.field == "goods[0].discounts"
    with pytest.raises(InvalidInput) as info:
        convert.to_items(
            goods(
                {
                    "good": {"code": "a", "name": "A", "price": 100},
                    "quantity": 1000,
                    "discounts": [{"type": "DISCOUNT", "mode": "PERCENT", "value": 12.345}],
                }
            ),
            TAXES,
        )
    assert info.value.field == "goods[0].discounts[0].value"


def test_payments_become_document_payments() -> None:
    cash_in, card_in = convert.to_payments(
        [
            models.Payment(type="CASH", value=5000),
            models.Payment(type="CARD", value=1250, card_mask="4111", bank_name="Банк", rrn="r"),
        ]
    )
    assert cash_in == d.Payment(form=d.PayForm.CASH, name="ГОТІВКА", amount=D("50.00"))
    assert card_in.form == d.PayForm.CARD and card_in.name == "КАРТКА" and card_in.amount == D("12.50")
    assert card_in.card_mask == "4111" and card_in.acquirer == "Банк" and card_in.rrn == "r"
    labelled = convert.to_payment(models.Payment(type="CASHLESS", value=1, label="Apple Pay"))
    assert labelled.name == "Apple Pay" and labelled.amount == D("0.01")


def test_the_receipt_id_is_the_body_s_then_the_header_s() -> None:
    body_id, header_id = str(uuid.uuid4()), str(uuid.uuid4())
    assert convert.receipt_id(body_id, header_id) == body_id
    assert convert.receipt_id(None, header_id) == header_id
    # a header that is no UUID names its receipt by a UUID derived from it: the same header, the same id
    derived = convert.receipt_id(None, "order-17")
    assert uuid.UUID(derived) and derived == convert.receipt_id(None, "order-17") != convert.receipt_id(
        None, "order-18"
    )
    assert convert.receipt_id(None, None) != convert.receipt_id(None, None)


def test_a_body_id_that_is_no_uuid_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="UUID"):
        models.ReceiptSell.model_validate({"id": "till-1", "goods": [], "payments": []})


# --- errors --------------------------------------------------------------------------------------


def test_the_register_s_errors_as_http() -> None:
    sale = fiscalized(d.sale(head(), [bread("1")], [cash("12.50")], TAXES))
    duplicate = errors.from_box_error(DuplicateRequest(sale))
    assert (duplicate.status, duplicate.code) == (400, "receipt.already_exists")
    assert errors.from_box_error(ShiftNotOpen("no shift")).code == "shift.not_opened"
    blocked = errors.from_box_error(OfflineProhibited("offline is prohibited"))
    assert (blocked.status, blocked.code) == (409, "sales_blocked.offline_prohibited")
    later = errors.from_box_error(RetryLater("busy"))
    assert later.status == 503
    assert errors.field_loc(None) == ["body"] and errors.field_loc("payments[0].value") == [
        "body",
        "payments",
        "0",
        "value",
    ]
