"""Reading a received CHECK / ZREP: well-formedness, the XSD, and the numbers the rules need.

Written for the emulator alone (it shares no code with the agent's document builder), so that a
misreading of the format is not made twice in agreement.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from agent.emulator.errors import VALIDATION, FsError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
KOPECK = Decimal("0.01")
TOLERANCE = Decimal("0.01")
#: the service documents' DOCTYPE (reference §3.2): shift open and close, offline session begin and end
OPEN_SHIFT, CLOSE_SHIFT, OFFLINE_BEGIN, OFFLINE_END = 100, 101, 102, 103
# The emulator answers on many threads; libxml2's schema parser is not thread-safe (two threads building
# the XSD at once broke the agent's process in the fault sweep) and the error log lives on the schema
# object: one build and one validation at a time.
_schema_lock = threading.Lock()


@cache
def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / f"{name}01.xsd")))


def _parser() -> etree.XMLParser:
    # No entities, no network: the body comes from whoever can reach the port.
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False, huge_tree=False)


@dataclass(frozen=True)
class PayRow:
    code: int
    name: str
    sum: Decimal


@dataclass(frozen=True)
class TaxRow:
    type: int
    name: str
    letter: str
    prc: Decimal
    sign: bool
    turnover: Decimal
    turnover_discount: Decimal | None
    source_sum: Decimal | None
    sum: Decimal


@dataclass(frozen=True)
class LineRow:
    """A CHECKBODY row's money: what the arithmetic of discounts, extra charges and taxes needs."""

    n: str
    letters: str
    cost: Decimal
    discount_type: int | None
    discount_percent: Decimal | None
    discount_sum: Decimal | None  # signed: negative is an extra charge (націнка)
    subtotal: Decimal | None  # with USAGETYPE 1: what a receipt-level discount was charged on


@dataclass(frozen=True)
class ZPart:
    """ZREPREALIZ or ZREPRETURN (absent in the XML = all zeros)."""

    sum: Decimal = Decimal("0.00")
    orders: int = 0
    payforms: dict[int, Decimal] = field(default_factory=dict)
    taxes: dict[str, Decimal] = field(default_factory=dict)
    rnd_sum: Decimal | None = None
    nornd_sum: Decimal | None = None


@dataclass(frozen=True)
class ParsedDoc:
    doc_class: str  # "CHECK" | "ZREP"
    head: dict[str, str]
    xml: bytes
    # CHECK only
    total_sum: Decimal | None = None
    rnd_sum: Decimal | None = None
    nornd_sum: Decimal | None = None
    partpay_sum: Decimal | None = None
    pays: tuple[PayRow, ...] = ()
    taxes: tuple[TaxRow, ...] = ()
    lines: tuple[LineRow, ...] = ()
    discount_sum: Decimal | None = None  # CHECKTOTAL/DISCOUNTSUM
    subcheck: Decimal | None = None  # CHECKTOTAL/SUBCHECK
    discount_type: int | None = None  # CHECKTOTAL/DISCOUNTTYPE
    discount_percent: Decimal | None = None  # CHECKTOTAL/DISCOUNTPERCENT
    # ZREP only
    realiz: ZPart | None = None
    ret: ZPart | None = None
    service_input: Decimal | None = None
    service_output: Decimal | None = None

    @property
    def doc_type(self) -> int | None:
        return _opt_int(self.head.get("DOCTYPE"))

    @property
    def doc_subtype(self) -> int | None:
        return _opt_int(self.head.get("DOCSUBTYPE"))

    @property
    def order_num(self) -> int:
        return int(self.head["ORDERNUM"])

    @property
    def registrar(self) -> str:
        return _norm_number(self.head["CASHREGISTERNUM"])

    def flag(self, name: str) -> bool:
        return self.head.get(name, "false").strip().lower() in ("true", "1")

    @property
    def testing(self) -> bool:
        return self.flag("TESTING")

    @property
    def offline(self) -> bool:
        return self.flag("OFFLINE")

    @property
    def is_zrep(self) -> bool:
        return self.doc_class == "ZREP"


