"""Device-independent receipt layout (reference §6): what is printed, in which order, how emphasised.

A ``Layout`` is a flat list of typed lines. It never pre-wraps text: every renderer (plain text, HTML,
PNG, the printer) wraps to its own geometry (agent.receipts.wrapping), so a long name or address is
carried over to the next line and never cut -- a cut requisite is a missing one (§6.0).

The check address (row 29 / 25) is its QR code; on paper a :class:`QrCaption` under it says the receipt
is checked by that code, since the address itself fits no paper width unbroken, and the text view spells
the address out broken only between its parameters (agent.receipts.checkurl says why).

Everything is rendered from the registered document (``documents.parse`` of the signed XML), never from
catalogue data, so a copy printed a year later shows what the tax service has (§6.8).

Row numbers (``row``) are those of the ФКЧ-1 / ФКЧ-2 tables in §6.1 / §6.2; ``None`` marks allowed extra
data (cashier, discounts, the link to the original sale, ...). They cost nothing and let tests and a
printer driver find a requisite without parsing text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from agent.clock import KYIV
from agent.receipts.checkurl import CHECK_AFTER_UPLOAD, caption, check_url

# Re-exported: the printer's conversion (agent.printing) and the package take them from here.
from agent.receipts.wrapping import pair_lines as pair_lines
from agent.receipts.wrapping import wrap as wrap
from agent.secr.documents import (
    Check,
    DocHead,
    DocSubType,
    DocType,
    Document,
    Line,
    PayForm,
    Payment,
    TaxRow,
    ZPay,
    ZReport,
)

CURRENCY = "грн"
MIN_WIDTH = 20  # below this even «ДО СПЛАТИ 99999.99 грн» needs two lines


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True)
class Text:
    text: str
    align: Align = Align.LEFT
    bold: bool = False
    double: bool = False  # double width and height on a printer; wraps at half the columns there
    row: int | None = None


@dataclass(frozen=True)
class Pair:
    """``label ........ value``: the label wraps, the value stays whole at the right."""

    label: str
    value: str
    bold: bool = False
    double: bool = False
    row: int | None = None


@dataclass(frozen=True)
class Separator:
    char: str = "-"


@dataclass(frozen=True)
class Qr:
    url: str
    row: int | None = None


@dataclass(frozen=True)
class QrCaption(Text):
    """The line under a QR on paper (agent.receipts.checkurl); a text view shows the address instead."""


@dataclass(frozen=True)
class Blank:
    pass


LayoutLine = Text | Pair | Separator | Qr | Blank


@dataclass
class Layout:
    """The lines of one printed document plus the paper width (in Font A columns) it was laid out for."""

    width_chars: int
    lines: list[LayoutLine] = field(default_factory=list)

    def __iter__(self) -> Iterator[LayoutLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, *lines: LayoutLine) -> None:
        self.lines.extend(lines)

    @property
    def qr_url(self) -> str | None:
        return next((ln.url for ln in self.lines if isinstance(ln, Qr)), None)


# ------------------------------------------------------------------------------------------------
# alignment (the wrapping is agent.receipts.wrapping's, shared with every renderer)
# ------------------------------------------------------------------------------------------------


def align_line(text: str, align: Align, width: int) -> str:
    if align is Align.CENTER:
        pad = max(0, width - len(text)) // 2
        return " " * pad + text
    if align is Align.RIGHT:
        return text.rjust(width)
    return text


# ------------------------------------------------------------------------------------------------
# formatting helpers
# ------------------------------------------------------------------------------------------------


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def money_cur(value: Decimal) -> str:
    return f"{value:.2f} {CURRENCY}"


def quantity(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else f"{value:.3f}"


def kyiv_time(when: datetime) -> str:
    return when.astimezone(KYIV).strftime("%d.%m.%Y %H:%M:%S")


def pay_form_word(form: int) -> str:
    """Row 18 allows only three words (§6.1 Q5); the free-text PAYFORMNM goes to row 19."""
    if form == PayForm.CASH:
        return "ГОТІВКА"
    if form in (PayForm.CARD, PayForm.CASHLESS_INSTRUMENT):
        return "БЕЗГОТІВКОВА"
    return "ІНШЕ"


def control_number(fiscal_num: str) -> str:
    """Row 32 is the last component of ``session.n.control`` (§6.5)."""
    return fiscal_num.rsplit(".", 1)[-1]


# ------------------------------------------------------------------------------------------------
# blocks
# ------------------------------------------------------------------------------------------------


def _title(text: str, *, row: int | None = None, double: bool = True) -> Text:
    return Text(text, Align.CENTER, bold=True, double=double, row=row)


def _header(out: Layout, head: DocHead) -> None:
    s = head.seller
    out.add(_title(s.org_name, row=1, double=False))
    out.add(Text(s.point_name, Align.CENTER, row=2))
    if s.point_address:
        out.add(Text(s.point_address, Align.CENTER, row=3))
    # "0" is the XSD's placeholder for "no VAT number"; such a seller is identified by ІД (row 5).
    if s.ipn and s.ipn != "0":
        out.add(Text(f"ПН {s.ipn}", Align.CENTER, row=4))
    else:
        out.add(Text(f"ІД {s.tin}", Align.CENTER, row=5))
    if head.cashier:
        out.add(Text(f"Касир {head.cashier}"))


def _test_mark(out: Layout, head: DocHead) -> None:
    if head.testing:
        out.add(_title("ТЕСТОВИЙ НЕФІСКАЛЬНИЙ ДОКУМЕНТ", double=False))


def _copy_mark(out: Layout, copy: bool) -> None:
    if copy:
        out.add(_title("КОПІЯ"))


def _lines(out: Layout, lines: Sequence[Line]) -> None:
    for line in lines:
        it = line.item
        if it.quantity != 1:
            unit = f" {it.unit_name}" if it.unit_name else ""
            out.add(Text(f"{quantity(it.quantity)}{unit} x {money(it.price)}", row=6))
        if it.uktzed:
            out.add(Text(f"УКТ ЗЕД {it.uktzed}", row=7))
        elif it.dkpp:
            out.add(Text(f"ДКПП {it.dkpp}", row=7))
        if it.barcode:
            out.add(Text(it.barcode, row=8))
        for label in it.excise_labels:
            out.add(Text(f"Акцизна марка {label}", row=9))
        letters = f" {line.letters}" if line.letters else ""
        out.add(Pair(it.name, f"{money(line.cost)}{letters}", row=11))
        if it.discount:
            # Extra data (§6.1 Q3): the cost above is before the discount, so show the arithmetic.
            out.add(Pair(f"  {adjustment_label(it.discount, it.discount_percent)}", signed_money(it.discount)))


def adjustment_label(amount: Decimal, percent: Decimal | None, suffix: str = "") -> str:
    """«ЗНИЖКА» for a discount, «НАДБАВКА» for an extra charge (a negative DISCOUNTSUM), with its percent."""
    word = "ЗНИЖКА" if amount >= 0 else "НАДБАВКА"
    pct = f" {abs(percent):.2f}%" if percent is not None else ""
    return f"{word}{suffix}{pct}"


def signed_money(discount: Decimal) -> str:
    """How a discount moves the sum: -5.00 off, +5.00 charged."""
    return f"-{money(discount)}" if discount >= 0 else f"+{money(-discount)}"


def _card_block(out: Layout, payments: Sequence[Payment], operation: str) -> None:
    """Rows 12-17 of ФКЧ-1 (§6.1) from the payment's PAYSYS row, per card used (II п. 5)."""
    for p in payments:
        if not p.has_paysys():
            continue
        # Row 12: the acquirer and merchant, by name (ACQUIRENM) and identifier (ACQUIREID).
        if p.acquirer:
            out.add(Text(f"ЕКВАЙР {p.acquirer}", row=12))
        if p.acquirer_id:
            out.add(Text(f"ЕКВАЙР ТА ТОРГОВЕЦЬ {p.acquirer_id}", row=12))
        if p.terminal:
            out.add(Text(f"ТЕРМІНАЛ {p.terminal}", row=13))  # DEVICEID
        if p.commission is not None:
            out.add(Pair("КОМІСІЯ", money(p.commission), row=14))
        out.add(Text(f"ВИД ОПЕРАЦІЇ {operation}", row=15))
        if p.card_mask:
            out.add(Text(f"ЕПЗ {p.card_mask}", row=16))
        system = f" {p.payment_system}" if p.payment_system else ""
        out.add(Pair(f"ПЛАТІЖНА СИСТЕМА{system}", money(p.amount), row=17))
        # Row 17 also takes "the authorisation code or other operation/transaction code, with its
        # value": AUTHCD, ACQUIRETRANSID (RRN) and POSTRANSNUM. CLIENTINFO (the card holder's name) is
        # no requisite of order 13 and stays off the paper.
        if p.auth_code:
            out.add(Text(f"КОД АВТ. {p.auth_code}", row=17))
        if p.rrn:
            out.add(Text(f"RRN {p.rrn}", row=17))
        if p.pos_receipt_no:
            out.add(Text(f"ЧЕК ТЕРМІНАЛУ {p.pos_receipt_no}", row=17))
        out.add(Separator())


