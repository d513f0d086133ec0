"""Every document the box prints, read back off the paper: laid out, converted for the printer
(agent.printing.to_print_lines), printed on a dummy ESC/POS printer at 58 and 80 mm, and decoded
(tests/escpos_decode.py). What a buyer or an inspector reads is checked, not the layout objects:

* every mandatory row of reference §6 is there, in the forms' order (§6.1 ФКЧ-1, §6.2 ФКЧ-2, the
  recommended service, Z and X forms of §6.4, §6.6, §6.7, the copy mark of §6.8), as CP866 prints it
  (і as i: drivers.printer.FALLBACK);
* no line is wider than the paper, and no number is wrapped onto a line of its own, away from its label;
* the QR carries the cabinet's check URL with this document's parameters (§6.3), and the paper says the
  receipt is checked by it;
* offline documents carry «ОФЛАЙН», the ``session.n.control`` fiscal number and the control number (§6.5);
* the cut comes last.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from agent.printing import to_print_lines
from agent.receipts import Layout, layout_receipt, layout_x_report
from agent.receipts.checkurl import CHECK_AFTER_UPLOAD, CHECK_BY_QR
from agent.secr import documents as d
from drivers.printer import ReceiptPrinter, transliterate
from tests import test_receipts as receipts
from tests.escpos_decode import Printed, decode
from tests.test_receipts import FN, KYIV_TIME, WHEN, D

# A long shop name and address: the rows that wrap are the ones a narrow roll shows wrong.
SELLER = replace(
    receipts.SELLER,
    point_name="Магазин «Біля дому»",
    point_address="м. Київ, проспект Володимира Івасюка, будинок 123-Б, приміщення 45",
)
PRINTED_AT = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)  # a copy's reprint time: 10:00:00 in Kyiv
OPENED_AT = datetime(2026, 11, 25, 6, 0, 0, tzinfo=UTC)
TAXES = receipts.TAXES
ONLINE_NUM = "1384554129"
OFFLINE_NUM = "5008.3.4758"
PREV_HASH = "ab" * 32
BARCODE = "4820000000000"
WIDTHS = {58: 32, 80: 48}


def head(n: int, offline: bool, **kw: Any) -> d.DocHead:
    mark = d.OfflineMark(OFFLINE_NUM, prev_doc_hash=PREV_HASH) if offline else None
    return d.DocHead(
        uid=f"uid-{n}", seller=SELLER, when=WHEN, order_num=n, cashier="Іваненко І.", offline=mark, **kw
    )


def item(name: str, qty: str, price: str, **kw: Any) -> d.Item:
    return replace(d.Item(name=name, quantity=D(qty), price=D(price), tax_codes=(1,)), **kw)


def cash(amount: str, provided: str | None = None) -> d.Payment:
    return d.Payment(form=0, name="ГОТІВКА", amount=D(amount), provided=D(provided) if provided else None)


def registered(doc: d.Document) -> d.Document:
    """What the box prints from: the parsed registered XML (§6.8), never the builder's object."""
    return d.parse(d.render(doc))


# --- what must be on paper -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A label and its value on one printed line (the value at the right end)."""

    label: str
    value: str


Needle = str | Pair


def header() -> list[Needle]:
    """Rows 1-4 of every form (§6.1): seller, unit, its address (wrapped, never cut), ПН."""
    assert SELLER.point_address is not None
    return [SELLER.org_name, SELLER.point_name, SELLER.point_address, f"ПН {SELLER.ipn}"]


def identity(offline: bool, *, label: str = "ЧЕК №") -> list[Needle]:
    """The fiscal number, the document's own time (row 26/27, §6.1 Q4)."""
    return [f"{label} {OFFLINE_NUM if offline else ONLINE_NUM}", KYIV_TIME]


def mode(offline: bool) -> list[Needle]:
    """Row 31 on every document, row 32 offline: the last part of the offline number (§6.5)."""
    return ["ОФЛАЙН", "Контрольне число: 4758"] if offline else ["ОНЛАЙН"]


@dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[bool], d.Document]
    rows: Callable[[bool], list[Needle]]
    qr_sum: str | None = None  # the QR's sm; None: this form has no QR (§6.6: optional; §6.4, §6.7)
    absent: tuple[str, ...] = ()
    copy: bool = False


