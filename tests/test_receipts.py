"""Receipt layout (reference §6): mandatory rows in order, wrapping, the QR URL, text/HTML/PNG renderers."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from PIL import Image

from agent.receipts import (
    Align,
    Layout,
    Pair,
    Qr,
    Text,
    layout_receipt,
    layout_x_report,
    qr_png,
    qr_url,
    to_html,
    to_png,
    to_text,
)
from agent.receipts.checkurl import CHECK_BY_QR, caption, url_rows
from agent.receipts.layout import QrCaption
from agent.receipts.wrapping import pair_lines
from agent.secr import documents as d

D = Decimal
FN = 4000000001
SELLER = d.Seller(
    tin="12345678",
    org_name='ТОВ "Приклад"',
    point_name="Магазин",
    cash_desk_num=1,
    cash_register_num=FN,
    ipn="123456789012",
    point_address="м. Київ, вул. Прикладна, 1",
)
WHEN = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)  # 12:00:05 in Kyiv
KYIV_TIME = "25.11.2026 12:00:05"
VAT20 = d.Tax(code=1, letter="А", rate=D("20.00"), name="ПДВ")
TAXES = {1: VAT20}
OFFLINE = d.OfflineMark("5008.3.4758", prev_doc_hash="ab" * 32)
ONLINE_NUM = 1384554129
LONG_NAME = "Дуже довга назва товару, яка ніяк не вміщується в один рядок чекової стрічки 58 мм ЗАКІНЧЕННЯ"


def head(n: int = 1, **kw: Any) -> d.DocHead:
    return replace(
        d.DocHead(uid=f"uid-{n}", seller=SELLER, when=WHEN, order_num=n, cashier="Іваненко І."), **kw
    )


def item(name: str = "Хліб", qty: str = "1", price: str = "10.00", **kw: Any) -> d.Item:
    return replace(d.Item(name=name, quantity=D(qty), price=D(price), tax_codes=(1,)), **kw)


def registered(doc: d.Document) -> d.Document:
    """What the box prints from: the parsed registered XML, never the builder's object."""
    return d.parse(d.render(doc))


def cash_sale() -> d.Document:
    return registered(
        d.sale(
            head(2),
            [item("Хліб", "2", "25.00", barcode="4820000000000"), item("Молоко", "1", "42.50")],
            [d.Payment(form=0, name="ГОТІВКА", amount=D("100.00"))],
            TAXES,
        )
    )


def card_sale(**head_kw: Any) -> d.Document:
    pay = d.Payment(
        form=1,
        name="Платіжна картка",
        amount=D("25.00"),
        payment_system="VISA",
        card_mask="4111********1111",
        auth_code="123456",
        rrn="000111222333",
        terminal="T0001",
        acquirer="АТ КБ ПриватБанк",
        acquirer_id="S1234567",
        pos_receipt_no="0042",
        client_info="IVANENKO IVAN",
        commission=D("0.38"),
    )
    return registered(d.sale(head(3, **head_kw), [item("Хліб", "1", "25.00")], [pay], TAXES))


def offline_sale() -> d.Document:
    return registered(
        d.sale(
            head(4, offline=OFFLINE),
            [item("Хліб", "1", "25.00")],
            [d.Payment(form=0, name="ГОТІВКА", amount=D("25.00"))],
            TAXES,
        )
    )


def text_of(doc: d.Document, width: int = 32, **kw: Any) -> str:
    offline = doc.head.offline is not None
    kw.setdefault("fiscal_num", None if offline else ONLINE_NUM)
    return to_text(layout_receipt(doc, offline=offline, width_chars=width, **kw), width)


def assert_in_order(text: str, needles: list[str]) -> None:
    pos = 0
    for needle in needles:
        found = text.find(needle, pos)
        assert found >= 0, f"{needle!r} missing (or out of order) after position {pos} in:\n{text}"
        pos = found + len(needle)


HEADER = ['ТОВ "Приклад"', "Магазин", "м. Київ, вул. Прикладна, 1", "ПН 123456789012"]


