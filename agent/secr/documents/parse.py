"""parse: a CHECK or ZREP document back into the model, refusing what the model cannot carry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from lxml import etree

from agent.clock import KYIV
from agent.secr.errors import FiscalBoxError, InvalidDocument, NotSupported

from .model import (
    _CHECK_HEAD_EXTRA,
    _ZREP_HEAD_EXTRA,
    Check,
    DocHead,
    DocSubType,
    DocType,
    Document,
    Item,
    Line,
    OfflineMark,
    PayFormTotal,
    Payment,
    ReceiptDiscount,
    Seller,
    TaxRow,
    ZPay,
    ZReport,
)
from .schema import _parse_tree, _validate_tree

# Why an element is refused, for the NotSupported message.
_FEATURES: dict[str, str] = {
    "PARTPAYTYPE": "partial payments",
    "PARTPAYPERCENT": "partial payments",
    "PARTPAYSUM": "partial payments",
    "PARTPAYORDPREPAYNUM": "partial payments",
    "PWNSUMISSUED": "pawnshop operations",
    "PWNSUMRECEIVED": "pawnshop operations",
    "PWNDIR": "pawnshop operations",
    "CHECKPTKS": "self-service terminals (ПТКС)",
    "CHECKDUTYFREE": "duty-free sales",
    "CHECKDUTYFREEREMAINS": "duty-free sales",
    "NOTAXSUM": "sums without taxes (NOTAXSUM)",
    "COMMISSION": "commissions",
    "ZREPVAL": "currency exchange Z sections",
    "ZREPFUEL": "fuel station Z sections",
    "ZREPCASH": "cash withdrawal Z sections",
    "TOTALCURRENCYCOST": "currency totals",
    "TOTALCURRENCYSUM": "currency totals",
    "TOTALCURRENCYCOMMISSION": "currency totals",
}
_PREFIX_FEATURES = (
    ("FUEL", "fuel station (АЗС) rows"),
    ("VAL", "currency exchange rows"),
    ("PWN", "pawnshop operations"),
    ("PTKS", "self-service terminals (ПТКС)"),
)


def _unsupported(path: str) -> NotSupported:
    tag = path.rsplit("/", 1)[-1]
    what = _FEATURES.get(tag)
    if what is None:
        what = next((w for p, w in _PREFIX_FEATURES if tag.startswith(p)), f"element {tag}")
    return NotSupported(f"{what} not supported: <{path}>")


def _children(node: etree._Element, allowed: frozenset[str], path: str) -> dict[str, etree._Element]:
    out: dict[str, etree._Element] = {}
    for child in node:
        tag = child.tag
        if not isinstance(tag, str):  # processing instructions
            continue
        if tag not in allowed:
            raise _unsupported(f"{path}/{tag}")
        out[tag] = child
    return out


def _rows(node: etree._Element, path: str) -> list[etree._Element]:
    rows = []
    for child in node:
        if not isinstance(child.tag, str):
            continue
        if child.tag != "ROW":
            raise _unsupported(f"{path}/{child.tag}")
        rows.append(child)
    return rows


def _t(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return el.text if el.text is not None else ""


def _get(d: Mapping[str, etree._Element], tag: str) -> str | None:
    return _t(d.get(tag))


def _need(d: Mapping[str, etree._Element], tag: str, path: str) -> str:
    v = _get(d, tag)
    if v is None:
        raise InvalidDocument(f"<{path}/{tag}> is missing")
    return v


def _dec_or_none(d: Mapping[str, etree._Element], tag: str) -> Decimal | None:
    v = _get(d, tag)
    return None if v is None else Decimal(v.strip())


def _int_text(v: str) -> int:
    # zrep01 types PAYFORMCD / TYPE as DGDecimal0, which allows "2.00".
    return int(Decimal(v.strip()))


def _bool(v: str | None) -> bool:
    return v is not None and v.strip() in ("true", "1")


_HEAD_COMMON = (
    "UID",
    "TIN",
    "IPN",
    "ORGNM",
    "POINTNM",
    "POINTADDR",
    "ORDERDATE",
    "ORDERTIME",
    "ORDERNUM",
    "CASHDESKNUM",
    "CASHREGISTERNUM",
    "CASHIER",
    "VER",
    "ORDERTAXNUM",
    "OFFLINE",
    "PREVDOCHASH",
    "REVOKED",
    "TESTING",
)
_CHECK_HEAD_TAGS = frozenset(
    (
        *_HEAD_COMMON,
        "DOCTYPE",
        "DOCSUBTYPE",
        "ORDERRETCASHREGNUM",
        "ORDERRETDATE",
        "ORDERRETNUM",
        "ORDERSTORNUM",
        "OPERTYPENM",
        "VEHICLERN",
        "REVOKELASTONLINEDOC",
        "LOGOURL",
        "COMMENT",
        "STORNED",
    )
)
_ZREP_HEAD_TAGS = frozenset(_HEAD_COMMON)


def _parse_head(
    h: Mapping[str, etree._Element], path: str, extra_tags: frozenset[str]
) -> tuple[DocHead, dict[str, str]]:
    when = _parse_when(h, path)
    seller = Seller(
        tin=_need(h, "TIN", path),
        org_name=_need(h, "ORGNM", path),
        point_name=_need(h, "POINTNM", path),
        cash_desk_num=int(_need(h, "CASHDESKNUM", path)),
        cash_register_num=int(_need(h, "CASHREGISTERNUM", path)),
        ipn=_get(h, "IPN"),
        point_address=_get(h, "POINTADDR"),
    )
    offline = _parse_offline(h, path)
    extra = _head_extra(h, extra_tags, offline)
    head = DocHead(
        uid=_need(h, "UID", path),
        seller=seller,
        when=when,
        order_num=int(_need(h, "ORDERNUM", path)),
        cashier=_get(h, "CASHIER"),
        testing=_bool(_get(h, "TESTING")),
        offline=offline,
    )
    return head, extra


def _parse_when(h: Mapping[str, etree._Element], path: str) -> datetime:
    date = _need(h, "ORDERDATE", path)
    time = _need(h, "ORDERTIME", path)
    return datetime(
        int(date[4:8]),
        int(date[2:4]),
        int(date[0:2]),
        int(time[0:2]),
        int(time[2:4]),
        int(time[4:6]),
        tzinfo=KYIV,
    )


def _parse_offline(h: Mapping[str, etree._Element], path: str) -> OfflineMark | None:
    if not _bool(_get(h, "OFFLINE")):
        # OFFLINE=false says nothing beyond its absence; a chain hash on an online document would be lost.
        if "PREVDOCHASH" in h:
            raise NotSupported(f"PREVDOCHASH on an online document not supported: <{path}/PREVDOCHASH>")
        return None
    tax_num = _get(h, "ORDERTAXNUM")
    if tax_num is None:
        raise NotSupported(f"offline document without ORDERTAXNUM not supported: <{path}>")
    return OfflineMark(
        tax_num=tax_num,
        prev_doc_hash=_get(h, "PREVDOCHASH"),
        revoke_last_online_doc=_bool(_get(h, "REVOKELASTONLINEDOC")),
    )


def _head_extra(
    h: Mapping[str, etree._Element], extra_tags: frozenset[str], offline: OfflineMark | None
) -> dict[str, str]:
    """The head elements the model does not name; on an offline document the mark holds two of them."""
    extra: dict[str, str] = {}
    for tag in sorted(extra_tags):
        if tag in h and not (offline is not None and tag in ("ORDERTAXNUM", "REVOKELASTONLINEDOC")):
            extra[tag] = _t(h[tag]) or ""
    if extra.get("VER", "").strip() == "1":
        del extra["VER"]
    return extra


_TOTAL_TAGS = frozenset(
    {"SUM", "RNDSUM", "NORNDSUM", "USAGETYPE", "SUBCHECK", "DISCOUNTTYPE", "DISCOUNTPERCENT", "DISCOUNTSUM"}
)
_PAY_TAGS = frozenset({"PAYFORMCD", "PAYFORMNM", "SUM", "PROVIDED", "REMAINS", "PAYSYS"})
# What render writes into a PAYSYS row (Payment's comments name each element); TAXNUM, ACQUIREPN and
# POSTRANSDATE have no field and stay unsupported rather than dropped.
_PAYSYS_TAGS = frozenset(
    {
        "NAME",
        "ACQUIREID",
        "ACQUIRENM",
        "ACQUIRETRANSID",
        "POSTRANSNUM",
        "DEVICEID",
        "EPZDETAILS",
        "AUTHCD",
        "CLIENTINFO",
        "SUM",
        "COMMISSION",
    }
)
_TAX_TAGS = frozenset(
    {"TYPE", "NAME", "LETTER", "PRC", "SIGN", "TURNOVER", "TURNOVERDISCOUNT", "SOURCESUM", "SUM"}
)
_BODY_TAGS = frozenset(
    {
        "CODE",
        "BARCODE",
        "UKTZED",
        "DKPP",
        "NAME",
        "UNITCD",
        "UNITNM",
        "AMOUNT",
        "PRICE",
        "LETTERS",
        "COST",
        "USAGETYPE",
        "SUBTOTAL",
        "DISCOUNTTYPE",
        "DISCOUNTPERCENT",
        "DISCOUNTSUM",
        "EXCISELABELS",
    }
)


def _parse_tax_rows(node: etree._Element, path: str) -> tuple[TaxRow, ...]:
    rows = []
    for row in _rows(node, path):
        r = _children(row, _TAX_TAGS, f"{path}/ROW")
        rows.append(
            TaxRow(
                type=_int_text(_need(r, "TYPE", path)),
                name=_need(r, "NAME", path),
                letter=_get(r, "LETTER") or "",
                rate=Decimal(_need(r, "PRC", path)),
                # SIGN absent means "included", the common Ukrainian case and the XSD's reading.
                included=not _bool(_get(r, "SIGN")),
                turnover=Decimal(_need(r, "TURNOVER", path)),
                sum=Decimal(_need(r, "SUM", path)),
                source_sum=_dec_or_none(r, "SOURCESUM"),
                turnover_discount=_dec_or_none(r, "TURNOVERDISCOUNT"),
            )
        )
    return tuple(rows)


def _parse_payments(node: etree._Element) -> tuple[Payment, ...]:
    return tuple(_parse_payment(row) for row in _rows(node, "CHECKPAY"))


def _parse_payment(row: etree._Element) -> Payment:
    path = "CHECKPAY/ROW"
    r = _children(row, _PAY_TAGS, path)
    amount = _dec_or_none(r, "SUM")
    if amount is None:
        raise NotSupported(f"payment row without SUM not supported: <{path}>")
    provided = _dec_or_none(r, "PROVIDED")
    remains = _dec_or_none(r, "REMAINS")
    expected = provided - amount if provided is not None else None
    if remains is not None and remains != expected:
        raise NotSupported(f"REMAINS other than PROVIDED - SUM not supported: <{path}/REMAINS>")
    pay = Payment(
        form=_int_text(_need(r, "PAYFORMCD", path)),
        name=_need(r, "PAYFORMNM", path),
        amount=amount,
        provided=provided,
    )
    return _parse_paysys(r["PAYSYS"], path, pay) if "PAYSYS" in r else pay


def _parse_paysys(node: etree._Element, path: str, pay: Payment) -> Payment:
    """The payment with the card fields of its row's one PAYSYS row."""
    sys_rows = _rows(node, f"{path}/PAYSYS")
    if len(sys_rows) > 1:
        raise NotSupported(f"several payment systems in one payment row not supported: <{path}/PAYSYS>")
    s = _children(sys_rows[0], _PAYSYS_TAGS, f"{path}/PAYSYS/ROW")
    sys_sum = _dec_or_none(s, "SUM")
    if sys_sum is not None and sys_sum != pay.amount:
        raise NotSupported(f"PAYSYS sum other than the payment sum not supported: <{path}/PAYSYS/ROW/SUM>")
    card = replace(
        pay,
        payment_system=_get(s, "NAME"),
        acquirer_id=_get(s, "ACQUIREID"),
        acquirer=_get(s, "ACQUIRENM"),
        rrn=_get(s, "ACQUIRETRANSID"),
        pos_receipt_no=_get(s, "POSTRANSNUM"),
        terminal=_get(s, "DEVICEID"),
        card_mask=_get(s, "EPZDETAILS"),
        auth_code=_get(s, "AUTHCD"),
        client_info=_get(s, "CLIENTINFO"),
        commission=_dec_or_none(s, "COMMISSION"),
    )
    if not card.has_paysys():
        raise NotSupported(f"an empty payment-system row not supported: <{path}/PAYSYS/ROW>")
    return card