def sale(offline: bool) -> d.Document:
    return registered(
        d.sale(
            head(2, offline),
            [item("Хліб житній", "2", "25.00", barcode=BARCODE), item("Молоко 2,5% 0,9 л", "1", "42.50")],
            [cash("92.50", provided="100.00")],
            TAXES,
        )
    )


def sale_rows(offline: bool) -> list[Needle]:
    return [
        *header(),
        "2 x 25.00",  # row 6
        BARCODE,  # row 8
        Pair("Хліб житній", "50.00 А"),  # row 11
        Pair("Молоко 2,5% 0,9 л", "42.50 А"),
        Pair("ГОТІВКА", "92.50 грн"),  # row 18
        Pair("СУМА", "92.50 грн"),  # row 20
        Pair("ПДВ А 20.00%", "15.42"),  # row 21
        Pair("ДО СПЛАТИ", "92.50 грн"),  # row 24
        Pair("РЕШТА", "7.50 грн"),  # row 25
        *identity(offline),  # rows 26, 27
        CHECK_BY_QR,  # under row 29, the QR
        *mode(offline),  # rows 31, 32
        f"ФН ПРРО {FN}",  # row 34
        "ФІСКАЛЬНИЙ ЧЕК",  # row 35
        "fiscal-box",
    ]


def card_sale(offline: bool) -> d.Document:
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
    )
    return registered(d.sale(head(3, offline), [item("Хліб", "1", "25.00")], [pay], TAXES))


def card_sale_rows(offline: bool) -> list[Needle]:
    return [
        *header(),
        Pair("Хліб", "25.00 А"),
        "ЕКВАЙР АТ КБ ПриватБанк",  # row 12
        "ЕКВАЙР ТА ТОРГОВЕЦЬ S1234567",
        "ТЕРМІНАЛ T0001",  # row 13
        "ВИД ОПЕРАЦІЇ ОПЛАТА",  # row 15
        "ЕПЗ 4111********1111",  # row 16
        Pair("ПЛАТІЖНА СИСТЕМА VISA", "25.00"),  # row 17
        "КОД АВТ. 123456",
        Pair("БЕЗГОТІВКОВА", "25.00 грн"),  # row 18
        "Платіжна картка",  # row 19
        Pair("СУМА", "25.00 грн"),
        Pair("ПДВ А 20.00%", "4.17"),
        Pair("ДО СПЛАТИ", "25.00 грн"),
        *identity(offline),
        CHECK_BY_QR,
        *mode(offline),
        f"ФН ПРРО {FN}",
        "ФІСКАЛЬНИЙ ЧЕК",
    ]


def refund(offline: bool) -> d.Document:
    return registered(
        d.refund(head(5, offline), [item("Хліб житній", "2", "25.00")], [cash("50.00")], TAXES, ret_num="1384554100")
    )


def refund_rows(offline: bool) -> list[Needle]:
    return [
        *header(),
        "ВИДАТКОВИЙ ЧЕК",
        Pair("№", "1384554100"),  # the sale returned (extra data, §6.2), its number by its label
        "2 x 25.00",  # row 6
        Pair("Хліб житній", "50.00 А"),  # row 11
        Pair("ГОТІВКА", "50.00 грн"),  # row 18
        Pair("СУМА", "50.00 грн"),  # row 19, with the currency
        Pair("ПДВ А 20.00%", "8.33"),  # row 20
        *identity(offline),  # rows 22, 23
        CHECK_BY_QR,  # under row 25, the QR
        *mode(offline),  # rows 27, 28
        f"ФН ПРРО {FN}",  # row 30
        "ВИДАТКОВИЙ ЧЕК",  # row 31
        "fiscal-box",
    ]


def deposit(offline: bool) -> d.Document:
    return registered(d.service_deposit(head(6, offline), D("500.00")))


def issue(offline: bool) -> d.Document:
    return registered(d.service_issue(head(7, offline), D("250.50")))