def _tax_rows(out: Layout, taxes: Sequence[TaxRow], *, row: int) -> None:
    for t in taxes:
        out.add(Pair(f"{t.name} {t.letter} {t.rate:.2f}%", money(t.sum), row=row if t.type == 0 else row + 1))


@dataclass(frozen=True)
class _Ctx:
    """What the print needs beyond the document itself."""

    fiscal_num: str
    offline: bool
    registered_at: datetime | None
    fn: int | str
    product_name: str
    copy: bool
    printed_at: datetime | None


def _when(out: Layout, when: datetime, c: _Ctx, *, row: int | None) -> None:
    out.add(Text(kyiv_time(when), Align.CENTER, row=row))
    if c.registered_at is not None and kyiv_time(c.registered_at) != kyiv_time(when):
        # Row 27 is the signed time (Q4); the server's registration time is extra information only.
        out.add(Text(f"Реєстрація {kyiv_time(c.registered_at)}", Align.CENTER))


def _identity(out: Layout, when: datetime, c: _Ctx, *, num_row: int | None, label: str = "ЧЕК №") -> None:
    out.add(Text(f"{label} {c.fiscal_num}", Align.CENTER, bold=True, row=num_row))
    _when(out, when, c, row=num_row + 1 if num_row is not None else None)