def _parse_lines(node: etree._Element) -> tuple[Line, ...]:
    return tuple(_parse_line(row) for row in _rows(node, "CHECKBODY"))


def _parse_line(row: etree._Element) -> Line:
    path = "CHECKBODY/ROW"
    r = _children(row, _BODY_TAGS, path)
    for tag in ("NAME", "AMOUNT", "PRICE", "COST"):
        if tag not in r:
            raise NotSupported(f"goods line without {tag} not supported: <{path}>")
    labels = _parse_excise_labels(r["EXCISELABELS"], path) if "EXCISELABELS" in r else ()
    dpct = _parse_discount_percent(r, path)
    cost = Decimal(_need(r, "COST", path))
    own, share = _parse_line_discount(r, path, cost)
    unit = _get(r, "UNITCD")
    item = Item(
        name=_need(r, "NAME", path),
        quantity=Decimal(_need(r, "AMOUNT", path)),
        price=Decimal(_need(r, "PRICE", path)),
        code=_get(r, "CODE"),
        barcode=_get(r, "BARCODE"),
        uktzed=_get(r, "UKTZED"),
        dkpp=_get(r, "DKPP"),
        unit_code=int(unit) if unit is not None else None,
        unit_name=_get(r, "UNITNM"),
        discount=own,
        discount_percent=dpct,
        excise_labels=labels,
    )
    return Line(item=item, letters=_get(r, "LETTERS") or "", cost=cost, share=share)