def service_rows(title: str, amount: str) -> Callable[[bool], list[Needle]]:
    """§6.6, recommended: header, the operation, «ГОТІВКА» + amount, number, time, mode, ФН, closing."""

    def rows(offline: bool) -> list[Needle]:
        return [
            *header(),
            title,
            Pair("ГОТІВКА", f"{amount} грн"),
            *identity(offline),
            *mode(offline),
            f"ФН ПРРО {FN}",
            "СЛУЖБОВИЙ ЧЕК",
            "fiscal-box",
        ]

    return rows


def storno(offline: bool) -> d.Document:
    return registered(d.storno(head(8, offline), storno_num="1384554128"))


def storno_rows(offline: bool) -> list[Needle]:
    return [
        *header(),
        "СТОРНО",
        Pair("Сторнується чек №", "1384554128"),  # the cancelled document, by its label (§6.6)
        *identity(offline),
        *mode(offline),
        f"ФН ПРРО {FN}",
        "СЛУЖБОВИЙ ЧЕК",
    ]


def shift_doc(build: Callable[[d.DocHead], d.Check]) -> Callable[[bool], d.Document]:
    return lambda offline: registered(build(head(9, offline)))


def shift_rows(title: str) -> Callable[[bool], list[Needle]]:
    def rows(offline: bool) -> list[Needle]:
        return [
            *header(),
            title,
            *identity(offline, label="ДОКУМЕНТ №"),
            *mode(offline),
            f"ФН ПРРО {FN}",
            "СЛУЖБОВИЙ ДОКУМЕНТ",
        ]

    return rows


def z(offline: bool) -> d.ZReport:
    shift = [
        d.sale(head(2, False), [item("Хліб", "2", "25.00")], [cash("50.00")], TAXES),
        d.refund(head(3, False), [item("Хліб", "1", "10.00")], [cash("10.00")], TAXES, ret_num="1"),
        d.service_deposit(head(4, False), D("500.00")),
        d.service_issue(head(5, False), D("100.00")),
    ]
    report = registered(d.z_report(head(11, offline), shift))
    assert isinstance(report, d.ZReport)
    return report


def z_body() -> list[Needle]:
    """§6.4's recommended body: shift opened, sales and returns per form and tax, service cash."""
    return [
        Pair("Зміну відкрито", "25.11.2026 08:00"),
        "РЕАЛІЗАЦІЯ",
        Pair("Кількість чеків", "1"),
        Pair("ГОТІВКА", "50.00"),
        Pair("ПДВ А 20.00%", "8.33"),
        Pair("обіг", "50.00"),
        Pair("СУМА", "50.00 грн"),
        "ПОВЕРНЕННЯ",
        Pair("ГОТІВКА", "10.00"),
        Pair("СУМА", "10.00 грн"),
        Pair("СЛУЖБОВЕ ВНЕСЕННЯ", "500.00"),
        Pair("СЛУЖБОВА ВИДАЧА", "100.00"),
        Pair("Готівка в касі", "440.00"),
    ]


def z_rows(offline: bool) -> list[Needle]:
    return [
        *header(),
        "Z-ЗВІТ",
        f"Z-звіт № {OFFLINE_NUM if offline else ONLINE_NUM}",
        "Локальний № 11",
        *z_body(),
        KYIV_TIME,
        *mode(offline),
        f"ФН ПРРО {FN}",
        "ФІСКАЛЬНИЙ ЗВІТНИЙ ЧЕК",
        "fiscal-box",
    ]


def x_rows(offline: bool) -> list[Needle]:
    """§6.7: the Z body titled «X-ЗВІТ», marked «НЕФІСКАЛЬНИЙ ДОКУМЕНТ», with the print time."""
    return [
        *header(),
        "X-ЗВІТ",
        "НЕФІСКАЛЬНИЙ ДОКУМЕНТ",
        *z_body(),
        Pair("Надруковано", "01.12.2026 10:00:00"),
        f"ФН ПРРО {FN}",
        "НЕФІСКАЛЬНИЙ ДОКУМЕНТ",
    ]


def copy_rows(offline: bool) -> list[Needle]:
    """§6.8: «КОПІЯ» first and last, the reprint time apart from the document's own."""
    return ["КОПІЯ", *sale_rows(offline), "КОПІЯ", "Надруковано 01.12.2026 10:00:00"]


