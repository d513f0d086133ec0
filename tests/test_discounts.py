"""Receipt-level and line discounts, extra charges and cash rounding: the documents, the emulator's own
check of their arithmetic, the Z of a shift with them, the printed receipt and the till's answers."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agent.emulator import xmldoc
from agent.emulator.errors import FsError
from agent.emulator.totals import doc_facts, shift_totals, zrep_difference
from agent.receipts import layout_receipt, to_text
from agent.secr import documents as d
from agent.secr.documents.discounts import percent_of, spread
from agent.secr.errors import InvalidInput
from agent.till_api import adjustments, views
from tests.conftest import TAXES, Box, card, cash

D = Decimal
SELLER = d.Seller(
    tin="1234567890", org_name="ТОВ Тест", point_name="Магазин", cash_desk_num=1, cash_register_num=4000000001
)


def head(n: int = 1) -> d.DocHead:
    return d.DocHead(uid=f"uid-{n}", seller=SELLER, when=datetime(2025, 3, 1, 10, 0, tzinfo=UTC), order_num=n)


def item(
    name: str, price: str, qty: str = "1", tax: int = 1, discount: str = "0.00", pct: str | None = None
) -> d.Item:
    return d.Item(
        name=name,
        quantity=D(qty),
        price=D(price),
        tax_codes=(tax,),
        discount=D(discount),
        discount_percent=D(pct) if pct is not None else None,
    )


def adj(kind: str, mode: str, value: str, *codes: int) -> d.Adjustment:
    return d.Adjustment(kind=kind, mode=mode, value=D(value), tax_codes=codes)


def roundtrip(doc: d.Check) -> d.Check:
    xml = d.render(doc)
    d.validate(xml)
    xmldoc.check_sums(xmldoc.parse(xml))  # the emulator's own reading agrees
    back = d.parse(xml)
    assert isinstance(back, d.Check)
    # what render wrote, parse reads back (tax codes are the till's, the document names letters)
    assert d.render(back) == xml
    assert [(ln.item.discount, ln.share) for ln in back.lines] == [
        (ln.item.discount, ln.share) for ln in doc.lines
    ]
    assert back.receipt_discount == doc.receipt_discount and back.discount_sum == doc.discount_sum
    return back


def test_spread_sums_exactly_and_is_deterministic() -> None:
    rnd = random.Random(10)
    for _ in range(2000):
        bases = [D(rnd.randint(0, 50000)) / 100 for _ in range(rnd.randint(1, 7))]
        whole = sum(bases, D(0))
        if whole == 0:
            continue
        amount = D(rnd.randint(0, int(whole * 100))) / 100 * rnd.choice((1, -1))
        parts = spread(amount, bases)
        assert sum(parts, D(0)) == amount and parts == spread(amount, bases)
        if amount >= 0:
            assert all(0 <= p <= b for p, b in zip(parts, bases, strict=True))
    # the kopeck left over goes to the largest remainder: 0.10 over three equal lines
    assert spread(D("0.10"), [D("1.00")] * 3) == [D("0.04"), D("0.03"), D("0.03")]
    assert spread(D("-0.10"), [D("1.00"), D("2.00")]) == [D("-0.03"), D("-0.07")]


def test_receipt_percent_discount_value_charge_and_line_discounts() -> None:
    items = [
        item("Сир", "100.00", pct="10", discount="10.00"),  # own 10 % off
        item("Вода", "33.33", qty="3", tax=2),  # cost 99.99
        item("Хліб", "20.00", discount="-2.00"),  # own extra charge 2.00
    ]
    doc = d.sale(
        head(),
        items,
        [cash("500.00")],
        TAXES,
        adjustments=[adj("DISCOUNT", "PERCENT", "10"), adj("EXTRA_CHARGE", "VALUE", "5.00")],
    )
    bases = [D("90.00"), D("99.99"), D("22.00")]
    assert doc.receipt_discount == d.ReceiptDiscount(subtotal=sum(bases, D(0)), percent=None)
    # 10 % of 211.99 is 21.20 off, 5.00 charged: 16.20 net, spread in proportion to the bases
    assert doc.receipt_discount_sum == D("16.20")
    assert [ln.share for ln in doc.lines] == [
        p + c for p, c in zip(spread(D("21.20"), bases), spread(D("-5.00"), bases), strict=True)
    ]
    assert doc.total == sum((ln.net for ln in doc.lines), D(0)) == D("211.99") - D("16.20")
    assert doc.discount_sum == D("10.00") - D("2.00") + D("16.20")
    a, b = doc.taxes
    assert a.turnover == D("120.00") and a.turnover_discount == doc.lines[0].net + doc.lines[2].net
    assert b.turnover == D("99.99") and b.turnover_discount == doc.lines[1].net
    back = roundtrip(doc)
    assert back.lines[0].item.discount == D("10.00") and back.lines[2].item.discount == D("-2.00")


def test_one_percent_discount_on_the_receipt_is_described_in_checktotal() -> None:
    doc = d.sale(
        head(),
        [item("А", "10.00"), item("Б", "5.01", tax=2)],
        [card("13.51")],
        TAXES,
        adjustments=[adj("DISCOUNT", "PERCENT", "10")],
    )
    assert doc.receipt_discount == d.ReceiptDiscount(subtotal=D("15.01"), percent=D("10"))
    assert doc.receipt_discount_sum == D("1.50") and doc.total == D("13.51")
    xml = d.render(doc).decode("cp1251")
    assert "<USAGETYPE>1</USAGETYPE><SUBCHECK>15.01</SUBCHECK><DISCOUNTTYPE>1</DISCOUNTTYPE>" in xml
    roundtrip(doc)
    charged = d.sale(
        head(),
        [item("А", "10.00")],
        [cash("10.50")],
        TAXES,
        adjustments=[adj("EXTRA_CHARGE", "PERCENT", "5")],
    )
    assert charged.total == D("10.50") and charged.receipt_discount == d.ReceiptDiscount(D("10.00"), D("-5"))
    assert "<DISCOUNTPERCENT>-5.00</DISCOUNTPERCENT><DISCOUNTSUM>-0.50</DISCOUNTSUM>" in d.render(
        charged
    ).decode("cp1251")
    roundtrip(charged)


def test_a_discount_by_tax_code_touches_only_those_lines() -> None:
    doc = d.sale(
        head(),
        [item("А", "10.00"), item("Б", "10.00", tax=2)],
        [cash("19.00")],
        TAXES,
        adjustments=[adj("DISCOUNT", "VALUE", "1.00", 2)],
    )
    assert [ln.share for ln in doc.lines] == [None, D("1.00")]
    roundtrip(doc)


@pytest.mark.parametrize(
    ("adjustments", "items", "fld"),
    [
        ([adj("DISCOUNT", "VALUE", "10.01")], [item("А", "10.00")], "discounts[0].value"),
        ([adj("DISCOUNT", "PERCENT", "100.01")], [item("А", "10.00")], "discounts[0].value"),
        ([adj("DISCOUNT", "VALUE", "1.00")], [item("А", "1.00", discount="1.00")], "discounts[0]"),
        ([adj("DISCOUNT", "VALUE", "1.00", 2)], [item("А", "10.00")], "discounts[0].tax_codes"),
        ([adj("DISCOUNT", "VALUE", "6.00")] * 2, [item("А", "10.00")], "discounts"),
        ([adj("DISCOUNT", "VALUE", "1.001")], [item("А", "10.00")], "discounts[0].value"),
        ([adj("MARKUP", "VALUE", "1.00")], [item("А", "10.00")], "discounts[0].type"),
        ([], [item("А", "10.00", discount="10.01")], "items[0].discount"),
    ],
)
def test_impossible_discounts_are_refused_naming_the_field(
    adjustments: list[d.Adjustment], items: list[d.Item], fld: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        d.sale(head(), items, [cash("100.00")], TAXES, adjustments=adjustments)
    assert info.value.field == fld


def test_a_whole_discount_leaves_a_free_receipt() -> None:
    doc = d.sale(
        head(), [item("А", "10.00")], [cash("0.00")], TAXES, adjustments=[adj("DISCOUNT", "PERCENT", "100")]
    )
    assert doc.total == D("0.00")
    roundtrip(doc)


def test_rounding_of_the_cash_part_only() -> None:
    # the till paid the price it knew: the cash row is moved to the rounded sum (NBU: 5-9 kop up)
    up = d.sale(head(), [item("А", "12.57")], [cash("12.57")], TAXES, round_cash=True)
    assert (up.total, up.round_sum, up.no_round_sum, up.payments[0].amount) == (
        D("12.60"),
        D("-0.03"),
        D("12.57"),
        D("12.60"),
    )
    roundtrip(up)
    down = d.sale(head(), [item("А", "12.54")], [card("5.00"), cash("7.54")], TAXES, round_cash=True)
    assert (down.total, down.round_sum, [p.amount for p in down.payments]) == (
        D("12.50"),
        D("0.04"),
        [D("5.00"), D("7.50")],
    )
    roundtrip(down)
    by_card = d.sale(head(), [item("А", "12.54")], [card("12.54")], TAXES, round_cash=True)
    assert by_card.round_sum is None and by_card.total == D("12.54")
    returned = d.refund(head(), [item("А", "12.57")], [cash("12.57")], TAXES, "77", round_cash=True)
    assert (returned.total, returned.round_sum) == (D("12.60"), D("-0.03"))
    roundtrip(returned)


def _tampered(doc: d.Check, old: str, new: str) -> bytes:
    xml = d.render(doc)
    assert old.encode() in xml
    return xml.replace(old.encode(), new.encode(), 1)


def test_the_emulator_rejects_wrong_discount_and_rounding_arithmetic() -> None:
    doc = d.sale(
        head(),
        [item("Сир", "100.00", pct="10", discount="10.00"), item("Вода", "20.00", tax=2)],
        [cash("99.00")],
        TAXES,
        adjustments=[adj("DISCOUNT", "PERCENT", "10")],
    )
    xmldoc.check_sums(xmldoc.parse(d.render(doc)))
    cases = [
        (
            "<DISCOUNTPERCENT>10.00</DISCOUNTPERCENT><DISCOUNTSUM>19.00</DISCOUNTSUM>",
            "<DISCOUNTPERCENT>10.00</DISCOUNTPERCENT><DISCOUNTSUM>19.50</DISCOUNTSUM>",
        ),
        ("<SUBCHECK>110.00</SUBCHECK>", "<SUBCHECK>111.00</SUBCHECK>"),
        (
            "<DISCOUNTPERCENT>10.00</DISCOUNTPERCENT><DISCOUNTSUM>21.00",
            "<DISCOUNTPERCENT>11.00</DISCOUNTPERCENT><DISCOUNTSUM>21.00",
        ),
        ("<DISCOUNTSUM>21.00</DISCOUNTSUM></CHECKTOTAL>", "<DISCOUNTSUM>20.00</DISCOUNTSUM></CHECKTOTAL>"),
        ("<TURNOVERDISCOUNT>81.00", "<TURNOVERDISCOUNT>82.00"),
    ]
    for old, new in cases:
        with pytest.raises(FsError):
            xmldoc.check_sums(xmldoc.parse(_tampered(doc, old, new)))
    rounded = d.sale(head(), [item("А", "12.57")], [cash("20.00")], TAXES, round_cash=True)
    xmldoc.check_sums(xmldoc.parse(d.render(rounded)))
    for old, new in [
        ("<RNDSUM>-0.03</RNDSUM>", "<RNDSUM>0.07</RNDSUM>"),  # SUM no longer NORNDSUM - RNDSUM
        (  # consistent with itself, but 12.57 is not rounded to 12.70
            "<SUM>12.60</SUM><RNDSUM>-0.03</RNDSUM>",
            "<SUM>12.70</SUM><RNDSUM>-0.13</RNDSUM>",
        ),
    ]:
        with pytest.raises(FsError):
            xmldoc.check_sums(xmldoc.parse(_tampered(rounded, old, new)))
    by_card = d.sale(head(), [item("А", "12.57")], [card("12.57")], TAXES)
    # a card receipt "rounded" (its sums consistent with each other): cashless payments are never rounded
    card_rounded = (
        d.render(by_card)
        .replace(
            b"<CHECKTOTAL><SUM>12.57</SUM>",
            b"<CHECKTOTAL><SUM>12.60</SUM><RNDSUM>-0.03</RNDSUM><NORNDSUM>12.57</NORNDSUM>",
        )
        .replace(
            b"<PAYFORMNM>\xca\xc0\xd0\xd2\xca\xc0</PAYFORMNM><SUM>12.57",
            b"<PAYFORMNM>\xca\xc0\xd0\xd2\xca\xc0</PAYFORMNM><SUM>12.60",
        )
    )
    with pytest.raises(FsError, match="безготівкові"):
        xmldoc.check_sums(xmldoc.parse(card_rounded))


def _shift(rnd: random.Random) -> list[d.Check]:
    """A seeded shift: discounts, extra charges, rounding, cash+card, returns, service in and out."""
    checks: list[d.Check] = [d.service_deposit(head(1), D("500.00"))]
    for n in range(2, 80):
        items = []
        for k in range(rnd.randint(1, 4)):
            price = D(rnd.randint(1, 50000)) / 100
            qty = D(rnd.randint(1, 3000)) / 1000
            cost = (price * qty).quantize(D("0.01"))
            pct = D(rnd.randint(-20, 50))
            disc = percent_of(cost, pct) if rnd.random() < 0.4 else D("0.00")
            items.append(
                item(
                    f"Товар {k}",
                    str(price),
                    str(qty),
                    tax=rnd.choice((1, 2)),
                    discount=str(disc),
                    pct=str(pct) if disc else None,
                )
            )
        adjustments = []
        if rnd.random() < 0.5:
            adjustments.append(
                adj(rnd.choice(("DISCOUNT", "EXTRA_CHARGE")), "PERCENT", str(rnd.randint(1, 30)))
            )
        if rnd.random() < 0.3:
            adjustments.append(adj("EXTRA_CHARGE", "VALUE", str(D(rnd.randint(1, 500)) / 100)))
        probe = d.sale(head(n), items, [cash("9999999.00")], TAXES, adjustments=adjustments)
        total = probe.total
        assert total is not None
        if total == 0:
            continue
        kind = rnd.random()
        if kind < 0.4:
            pays = [cash(str(total))]
        elif kind < 0.7:
            pays = [card(str(total))]
        else:
            part = (total * D(rnd.randint(1, 99)) / 100).quantize(D("0.01"))
            pays = [card(str(part)), cash(str(total - part + D(rnd.randint(0, 300)) / 100))]
        rounding = rnd.random() < 0.6
        build = d.refund if rnd.random() < 0.2 else d.sale
        if build is d.refund:
            checks.append(
                d.refund(head(n), items, pays, TAXES, str(n), round_cash=rounding, adjustments=adjustments)
            )
        else:
            checks.append(d.sale(head(n), items, pays, TAXES, round_cash=rounding, adjustments=adjustments))
        if rnd.random() < 0.05:
            checks.append(d.service_issue(head(n), D(rnd.randint(1, 10000)) / 100))
    return checks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_z_equals_its_shift_to_the_kopeck_with_discounts_charges_and_rounding(seed: int) -> None:
    checks = _shift(random.Random(seed))
    assert any(c.round_sum for c in checks) and any(c.receipt_discount for c in checks)
    assert any(c.doc_subtype == d.DocSubType.CHECK_RETURN and c.round_sum for c in checks)
    rows = []
    for c in checks:
        xml = d.render(c)
        d.validate(xml)
        parsed = xmldoc.parse(xml)
        xmldoc.check_sums(parsed)  # every document passes the emulator's arithmetic
        facts = doc_facts(parsed)
        rows.append({"revoked": False, "storned": False, "facts": json.dumps(facts) if facts else None})
    z = d.z_report(head(1000), checks)
    zxml = d.render(z)
    d.validate(zxml)
    server = shift_totals(rows)
    assert zrep_difference(xmldoc.parse(zxml), server) is None
    assert z.realiz is not None and z.ret is not None
    assert z.realiz.round_sum == server.real.rnd_sum and z.ret.round_sum == server.ret.rnd_sum
    # the figures the till gets: the splits are exact from the checks, and add up to the net
    figures = adjustments.report_rounding_json(z)
    sales = [c for c in checks if c.doc_subtype == d.DocSubType.CHECK_GOODS]
    assert figures["sales_round_down"] - figures["sales_round_up"] == adjustments.kop(z.realiz.round_sum)
    assert figures["discounts_sum"] - figures["extra_charge_sum"] == sum(
        adjustments.kop(c.discount_sum) for c in sales if c.discount_sum is not None
    )
    # a Z whose rounding disagrees with its shift is refused
    assert z.realiz.round_sum is not None
    wrong = replace(z, realiz=replace(z.realiz, round_sum=z.realiz.round_sum + D("0.01")))
    assert "RNDSUM" in (zrep_difference(xmldoc.parse(d.render(wrong)), server) or "")


def test_report_rounding_json_of_a_parsed_z_takes_the_net_figures() -> None:
    checks = [
        d.sale(head(1), [item("А", "12.57")], [cash("12.57")], TAXES, round_cash=True),  # up 3
        d.sale(head(2), [item("А", "12.54")], [cash("12.54")], TAXES, round_cash=True),  # down 4
        d.sale(head(3), [item("А", "10.00", discount="1.00")], [card("9.00")], TAXES),
    ]
    z = d.z_report(head(9), checks)
    exact = adjustments.report_rounding_json(z)
    assert exact == {
        "discounts_sum": 100,
        "extra_charge_sum": 0,
        "sales_round_up": 3,
        "sales_round_down": 4,
        "returns_round_up": 0,
        "returns_round_down": 0,
    }
    parsed = d.parse(d.render(z))
    assert isinstance(parsed, d.ZReport) and parsed == z
    net = adjustments.report_rounding_json(parsed)
    assert net["sales_round_down"] == 1 and net["sales_round_up"] == 0 and net["discounts_sum"] == 100


def test_the_printed_receipt_shows_discounts_charges_and_rounding() -> None:
    doc = d.sale(
        head(),
        [item("Сир", "100.00", pct="10", discount="10.00"), item("Хліб", "20.03", discount="-2.00")],
        [cash("200.00")],
        TAXES,
        round_cash=True,
        adjustments=[adj("DISCOUNT", "PERCENT", "5")],
    )
    back = roundtrip(doc)
    text = to_text(layout_receipt(back, fiscal_num="123", offline=False, width_chars=42))
    lines = text.splitlines()

    def row(label: str) -> str:
        return next(ln for ln in lines if ln.strip().startswith(label))

    assert row("ЗНИЖКА 10.00%").endswith("-10.00")
    assert row("НАДБАВКА").endswith("+2.00")
    assert row("ЗНИЖКА НА ЧЕК 5.00%").endswith(f"-{back.receipt_discount_sum:.2f}")
    assert back.round_sum is not None and row("Заокруглення").endswith(f"{back.round_sum:.2f}")
    assert row("ДО СПЛАТИ").endswith(f"{back.total:.2f} грн")
    order = [text.index(s) for s in ("ЗНИЖКА НА ЧЕК", "СУМА", "ПДВ А", "Заокруглення", "ДО СПЛАТИ")]
    assert order == sorted(order)


def test_answers_show_discounts_and_round_sum_from_the_document() -> None:
    doc = d.parse(
        d.render(
            d.sale(
                head(),
                [item("Сир", "100.00", pct="10", discount="10.00"), item("Хліб", "20.00", discount="-2.00")],
                [cash("200.00")],
                TAXES,
                round_cash=True,
                adjustments=[adj("EXTRA_CHARGE", "VALUE", "1.03")],
            )
        )
    )
    assert isinstance(doc, d.Check)
    cheese, bread = (views.good_json(ln, is_return=False) for ln in doc.lines)
    assert cheese["discounts"] == [
        {"type": "DISCOUNT", "mode": "PERCENT", "value": 10.0, "sum": 1000, "name": None}
    ]
    assert cheese["total_sum"] == 9000
    assert bread["discounts"] == [
        {"type": "EXTRA_CHARGE", "mode": "VALUE", "value": 200, "sum": 200, "name": None}
    ]
    assert bread["total_sum"] == 2200
    assert adjustments.receipt_discounts_json(doc) == [
        {"type": "EXTRA_CHARGE", "mode": "VALUE", "value": 103, "sum": 103, "name": None}
    ]
    # 90.00 + 22.00 + 1.03 = 113.03 → 113.00 in cash: rounded down 3
    assert doc.total == D("113.00") and adjustments.round_sum_json(doc) == -3


def test_a_rounded_sale_is_returned_with_rounding_through_the_register(box: Box) -> None:
    """The emulator registers both; a return may not pay back more than the rounded sale took in."""
    reg = box.register
    reg.open_shift()
    sold = reg.sell(
        [item("А", "12.54")],
        [cash("12.54")],
        round_cash=True,
        adjustments=[adj("EXTRA_CHARGE", "VALUE", "0.00")],
    )
    assert isinstance(sold.document, d.Check) and sold.document.total == D("12.50")
    with pytest.raises(InvalidInput) as info:
        reg.refund([item("А", "12.54")], [cash("12.54")], sale_fiscal_num=sold.fiscal_num)
    assert info.value.field == "payments"
    back = reg.refund([item("А", "12.54")], [cash("12.54")], sale_fiscal_num=sold.fiscal_num, round_cash=True)
    assert isinstance(back.document, d.Check)
    assert (back.document.total, back.document.round_sum) == (D("12.50"), D("0.04"))
    z, _ = reg.close_shift()
    assert isinstance(z.document, d.ZReport) and z.document.ret is not None
    assert z.document.ret.round_sum == D("0.04")