def _usage_subtotal(r: Mapping[str, etree._Element], path: str, sub_tag: str) -> Decimal | None:
    """The subtotal a receipt-level discount was charged on: USAGETYPE 1 with its SUBTOTAL/SUBCHECK."""
    usage = _get(r, "USAGETYPE")
    subtotal = _dec_or_none(r, sub_tag)
    if usage is None and subtotal is None:
        return None
    if usage is None or usage.strip() != "1" or subtotal is None:
        # 0 "попередній продаж" and 2 "спеціальна" are not what the box writes; the model cannot carry them
        raise NotSupported(
            f"discount usage other than USAGETYPE 1 with {sub_tag} not supported: <{path}/USAGETYPE>"
        )
    return subtotal


def _parse_line_discount(
    r: Mapping[str, etree._Element], path: str, cost: Decimal
) -> tuple[Decimal, Decimal | None]:
    """(the line's own discount, its share of the receipt-level one) from DISCOUNTSUM and SUBTOTAL."""
    total = _dec_or_none(r, "DISCOUNTSUM") or Decimal("0.00")
    subtotal = _usage_subtotal(r, path, "SUBTOTAL")
    if subtotal is None:
        return total, None
    own = cost - subtotal
    return own, total - own


def _parse_excise_labels(node: etree._Element, path: str) -> tuple[str, ...]:
    labels: list[str] = []
    for lab in _rows(node, f"{path}/EXCISELABELS"):
        lr = _children(lab, frozenset({"EXCISELABEL"}), f"{path}/EXCISELABELS/ROW")
        labels.append(_need(lr, "EXCISELABEL", f"{path}/EXCISELABELS/ROW"))
    return tuple(labels)


