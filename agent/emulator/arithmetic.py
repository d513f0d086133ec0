"""Issue 15, the arithmetic a document must agree with, beyond ``xmldoc.check_sums``: each row's COST
against its AMOUNT and PRICE, the rows' LETTERS against the tax rows, the change (PROVIDED, REMAINS), and
a Z report's tax bases (TURNOVER, SOURCESUM) against the server's own shift totals.

Written from the XSD comments and the reference alone, reading the XML itself (it shares nothing with the
agent's builder, nor with ``xmldoc``'s parsed rows), so that a misreading is not made twice in agreement
(contract §4). Every refusal is the tax service's ``9 DocumentValidationError``: the server «перевіряє
відповідність рядків оплати підсумкам» (reference §3.3, changelog 03.12.2020) and answers inconsistent
totals with that code (reference §5.3).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lxml import etree

from agent.emulator.errors import VALIDATION, FsError
from agent.emulator.totals import Totals

KOPECK = Decimal("0.01")
ZERO = Decimal("0.00")
# doc types with goods rows whose arithmetic is AMOUNT × PRICE (pawnshop 4 and currency 2 rows are not)
_GOODS = "0"


def _bad(message: str) -> FsError:
    return FsError(VALIDATION, message)


def _root(xml: bytes) -> etree._Element:
    # Already parsed and schema-checked by xmldoc.parse; the same safe settings, no entities or network.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(xml, parser)


def _dec(el: etree._Element, tag: str) -> Decimal | None:
    child = el.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    try:
        return Decimal(child.text.strip())
    except InvalidOperation as exc:
        raise _bad(f"{tag}: «{child.text}» не є числом") from exc


def check_document(xml: bytes) -> None:
    """The checks of one received CHECK (a ZREP has none of these rows); FsError(9) on the first."""
    root = _root(xml)
    if root.tag != "CHECK":
        return
    doc_type = (root.findtext("CHECKHEAD/DOCTYPE") or "").strip()
    if doc_type == _GOODS:
        check_costs(root)
        check_letters(root)
    check_change(root)


def check_costs(root: etree._Element) -> None:
    """COST = AMOUNT × PRICE to the kopeck, half up.

    check01.xsd, CHECKBODY/ROW: AMOUNT «Кількість/об’єм товару», PRICE «Ціна за одиницю товару», COST
    «Сума операції (без урахування знижки)»: the operation's sum is the quantity at the unit price; a
    discount is a separate element (DISCOUNTSUM) and is not taken out of COST."""
    for row in root.iterfind("CHECKBODY/ROW"):
        amount, price, cost = _dec(row, "AMOUNT"), _dec(row, "PRICE"), _dec(row, "COST")
        if amount is None or price is None or cost is None:
            continue
        want = (amount * price).quantize(KOPECK, rounding=ROUND_HALF_UP)
        if cost != want:
            raise _bad(
                f"CHECKBODY/ROW[{row.get('ROWNUM')}]: COST {cost:.2f} не дорівнює AMOUNT {amount} × PRICE "
                f"{price:.2f} = {want:.2f}"
            )


def check_letters(root: etree._Element) -> None:
    """Every letter of a row's LETTERS names a CHECKTAX row, and every lettered tax row covers a row.

    check01.xsd: LETTERS «Літерні позначення видів і ставок податків/зборів», CHECKTAX/ROW/LETTER «Літерне
    позначення виду і ставки податку/збору»: a letter on a row says which tax row's rate applies to it; a
    letter with no tax row names no rate, a tax row no row points at has no base."""
    tax_letters = {(r.findtext("LETTER") or "").strip() for r in root.iterfind("CHECKTAX/ROW")} - {""}
    used: set[str] = set()
    for row in root.iterfind("CHECKBODY/ROW"):
        letters = (row.findtext("LETTERS") or "").strip()
        for letter in letters:
            if letter not in tax_letters:
                raise _bad(
                    f"CHECKBODY/ROW[{row.get('ROWNUM')}]: літера «{letter}» з LETTERS «{letters}» не має "
                    "рядка податку CHECKTAX/ROW/LETTER"
                )
            used.add(letter)
    if root.find("CHECKBODY/ROW") is None:
        return
    for letter in sorted(tax_letters - used):
        raise _bad(f"CHECKTAX літера «{letter}»: жоден рядок CHECKBODY не має її в LETTERS")


def check_change(root: etree._Element) -> None:
    """REMAINS = PROVIDED − SUM, and REMAINS only when there is change.

    check01.xsd, CHECKPAY/ROW: PROVIDED «Сума внесених коштів», REMAINS «Решта (не зазначається, якщо решта
    відсутня)». The 2025 XSD says PROVIDED too «не зазначається, якщо решта відсутня», but the official
    example «check01(Два податки)» gives PROVIDED 259.90 = SUM with no REMAINS, so PROVIDED equal to SUM is
    accepted (no change, none written); what is refused is change that does not add up, a REMAINS of
    nothing, and a REMAINS with no PROVIDED to be the change of."""
    for row in root.iterfind("CHECKPAY/ROW"):
        where = f"CHECKPAY/ROW[{row.get('ROWNUM')}]"
        paid = _dec(row, "SUM") or ZERO
        provided, remains = _dec(row, "PROVIDED"), _dec(row, "REMAINS")
        if remains is not None and remains <= 0:
            raise _bad(f"{where}: REMAINS {remains:.2f}: решта не зазначається, якщо вона відсутня")
        if remains is not None and provided is None:
            raise _bad(f"{where}: REMAINS {remains:.2f} без PROVIDED (суми внесених коштів)")
        if provided is None:
            continue
        if provided - paid != (remains or ZERO):
            raise _bad(
                f"{where}: решта REMAINS {remains or ZERO:.2f} не дорівнює PROVIDED {provided:.2f} − SUM "
                f"{paid:.2f} = {provided - paid:.2f}"
            )


def _letter_bases(root: etree._Element, section: str) -> dict[str, tuple[Decimal, Decimal | None]]:
    out: dict[str, tuple[Decimal, Decimal | None]] = {}
    for row in root.iterfind(f"{section}/TAXES/ROW"):
        letter = (row.findtext("LETTER") or "").strip()
        turnover, source = _dec(row, "TURNOVER") or ZERO, _dec(row, "SOURCESUM")
        old_t, old_s = out.get(letter, (ZERO, None))
        out[letter] = (old_t + turnover, old_s if source is None else (old_s or ZERO) + source)
    return out


def zrep_tax_bases(xml: bytes, totals: Totals) -> None:
    """A Z report's TAXES/ROW TURNOVER and SOURCESUM per letter are the sums of the shift's documents.

    zrep01.xsd keeps the check's tax row shape (TURNOVER «Сума обсягів для розрахування податку/збору»,
    SOURCESUM «Вихідна сума для розрахування податку/збору»); the fiscal report is the shift's totals
    («Сервер формує проект Z-звіту … на дату та час отримання запиту», ФСКО ЕВПЗ, «Z-звіт»), so each base
    is what the server counted from the registered checks (totals.py); the tax SUM is checked there."""
    root = _root(xml)
    if root.tag != "ZREP":
        return
    for section, part in (("ZREPREALIZ", totals.real), ("ZREPRETURN", totals.ret)):
        want: dict[str, tuple[Decimal, Decimal]] = {}
        for t in part.taxes.values():
            turnover, source = want.get(t.letter, (ZERO, ZERO))
            want[t.letter] = (turnover + t.turnover, source + t.source_sum)
        got = _letter_bases(root, section)
        for letter in sorted(set(got) | set(want)):
            got_t, got_s = got.get(letter, (ZERO, None))
            want_t, want_s = want.get(letter, (ZERO, ZERO))
            if got_t != want_t:
                raise _bad(
                    f"Підсумки Z-звіту не збігаються з даними сервера: {section}/TAXES літера «{letter}» "
                    f"TURNOVER у звіті {got_t:.2f}, за даними сервера {want_t:.2f}"
                )
            if (got_s if got_s is not None else ZERO) != want_s:
                raise _bad(
                    f"Підсумки Z-звіту не збігаються з даними сервера: {section}/TAXES літера «{letter}» "
                    f"SOURCESUM у звіті {got_s or ZERO:.2f}, за даними сервера {want_s:.2f}"
                )