def _opt_int(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip() != "" else None


def _norm_number(text: str) -> str:
    # positiveInteger allows leading zeros and "+"; registrars are keyed by the plain digits.
    return str(int(text))


def _dec(text: str | None, where: str) -> Decimal:
    try:
        return Decimal((text or "").strip())
    except InvalidOperation as exc:
        raise FsError(VALIDATION, f"{where}: «{text}» не є числом") from exc


def _opt_dec(el: etree._Element, tag: str, where: str) -> Decimal | None:
    child = el.find(tag)
    return None if child is None else _dec(child.text, f"{where}/{tag}")


def _text(el: etree._Element, tag: str) -> str:
    child = el.find(tag)
    return "" if child is None or child.text is None else child.text.strip()


def parse(xml: bytes) -> ParsedDoc:
    """Parse and validate against the XSD; raise FsError(9) naming the line and the element."""
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise FsError(VALIDATION, f"XML документ не є коректним (рядок {exc.lineno}): {exc.msg}") from exc
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag not in ("CHECK", "ZREP"):
        raise FsError(
            VALIDATION, f"Невідомий кореневий елемент документа «{tag}» (очікується CHECK або ZREP)"
        )
    with _schema_lock:
        xsd = schema("check" if tag == "CHECK" else "zrep")
        valid = xsd.validate(etree.ElementTree(root))
        # the stubs do not declare _ErrorLog iterable; it is
        errors: list[Any] = [] if valid else list(cast(Any, xsd.error_log))
    if not valid:
        where, what = (errors[0].line, errors[0].message) if errors else (0, "невідома помилка")
        raise FsError(VALIDATION, f"Документ не відповідає схемі {tag.lower()}01.xsd (рядок {where}): {what}")
    head_el = root.find("CHECKHEAD" if tag == "CHECK" else "ZREPHEAD")
    assert head_el is not None  # the schema requires it
    head = {str(child.tag): (child.text or "").strip() for child in head_el if isinstance(child.tag, str)}
    if tag == "CHECK":
        return _parse_check(root, head, xml)
    return _parse_zrep(root, head, xml)


def _parse_check(root: etree._Element, head: dict[str, str], xml: bytes) -> ParsedDoc:
    total = root.find("CHECKTOTAL")
    pays: list[PayRow] = []
    for row in root.iterfind("CHECKPAY/ROW"):
        n = row.get("ROWNUM")
        pays.append(
            PayRow(
                code=int(_text(row, "PAYFORMCD") or 0),
                name=_text(row, "PAYFORMNM"),
                sum=_opt_dec(row, "SUM", f"CHECKPAY/ROW[{n}]") or Decimal("0.00"),
            )
        )
    taxes: list[TaxRow] = []
    for row in root.iterfind("CHECKTAX/ROW"):
        taxes.append(_tax_row(row, f"CHECKTAX/ROW[{row.get('ROWNUM')}]"))
    lines = tuple(_line_row(row) for row in root.iterfind("CHECKBODY/ROW"))
    return ParsedDoc(
        doc_class="CHECK",
        head=head,
        xml=xml,
        total_sum=None if total is None else _opt_dec(total, "SUM", "CHECKTOTAL"),
        rnd_sum=None if total is None else _opt_dec(total, "RNDSUM", "CHECKTOTAL"),
        nornd_sum=None if total is None else _opt_dec(total, "NORNDSUM", "CHECKTOTAL"),
        partpay_sum=None if total is None else _opt_dec(total, "PARTPAYSUM", "CHECKTOTAL"),
        pays=tuple(pays),
        taxes=tuple(taxes),
        lines=lines,
        discount_sum=None if total is None else _opt_dec(total, "DISCOUNTSUM", "CHECKTOTAL"),
        subcheck=None if total is None else _opt_dec(total, "SUBCHECK", "CHECKTOTAL"),
        discount_type=None if total is None else _opt_int(total.findtext("DISCOUNTTYPE")),
        discount_percent=None if total is None else _opt_dec(total, "DISCOUNTPERCENT", "CHECKTOTAL"),
    )


def _line_row(row: etree._Element) -> LineRow:
    n = row.get("ROWNUM") or "?"
    where = f"CHECKBODY/ROW[{n}]"
    return LineRow(
        n=n,
        letters=_text(row, "LETTERS"),
        cost=_opt_dec(row, "COST", where) or Decimal("0.00"),
        discount_type=_opt_int(row.findtext("DISCOUNTTYPE")),
        discount_percent=_opt_dec(row, "DISCOUNTPERCENT", where),
        discount_sum=_opt_dec(row, "DISCOUNTSUM", where),
        subtotal=_opt_dec(row, "SUBTOTAL", where),
    )


def _tax_row(row: etree._Element, where: str) -> TaxRow:
    return TaxRow(
        type=int(_text(row, "TYPE") or 0),
        name=_text(row, "NAME"),
        letter=_text(row, "LETTER"),
        prc=_opt_dec(row, "PRC", where) or Decimal("0.00"),
        sign=_text(row, "SIGN").lower() in ("true", "1"),
        turnover=_opt_dec(row, "TURNOVER", where) or Decimal("0.00"),
        turnover_discount=_opt_dec(row, "TURNOVERDISCOUNT", where),
        source_sum=_opt_dec(row, "SOURCESUM", where),
        sum=_opt_dec(row, "SUM", where) or Decimal("0.00"),
    )


def _zpart(el: etree._Element | None, where: str) -> ZPart:
    if el is None:
        return ZPart()
    payforms: dict[int, Decimal] = {}
    for row in el.iterfind("PAYFORMS/ROW"):
        code = int(_text(row, "PAYFORMCD") or 0)
        payforms[code] = payforms.get(code, Decimal("0.00")) + (
            _opt_dec(row, "SUM", f"{where}/PAYFORMS") or Decimal("0.00")
        )
    taxes: dict[str, Decimal] = {}
    for row in el.iterfind("TAXES/ROW"):
        t = _tax_row(row, f"{where}/TAXES")
        taxes[t.letter] = taxes.get(t.letter, Decimal("0.00")) + t.sum
    return ZPart(
        sum=_opt_dec(el, "SUM", where) or Decimal("0.00"),
        orders=int(_text(el, "ORDERSCNT") or 0),
        payforms=payforms,
        taxes=taxes,
        rnd_sum=_opt_dec(el, "RNDSUM", where),
        nornd_sum=_opt_dec(el, "NORNDSUM", where),
    )


def _parse_zrep(root: etree._Element, head: dict[str, str], xml: bytes) -> ParsedDoc:
    body = root.find("ZREPBODY")
    return ParsedDoc(
        doc_class="ZREP",
        head=head,
        xml=xml,
        realiz=_zpart(root.find("ZREPREALIZ"), "ZREPREALIZ"),
        ret=_zpart(root.find("ZREPRETURN"), "ZREPRETURN"),
        service_input=None if body is None else _opt_dec(body, "SERVICEINPUT", "ZREPBODY"),
        service_output=None if body is None else _opt_dec(body, "SERVICEOUTPUT", "ZREPBODY"),
    )


def round_half_up(value: Decimal) -> Decimal:
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def included_vat(base: Decimal, prc: Decimal) -> Decimal:
    """VAT contained in a price that includes it (SIGN=false)."""
    return round_half_up(base * prc / (Decimal(100) + prc))


def check_sums(doc: ParsedDoc) -> None:
    """The arithmetic a CHECK must agree with itself on; FsError(9) on the first inconsistency."""
    if doc.doc_class != "CHECK":
        return
    # a partial payment pays PARTPAYSUM of the full CHECKTOTAL/SUM
    due, due_name = (
        (doc.partpay_sum, "CHECKTOTAL/PARTPAYSUM")
        if doc.partpay_sum is not None
        else (doc.total_sum, "CHECKTOTAL/SUM")
    )
    if doc.pays and due is not None:
        paid = sum((p.sum for p in doc.pays), Decimal("0.00"))
        if abs(paid - due) > TOLERANCE:
            raise FsError(
                VALIDATION,
                f"Сума чека {due_name} {due:.2f} не дорівнює сумі форм оплати CHECKPAY/ROW/SUM {paid:.2f}",
            )
    if doc.doc_type == 0:
        # goods documents: pawnshop (4) and currency (2) rows have their own arithmetic, not checked here
        _check_lines(doc)
        _check_receipt_discount(doc)
        _check_tax_bases(doc)
        _check_rounding(doc)
    for t in doc.taxes:
        if t.type != 0 or t.sign:
            continue
        candidates = [included_vat(t.turnover, t.prc)]
        if t.source_sum is not None:
            # with excise in the price the VAT base is the turnover without it
            candidates.append(included_vat(t.source_sum, t.prc))
        if all(abs(c - t.sum) > TOLERANCE for c in candidates):
            raise FsError(
                VALIDATION,
                f"Сума ПДВ за літерою «{t.letter}» ({t.prc:.2f}%) {t.sum:.2f} не відповідає обороту "
                f"{t.turnover:.2f}: очікується {candidates[0]:.2f}",
            )


def _bad(message: str) -> FsError:
    return FsError(VALIDATION, message)


def _own(line: LineRow) -> Decimal:
    """The row's own discount: with USAGETYPE 1 the rest of DISCOUNTSUM came from the receipt's."""
    if line.subtotal is not None:
        return line.cost - line.subtotal
    return line.discount_sum or Decimal("0.00")


def _net(line: LineRow) -> Decimal:
    return line.cost - (line.discount_sum or Decimal("0.00"))


def _check_lines(doc: ParsedDoc) -> None:
    """Each row's discount or mark-up (a negative DISCOUNTSUM) against its COST and percent."""
    for line in doc.lines:
        where = f"CHECKBODY/ROW[{line.n}]"
        own = _own(line)
        if line.discount_type == 1:
            if line.discount_percent is None:
                raise _bad(f"{where}: DISCOUNTTYPE 1 (відсоткова) без DISCOUNTPERCENT")
            want = round_half_up(line.cost * line.discount_percent / 100)
            if want != own:
                raise _bad(
                    f"{where}: знижка {own:.2f} не дорівнює {line.discount_percent:.2f}% від COST "
                    f"{line.cost:.2f} ({want:.2f})"
                )
        if own > line.cost or _net(line) < 0:
            raise _bad(f"{where}: знижка {line.discount_sum:.2f} більша за вартість COST {line.cost:.2f}")
    if doc.lines and doc.discount_sum is not None:
        total = sum((ln.discount_sum or Decimal("0.00") for ln in doc.lines), Decimal("0.00"))
        if total != doc.discount_sum:
            raise _bad(
                f"CHECKTOTAL/DISCOUNTSUM {doc.discount_sum:.2f} не дорівнює сумі знижок рядків {total:.2f}"
            )


def _check_receipt_discount(doc: ParsedDoc) -> None:
    """A discount on the subtotal (USAGETYPE 1): SUBCHECK is the rows' SUBTOTAL, the percent its sum."""
    shared = [ln for ln in doc.lines if ln.subtotal is not None]
    if doc.subcheck is None:
        return
    subtotal = sum((ln.subtotal or Decimal("0.00") for ln in shared), Decimal("0.00"))
    if subtotal != doc.subcheck:
        raise _bad(f"CHECKTOTAL/SUBCHECK {doc.subcheck:.2f} не дорівнює сумі SUBTOTAL рядків {subtotal:.2f}")
    if doc.discount_type == 1:
        if doc.discount_percent is None:
            raise _bad("CHECKTOTAL: DISCOUNTTYPE 1 (відсоткова) без DISCOUNTPERCENT")
        parts = sum(((ln.discount_sum or Decimal("0.00")) - _own(ln) for ln in shared), Decimal("0.00"))
        want = round_half_up(doc.subcheck * doc.discount_percent / 100)
        if parts != want:
            raise _bad(
                f"Знижка на чек {parts:.2f} не дорівнює {doc.discount_percent:.2f}% від SUBCHECK "
                f"{doc.subcheck:.2f} ({want:.2f})"
            )


def _check_tax_bases(doc: ParsedDoc) -> None:
    """TURNOVER is the COST of the letter's rows, TURNOVERDISCOUNT what they cost after discounts."""
    if not doc.lines:
        return
    for t in doc.taxes:
        if not t.letter:
            continue
        mine = [ln for ln in doc.lines if t.letter in ln.letters]
        turnover = sum((ln.cost for ln in mine), Decimal("0.00"))
        if turnover != t.turnover:
            raise _bad(
                f"CHECKTAX літера «{t.letter}»: TURNOVER {t.turnover:.2f} не дорівнює сумі COST {turnover:.2f}"
            )
        if t.turnover_discount is not None:
            net = sum((_net(ln) for ln in mine), Decimal("0.00"))
            if net != t.turnover_discount:
                raise _bad(
                    f"CHECKTAX літера «{t.letter}»: TURNOVERDISCOUNT {t.turnover_discount:.2f} не дорівнює "
                    f"вартості рядків зі знижками {net:.2f}"
                )


_CASH_STEP = Decimal("0.1")


def _check_rounding(doc: ParsedDoc) -> None:
    """RNDSUM = NORNDSUM - SUM, the cash part rounded to 10 kopecks half up, nothing cashless rounded."""
    rnd, nornd, total = doc.rnd_sum, doc.nornd_sum, doc.total_sum
    if rnd is None and nornd is None:
        if doc.lines and total is not None and doc.partpay_sum is None:
            _check_goods_total(doc, total, "CHECKTOTAL/SUM")
        return
    if rnd is None or nornd is None or total is None:
        raise _bad("CHECKTOTAL: RNDSUM і NORNDSUM зазначаються разом із SUM")
    if nornd - rnd != total:
        raise _bad(f"CHECKTOTAL: NORNDSUM {nornd:.2f} - RNDSUM {rnd:.2f} не дорівнює SUM {total:.2f}")
    if doc.lines and doc.partpay_sum is None:
        _check_goods_total(doc, nornd, "CHECKTOTAL/NORNDSUM")
    cash_rows = [p for p in doc.pays if p.code == 0]
    if not cash_rows:
        if rnd != 0:
            raise _bad(f"Заокруглення {rnd:.2f} у чеку без готівки: безготівкові розрахунки не заокруглюються")
        return
    cashless = sum((p.sum for p in doc.pays if p.code != 0), Decimal("0.00"))
    want = (nornd - cashless).quantize(_CASH_STEP, rounding=ROUND_HALF_UP).quantize(KOPECK)
    if total - cashless != want:
        raise _bad(
            f"Заокруглення {rnd:.2f}: готівкова частина {nornd - cashless:.2f} заокруглюється до "
            f"{want:.2f}, а не до {total - cashless:.2f}"
        )


def _check_goods_total(doc: ParsedDoc, total: Decimal, name: str) -> None:
    """The goods' total: the rows after discounts, plus the taxes not included in the prices."""
    extra = sum((t.sum for t in doc.taxes if t.sign), Decimal("0.00"))
    want = sum((_net(ln) for ln in doc.lines), Decimal("0.00")) + extra
    if want != total:
        raise _bad(f"{name} {total:.2f} не дорівнює вартості рядків зі знижками {want:.2f}")