def _parse_discount_percent(r: Mapping[str, etree._Element], path: str) -> Decimal | None:
    """DISCOUNTPERCENT, once DISCOUNTTYPE agrees with it (0: an amount, 1: a percent)."""
    dtype = _get(r, "DISCOUNTTYPE")
    dpct = _dec_or_none(r, "DISCOUNTPERCENT")
    if dtype is None:
        return dpct
    kind = dtype.strip()
    if kind not in ("0", "1"):
        raise NotSupported(f"discount type {dtype} not supported: <{path}/DISCOUNTTYPE>")
    if kind == "0" and dpct is not None:
        raise NotSupported(f"a percent on an amount discount not supported: <{path}/DISCOUNTPERCENT>")
    if kind == "1" and dpct is None:
        raise NotSupported(f"a percent discount without its percent not supported: <{path}/DISCOUNTTYPE>")
    return dpct


_DOC_KINDS = {
    1: "money transfer documents (DOCTYPE 1)",
    2: "currency exchange documents (DOCTYPE 2)",
    3: "cash withdrawal documents (DOCTYPE 3)",
    4: "pawnshop documents (DOCTYPE 4)",
}


def _parse_check(root: etree._Element) -> Check:
    sections = _children(
        root,
        frozenset({"CHECKHEAD", "CHECKTOTAL", "CHECKPAY", "CHECKTAX", "CHECKBODY"}),
        "CHECK",
    )
    if "CHECKHEAD" not in sections:
        raise InvalidDocument("CHECK without CHECKHEAD")
    h = _children(sections["CHECKHEAD"], _CHECK_HEAD_TAGS, "CHECKHEAD")
    doc_type = _parse_doc_type(h)
    subtype = _parse_doc_subtype(h)
    head, extra = _parse_head(h, "CHECKHEAD", _CHECK_HEAD_EXTRA)
    t = _children(sections["CHECKTOTAL"], _TOTAL_TAGS, "CHECKTOTAL") if "CHECKTOTAL" in sections else {}
    total, round_sum = _dec_or_none(t, "SUM"), _dec_or_none(t, "RNDSUM")
    no_round_sum, discount_sum = _dec_or_none(t, "NORNDSUM"), _dec_or_none(t, "DISCOUNTSUM")
    receipt_discount = _parse_receipt_discount(t)
    return Check(
        head=head,
        doc_type=doc_type,
        doc_subtype=subtype,
        lines=_parse_lines(sections["CHECKBODY"]) if "CHECKBODY" in sections else (),
        payments=_parse_payments(sections["CHECKPAY"]) if "CHECKPAY" in sections else (),
        taxes=_parse_tax_rows(sections["CHECKTAX"], "CHECKTAX") if "CHECKTAX" in sections else (),
        total=total,
        discount_sum=discount_sum,
        ret_num=_get(h, "ORDERRETNUM"),
        storno_num=_get(h, "ORDERSTORNUM"),
        extra=extra,
        round_sum=round_sum,
        no_round_sum=no_round_sum,
        receipt_discount=receipt_discount,
    )