# --- mandatory rows, in order -------------------------------------------------------------------


def test_online_cash_sale_rows_in_order() -> None:
    text = text_of(cash_sale())
    assert_in_order(
        text,
        [
            *HEADER,
            "2 x 25.00",
            "4820000000000",
            "Хліб",
            "50.00 А",
            "Молоко",
            "42.50 А",
            "ГОТІВКА",
            "92.50 грн",
            "СУМА",
            "92.50 грн",
            "ПДВ А 20.00%",
            "15.42",
            "ДО СПЛАТИ",
            "92.50 грн",
            "РЕШТА",
            "7.50 грн",
            f"ЧЕК № {ONLINE_NUM}",
            KYIV_TIME,
            "https://cabinet.tax.gov.ua/",  # the text view spells the QR's address out (checkurl)
            "ОНЛАЙН",
            f"ФН ПРРО {FN}",
            "ФІСКАЛЬНИЙ ЧЕК",
            "fiscal-box",
        ],
    )
    assert "ОФЛАЙН" not in text
    assert "Контрольне число" not in text
    assert "1 x" not in text  # row 6 only when the quantity is not one unit


def test_card_sale_has_card_block_and_cashless_form() -> None:
    text = text_of(card_sale())
    assert_in_order(
        text,
        [
            *HEADER,
            "Хліб",
            "ЕКВАЙР АТ КБ ПриватБанк",  # row 12: ACQUIRENM
            "ЕКВАЙР ТА ТОРГОВЕЦЬ S1234567",  # row 12: ACQUIREID
            "ТЕРМІНАЛ T0001",  # row 13: DEVICEID
            "КОМІСІЯ",  # row 14: COMMISSION
            "0.38",
            "ВИД ОПЕРАЦІЇ ОПЛАТА",
            "ЕПЗ 4111********1111",  # row 16: EPZDETAILS
            "ПЛАТІЖНА СИСТЕМА VISA",  # row 17: NAME, AUTHCD, ACQUIRETRANSID, POSTRANSNUM
            "КОД АВТ. 123456",
            "RRN 000111222333",
            "ЧЕК ТЕРМІНАЛУ 0042",
            "БЕЗГОТІВКОВА",
            "Платіжна картка",  # row 19: the means
            "СУМА",
            "ПДВ А 20.00%",
            "ДО СПЛАТИ",
            f"ЧЕК № {ONLINE_NUM}",
            "ОНЛАЙН",
            "ФІСКАЛЬНИЙ ЧЕК",
        ],
    )
    assert "РЕШТА" not in text  # change is for cash payments only
    assert "IVANENKO" not in text  # CLIENTINFO, the holder's name, is no requisite of order 13


def test_offline_sale_rows() -> None:
    text = text_of(offline_sale())
    assert_in_order(
        text,
        [
            *HEADER,
            "Хліб",
            "СУМА",
            "ПДВ А",
            "ДО СПЛАТИ",
            "РЕШТА",
            "0.00 грн",
            "ЧЕК № 5008.3.4758",
            KYIV_TIME,
            "ОФЛАЙН",
            "Контрольне число: 4758",
            f"ФН ПРРО {FN}",
            "ФІСКАЛЬНИЙ ЧЕК",
        ],
    )
    assert "ОНЛАЙН" not in text


def test_rows_carry_their_form_numbers_in_order() -> None:
    layout = layout_receipt(cash_sale(), fiscal_num=ONLINE_NUM, offline=False, width_chars=32)
    rows = [ln.row for ln in layout if isinstance(ln, Text | Pair | Qr) and ln.row is not None]
    assert rows == sorted(rows)
    assert {1, 2, 3, 4, 6, 8, 11, 18, 20, 21, 24, 25, 26, 27, 29, 31, 34, 35} <= set(rows)