def _mode(out: Layout, c: _Ctx, *, mode_row: int | None) -> None:
    out.add(Text("ОФЛАЙН" if c.offline else "ОНЛАЙН", Align.CENTER, bold=True, row=mode_row))
    if c.offline:
        ctrl_row = mode_row + 1 if mode_row is not None else None
        out.add(Text(f"Контрольне число: {control_number(c.fiscal_num)}", Align.CENTER, row=ctrl_row))


def _footer(out: Layout, head: DocHead, c: _Ctx, *, fn_row: int | None, title: str) -> None:
    out.add(Text(f"ФН ПРРО {c.fn}", Align.CENTER, row=fn_row))
    title_row = fn_row + 1 if fn_row is not None else None
    out.add(_title(title, row=title_row, double=False))
    out.add(Text(c.product_name, Align.CENTER, row=title_row))
    _test_mark(out, head)
    if c.copy:
        assert c.printed_at is not None
        out.add(_title("КОПІЯ", double=False))
        out.add(Text(f"Надруковано {kyiv_time(c.printed_at)}", Align.CENTER))


# ------------------------------------------------------------------------------------------------
# documents
# ------------------------------------------------------------------------------------------------


def _receipt_discounts(out: Layout, doc: Check) -> None:
    rd = doc.receipt_discount
    if rd is not None:
        # the receipt-level part, spread over the lines above (their costs are before it)
        share = doc.receipt_discount_sum
        out.add(Pair(adjustment_label(share, rd.percent, " НА ЧЕК"), signed_money(share)))
    own = [ln.item.discount for ln in doc.lines if ln.item.discount]
    if doc.discount_sum and (len(own) + (rd is not None)) > 1:
        # several sources: their total too (CHECKTOTAL/DISCOUNTSUM)
        word = "ЗНИЖКИ" if doc.discount_sum > 0 else "НАДБАВКИ"
        out.add(Pair(f"УСЬОГО {word}", signed_money(doc.discount_sum)))


