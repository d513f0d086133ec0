"""render: the model as the tax service's windows-1251 XML, elements in schema order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from agent.clock import KYIV
from agent.secr.errors import NotSupported

from .model import (
    _CHECK_HEAD_EXTRA,
    _ZREP_HEAD_EXTRA,
    KOPECK,
    QTY_STEP,
    Check,
    DocHead,
    Document,
    Line,
    Payment,
    TaxRow,
    ZPay,
    ZReport,
)

_PROLOG = '<?xml version="1.0" encoding="windows-1251"?>\n'
_CHECK_OPEN = '<CHECK xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="check01.xsd">'
_ZREP_OPEN = (
    '<ZREP xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="zrep01.xsd">'
)


def _esc(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        # a literal CR would be normalised away by every XML reader
        value = value.replace("\r", "&#13;")
    return value


def _m(value: Decimal) -> str:
    return str(value.quantize(KOPECK, rounding=ROUND_HALF_UP))


def _q(value: Decimal) -> str:
    # DGDecimal3_R: an integer or up to 3 decimals; "5.701", "6", "0.5" -- never an exponent.
    q = value.quantize(QTY_STEP, rounding=ROUND_HALF_UP)
    text = f"{q:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _b(value: bool) -> str:
    return "true" if value else "false"


def _head_common(out: list[str], head: DocHead) -> None:
    s = head.seller
    out.append(f"<UID>{_esc(head.uid)}</UID><TIN>{_esc(s.tin)}</TIN>")
    if s.ipn is not None:
        out.append(f"<IPN>{_esc(s.ipn)}</IPN>")
    out.append(f"<ORGNM>{_esc(s.org_name)}</ORGNM><POINTNM>{_esc(s.point_name)}</POINTNM>")
    if s.point_address is not None:
        out.append(f"<POINTADDR>{_esc(s.point_address)}</POINTADDR>")
    local = head.when.astimezone(KYIV)
    out.append(
        f"<ORDERDATE>{local.day:02d}{local.month:02d}{local.year:04d}</ORDERDATE>"
        f"<ORDERTIME>{local.hour:02d}{local.minute:02d}{local.second:02d}</ORDERTIME>"
        f"<ORDERNUM>{head.order_num}</ORDERNUM><CASHDESKNUM>{s.cash_desk_num}</CASHDESKNUM>"
        f"<CASHREGISTERNUM>{s.cash_register_num}</CASHREGISTERNUM>"
    )


def _opt(out: list[str], tag: str, value: str | None) -> None:
    if value is not None:
        out.append(f"<{tag}>{_esc(value)}</{tag}>")


def _head_tail(out: list[str], head: DocHead, extra: Mapping[str, str], *, stored: tuple[str, ...]) -> None:
    """VER .. TESTING, shared by CHECKHEAD and ZREPHEAD."""
    out.append(f"<VER>{_esc(extra.get('VER', '1'))}</VER>")
    off = head.offline
    if off is not None:
        out.append(f"<ORDERTAXNUM>{_esc(off.tax_num)}</ORDERTAXNUM><OFFLINE>true</OFFLINE>")
        _opt(out, "PREVDOCHASH", off.prev_doc_hash)
    else:
        _opt(out, "ORDERTAXNUM", extra.get("ORDERTAXNUM"))
    for tag in stored:
        _opt(out, tag, extra.get(tag))
    if head.testing:
        out.append("<TESTING>true</TESTING>")


def _check_extra(extra: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = set(extra) - allowed
    if unknown:
        raise NotSupported(f"rendering extra elements not supported: {', '.join(sorted(unknown))}")


def _render_tax_rows(out: list[str], rows: Sequence[TaxRow]) -> None:
    for n, t in enumerate(rows, 1):
        out.append(f'<ROW ROWNUM="{n}"><TYPE>{int(t.type)}</TYPE><NAME>{_esc(t.name)}</NAME>')
        if t.letter:
            out.append(f"<LETTER>{_esc(t.letter)}</LETTER>")
        out.append(
            f"<PRC>{_m(t.rate)}</PRC><SIGN>{_b(not t.included)}</SIGN><TURNOVER>{_m(t.turnover)}</TURNOVER>"
        )
        if t.turnover_discount is not None:
            out.append(f"<TURNOVERDISCOUNT>{_m(t.turnover_discount)}</TURNOVERDISCOUNT>")
        if t.source_sum is not None:
            out.append(f"<SOURCESUM>{_m(t.source_sum)}</SOURCESUM>")
        out.append(f"<SUM>{_m(t.sum)}</SUM></ROW>")


def _render_check(doc: Check) -> str:
    _check_extra(doc.extra, _CHECK_HEAD_EXTRA)
    out: list[str] = [_PROLOG, _CHECK_OPEN]
    _render_check_head(out, doc)
    _render_check_total(out, doc)
    if doc.payments:
        out.append("<CHECKPAY>")
        for n, pay in enumerate(doc.payments, 1):
            _render_payment(out, n, pay)
        out.append("</CHECKPAY>")
    if doc.taxes:
        out.append("<CHECKTAX>")
        _render_tax_rows(out, doc.taxes)
        out.append("</CHECKTAX>")
    if doc.lines:
        out.append("<CHECKBODY>")
        for n, line in enumerate(doc.lines, 1):
            _render_line(out, n, line)
        out.append("</CHECKBODY>")
    out.append("</CHECK>")
    return "".join(out)


def _render_check_head(out: list[str], doc: Check) -> None:
    head, extra = doc.head, doc.extra
    out.append(f"<CHECKHEAD><DOCTYPE>{int(doc.doc_type)}</DOCTYPE>")
    if doc.doc_subtype is not None:
        out.append(f"<DOCSUBTYPE>{int(doc.doc_subtype)}</DOCSUBTYPE>")
    _head_common(out, head)
    _opt(out, "ORDERRETCASHREGNUM", extra.get("ORDERRETCASHREGNUM"))
    _opt(out, "ORDERRETDATE", extra.get("ORDERRETDATE"))
    _opt(out, "ORDERRETNUM", doc.ret_num)
    _opt(out, "ORDERSTORNUM", doc.storno_num)
    _opt(out, "OPERTYPENM", extra.get("OPERTYPENM"))
    _opt(out, "VEHICLERN", extra.get("VEHICLERN"))
    if head.offline is not None and head.offline.revoke_last_online_doc:
        out.append("<REVOKELASTONLINEDOC>true</REVOKELASTONLINEDOC>")
    elif head.offline is None:
        _opt(out, "REVOKELASTONLINEDOC", extra.get("REVOKELASTONLINEDOC"))
    _opt(out, "CASHIER", head.cashier)
    _opt(out, "LOGOURL", extra.get("LOGOURL"))
    _opt(out, "COMMENT", extra.get("COMMENT"))
    _head_tail(out, head, extra, stored=("REVOKED", "STORNED"))
    out.append("</CHECKHEAD>")


def _render_check_total(out: list[str], doc: Check) -> None:
    # A zero DISCOUNTSUM alone opens no CHECKTOTAL (a falsy Decimal), but is written inside one.
    rd = doc.receipt_discount
    if (
        doc.total is None
        and doc.round_sum is None
        and doc.no_round_sum is None
        and not doc.discount_sum
        and rd is None
    ):
        return
    out.append("<CHECKTOTAL>")
    if doc.total is not None:
        out.append(f"<SUM>{_m(doc.total)}</SUM>")
    if doc.round_sum is not None:
        out.append(f"<RNDSUM>{_m(doc.round_sum)}</RNDSUM>")
    if doc.no_round_sum is not None:
        out.append(f"<NORNDSUM>{_m(doc.no_round_sum)}</NORNDSUM>")
    if rd is not None:
        # The receipt-level part: USAGETYPE 1 "проміжний підсумок" (a discount on the subtotal),
        # SUBCHECK the sum it was charged on, DISCOUNTTYPE 0 by sum / 1 by percent (XSD CTotal).
        out.append(f"<USAGETYPE>1</USAGETYPE><SUBCHECK>{_m(rd.subtotal)}</SUBCHECK>")
        if rd.percent is not None:
            out.append(f"<DISCOUNTTYPE>1</DISCOUNTTYPE><DISCOUNTPERCENT>{_m(rd.percent)}</DISCOUNTPERCENT>")
        else:
            out.append("<DISCOUNTTYPE>0</DISCOUNTTYPE>")
    if doc.discount_sum is not None:
        out.append(f"<DISCOUNTSUM>{_m(doc.discount_sum)}</DISCOUNTSUM>")
    out.append("</CHECKTOTAL>")


def _render_payment(out: list[str], n: int, p: Payment) -> None:
    out.append(
        f'<ROW ROWNUM="{n}"><PAYFORMCD>{int(p.form)}</PAYFORMCD><PAYFORMNM>{_esc(p.name)}</PAYFORMNM>'
        f"<SUM>{_m(p.amount)}</SUM>"
    )
    if p.provided is not None:
        out.append(f"<PROVIDED>{_m(p.provided)}</PROVIDED>")
        if p.provided > p.amount:
            out.append(f"<REMAINS>{_m(p.provided - p.amount)}</REMAINS>")
    if p.has_paysys():
        # One PAYSYS row per payment row, its elements in check01.xsd TROWSPAYSYS order (TAXNUM,
        # ACQUIREPN and POSTRANSDATE have no Checkbox field and are never written).
        out.append('<PAYSYS><ROW ROWNUM="1">')
        _opt(out, "NAME", p.payment_system)
        _opt(out, "ACQUIREID", p.acquirer_id)
        _opt(out, "ACQUIRENM", p.acquirer)
        _opt(out, "ACQUIRETRANSID", p.rrn)
        _opt(out, "POSTRANSNUM", p.pos_receipt_no)
        _opt(out, "DEVICEID", p.terminal)
        _opt(out, "EPZDETAILS", p.card_mask)
        _opt(out, "AUTHCD", p.auth_code)
        _opt(out, "CLIENTINFO", p.client_info)
        out.append(f"<SUM>{_m(p.amount)}</SUM>")
        if p.commission is not None:
            out.append(f"<COMMISSION>{_m(p.commission)}</COMMISSION>")
        out.append("</ROW></PAYSYS>")
    out.append("</ROW>")


def _render_line(out: list[str], n: int, line: Line) -> None:
    it = line.item
    out.append(f'<ROW ROWNUM="{n}">')
    _opt(out, "CODE", it.code)
    _opt(out, "BARCODE", it.barcode)
    _opt(out, "UKTZED", it.uktzed)
    _opt(out, "DKPP", it.dkpp)
    out.append(f"<NAME>{_esc(it.name)}</NAME>")
    if it.unit_code is not None:
        out.append(f"<UNITCD>{it.unit_code}</UNITCD>")
    _opt(out, "UNITNM", it.unit_name)
    out.append(f"<AMOUNT>{_q(it.quantity)}</AMOUNT><PRICE>{_m(it.price)}</PRICE>")
    if line.letters:
        out.append(f"<LETTERS>{_esc(line.letters)}</LETTERS>")
    out.append(f"<COST>{_m(line.cost)}</COST>")
    # XSD order: USAGETYPE, DISCOUNTTYPE, SUBTOTAL, DISCOUNTPERCENT, DISCOUNTSUM. DISCOUNTSUM is all that
    # is off the line (its own and its share of the receipt-level part, signed: negative is a mark-up);
    # SUBTOTAL, with USAGETYPE 1, is what the receipt-level share was charged on: COST - the line's own.
    if line.share is not None:
        out.append("<USAGETYPE>1</USAGETYPE>")
    if it.discount_percent is not None:
        out.append("<DISCOUNTTYPE>1</DISCOUNTTYPE>")
    elif line.adjustment or line.share is not None:
        out.append("<DISCOUNTTYPE>0</DISCOUNTTYPE>")
    if line.share is not None:
        out.append(f"<SUBTOTAL>{_m(line.cost - it.discount)}</SUBTOTAL>")
    if it.discount_percent is not None:
        out.append(f"<DISCOUNTPERCENT>{_m(it.discount_percent)}</DISCOUNTPERCENT>")
    if it.discount_percent is not None or line.adjustment or line.share is not None:
        out.append(f"<DISCOUNTSUM>{_m(line.adjustment)}</DISCOUNTSUM>")
    if it.excise_labels:
        out.append("<EXCISELABELS>")
        for k, label in enumerate(it.excise_labels, 1):
            out.append(f'<ROW ROWNUM="{k}"><EXCISELABEL>{_esc(label)}</EXCISELABEL></ROW>')
        out.append("</EXCISELABELS>")
    out.append("</ROW>")


def _render_zpay(out: list[str], tag: str, z: ZPay) -> None:
    out.append(f"<{tag}><SUM>{_m(z.sum)}</SUM>")
    if z.round_sum is not None:
        out.append(f"<RNDSUM>{_m(z.round_sum)}</RNDSUM>")
    if z.no_round_sum is not None:
        out.append(f"<NORNDSUM>{_m(z.no_round_sum)}</NORNDSUM>")
    out.append(f"<ORDERSCNT>{z.orders_count}</ORDERSCNT>")
    if z.pay_forms:
        out.append("<PAYFORMS>")
        for n, f in enumerate(z.pay_forms, 1):
            out.append(
                f'<ROW ROWNUM="{n}"><PAYFORMCD>{int(f.form)}</PAYFORMCD><PAYFORMNM>{_esc(f.name)}</PAYFORMNM>'
                f"<SUM>{_m(f.sum)}</SUM></ROW>"
            )
        out.append("</PAYFORMS>")
    if z.taxes:
        out.append("<TAXES>")
        _render_tax_rows(out, z.taxes)
        out.append("</TAXES>")
    out.append(f"</{tag}>")


def _render_zrep(doc: ZReport) -> str:
    head = doc.head
    _check_extra(doc.extra, _ZREP_HEAD_EXTRA)
    out: list[str] = [_PROLOG, _ZREP_OPEN, "<ZREPHEAD>"]
    _head_common(out, head)
    _opt(out, "CASHIER", head.cashier)
    _head_tail(out, head, doc.extra, stored=("REVOKED",))
    out.append("</ZREPHEAD>")
    if doc.realiz is not None:
        _render_zpay(out, "ZREPREALIZ", doc.realiz)
    if doc.ret is not None:
        _render_zpay(out, "ZREPRETURN", doc.ret)
    if doc.service_input is not None or doc.service_output is not None:
        out.append("<ZREPBODY>")
        if doc.service_input is not None:
            out.append(f"<SERVICEINPUT>{_m(doc.service_input)}</SERVICEINPUT>")
        if doc.service_output is not None:
            out.append(f"<SERVICEOUTPUT>{_m(doc.service_output)}</SERVICEOUTPUT>")
        out.append("</ZREPBODY>")
    out.append("</ZREP>")
    return "".join(out)


def render(doc: Document) -> bytes:
    text = _render_check(doc) if isinstance(doc, Check) else _render_zrep(doc)
    # Characters outside windows-1251 (e.g. emoji in a product name) become character references,
    # which every XML reader turns back into the same text.
    return text.encode("cp1251", errors="xmlcharrefreplace")