def _parse_receipt_discount(t: Mapping[str, etree._Element]) -> ReceiptDiscount | None:
    path = "CHECKTOTAL"
    subtotal = _usage_subtotal(t, path, "SUBCHECK")
    kind = _get(t, "DISCOUNTTYPE")
    percent = _dec_or_none(t, "DISCOUNTPERCENT")
    if subtotal is None:
        if kind is not None or percent is not None:
            raise NotSupported(f"a receipt discount type without USAGETYPE/SUBCHECK not supported: <{path}>")
        return None
    if kind is None or kind.strip() not in ("0", "1") or (kind.strip() == "1") != (percent is not None):
        raise NotSupported(f"discount type {kind} with percent {percent} not supported: <{path}/DISCOUNTTYPE>")
    return ReceiptDiscount(subtotal=subtotal, percent=percent)


def _parse_doc_type(h: Mapping[str, etree._Element]) -> DocType:
    doc_type_text = _need(h, "DOCTYPE", "CHECKHEAD").strip()
    try:
        doc_type_num = int(doc_type_text)
    except ValueError:
        raise InvalidDocument(f"DOCTYPE {doc_type_text!r} is not a number") from None
    if doc_type_num in _DOC_KINDS:
        raise NotSupported(f"{_DOC_KINDS[doc_type_num]} not supported: the box issues only goods documents")
    try:
        return DocType(doc_type_num)
    except ValueError:
        raise NotSupported(f"document type not supported: DOCTYPE {doc_type_num}") from None


def _parse_doc_subtype(h: Mapping[str, etree._Element]) -> DocSubType | None:
    sub_text = _get(h, "DOCSUBTYPE")
    if sub_text is None:
        return None
    try:
        return DocSubType(int(sub_text))
    except ValueError:
        raise NotSupported(f"document subtype not supported: DOCSUBTYPE {sub_text}") from None