def _return_money(out: Layout, doc: Check, total: Decimal) -> None:
    # ФКЧ-2: row 19 is the total with currency; no rounding, «до сплати» or change rows (§6.2).
    out.add(Pair("СУМА", money_cur(total), bold=True, row=19))
    _tax_rows(out, doc.taxes, row=20)
    if doc.round_sum is not None:
        # ... so a rounded return shows it as extra data, that the cash paid back adds up
        out.add(Pair("Заокруглення", money(doc.round_sum)))
        if doc.no_round_sum is not None:
            out.add(Pair("Сума без заокруглення", money_cur(doc.no_round_sum)))


def _goods(out: Layout, doc: Check, c: _Ctx) -> None:
    head = doc.head
    is_return = doc.doc_subtype == DocSubType.CHECK_RETURN
    total = doc.total if doc.total is not None else Decimal("0.00")
    _copy_mark(out, c.copy)
    _test_mark(out, head)
    _header(out, head)
    if is_return:
        out.add(_title("ВИДАТКОВИЙ ЧЕК", double=False))
        if doc.ret_num:
            out.add(Pair("Повернення для документу №", doc.ret_num))
    out.add(Separator())
    _lines(out, doc.lines)
    out.add(Separator())
    _receipt_discounts(out, doc)
    _card_block(out, doc.payments, "ПОВЕРНЕННЯ" if is_return else "ОПЛАТА")
    for p in doc.payments:
        out.add(Pair(pay_form_word(p.form), money_cur(p.amount), row=18))
        if p.form != PayForm.CASH and not is_return:
            out.add(Text(f"  {p.name}", row=19))
        if p.provided is not None and not is_return:
            out.add(Pair("  Отримано", money_cur(p.provided)))
    if is_return:
        _return_money(out, doc, total)
    else:
        gross = doc.no_round_sum if doc.no_round_sum is not None else total
        out.add(Pair("СУМА", money_cur(gross), bold=True, row=20))
        _tax_rows(out, doc.taxes, row=21)
        if doc.round_sum is not None:
            out.add(Pair("Заокруглення", money(doc.round_sum), row=23))
        out.add(Pair("ДО СПЛАТИ", money_cur(total), bold=True, row=24))
        if any(p.form == PayForm.CASH for p in doc.payments):
            change = sum(
                (p.provided - p.amount for p in doc.payments if p.provided is not None), Decimal("0.00")
            )
            out.add(Pair("РЕШТА", money_cur(change), row=25))
    out.add(Separator())
    _identity(out, head.when, c, num_row=22 if is_return else 26)
    url = check_url(head, fiscal_num=c.fiscal_num, total=total, fn=c.fn)
    out.add(Qr(url, row=25 if is_return else 29), QrCaption(caption(url, out.width_chars), Align.CENTER))
    if c.offline:
        out.add(QrCaption(CHECK_AFTER_UPLOAD, Align.CENTER))
    _mode(out, c, mode_row=27 if is_return else 31)
    _footer(
        out,
        head,
        c,
        fn_row=30 if is_return else 34,
        title="ВИДАТКОВИЙ ЧЕК" if is_return else "ФІСКАЛЬНИЙ ЧЕК",
    )


_SERVICE_TITLES = {
    DocSubType.SERVICE_DEPOSIT: "СЛУЖБОВЕ ВНЕСЕННЯ",
    DocSubType.ADDITIONAL_DEPOSIT: "ПІДКРІПЛЕННЯ",
    DocSubType.SERVICE_ISSUE: "СЛУЖБОВА ВИДАЧА",
    DocSubType.CHECK_STORNO: "СТОРНО",
}

_SHIFT_TITLES = {
    DocType.OPEN_SHIFT: "ВІДКРИТТЯ ЗМІНИ",
    DocType.CLOSE_SHIFT: "ЗАКРИТТЯ ЗМІНИ",
    DocType.OFFLINE_BEGIN: "ПОЧАТОК ОФЛАЙН-РЕЖИМУ",
    DocType.OFFLINE_END: "ЗАВЕРШЕННЯ ОФЛАЙН-РЕЖИМУ",
}