def test_return_is_a_vydatkovyi_chek() -> None:
    doc = registered(
        d.refund(
            head(5),
            [item("Хліб", "2", "25.00")],
            [d.Payment(form=0, name="ГОТІВКА", amount=D("50.00"))],
            TAXES,
            ret_num="1384554129",
        )
    )
    text = text_of(doc, fiscal_num=1384554200)
    assert_in_order(
        text,
        [
            *HEADER,
            "ВИДАТКОВИЙ ЧЕК",
            "Повернення для",
            "документу №",
            "1384554129",
            "2 x 25.00",
            "Хліб",
            "ГОТІВКА",
            "50.00 грн",
            "СУМА",
            "50.00 грн",
            "ПДВ А 20.00%",
            "8.33",
            "ЧЕК № 1384554200",
            KYIV_TIME,
            "ОНЛАЙН",
            f"ФН ПРРО {FN}",
            "ВИДАТКОВИЙ ЧЕК",
        ],
    )
    for absent in ("ДО СПЛАТИ", "РЕШТА", "ФІСКАЛЬНИЙ ЧЕК"):
        assert absent not in text
    # a pair: the number stays on a line with its label's last words, never alone under them
    assert any("№" in line and line.endswith("1384554129") for line in text.splitlines())


def test_service_deposit() -> None:
    text = text_of(registered(d.service_deposit(head(6), D("500.00"))), fiscal_num=77)
    assert_in_order(
        text,
        [
            *HEADER,
            "СЛУЖБОВЕ ВНЕСЕННЯ",
            "ГОТІВКА",
            "500.00 грн",
            "ЧЕК № 77",
            KYIV_TIME,
            "ОНЛАЙН",
            f"ФН ПРРО {FN}",
        ],
    )
    assert "СЛУЖБОВИЙ ЧЕК" in text
    assert "ФІСКАЛЬНИЙ" not in text


def test_service_issue_offline() -> None:
    doc = registered(d.service_issue(head(7, offline=replace(OFFLINE, tax_num="5008.4.123")), D("250.50")))
    text = text_of(doc)
    assert_in_order(
        text, ["СЛУЖБОВА ВИДАЧА", "250.50 грн", "ЧЕК № 5008.4.123", "ОФЛАЙН", "Контрольне число: 123"]
    )


def test_storno_names_the_cancelled_document() -> None:
    text = text_of(registered(d.storno(head(8), storno_num="420.2.4812")), fiscal_num=78)
    assert_in_order(text, ["СТОРНО", "420.2.4812", "ЧЕК № 78", "ОНЛАЙН", "СЛУЖБОВИЙ ЧЕК"])


@pytest.mark.parametrize(
    ("build", "title"),
    [(d.open_shift, "ВІДКРИТТЯ ЗМІНИ"), (d.close_shift, "ЗАКРИТТЯ ЗМІНИ")],
)
def test_shift_slips(build: Any, title: str) -> None:
    text = text_of(registered(build(head(9))), fiscal_num=79)
    assert_in_order(text, [*HEADER, title, "ДОКУМЕНТ № 79", KYIV_TIME, "ОНЛАЙН", "СЛУЖБОВИЙ ДОКУМЕНТ"])


def _z() -> d.ZReport:
    sale = d.sale(
        head(2),
        [item("Хліб", "2", "25.00")],
        [d.Payment(form=0, name="ГОТІВКА", amount=D("50.00"))],
        TAXES,
    )
    ret = d.refund(
        head(3), [item()], [d.Payment(form=0, name="ГОТІВКА", amount=D("10.00"))], TAXES, ret_num="1"
    )
    dep = d.service_deposit(head(4), D("500.00"))
    z = registered(d.z_report(head(11), [sale, ret, dep]))
    assert isinstance(z, d.ZReport)
    return z


