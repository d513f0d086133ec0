"""Fiscal documents: builders, tax arithmetic, XML render/parse/validate, the official examples."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.clock import KYIV
from agent.secr import documents as d
from agent.secr.errors import InvalidDocument, InvalidInput, NotSupported

D = Decimal
EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared/reference/examples"
needs_examples = pytest.mark.skipif(
    not EXAMPLES.is_dir(), reason=f"official examples not found at {EXAMPLES} (shared/ beside the repo clone)"
)

SELLER = d.Seller(
    tin="12345678",
    org_name='ТОВ "Приклад" & Ко',
    point_name="Магазин <Центр>",
    cash_desk_num=1,
    cash_register_num=4000000001,
    ipn="123456789012",
    point_address="м. Київ, вул. Прикладна, 1",
)
WHEN = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
VAT20 = d.Tax(code=1, letter="А", rate=D("20.00"), name="ПДВ")
VAT7 = d.Tax(code=2, letter="Б", rate=D("7.00"), name="ПДВ")
VAT0 = d.Tax(code=3, letter="В", rate=D("0.00"), name="ПДВ")
EXCISE5 = d.Tax(code=4, letter="Г", rate=D("5.00"), name="Акциз", type=1)
LEVY = d.Tax(code=5, letter="Е", rate=D("5.00"), name="Збір", type=2, included=False)
TAXES = {t.code: t for t in (VAT20, VAT7, VAT0, EXCISE5, LEVY)}
CASH = "ГОТІВКА"
CARD = "КАРТКА"


def head(n: int = 1, **kw: Any) -> d.DocHead:
    return replace(
        d.DocHead(uid=f"uid-{n}", seller=SELLER, when=WHEN, order_num=n, cashier="Іваненко І."), **kw
    )


def item(
    name: str = "Хліб", qty: str = "1", price: str = "10.00", codes: tuple[int, ...] = (1,), **kw: Any
) -> d.Item:
    return replace(d.Item(name=name, quantity=D(qty), price=D(price), tax_codes=codes), **kw)


def cash(amount: str, **kw: Any) -> d.Payment:
    return replace(d.Payment(form=0, name=CASH, amount=D(amount)), **kw)


def card(amount: str, **kw: Any) -> d.Payment:
    return replace(d.Payment(form=1, name=CARD, amount=D(amount)), **kw)


def tax_row(check: d.Check, letter: str) -> d.TaxRow:
    (row,) = [t for t in check.taxes if t.letter == letter]
    return row


def roundtrip(doc: d.Document) -> d.Document:
    xml = d.render(doc)
    d.validate(xml)
    back = d.parse(xml)
    assert d.render(back) == xml
    return back


# --- every builder produces a schema-valid document --------------------------------------------

OFFLINE = d.OfflineMark(tax_num="5008.3.4758", prev_doc_hash="cd" * 32)


def _all_documents() -> dict[str, d.Document]:
    s = d.sale(head(2), [item(), item("Вода", "2", "15.50", (2,))], [cash("50.00")], TAXES)
    r = d.refund(head(3), [item()], [cash("10.00")], TAXES, ret_num="1384554129")
    dep = d.service_deposit(head(4), D("500.00"))
    iss = d.service_issue(head(5), D("250.50"))
    return {
        "open": d.open_shift(head(1)),
        "sale": s,
        "sale_offline": d.sale(head(6, offline=OFFLINE), [item()], [card("10.00")], TAXES),
        "sale_testing": d.sale(head(7, testing=True), [item()], [card("10.00")], TAXES),
        "refund": r,
        "deposit": dep,
        "issue": iss,
        "storno": d.storno(head(8), storno_num="420.2.4812"),
        "offline_begin": d.offline_begin(
            head(9, offline=d.OfflineMark(tax_num="82563.25.6127", revoke_last_online_doc=True))
        ),
        "offline_end": d.offline_end(head(10, offline=OFFLINE)),
        "z": d.z_report(head(11), [s, r, dep, iss]),
        "z_empty": d.z_report(head(12), []),
        "z_offline": d.z_report(head(13, offline=OFFLINE), [s]),
        "close": d.close_shift(head(14)),
    }


@pytest.mark.parametrize("name", list(_all_documents()))
def test_builder_output_is_schema_valid_and_round_trips(name: str) -> None:
    doc = _all_documents()[name]
    back = roundtrip(doc)
    assert type(back) is type(doc)
    assert back.head == doc.head


def test_render_shape() -> None:
    xml = d.render(d.sale(head(), [item(qty="5.701", price="52.30")], [cash("300.00")], TAXES))
    text = xml.decode("cp1251")
    assert text.startswith(
        '<?xml version="1.0" encoding="windows-1251"?>\n'
        '<CHECK xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="check01.xsd">'
    )
    assert '<ORGNM>ТОВ "Приклад" &amp; Ко</ORGNM>' in text
    assert "<POINTNM>Магазин &lt;Центр&gt;</POINTNM>" in text
    assert "<VER>1</VER>" in text
    assert "<AMOUNT>5.701</AMOUNT><PRICE>52.30</PRICE><LETTERS>А</LETTERS><COST>298.16</COST>" in text
    assert "<SUM>298.16</SUM><PROVIDED>300.00</PROVIDED><REMAINS>1.84</REMAINS>" in text
    assert "<SIGN>false</SIGN>" in text
    assert 'ROWNUM="1"' in text and 'ROWNUM="2"' not in text
    assert "TESTING" not in text and "OFFLINE" not in text
    z = d.render(d.z_report(head(), [])).decode("cp1251")
    assert (
        '<ZREP xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="zrep01.xsd">'
        in z
    )


@pytest.mark.parametrize(
    ("qty", "text"),
    [
        ("1", "1"),
        ("1.000", "1"),
        ("0.5", "0.5"),
        ("5.701", "5.701"),
        ("10", "10"),
        ("100.100", "100.1"),
        ("1E+2", "100"),
    ],
)
def test_quantity_format(qty: str, text: str) -> None:
    xml = d.render(d.sale(head(), [item(qty=qty, price="1.00")], [cash("1000.00")], TAXES))
    assert f"<AMOUNT>{text}</AMOUNT>".encode() in xml
    d.validate(xml)


def test_date_and_time_are_kyiv_local() -> None:
    # 22:30 UTC in winter is 00:30 next day in Kyiv; in summer Kyiv is UTC+3.
    xml = d.render(d.open_shift(head(when=datetime(2026, 12, 31, 22, 30, 5, tzinfo=UTC))))
    assert b"<ORDERDATE>01012027</ORDERDATE><ORDERTIME>003005</ORDERTIME>" in xml
    xml = d.render(d.open_shift(head(when=datetime(2026, 7, 1, 9, 0, 0, tzinfo=UTC))))
    assert b"<ORDERDATE>01072026</ORDERDATE><ORDERTIME>120000</ORDERTIME>" in xml
    back = d.parse(xml)
    assert back.head.when == datetime(2026, 7, 1, 9, 0, 0, tzinfo=UTC)
    assert back.head.when.tzinfo == KYIV


def test_offline_head_elements() -> None:
    c = d.sale(head(offline=OFFLINE), [item()], [cash("10.00")], TAXES)
    text = d.render(c).decode("cp1251")
    assert "<VER>1</VER><ORDERTAXNUM>5008.3.4758</ORDERTAXNUM><OFFLINE>true</OFFLINE>" in text
    assert f"<PREVDOCHASH>{'cd' * 32}</PREVDOCHASH>" in text
    b = d.render(d.offline_begin(head(offline=d.OfflineMark(tax_num="1.1.1", revoke_last_online_doc=True))))
    assert b"<REVOKELASTONLINEDOC>true</REVOKELASTONLINEDOC><CASHIER>" in b
    assert b"PREVDOCHASH" not in b
    # 102/103 never carry TESTING, even from a test-mode registrar
    e = d.offline_end(head(testing=True, offline=OFFLINE))
    assert b"TESTING" not in d.render(e)


def test_characters_outside_cp1251_survive() -> None:
    c = d.sale(head(), [item(name="Кава ☕ «Арабіка»")], [cash("10.00")], TAXES)
    back = roundtrip(c)
    assert isinstance(back, d.Check)
    assert back.lines[0].item.name == "Кава ☕ «Арабіка»"


# --- tax arithmetic ------------------------------------------------------------------------------


def test_three_times_033_at_20_percent_rounds_half_up() -> None:
    c = d.sale(head(), [item(qty="3", price="0.33")], [cash("0.99")], TAXES)
    row = tax_row(c, "А")
    assert (c.total, row.turnover, row.sum) == (D("0.99"), D("0.99"), D("0.17"))  # 0.165 -> 0.17, not 0.16


def test_seven_percent() -> None:
    c = d.sale(head(), [item(price="10.00", codes=(2,))], [cash("10.00")], TAXES)
    assert tax_row(c, "Б").sum == D("0.65")  # 10 * 7 / 107 = 0.654


def test_two_rates_in_one_receipt_round_per_row() -> None:
    c = d.sale(
        head(),
        [item(price="100.00"), item("Ліки", "1", "53.50", (2,)), item("Сік", "3", "0.33", (1,))],
        [cash("154.49")],
        TAXES,
    )
    assert c.total == D("154.49")
    a, b = tax_row(c, "А"), tax_row(c, "Б")
    assert (a.turnover, a.sum) == (D("100.99"), D("16.83"))  # 100.99 / 6 = 16.8316...
    assert (b.turnover, b.sum) == (D("53.50"), D("3.50"))
    assert [t.letter for t in c.taxes] == ["А", "Б"]


def test_line_cost_rounds_half_up() -> None:
    c = d.sale(head(), [item(qty="1.5", price="0.03")], [cash("0.05")], TAXES)
    assert c.lines[0].cost == D("0.05")  # 0.045


def test_discount_follows_official_example() -> None:
    """check01(Знижки): TURNOVER before discount, SOURCESUM after, tax from SOURCESUM."""
    c = d.sale(
        head(),
        [
            item("морква", "1.000", "100.00", (1,), discount=D("50.00"), discount_percent=D("50.00")),
            item("цибуля", "1.000", "200.00", (2,), discount=D("40.00"), discount_percent=D("20.00")),
        ],
        [cash("210.00")],
        TAXES,
    )
    assert (c.total, c.discount_sum) == (D("210.00"), D("90.00"))
    a, b = tax_row(c, "А"), tax_row(c, "Б")
    assert (a.turnover, a.source_sum, a.sum) == (D("100.00"), D("50.00"), D("8.33"))
    assert (b.turnover, b.source_sum, b.sum) == (D("200.00"), D("160.00"), D("10.47"))
    assert (a.turnover_discount, b.turnover_discount) == (D("50.00"), D("160.00"))
    roundtrip(c)
    text = d.render(c).decode("cp1251")
    assert (
        "<DISCOUNTTYPE>1</DISCOUNTTYPE><DISCOUNTPERCENT>50.00</DISCOUNTPERCENT><DISCOUNTSUM>50.00</DISCOUNTSUM>"
        in text
    )


def test_amount_discount_without_percent() -> None:
    c = d.sale(head(), [item(price="10.00", discount=D("1.50"))], [cash("8.50")], TAXES)
    assert c.total == D("8.50")
    assert b"<DISCOUNTTYPE>0</DISCOUNTTYPE><DISCOUNTSUM>1.50</DISCOUNTSUM>" in d.render(c)
    assert tax_row(c, "А").sum == D("1.42")  # 8.50 / 6 = 1.4166


def test_vat_plus_excise_follows_official_example() -> None:
    """check01(Два податки): excise from the full price, VAT from the price without excise."""
    c = d.sale(
        head(),
        [item("Вино", "10.000", "25.99", (1, 4), excise_labels=("AATE508932 0000412168",))],
        [card("259.90")],
        TAXES,
    )
    a, g = tax_row(c, "А"), tax_row(c, "Г")
    assert (a.type, a.turnover, a.source_sum, a.sum) == (0, D("259.90"), D("247.52"), D("41.25"))
    assert (g.type, g.turnover, g.source_sum, g.sum) == (1, D("259.90"), D("259.90"), D("12.38"))
    assert c.total == D("259.90")
    assert c.lines[0].letters == "АГ"
    text = d.render(c).decode("cp1251")
    assert (
        '<EXCISELABELS><ROW ROWNUM="1"><EXCISELABEL>AATE508932 0000412168</EXCISELABEL></ROW></EXCISELABELS>'
        in text
    )
    roundtrip(c)


def test_not_included_tax_grows_the_total() -> None:
    c = d.sale(head(), [item(price="100.00", codes=(1, 5))], [cash("105.00")], TAXES)
    levy = tax_row(c, "Е")
    assert (levy.included, levy.sum) == (False, D("5.00"))
    assert c.total == D("105.00")
    assert b"<SIGN>true</SIGN>" in d.render(c)
    with pytest.raises(InvalidInput):
        d.sale(head(), [item(price="100.00", codes=(1, 5))], [cash("100.00")], TAXES)


def test_item_without_taxes_has_no_letters() -> None:
    c = d.sale(head(), [item(codes=())], [cash("10.00")], TAXES)
    assert c.taxes == () and c.lines[0].letters == ""
    assert b"CHECKTAX" not in d.render(c) and b"LETTERS" not in d.render(c)
    roundtrip(c)


def test_cash_rounding_follows_official_example() -> None:
    """check01(Заокруглення): SUM 12.60, RNDSUM -0.03, NORNDSUM 12.57, taxes on 12.57."""
    c = d.sale(head(), [item("Мило", "1", "12.57")], [cash("20.00")], TAXES, round_cash=True)
    assert (c.total, c.round_sum, c.no_round_sum) == (D("12.60"), D("-0.03"), D("12.57"))
    assert [(p.amount, p.provided) for p in c.payments] == [(D("12.60"), D("20.00"))]
    row = tax_row(c, "А")
    # 12.57 / 6 = 2.095 exactly: half-up gives 2.10; the official example's 2.09 is binary-float residue.
    assert (row.turnover, row.sum) == (D("12.57"), D("2.10"))
    text = d.render(c).decode("cp1251")
    assert "<CHECKTOTAL><SUM>12.60</SUM><RNDSUM>-0.03</RNDSUM><NORNDSUM>12.57</NORNDSUM></CHECKTOTAL>" in text
    assert "<REMAINS>7.40</REMAINS>" in text
    assert d.control_sum(c) == D("12.60")
    roundtrip(c)


def test_cash_rounding_touches_only_the_cash_part() -> None:
    c = d.sale(head(), [item(price="12.54")], [card("10.00"), cash("5.00")], TAXES, round_cash=True)
    assert (c.total, c.round_sum) == (D("12.50"), D("0.04"))
    assert [p.amount for p in c.payments] == [D("10.00"), D("2.50")]
    by_card = d.sale(head(), [item(price="12.54")], [card("12.54")], TAXES, round_cash=True)
    assert (by_card.total, by_card.round_sum, by_card.no_round_sum) == (D("12.54"), None, None)
    even = d.sale(head(), [item(price="12.50")], [cash("12.50")], TAXES, round_cash=True)
    assert even.round_sum is None and b"RNDSUM" not in d.render(even)
    r = d.refund(head(), [item(price="0.99")], [cash("1.00")], TAXES, "5", round_cash=True)
    assert (r.total, r.round_sum) == (D("1.00"), D("-0.01"))


def test_z_sums_rounding() -> None:
    a = d.sale(head(1), [item(price="12.57")], [cash("12.60")], TAXES, round_cash=True)
    b = d.sale(head(2), [item(price="10.00")], [card("10.00")], TAXES)
    c = d.sale(head(3), [item(price="1.04")], [cash("1.00")], TAXES, round_cash=True)
    z = d.z_report(head(4), [a, b, c])
    assert z.realiz is not None
    assert (z.realiz.sum, z.realiz.round_sum, z.realiz.no_round_sum) == (D("23.60"), D("0.01"), D("23.61"))
    assert sum((f.sum for f in z.realiz.pay_forms), D(0)) == z.realiz.sum
    assert roundtrip(z) == z
    plain = d.z_report(head(5), [b])
    assert plain.realiz is not None and (plain.realiz.round_sum, plain.realiz.no_round_sum) == (None, None)


# --- payments ------------------------------------------------------------------------------------


def test_exact_cash_has_no_provided() -> None:
    c = d.sale(head(), [item()], [cash("10.00")], TAXES)
    assert c.payments[0].provided is None
    assert b"PROVIDED" not in d.render(c) and b"REMAINS" not in d.render(c)


def test_cash_overpay_becomes_change() -> None:
    c = d.sale(head(), [item(price="317.66")], [cash("400.00")], TAXES)
    (p,) = c.payments
    assert (p.amount, p.provided) == (D("317.66"), D("400.00"))
    assert b"<REMAINS>82.34</REMAINS>" in d.render(c)


def test_explicit_provided_and_mixed_payment() -> None:
    c = d.sale(head(), [item(price="417.66")], [cash("317.66", provided=D("400.00")), card("100.00")], TAXES)
    assert [(p.amount, p.provided) for p in c.payments] == [(D("317.66"), D("400.00")), (D("100.00"), None)]
    assert d.control_sum(c) == D("417.66")


def test_card_fields_go_to_paysys() -> None:
    p = card(
        "10.00",
        payment_system="Visa",
        card_mask="4111****1111",
        auth_code="A1",
        rrn="R1",
        terminal="T1",
        acquirer="Банк",
    )
    c = d.sale(head(), [item()], [p], TAXES)
    text = d.render(c).decode("cp1251")
    assert (
        '<PAYSYS><ROW ROWNUM="1"><NAME>Visa</NAME><ACQUIRENM>Банк</ACQUIRENM><ACQUIRETRANSID>R1</ACQUIRETRANSID>'
        "<DEVICEID>T1</DEVICEID><EPZDETAILS>4111****1111</EPZDETAILS><AUTHCD>A1</AUTHCD><SUM>10.00</SUM></ROW></PAYSYS>"
    ) in text
    back = roundtrip(c)
    assert isinstance(back, d.Check) and back.payments == c.payments


def test_every_card_detail_has_its_paysys_element_in_schema_order() -> None:
    p = card(
        "10.00",
        payment_system="Mastercard",
        acquirer_id="S1234567",
        acquirer="АТ КБ ПриватБанк",
        rrn="000111222333",
        pos_receipt_no="0042",
        terminal="T0001",
        card_mask="5168********1234",
        auth_code="A1",
        client_info="IVANENKO IVAN",
        commission=D("0.15"),
    )
    c = d.sale(head(), [item()], [p], TAXES)
    text = d.render(c).decode("cp1251")
    # check01.xsd TROWSPAYSYS order: NAME, ACQUIREID, ACQUIRENM, ACQUIRETRANSID, POSTRANSNUM, DEVICEID,
    # EPZDETAILS, AUTHCD, CLIENTINFO, SUM, COMMISSION (roundtrip validates against the XSD too).
    assert (
        '<PAYSYS><ROW ROWNUM="1"><NAME>Mastercard</NAME><ACQUIREID>S1234567</ACQUIREID>'
        "<ACQUIRENM>АТ КБ ПриватБанк</ACQUIRENM><ACQUIRETRANSID>000111222333</ACQUIRETRANSID>"
        "<POSTRANSNUM>0042</POSTRANSNUM><DEVICEID>T0001</DEVICEID><EPZDETAILS>5168********1234</EPZDETAILS>"
        "<AUTHCD>A1</AUTHCD><CLIENTINFO>IVANENKO IVAN</CLIENTINFO><SUM>10.00</SUM>"
        "<COMMISSION>0.15</COMMISSION></ROW></PAYSYS>"
    ) in text
    back = roundtrip(c)
    assert isinstance(back, d.Check) and back.payments == c.payments


def test_a_commission_alone_makes_a_paysys_row() -> None:
    c = d.sale(head(), [item()], [card("10.00", commission=D("0.00"))], TAXES)
    assert b"<PAYSYS><ROW ROWNUM=\"1\"><SUM>10.00</SUM><COMMISSION>0.00</COMMISSION></ROW></PAYSYS>" in d.render(c)
    back = roundtrip(c)
    assert isinstance(back, d.Check) and back.payments == c.payments


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("acquirer_id", "x" * 129),
        ("pos_receipt_no", "x" * 129),
        ("client_info", "x" * 257),
        ("client_info", "a\x01b"),
        ("pos_receipt_no", " "),
        ("commission", D("-0.01")),
        ("commission", D("0.001")),
    ],
)
def test_card_details_out_of_the_schema_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as err:
        d.sale(head(), [item()], [card("10.00", **{field: value})], TAXES)
    assert err.value.field == f"payments[0].{field}"


# --- refusals ------------------------------------------------------------------------------------


def _sale_with(
    items: list[d.Item] | None = None, pays: list[d.Payment] | None = None, h: d.DocHead | None = None
) -> d.Check:
    return d.sale(
        h or head(),
        items if items is not None else [item()],
        pays if pays is not None else [cash("10.00")],
        TAXES,
    )


FLOAT: Any = 1.5  # floats are a type error, but tills written in other languages send them

BAD_INPUTS: list[tuple[str, Callable[[], object], str]] = [
    ("zero quantity", lambda: _sale_with([item(qty="0")]), "items[0].quantity"),
    ("negative quantity", lambda: _sale_with([item(qty="-1")]), "items[0].quantity"),
    ("quantity with 4 decimals", lambda: _sale_with([item(qty="1.0001")]), "items[0].quantity"),
    ("float quantity", lambda: _sale_with([replace(item(), quantity=FLOAT)]), "items[0].quantity"),
    ("NaN price", lambda: _sale_with([item(price="NaN")]), "items[0].price"),
    ("price with 3 decimals", lambda: _sale_with([item(price="1.005")]), "items[0].price"),
    ("negative price", lambda: _sale_with([item(price="-1.00")]), "items[0].price"),
    ("unknown tax code", lambda: _sale_with([item(codes=(99,))]), "items[0].tax_codes[0]"),
    ("two VAT rates on one item", lambda: _sale_with([item(codes=(1, 2))]), "items[0].tax_codes"),
    ("empty receipt", lambda: _sale_with([]), "items"),
    ("no payments", lambda: _sale_with(pays=[]), "payments"),
    ("payments short", lambda: _sale_with(pays=[cash("9.99")]), "payments"),
    ("card overpay", lambda: _sale_with(pays=[card("10.01")]), "payments"),
    (
        "card + cash where card alone exceeds",
        lambda: _sale_with(pays=[card("11.00"), cash("1.00")]),
        "payments",
    ),
    (
        "provided on a card",
        lambda: _sale_with(pays=[card("10.00", provided=D("20.00"))]),
        "payments[0].provided",
    ),
    (
        "provided below amount",
        lambda: _sale_with(pays=[cash("10.00", provided=D("5.00"))]),
        "payments[0].provided",
    ),
    ("zero payment row", lambda: _sale_with(pays=[cash("10.00"), card("0.00")]), "payments[1].amount"),
    ("negative payment", lambda: _sale_with(pays=[cash("-1.00")]), "payments[0].amount"),
    ("payment amount 3 decimals", lambda: _sale_with(pays=[cash("10.001")]), "payments[0].amount"),
    ("payment without name", lambda: _sale_with(pays=[replace(cash("10.00"), name=" ")]), "payments[0].name"),
    ("discount above cost", lambda: _sale_with([item(discount=D("10.01"))]), "items[0].discount"),
    # a negative discount is an extra charge now; its percent must say the same
    (
        "extra charge with a discount's percent",
        lambda: _sale_with([item(discount=D("-1.00"), discount_percent=D("10"))]),
        "items[0].discount_percent",
    ),
    (
        "percent that does not make the discount",
        lambda: _sale_with([item(price="10.00", discount=D("1.01"), discount_percent=D("10"))]),
        "items[0].discount_percent",
    ),
    (
        "discount percent above 100",
        lambda: _sale_with([item(discount_percent=D("101"))]),
        "items[0].discount_percent",
    ),
    ("empty name", lambda: _sale_with([item(name="  ")]), "items[0].name"),
    ("name with control chars", lambda: _sale_with([item(name="a\x01b")]), "items[0].name"),
    ("bad uktzed", lambda: _sale_with([item(uktzed="123")]), "items[0].uktzed"),
    ("unit code 0", lambda: _sale_with([item(unit_code=0)]), "items[0].unit_code"),
    ("code too long", lambda: _sale_with([item(code="x" * 65)]), "items[0].code"),
    ("naive datetime", lambda: _sale_with(h=head(when=datetime(2026, 1, 1))), "head.when"),
    ("bad tin", lambda: _sale_with(h=head(seller=replace(SELLER, tin="12"))), "head.seller.tin"),
    ("bad ipn", lambda: _sale_with(h=head(seller=replace(SELLER, ipn="12"))), "head.seller.ipn"),
    ("order number 0", lambda: _sale_with(h=head(0)), "head.order_num"),
    ("empty uid", lambda: _sale_with(h=head(uid="")), "head.uid"),
    (
        "bad prev hash",
        lambda: _sale_with(h=head(offline=d.OfflineMark("1.1.1", "XYZ"))),
        "head.offline.prev_doc_hash",
    ),
    (
        "revoke flag outside 102",
        lambda: _sale_with(h=head(offline=d.OfflineMark("1.1.1", None, True))),
        "revoke_last",
    ),
    ("refund without ret_num", lambda: d.refund(head(), [item()], [cash("10.00")], TAXES, ""), "ret_num"),
    ("deposit of zero", lambda: d.service_deposit(head(), D("0.00")), "amount"),
    ("negative issue", lambda: d.service_issue(head(), D("-5.00")), "amount"),
    ("issue with 3 decimals", lambda: d.service_issue(head(), D("5.001")), "amount"),
    ("storno without number", lambda: d.storno(head(), ""), "storno_num"),
    ("offline begin without mark", lambda: d.offline_begin(head()), "head.offline"),
    ("offline end without mark", lambda: d.offline_end(head()), "head.offline"),
    (
        "two taxes with one letter",
        lambda: d.sale(head(), [item()], [cash("10.00")], {1: VAT20, 2: replace(VAT7, letter="А")}),
        "taxes[2].letter",
    ),
]


@pytest.mark.parametrize(("what", "call", "fld"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_naming_the_field(what: str, call: Callable[[], object], fld: str) -> None:
    with pytest.raises(InvalidInput) as info:
        call()
    assert info.value.field is not None and fld in info.value.field, (what, info.value.field)
    assert len(info.value.message) > 15


def test_messages_say_what_is_expected() -> None:
    with pytest.raises(InvalidInput, match=r"at most 3 decimal places"):
        _sale_with([item(qty="1.0001")])
    with pytest.raises(InvalidInput, match=r"do not cover the total \(10\.00\); 0\.01 is missing"):
        _sale_with(pays=[cash("9.99")])
    with pytest.raises(InvalidInput, match=r"unknown tax code 99; configured codes: 1, 2, 3, 4, 5"):
        _sale_with([item(codes=(99,))])


# --- Z report ------------------------------------------------------------------------------------


def test_z_report_sections() -> None:
    s1 = d.sale(head(2), [item(price="100.00")], [cash("100.00")], TAXES)
    s2 = d.sale(head(3), [item(price="50.00", codes=(2,))], [card("50.00")], TAXES)
    r = d.refund(head(4), [item(price="20.00")], [cash("20.00")], TAXES, "2")
    st = d.storno(head(5), "3")
    z = d.z_report(
        head(9),
        [
            d.open_shift(head(1)),
            s1,
            s2,
            r,
            st,
            d.service_deposit(head(6), D("10.00")),
            d.service_issue(head(7), D("5.00")),
        ],
    )
    assert z.realiz is not None and z.ret is not None
    assert (z.realiz.sum, z.realiz.orders_count) == (D("150.00"), 2)
    assert [(f.form, f.sum) for f in z.realiz.pay_forms] == [(0, D("100.00")), (1, D("50.00"))]
    assert [(t.letter, t.sum) for t in z.realiz.taxes] == [("А", D("16.67")), ("Б", D("3.27"))]
    assert (z.ret.sum, z.ret.orders_count) == (D("20.00"), 1)
    assert (z.service_input, z.service_output) == (D("10.00"), D("5.00"))
    assert roundtrip(z) == z


def test_z_of_empty_shift_is_head_only_and_valid() -> None:
    z = d.z_report(head(), [d.open_shift(head(1))])
    assert (z.realiz, z.ret, z.service_input, z.service_output) == (None, None, None, None)
    xml = d.render(z)
    d.validate(xml)
    assert b"ZREPREALIZ" not in xml and b"PAYFORMS" not in xml and b"ZREPBODY" not in xml


def test_z_refuses_documents_the_box_does_not_issue() -> None:
    odd = d.Check(head=head(), doc_type=d.DocType.CURRENCY_EXCHANGE)
    with pytest.raises(NotSupported):
        d.z_report(head(), [odd])


def test_z_equals_sum_of_random_documents_to_the_kopeck() -> None:
    rnd = random.Random(20261125)
    codes = list(TAXES)
    checks: list[d.Check] = []
    for n in range(300):
        items = []
        for _ in range(rnd.randint(1, 6)):
            qty = D(rnd.randint(1, 5000)) / D(1000) if rnd.random() < 0.4 else D(rnd.randint(1, 5))
            price = D(rnd.randint(1, 99999)) / D(100)
            cost = (qty * price).quantize(D("0.01"))
            picked = rnd.choice([(1,), (2,), (3,), (1, 4), (2, 5), (), (1, 4, 5)])
            assert all(c in codes for c in picked)
            disc = (
                (cost * D(rnd.randint(0, 30)) / 100).quantize(D("0.01")) if rnd.random() < 0.3 else D("0.00")
            )
            items.append(item(f"Товар {n}", str(qty), str(price), picked, discount=disc))
        probe = d.sale(head(n + 1), items, [cash("999999.00")], TAXES)
        total = probe.total
        assert total is not None
        kind = rnd.random()
        if kind < 0.4:
            pays = [cash(str(total + D(rnd.randint(0, 500))))]
        elif kind < 0.7:
            pays = [card(str(total))]
        else:
            part = (total * D(rnd.randint(0, 100)) / 100).quantize(D("0.01"))
            pays = [card(str(part)), d.Payment(2, "СЕРТИФІКАТ", total - part)]
            pays = [p for p in pays if p.amount > 0]
        rounding = rnd.random() < 0.3
        if rnd.random() < 0.15:
            checks.append(d.refund(head(n + 1), items, pays, TAXES, ret_num=str(n), round_cash=rounding))
        else:
            checks.append(d.sale(head(n + 1), items, pays, TAXES, round_cash=rounding))
        if rnd.random() < 0.05:
            checks.append(d.service_deposit(head(n + 1), D(rnd.randint(1, 100000)) / 100))
        if rnd.random() < 0.05:
            checks.append(d.service_issue(head(n + 1), D(rnd.randint(1, 100000)) / 100))

    z = roundtrip(d.z_report(head(1000), checks))
    assert isinstance(z, d.ZReport) and z.realiz is not None and z.ret is not None

    for section, subtype in ((z.realiz, d.DocSubType.CHECK_GOODS), (z.ret, d.DocSubType.CHECK_RETURN)):
        docs = [c for c in checks if c.doc_subtype == subtype]
        assert section.orders_count == len(docs)
        assert section.sum == sum((c.total or D(0) for c in docs), D(0))
        for letter in {t.letter for c in docs for t in c.taxes}:
            (zrow,) = [t for t in section.taxes if t.letter == letter]
            rows = [t for c in docs for t in c.taxes if t.letter == letter]
            assert zrow.sum == sum((t.sum for t in rows), D(0))
            assert zrow.turnover == sum((t.turnover for t in rows), D(0))
        for form in {p.form for c in docs for p in c.payments}:
            z_sum = sum((f.sum for f in section.pay_forms if f.form == form), D(0))
            assert z_sum == sum((p.amount for c in docs for p in c.payments if p.form == form), D(0))
        # the payments of every document cover exactly its total, so the forms add up to the section
        assert sum((f.sum for f in section.pay_forms), D(0)) == section.sum
        rounded = [c for c in docs if c.round_sum is not None]
        assert rounded, "the seeded data should exercise cash rounding"
        assert section.round_sum == sum((c.round_sum or D(0) for c in rounded), D(0))
        assert section.no_round_sum == sum((c.no_round_sum or c.total or D(0) for c in docs), D(0))
    deposits = [c.total or D(0) for c in checks if c.doc_subtype == d.DocSubType.SERVICE_DEPOSIT]
    issues = [c.total or D(0) for c in checks if c.doc_subtype == d.DocSubType.SERVICE_ISSUE]
    assert z.service_input == (sum(deposits, D(0)) if deposits else None)
    assert z.service_output == (sum(issues, D(0)) if issues else None)


# --- control sum ---------------------------------------------------------------------------------


def test_control_sum() -> None:
    docs = _all_documents()
    assert d.control_sum(docs["sale"]) == D("41.00")
    assert d.control_sum(docs["deposit"]) == D("500.00")
    assert d.control_sum(docs["issue"]) == D("250.50")
    for name in ("open", "close", "offline_begin", "offline_end", "storno", "z", "z_empty"):
        assert d.control_sum(docs[name]) is None, name
    # cash with change: the kept sum, not what was handed over
    c = d.sale(head(), [item()], [cash("50.00")], TAXES)
    assert d.control_sum(c) == D("10.00")


# --- validate ------------------------------------------------------------------------------------


def test_validate_reports_first_error_with_line() -> None:
    xml = d.render(d.open_shift(head()))
    bad = xml.replace(b"<VER>1</VER>", b"").replace(b"<CHECKHEAD>", b"<CHECKHEAD>\n")
    with pytest.raises(InvalidDocument, match=r"check01\.xsd: .*(line \d+)"):
        d.validate(bad)
    with pytest.raises(InvalidDocument, match="well-formed"):
        d.validate(b"<CHECK>")
    with pytest.raises(InvalidDocument, match="unknown document root"):
        d.validate(b"<FOO/>")
    money = d.render(d.service_deposit(head(), D("5.00"))).replace(b"<SUM>5.00</SUM>", b"<SUM>5</SUM>")
    with pytest.raises(InvalidDocument, match="SUM"):
        d.validate(money)


# --- parse: refusals of things the model cannot hold -----------------------------------------------


def test_parse_refuses_unknown_element_instead_of_dropping_it() -> None:
    xml = d.render(_sale_with())
    with_description = (
        xml.replace(b"<NAME>", b"<NAME>", 1)
        .replace(b"<AMOUNT>", b"<AMOUNT>", 1)
        .replace(b"</NAME><AMOUNT>", b"</NAME><DESCRIPTION>x</DESCRIPTION><AMOUNT>")
    )
    d.validate(with_description)  # legal for the schema ...
    with pytest.raises(NotSupported, match=r"not supported: <CHECKBODY/ROW/DESCRIPTION>"):
        d.parse(with_description)  # ... but the model has nowhere to keep it


def test_parse_keeps_return_origin_in_extra() -> None:
    c = d.refund(head(), [item()], [cash("10.00")], TAXES, "777")
    xml = d.render(replace(c, extra={"ORDERRETCASHREGNUM": "4000000002", "ORDERRETDATE": "24112026"}))
    assert b"<ORDERRETCASHREGNUM>4000000002</ORDERRETCASHREGNUM><ORDERRETDATE>24112026</ORDERRETDATE>" in xml
    back = roundtrip(d.parse(xml))
    assert isinstance(back, d.Check)
    assert back.extra == {"ORDERRETCASHREGNUM": "4000000002", "ORDERRETDATE": "24112026"}
    assert back.ret_num == "777"


def test_parse_refuses_non_bytes_and_tickets() -> None:
    with pytest.raises(InvalidDocument):
        d.parse("<CHECK/>")  # type: ignore[arg-type]
    with pytest.raises(NotSupported, match="ticket"):
        d.parse(b"<TICKET><UID>x</UID></TICKET>")


# --- the official examples -----------------------------------------------------------------------

SUPPORTED = "supported"
# file -> SUPPORTED, or the exception and a pattern of its message
OFFICIAL: dict[str, tuple[str, type[Exception] | None, str]] = {
    "check01(Товар).xml": (SUPPORTED, None, ""),
    "check01(Знижки).xml": (SUPPORTED, None, ""),
    "check01(Два податки).xml": (SUPPORTED, None, ""),
    "check01(Заокруглення).xml": (SUPPORTED, None, ""),
    "check01(Повернення).xml": (SUPPORTED, None, ""),
    "check01(Службове внесення).xml": (SUPPORTED, None, ""),
    "check01(Службова видача).xml": (SUPPORTED, None, ""),
    "check01(Сторно).xml": (SUPPORTED, None, ""),
    "check01(Відкриття зміни).xml": (SUPPORTED, None, ""),
    "check01(Закриття зміни).xml": (SUPPORTED, None, ""),
    "check01(Початок офлайн сесії).xml": (SUPPORTED, None, ""),
    "check01(Завершення офлайн сесії).xml": (SUPPORTED, None, ""),
    "check01(Сплата сертифікатом частини суми).xml": (SUPPORTED, None, ""),
    "zrep01(Товар).xml": (SUPPORTED, None, ""),
    "zrep01(Податки).xml": (SUPPORTED, None, ""),
    "zrep01(Типи оплати).xml": (SUPPORTED, None, ""),
    "check01(АЗС).xml": ("refused", NotSupported, "not supported: <CHECKTOTAL/NOTAXSUM>"),
    "check01(Валюта конвертація).xml": ("refused", NotSupported, r"currency exchange .*DOCTYPE 2"),
    "check01(Валюта продаж).xml": ("refused", NotSupported, r"currency exchange .*DOCTYPE 2"),
    "check01(Валюта підкріплення).xml": ("refused", NotSupported, r"currency exchange .*DOCTYPE 2"),
    "check01(Валюта службова видача).xml": ("refused", NotSupported, r"currency exchange .*DOCTYPE 2"),
    "check01(Валюта службове внесення).xml": ("refused", NotSupported, r"currency exchange .*DOCTYPE 2"),
    "check01(Валюта сторно конвертації).xml": ("refused", NotSupported, r"currency exchange .*DOCTYPE 2"),
    "check01(Видача готівки).xml": ("refused", NotSupported, r"cash withdrawal .*DOCTYPE 3"),
    "check01(Ломбард і Заокруглення).xml": ("refused", NotSupported, r"pawnshop .*DOCTYPE 4"),
    "check01(Ломбард).xml": ("refused", NotSupported, r"pawnshop .*DOCTYPE 4"),
    "check01(Опис всіх елементів).xml": ("refused", NotSupported, r"ПТКС.*not supported"),
    "check01(ПТКС).xml": ("refused", NotSupported, r"money transfer .*DOCTYPE 1"),
    "check01(Часткова сплата Остаточний розрахунок).xml": (
        "refused",
        NotSupported,
        "partial payments not supported",
    ),
    "check01(Часткова сплата Передплата).xml": ("refused", NotSupported, "partial payments not supported"),
    "check01(Часткова сплата Повернення Остаточний розрахунок).xml": (
        "refused",
        NotSupported,
        "partial payments not supported",
    ),
    "check01(Часткова сплата Повернення Передплата).xml": (
        "refused",
        NotSupported,
        "partial payments not supported",
    ),
    "check01(Часткова сплата Повернення Чергова сплата).xml": (
        "refused",
        NotSupported,
        "partial payments not supported",
    ),
    "check01(Часткова сплата Чергова сплата).xml": (
        "refused",
        NotSupported,
        "partial payments not supported",
    ),
    "check01(Часткова сплата Передплата Заокруглення).xml": (
        "malformed",
        InvalidDocument,
        r"not well-formed XML: .*'&'",
    ),
    "ticket01.xml": ("refused", NotSupported, "ticket"),
    "zrep01(АЗС).xml": ("refused", NotSupported, r"fuel station .*<ZREP/ZREPFUEL>"),
    "zrep01(Валюта).xml": ("refused", NotSupported, r"currency exchange .*<ZREP/ZREPVAL>"),
    "zrep01(Опис всіх елементів).xml": ("refused", NotSupported, r"<ZREP/ZREPCASH>"),
    "zrep01(ПТКС).xml": ("refused", NotSupported, r"currency totals .*TOTALCURRENCYCOST"),
}


@needs_examples
def test_every_official_example_is_classified() -> None:
    on_disk = {p.name for p in EXAMPLES.glob("*.xml")}
    assert on_disk == set(OFFICIAL), on_disk ^ set(OFFICIAL)


@needs_examples
@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_example(name: str) -> None:
    kind, exc, pattern = OFFICIAL[name]
    raw = (EXAMPLES / name).read_bytes()
    if kind != SUPPORTED:
        assert exc is not None
        with pytest.raises(exc, match=pattern):
            d.parse(raw)
        return
    doc = d.parse(raw)
    xml = d.render(doc)
    d.validate(xml)
    again = d.parse(xml)
    assert again == doc
    assert d.render(again) == xml


@needs_examples
def test_official_values_survive() -> None:
    def load(name: str) -> d.Document:
        return d.parse((EXAMPLES / name).read_bytes())

    goods = load("check01(Товар).xml")
    assert isinstance(goods, d.Check)
    assert goods.total == D("417.66") and goods.doc_subtype == d.DocSubType.CHECK_GOODS
    assert [(p.form, p.amount, p.provided) for p in goods.payments] == [
        (0, D("317.66"), D("400.00")),
        (1, D("100.00"), None),
    ]
    assert goods.lines[0].item.quantity == D("5.701") and goods.lines[0].item.unit_code == 25
    assert goods.extra == {"ORDERTAXNUM": "101234567890123"}  # online fiscal number of a stored copy
    assert goods.head.when == datetime(2015, 11, 18, 20, 15, 43, tzinfo=KYIV)

    rounding = load("check01(Заокруглення).xml")
    assert isinstance(rounding, d.Check)
    assert (rounding.total, rounding.round_sum, rounding.no_round_sum) == (D("12.60"), D("-0.03"), D("12.57"))
    assert rounding.extra.get("VER") == "0"

    st = load("check01(Сторно).xml")
    assert isinstance(st, d.Check)
    assert st.storno_num == "420.2.4812"
    assert st.head.offline == d.OfflineMark(
        tax_num="420.3.2598", prev_doc_hash="899127a70cb34a9ab50540d6462dde4832f162e28450dcab9128b3ba4a2b603c"
    )
    assert d.control_sum(st) is None

    begin = load("check01(Початок офлайн сесії).xml")
    assert isinstance(begin, d.Check) and begin.head.offline is not None
    assert begin.head.offline.revoke_last_online_doc and begin.doc_type == d.DocType.OFFLINE_BEGIN

    dep = load("check01(Службове внесення).xml")
    assert isinstance(dep, d.Check) and d.control_sum(dep) == D("600.53") and not dep.payments

    ret = load("check01(Повернення).xml")
    assert isinstance(ret, d.Check) and ret.ret_num == "2" and ret.doc_subtype == d.DocSubType.CHECK_RETURN

    two = load("check01(Два податки).xml")
    assert isinstance(two, d.Check)
    assert two.lines[0].letters == "АГ" and two.lines[0].item.excise_labels == ("AATE508932 0000412168",)

    disc = load("check01(Знижки).xml")
    assert isinstance(disc, d.Check)
    assert (disc.lines[0].item.discount, disc.lines[0].item.discount_percent) == (D("50.00"), D("50.00"))

    pay_types = load("zrep01(Типи оплати).xml")
    assert isinstance(pay_types, d.ZReport) and pay_types.realiz is not None
    assert [(f.form, f.name) for f in pay_types.realiz.pay_forms][2:] == [
        (2, "Попередня оплата"),
        (2, "Подарунковий сертифікат"),
    ]
    taxes = load("zrep01(Податки).xml")
    assert isinstance(taxes, d.ZReport) and taxes.service_output == D("4500.00")


@needs_examples
def test_builders_reproduce_official_tax_rows() -> None:
    """Our arithmetic gives the numbers the DPS put in its own examples."""
    for name, items, pays in (
        (
            "check01(Знижки).xml",
            [
                item("морква", "1", "100.00", (1,), discount=D("50.00")),
                item("цибуля", "1", "200.00", (2,), discount=D("40.00")),
            ],
            [cash("210.00")],
        ),
        ("check01(Два податки).xml", [item("Вино", "10", "25.99", (1, 4))], [card("259.90")]),
    ):
        official = d.parse((EXAMPLES / name).read_bytes())
        assert isinstance(official, d.Check)
        ours = d.sale(head(), items, pays, TAXES)
        assert ours.total == official.total
        for theirs in official.taxes:
            mine = tax_row(ours, theirs.letter)
            assert (mine.turnover, mine.sum) == (theirs.turnover, theirs.sum), name
            assert mine.source_sum == theirs.source_sum, name


@needs_examples
def test_known_faulty_examples_are_reported_clearly() -> None:
    pawn = (EXAMPLES / "check01(Ломбард).xml").read_bytes()
    # not a kind the box issues -- and the schema also rejects it (UNITCD 0 is below the minimum 1)
    with pytest.raises(NotSupported, match="pawnshop"):
        d.parse(pawn)
    with pytest.raises(InvalidDocument, match=r"UNITCD.*\(line \d+\)"):
        d.validate(pawn)
    broken = (EXAMPLES / "check01(Часткова сплата Передплата Заокруглення).xml").read_bytes()
    for call in (d.parse, d.validate):
        with pytest.raises(InvalidDocument, match=r"not well-formed XML.*line 9.*&amp;"):
            call(broken)


def test_money_has_exactly_two_decimals_everywhere() -> None:
    for doc in _all_documents().values():
        text = d.render(doc).decode("cp1251")
        for tag in (
            "SUM",
            "PROVIDED",
            "REMAINS",
            "PRICE",
            "COST",
            "PRC",
            "TURNOVER",
            "SOURCESUM",
            "DISCOUNTSUM",
        ):
            for value in re.findall(rf"<{tag}>([^<]*)</{tag}>", text):
                assert re.fullmatch(r"-?\d+\.\d{2}", value), (tag, value)