KINDS = [
    Kind("sale", sale, sale_rows, qr_sum="92.50"),
    Kind("card-sale", card_sale, card_sale_rows, qr_sum="25.00", absent=("РЕШТА",)),
    Kind("refund", refund, refund_rows, qr_sum="50.00", absent=("ДО СПЛАТИ", "РЕШТА", "ФІСКАЛЬНИЙ ЧЕК")),
    Kind("cash-in", deposit, service_rows("СЛУЖБОВЕ ВНЕСЕННЯ", "500.00"), absent=("ФІСКАЛЬНИЙ",)),
    Kind("cash-out", issue, service_rows("СЛУЖБОВА ВИДАЧА", "250.50"), absent=("ФІСКАЛЬНИЙ",)),
    Kind("storno", storno, storno_rows, absent=("ФІСКАЛЬНИЙ", "ГОТІВКА")),
    Kind("shift-open", shift_doc(d.open_shift), shift_rows("ВІДКРИТТЯ ЗМІНИ"), absent=("ФІСКАЛЬНИЙ",)),
    Kind("shift-close", shift_doc(d.close_shift), shift_rows("ЗАКРИТТЯ ЗМІНИ"), absent=("ФІСКАЛЬНИЙ",)),
    Kind("z-report", z, z_rows, absent=("X-ЗВІТ", "НЕФІСКАЛЬНИЙ")),
    Kind("copy", sale, copy_rows, qr_sum="92.50", copy=True),
]


# --- printing and reading back -------------------------------------------------------------------


def on_paper(layout: Layout, width_mm: int) -> Printed:
    printer = ReceiptPrinter("dummy", width_mm=width_mm)
    printer.print_lines(to_print_lines(layout, printer.columns))
    return decode(printer.output)


def lay_out(kind: Kind, offline: bool, width_mm: int) -> Layout:
    doc = kind.build(offline)
    return layout_receipt(
        doc,
        fiscal_num=None if offline else ONLINE_NUM,
        offline=offline,
        width_chars=WIDTHS[width_mm],
        copy=kind.copy,
        printed_at=PRINTED_AT if kind.copy else None,
        shift_opened_at=OPENED_AT,
    )


def _pattern(needle: Needle) -> re.Pattern[str]:
    """A needle as CP866 prints it; a text may wrap at its spaces, a pair stays on one line."""
    if isinstance(needle, Pair):
        label, value = (re.escape(transliterate(s)) for s in (needle.label, needle.value))
        return re.compile(rf"{label} +{value}$", re.M)
    return re.compile(r"\s+".join(re.escape(w) for w in transliterate(needle).split()))


def assert_in_order(paper: str, needles: list[Needle]) -> None:
    pos = 0
    for needle in needles:
        found = _pattern(needle).search(paper, pos)
        assert found is not None, f"{needle!r} missing (or out of order) after {paper[:pos][-60:]!r} in:\n{paper}"
        pos = found.end()


# A line that is nothing but a figure (an amount, a count, a fiscal number): its label is elsewhere.
_BARE_NUMBER = re.compile(r"[№\d\s.,:+%-]*\d[№\d\s.,:+%-]*(грн)?( [А-ЯA-Z])?")
# ... except the rows that are a figure by the form: the date and time (27), a barcode (8), quantity x price (6)
_FIGURE_ROWS = re.compile(rf"\d\d\.\d\d\.\d{{4}} \d\d:\d\d:\d\d|{BARCODE}|\d+ x \d+\.\d\d")