def test_z_report() -> None:
    text = text_of(_z(), fiscal_num=90)
    assert_in_order(
        text,
        [
            *HEADER,
            "Z-ЗВІТ",
            "Z-звіт № 90",
            "РЕАЛІЗАЦІЯ",
            "Кількість чеків",
            "ГОТІВКА",
            "50.00",
            "ПДВ А 20.00%",
            "8.33",
            "ПОВЕРНЕННЯ",
            "10.00",
            "СЛУЖБОВЕ ВНЕСЕННЯ",
            "500.00",
            "Готівка в касі",
            "540.00",
            KYIV_TIME,
            "ОНЛАЙН",
            f"ФН ПРРО {FN}",
            "ФІСКАЛЬНИЙ ЗВІТНИЙ ЧЕК",
        ],
    )


def test_x_report_is_not_fiscal() -> None:
    printed = datetime(2026, 11, 25, 15, 30, 0, tzinfo=UTC)
    text = to_text(layout_x_report(_z(), printed_at=printed), 32)
    assert_in_order(
        text, ["X-ЗВІТ", "НЕФІСКАЛЬНИЙ ДОКУМЕНТ", "РЕАЛІЗАЦІЯ", "25.11.2026 17:30:00", f"ФН ПРРО {FN}"]
    )
    assert "Z-ЗВІТ" not in text and "ФІСКАЛЬНИЙ ЗВІТНИЙ" not in text


def test_test_document_and_copy_marks() -> None:
    printed = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
    text = text_of(card_sale(testing=True), copy=True, printed_at=printed)
    assert text.count("ТЕСТОВИЙ НЕФІСКАЛЬНИЙ ДОКУМЕНТ") == 2
    assert_in_order(
        text, ["КОПІЯ", 'ТОВ "Приклад"', "ФІСКАЛЬНИЙ ЧЕК", "КОПІЯ", "Надруковано 01.12.2026 10:00:00"]
    )
    with pytest.raises(ValueError, match="printed_at"):
        layout_receipt(card_sale(), fiscal_num=1, offline=False, width_chars=32, copy=True)


def test_discount_and_rounding_rows() -> None:
    doc = registered(
        d.sale(
            head(12),
            [item("Хліб", "1", "12.57", discount=D("0.00")), item("Сир", "1", "10.00", discount=D("1.00"))],
            [d.Payment(form=0, name="ГОТІВКА", amount=D("30.00"))],
            TAXES,
            round_cash=True,
        )
    )
    text = text_of(doc)
    assert_in_order(text, ["Сир", "10.00 А", "ЗНИЖКА", "-1.00", "СУМА", "21.57 грн", "ПДВ А", "Заокруглення"])
    assert_in_order(text, ["Заокруглення", "0.03", "ДО СПЛАТИ", "21.60 грн", "РЕШТА", "8.40 грн"])


def test_mode_must_match_the_document() -> None:
    with pytest.raises(ValueError, match="offline"):
        layout_receipt(offline_sale(), fiscal_num=None, offline=False, width_chars=32)
    with pytest.raises(ValueError, match="fiscal_num"):
        layout_receipt(cash_sale(), fiscal_num=None, offline=False, width_chars=32)