def _service(out: Layout, doc: Check, title: str, c: _Ctx, *, closing: str) -> None:
    """Service and shift documents: no prescribed form (§6.6); identified like a receipt, never «ФІСКАЛЬНИЙ»."""
    head = doc.head
    _copy_mark(out, c.copy)
    _test_mark(out, head)
    _header(out, head)
    out.add(Separator())
    out.add(_title(title))
    if doc.storno_num:
        out.add(Pair("Сторнується чек №", doc.storno_num))  # fits 32 columns with its number
    if doc.total is not None:
        out.add(Pair("ГОТІВКА", money_cur(doc.total), bold=True))
    out.add(Separator())
    # Shift and offline-session documents are not cheques, but they do carry a fiscal number.
    _identity(
        out, head.when, c, num_row=None, label="ЧЕК №" if doc.doc_type == DocType.SALE_GOODS else "ДОКУМЕНТ №"
    )
    _mode(out, c, mode_row=None)
    _footer(out, head, c, fn_row=None, title=closing)


def _zpay(out: Layout, title: str, z: ZPay) -> None:
    out.add(_title(title, double=False))
    out.add(Pair("Кількість чеків", str(z.orders_count)))
    for pf in z.pay_forms:
        word = pay_form_word(pf.form)
        label = word if pf.name.upper() == word else f"{word} ({pf.name})"
        out.add(Pair(label, money(pf.sum)))
    for t in z.taxes:
        out.add(Pair(f"{t.name} {t.letter} {t.rate:.2f}%", money(t.sum)))
        out.add(Pair("  обіг", money(t.turnover)))
        if t.turnover_discount is not None:
            out.add(Pair("  обіг зі знижкою", money(t.turnover_discount)))
    if z.no_round_sum is not None:
        out.add(Pair("Сума без заокруглення", money(z.no_round_sum)))
    if z.round_sum is not None:
        out.add(Pair("Заокруглення", money(z.round_sum)))
    out.add(Pair("СУМА", money_cur(z.sum), bold=True))
    out.add(Separator())


def _cash(z: ZPay | None) -> Decimal:
    if z is None:
        return Decimal("0.00")
    return sum((pf.sum for pf in z.pay_forms if pf.form == PayForm.CASH), Decimal("0.00"))


def _z_body(out: Layout, z: ZReport, shift_opened_at: datetime | None) -> None:
    if shift_opened_at is not None:
        # to the minute: with its seconds the pair needs 34 columns, and 58 mm paper has 32
        out.add(Pair("Зміну відкрито", shift_opened_at.astimezone(KYIV).strftime("%d.%m.%Y %H:%M")))
    out.add(Separator())
    if z.realiz is not None:
        _zpay(out, "РЕАЛІЗАЦІЯ", z.realiz)
    if z.ret is not None:
        _zpay(out, "ПОВЕРНЕННЯ", z.ret)
    if z.realiz is None and z.ret is None:
        out.add(Text("Розрахункових операцій не було", Align.CENTER))
        out.add(Separator())
    service_in = z.service_input or Decimal("0.00")
    service_out = z.service_output or Decimal("0.00")
    out.add(Pair("СЛУЖБОВЕ ВНЕСЕННЯ", money(service_in)))
    out.add(Pair("СЛУЖБОВА ВИДАЧА", money(service_out)))
    # Extra, computed: the shift's cash movement; the opening balance is itself a service deposit.
    out.add(Pair("Готівка в касі", money(service_in + _cash(z.realiz) - _cash(z.ret) - service_out)))
    out.add(Separator())


def _z_report(out: Layout, z: ZReport, c: _Ctx, shift_opened_at: datetime | None) -> None:
    head = z.head
    _copy_mark(out, c.copy)
    _test_mark(out, head)
    _header(out, head)
    out.add(_title("Z-ЗВІТ"))
    out.add(Text(f"Z-звіт № {c.fiscal_num}", Align.CENTER, bold=True))
    out.add(Text(f"Локальний № {head.order_num}", Align.CENTER))
    _z_body(out, z, shift_opened_at)
    _when(out, head.when, c, row=None)
    _mode(out, c, mode_row=None)
    _footer(out, head, c, fn_row=None, title="ФІСКАЛЬНИЙ ЗВІТНИЙ ЧЕК")


def _check_width(width_chars: int) -> None:
    if width_chars < MIN_WIDTH:
        raise ValueError(f"width_chars is {width_chars}; a receipt needs at least {MIN_WIDTH} columns")