def assert_paper_geometry(printed: Printed, width_mm: int) -> None:
    columns = WIDTHS[width_mm]
    for text, _, _, double in printed.lines:
        assert len(text) <= (columns // 2 if double else columns), f"{text!r} is wider than {width_mm} mm"
        bare = text.strip()
        if _BARE_NUMBER.fullmatch(bare):
            assert _FIGURE_ROWS.fullmatch(bare), f"{bare!r} wrapped away from its label:\n" + "\n".join(
                printed.texts
            )
    assert printed.events[-1][0] == "cut", "the cut is not the last thing the printer gets"
    assert [kind for kind, _ in printed.events].count("cut") == 1


def assert_check_url(printed: Printed, offline: bool, total: str) -> None:
    """The QR is §6.3's cabinet search with this receipt's parameters, and the paper says so under it."""
    assert len(printed.qr_data) == 1
    url = urlsplit(printed.qr_data[0])
    assert (url.scheme, url.netloc, url.path) == ("https", "cabinet.tax.gov.ua", "/cashregs/check")
    params = parse_qsl(url.query, strict_parsing=True)
    expected = [
        *([("mac", PREV_HASH)] if offline else []),  # offline only (the document's PREVDOCHASH)
        ("date", "20261125"),
        ("time", "120005"),  # the document's own time, Kyiv (§6.1 Q4)
        ("id", OFFLINE_NUM if offline else ONLINE_NUM),
        ("sm", total),
        ("fn", str(FN)),
    ]
    assert params == expected
    kinds = [kind for kind, _ in printed.events]
    after_qr = printed.events[kinds.index("qr_print") + 1 :]
    texts_after = [str(value) for kind, value in after_qr if kind == "text" and value]
    assert texts_after[0] == transliterate(CHECK_BY_QR)
    # offline: the cabinet finds the receipt only once its session is delivered (§6.5), and the paper says so
    assert (texts_after[1] == transliterate(CHECK_AFTER_UPLOAD)) is offline


def assert_mode(paper: str, offline: bool) -> None:
    if offline:
        assert "ОНЛАЙН" not in paper
        assert re.search(r"(ЧЕК|ДОКУМЕНТ|Z-звiт) № \d+\.\d+\.\d+$", paper, re.M), "no offline fiscal number"
    else:
        assert "ОФЛАЙН" not in paper and "Контрольне число" not in paper


# --- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("offline", [False, True], ids=["online", "offline"])
@pytest.mark.parametrize("width_mm", [58, 80])
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_every_document_reads_right_on_paper(kind: Kind, width_mm: int, offline: bool) -> None:
    printed = on_paper(lay_out(kind, offline, width_mm), width_mm)
    paper = "\n".join(text.strip() for text in printed.texts)
    assert_in_order(paper, kind.rows(offline))
    for word in kind.absent:
        assert transliterate(word) not in paper
    assert_paper_geometry(printed, width_mm)
    assert_mode(paper, offline)
    if kind.qr_sum is None:
        assert printed.qr_data == [] and transliterate(CHECK_BY_QR) not in paper
    else:
        assert_check_url(printed, offline, kind.qr_sum)
    if not kind.copy:
        assert transliterate("КОПІЯ") not in paper


@pytest.mark.parametrize("width_mm", [58, 80])
def test_x_report_on_paper(width_mm: int) -> None:
    layout = layout_x_report(z(False), printed_at=PRINTED_AT, width_chars=WIDTHS[width_mm], shift_opened_at=OPENED_AT)
    printed = on_paper(layout, width_mm)
    paper = "\n".join(text.strip() for text in printed.texts)
    assert_in_order(paper, x_rows(False))
    assert_paper_geometry(printed, width_mm)
    for word in ("Z-ЗВІТ", "ФІСКАЛЬНИЙ ЗВІТНИЙ", "ОНЛАЙН", "ОФЛАЙН"):
        assert transliterate(word) not in paper
    assert printed.qr_data == []


@pytest.mark.parametrize("width_mm", [58, 80])
def test_a_long_goods_name_keeps_its_price_and_letter(width_mm: int) -> None:
    name = "Дуже довга назва товару, яка ніяк не вміщується в один рядок чекової стрічки ЗАКІНЧЕННЯ"
    doc = registered(d.sale(head(13, False), [item(name, "1", "99999.99")], [cash("99999.99")], TAXES))
    printed = on_paper(
        layout_receipt(doc, fiscal_num=ONLINE_NUM, offline=False, width_chars=WIDTHS[width_mm]), width_mm
    )
    paper = "\n".join(text.strip() for text in printed.texts)
    words = transliterate(name).split()
    assert re.search(r"\s+".join(map(re.escape, words)) + r" +99999\.99 А$", paper, re.M), paper
    assert_paper_geometry(printed, width_mm)