# --- geometry -----------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [32, 48])
@pytest.mark.parametrize("build", [cash_sale, card_sale, offline_sale, _z])
def test_no_line_exceeds_the_width(width: int, build: Any) -> None:
    doc = build()
    text = text_of(doc, width, fiscal_num=None if doc.head.offline else ONLINE_NUM)
    assert max(len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("width", [32, 48])
def test_long_name_and_address_wrap_without_loss(width: int) -> None:
    seller = replace(
        SELLER, point_address="м. Київ, проспект Володимира Івасюка, будинок 123-Б, приміщення 45"
    )
    doc = registered(
        d.sale(
            replace(head(13), seller=seller),
            [item(LONG_NAME, "1", "99999.99")],
            [d.Payment(form=0, name="ГОТІВКА", amount=D("99999.99"))],
            TAXES,
        )
    )
    text = text_of(doc, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    joined = " ".join(line.strip() for line in lines)
    assert LONG_NAME in joined
    assert seller.point_address is not None and seller.point_address in joined
    assert "99999.99 А" in text


# --- QR URL (§6.3) ------------------------------------------------------------------------------


def test_qr_url_online_exact() -> None:
    layout = layout_receipt(cash_sale(), fiscal_num=ONLINE_NUM, offline=False, width_chars=32)
    assert layout.qr_url == (
        "https://cabinet.tax.gov.ua/cashregs/check?date=20261125&time=120005"
        f"&id={ONLINE_NUM}&sm=92.50&fn={FN}"
    )


def test_qr_url_offline_exact_with_mac() -> None:
    layout = layout_receipt(offline_sale(), fiscal_num="5008.3.4758", offline=True, width_chars=32)
    assert layout.qr_url == (
        "https://cabinet.tax.gov.ua/cashregs/check?mac=" + "ab" * 32 + "&date=20261125&time=120005"
        f"&id=5008.3.4758&sm=25.00&fn={FN}"
    )


def test_qr_url_offline_without_prev_hash_omits_mac() -> None:
    url = qr_url(when=WHEN, fiscal_num="5008.1.99", total=D("7"), fn=FN, mac=None)
    assert (
        url
        == f"https://cabinet.tax.gov.ua/cashregs/check?date=20261125&time=120005&id=5008.1.99&sm=7.00&fn={FN}"
    )


def test_qr_url_uses_kyiv_date_across_midnight() -> None:
    url = qr_url(when=datetime(2026, 6, 30, 22, 30, 0, tzinfo=UTC), fiscal_num=1, total=D("1.5"), fn=FN)
    assert "date=20260701&time=013000" in url and "sm=1.50" in url


# --- the check address as text and on paper (agent.receipts.checkurl) ---------------------------


@pytest.mark.parametrize("width", [32, 48])
@pytest.mark.parametrize("build", [cash_sale, offline_sale])
def test_text_view_breaks_the_address_only_between_its_parameters(width: int, build: Any) -> None:
    doc = build()
    offline = doc.head.offline is not None
    layout = layout_receipt(doc, fiscal_num=None if offline else ONLINE_NUM, offline=offline, width_chars=width)
    assert layout.qr_url is not None
    rows = url_rows(layout.qr_url, width)
    assert "".join(rows) == layout.qr_url  # every character kept
    assert max(map(len, rows)) <= width
    params = layout.qr_url.split("?", 1)[1].split("&")
    for param in params:
        if param.startswith("mac="):
            continue  # 68 characters: wider than any paper, cut to whole lines (the cabinet ignores it)
        assert any(param in row for row in rows), f"{param} split over lines: {rows}"
    text = to_text(layout, width)
    assert "\n".join(rows) in text
    assert CHECK_BY_QR not in text  # the text has no QR to be checked by


def test_url_rows_break_after_a_slash_only_when_the_site_part_is_too_long() -> None:
    url = "https://cabinet.tax.gov.ua/cashregs/check?date=20261125&id=1"
    assert url_rows(url, 48) == ["https://cabinet.tax.gov.ua/cashregs/check", "?date=20261125&id=1"]
    assert url_rows(url, 32) == ["https://cabinet.tax.gov.ua/", "cashregs/check?date=20261125", "&id=1"]


@pytest.mark.parametrize("width", [32, 48])
def test_paper_says_the_receipt_is_checked_by_its_qr(width: int) -> None:
    layout = layout_receipt(cash_sale(), fiscal_num=ONLINE_NUM, offline=False, width_chars=width)
    lines = list(layout)
    at = next(i for i, ln in enumerate(lines) if isinstance(ln, Qr))
    assert lines[at + 1] == QrCaption(CHECK_BY_QR, Align.CENTER)
    assert len(CHECK_BY_QR) <= width
    assert caption("https://x.ua/c?id=1", width) == "https://x.ua/c?id=1"  # an address that fits is printed


def test_a_pair_keeps_its_value_with_the_label_words() -> None:
    label = "Дуже довга назва товару, яка ледве вміщується"
    lines = pair_lines(label, "99999.99 А", 32)
    assert lines[-1].endswith("99999.99 А") and lines[-1].split()[0] in label
    assert " ".join(ln.replace("99999.99 А", "").strip() for ln in lines) == label
    assert max(map(len, lines)) <= 32
    # no word of the label fits beside a value nearly as wide as the line: the value has a line of its own
    assert pair_lines("Назва", "1" * 30, 32) == ["Назва", " " * 2 + "1" * 30]


# --- renderers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "px"), [(32, 384), (48, 576)])
def test_png_decodes_with_default_width(width: int, px: int) -> None:
    layout = layout_receipt(offline_sale(), fiscal_num=None, offline=True, width_chars=width)
    img = Image.open(io.BytesIO(to_png(layout)))
    img.load()
    assert img.format == "PNG"
    assert img.width == px
    assert img.height > 400


def test_png_custom_width() -> None:
    layout = layout_receipt(cash_sale(), fiscal_num=ONLINE_NUM, offline=False, width_chars=32)
    assert Image.open(io.BytesIO(to_png(layout, 500))).width == 500


def _decode_qr(img: Image.Image) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    return [r.text for r in zxingcpp.read_barcodes(img)]


def test_qr_png_decodes_back_to_the_url() -> None:
    url = layout_receipt(offline_sale(), fiscal_num=None, offline=True, width_chars=32).qr_url
    assert url is not None
    img = Image.open(io.BytesIO(qr_png(url)))
    assert img.format == "PNG" and img.width == img.height
    assert _decode_qr(img) == [url]


def test_receipt_png_qr_is_scannable() -> None:
    layout = layout_receipt(cash_sale(), fiscal_num=ONLINE_NUM, offline=False, width_chars=32)
    img = Image.open(io.BytesIO(to_png(layout)))
    assert _decode_qr(img) == [layout.qr_url]


class _Checker(HTMLParser):
    """Collects text and checks that every non-void tag is closed in order."""

    VOID = frozenset({"meta", "hr", "br", "img", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svg += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_well_formed_and_has_the_rows() -> None:
    layout = layout_receipt(offline_sale(), fiscal_num=None, offline=True, width_chars=32)
    page = to_html(layout)
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    assert checker.svg == 1
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    text = " ".join(checker.text)
    assert_in_order(
        text,
        [
            'ТОВ "Приклад"',
            "ПН 123456789012",
            "Хліб",
            "СУМА",
            "ДО СПЛАТИ",
            "ЧЕК № 5008.3.4758",
            KYIV_TIME,
            "ОФЛАЙН",
            "Контрольне число: 4758",
            f"ФН ПРРО {FN}",
            "ФІСКАЛЬНИЙ ЧЕК",
        ],
    )
    assert "mac=" + "ab" * 32 in page


def test_text_width_override_and_layout_type() -> None:
    layout = layout_receipt(cash_sale(), fiscal_num=ONLINE_NUM, offline=False, width_chars=48)
    assert isinstance(layout, Layout) and layout.width_chars == 48
    assert max(len(line) for line in to_text(layout, 32).splitlines()) <= 32


@pytest.mark.parametrize("odd", ["\x85", "\u2028", "\u2029", "\r", "\x7f", "\x9f"])
def test_a_registered_receipt_with_characters_the_shaper_refuses_still_has_its_picture(odd: str) -> None:
    """XML carries U+0085, U+2028/9 and CR (&#13;), so a registered receipt may hold them in a goods name or
    a card detail; its PNG was a 500 ("raqm_layout() failed") for every till that asked for it."""
    pay = d.Payment(form=1, name="Картка", amount=D("10.00"), card_mask=f"4111{odd}1111", auth_code=f"A{odd}")
    doc = registered(d.sale(head(5), [item(f"Хліб{odd}житній")], [pay], TAXES))
    assert isinstance(doc, d.Check) and odd in doc.lines[0].item.name  # it is in the document
    for width in (32, 48):
        layout = layout_receipt(doc, fiscal_num="1000000001", offline=False, width_chars=width)
        img = Image.open(io.BytesIO(to_png(layout)))
        assert img.format == "PNG" and img.height > 100