_ZPAY_TAGS = frozenset({"SUM", "RNDSUM", "NORNDSUM", "ORDERSCNT", "PAYFORMS", "TAXES"})


def _parse_zpay(node: etree._Element, path: str) -> ZPay:
    z = _children(node, _ZPAY_TAGS, path)
    forms: list[PayFormTotal] = []
    if "PAYFORMS" in z:
        for row in _rows(z["PAYFORMS"], f"{path}/PAYFORMS"):
            rp = f"{path}/PAYFORMS/ROW"
            r = _children(row, frozenset({"PAYFORMCD", "PAYFORMNM", "SUM"}), rp)
            forms.append(
                PayFormTotal(
                    form=_int_text(_need(r, "PAYFORMCD", rp)),
                    name=_need(r, "PAYFORMNM", rp),
                    sum=Decimal(_need(r, "SUM", rp)),
                )
            )
    return ZPay(
        sum=Decimal(_need(z, "SUM", path)),
        orders_count=int(_need(z, "ORDERSCNT", path)),
        pay_forms=tuple(forms),
        taxes=_parse_tax_rows(z["TAXES"], f"{path}/TAXES") if "TAXES" in z else (),
        round_sum=_dec_or_none(z, "RNDSUM"),
        no_round_sum=_dec_or_none(z, "NORNDSUM"),
    )


def _parse_zrep(root: etree._Element) -> ZReport:
    sections = _children(root, frozenset({"ZREPHEAD", "ZREPREALIZ", "ZREPRETURN", "ZREPBODY"}), "ZREP")
    if "ZREPHEAD" not in sections:
        raise InvalidDocument("ZREP without ZREPHEAD")
    h = _children(sections["ZREPHEAD"], _ZREP_HEAD_TAGS, "ZREPHEAD")
    head, extra = _parse_head(h, "ZREPHEAD", _ZREP_HEAD_EXTRA)
    service_in = service_out = None
    if "ZREPBODY" in sections:
        b = _children(sections["ZREPBODY"], frozenset({"SERVICEINPUT", "SERVICEOUTPUT"}), "ZREPBODY")
        service_in = _dec_or_none(b, "SERVICEINPUT")
        service_out = _dec_or_none(b, "SERVICEOUTPUT")
    return ZReport(
        head=head,
        realiz=_parse_zpay(sections["ZREPREALIZ"], "ZREPREALIZ") if "ZREPREALIZ" in sections else None,
        ret=_parse_zpay(sections["ZREPRETURN"], "ZREPRETURN") if "ZREPRETURN" in sections else None,
        service_input=service_in,
        service_output=service_out,
        extra=extra,
    )


def parse(xml: bytes) -> Document:
    """The model of a CHECK or ZREP document.

    Kinds and features the box does not issue raise ``NotSupported`` naming them; anything the model
    cannot carry is refused rather than dropped. Malformed or schema-invalid XML raises ``InvalidDocument``.
    """
    root = _parse_tree(xml)
    parsers: dict[str, Callable[[etree._Element], Document]] = {"CHECK": _parse_check, "ZREP": _parse_zrep}
    tag = root.tag
    if tag == "TICKET":
        raise NotSupported("server tickets not supported here: parse(...) reads CHECK and ZREP documents")
    if not isinstance(tag, str) or tag not in parsers:
        raise InvalidDocument(f"unknown document root <{tag}>; expected CHECK or ZREP")
    # Refuse unsupported kinds before the schema, so e.g. the official pawnshop example (whose UNITCD 0
    # breaks the schema) is reported as the unsupported kind it is.
    if tag == "CHECK":
        head_el = root.find("CHECKHEAD")
        dt = _t(head_el.find("DOCTYPE")) if head_el is not None else None
        if dt is not None and dt.strip() in {str(k) for k in _DOC_KINDS}:
            raise NotSupported(
                f"{_DOC_KINDS[int(dt.strip())]} not supported: the box issues only goods documents"
            )
    _validate_tree(root)
    try:
        return parsers[tag](root)
    except FiscalBoxError:
        raise
    except (ValueError, ArithmeticError) as exc:
        # The schema admitted it, but the model cannot hold it (e.g. an impossible date).
        raise InvalidDocument(f"{tag} document has a value the box cannot read: {exc}") from None