def layout_receipt(
    doc: Document,
    *,
    fiscal_num: str | int | None,
    offline: bool,
    registered_at: datetime | None = None,
    cash_register_num: int | str | None = None,
    width_chars: int = 32,
    copy: bool = False,
    printed_at: datetime | None = None,
    product_name: str = "fiscal-box",
    shift_opened_at: datetime | None = None,
) -> Layout:
    """The printed form of a registered document.

    ``fiscal_num``: the ticket's ORDERTAXNUM online; offline the whole ``session.n.control`` (taken from
    ``head.offline`` when None). ``offline`` is the mode mark and must agree with ``head.offline``.
    ``registered_at``: the server's registration time; printed as extra only when it differs from the
    document's own time, which rows 27 and the QR use (§6.1 Q4). ``cash_register_num`` defaults to
    the seller's CASHREGISTERNUM. ``copy`` needs ``printed_at``. ``shift_opened_at`` is for Z reports.
    """
    _check_width(width_chars)
    head = doc.head
    if offline != (head.offline is not None):
        raise ValueError(
            f"offline={offline} but the document {'has' if head.offline else 'has no'} offline mark; "
            "print what was registered"
        )
    if fiscal_num is None:
        if head.offline is None:
            raise ValueError("fiscal_num is required for an online document (the ticket's ORDERTAXNUM)")
        fiscal_num = head.offline.tax_num
    num = str(fiscal_num)
    if head.offline is not None and num != head.offline.tax_num:
        raise ValueError(
            f"fiscal_num {num!r} differs from the document's offline number {head.offline.tax_num!r}"
        )
    if copy and printed_at is None:
        raise ValueError("a copy needs printed_at (§6.8: the reprint time is printed separately)")
    fn = cash_register_num if cash_register_num is not None else head.seller.cash_register_num
    out = Layout(width_chars)
    c = _Ctx(num, offline, registered_at, fn, product_name, copy, printed_at)
    if isinstance(doc, ZReport):
        _z_report(out, doc, c, shift_opened_at)
        return out
    if doc.doc_type in _SHIFT_TITLES:
        _service(out, doc, _SHIFT_TITLES[doc.doc_type], c, closing="СЛУЖБОВИЙ ДОКУМЕНТ")
        return out
    if doc.doc_type != DocType.SALE_GOODS:
        raise ValueError(f"no printed form for DOCTYPE {int(doc.doc_type)} (reference §6.9: out of scope)")
    sub = doc.doc_subtype
    if sub in _SERVICE_TITLES:
        assert sub is not None
        _service(out, doc, _SERVICE_TITLES[sub], c, closing="СЛУЖБОВИЙ ЧЕК")
        return out
    _goods(out, doc, c)
    return out


def layout_x_report(
    z: ZReport,
    *,
    printed_at: datetime,
    cash_register_num: int | str | None = None,
    width_chars: int = 32,
    product_name: str = "fiscal-box",
    shift_opened_at: datetime | None = None,
) -> Layout:
    """An X report: the Z body over the open shift (``documents.z_report`` of its checks), not fiscal (§6.7)."""
    _check_width(width_chars)
    head = z.head
    fn = cash_register_num if cash_register_num is not None else head.seller.cash_register_num
    out = Layout(width_chars)
    _test_mark(out, head)
    _header(out, head)
    out.add(_title("X-ЗВІТ"))
    out.add(_title("НЕФІСКАЛЬНИЙ ДОКУМЕНТ", double=False))
    _z_body(out, z, shift_opened_at)
    _non_fiscal_end(out, head, fn, printed_at, product_name)
    return out


def _non_fiscal_end(
    out: Layout, head: DocHead, fn: int | str, printed_at: datetime, product_name: str
) -> None:
    """How a read-out that is no fiscal document ends (an X report, a periodic report)."""
    out.add(Pair("Надруковано", kyiv_time(printed_at)))
    out.add(Text(f"ФН ПРРО {fn}", Align.CENTER))
    out.add(_title("НЕФІСКАЛЬНИЙ ДОКУМЕНТ", double=False))
    out.add(Text(product_name, Align.CENTER))
    _test_mark(out, head)
