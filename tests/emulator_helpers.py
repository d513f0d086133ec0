"""Request documents for the emulator tests, built here from the shapes of the official examples.

Independent of the agent's document builder on purpose: the emulator is tested against documents
written by hand from the reference, not against the agent's idea of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

import httpx

from agent.clock import kyiv
from agent.emulator.offline import build_package, control_number, sha256_hex
from agent.secr.signing.dev import DevSigner

HEAD_ORDER = [
    "DOCTYPE",
    "DOCSUBTYPE",
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
    "ORDERRETCASHREGNUM",
    "ORDERRETDATE",
    "ORDERRETNUM",
    "ORDERSTORNUM",
    "OPERTYPENM",
    "VEHICLERN",
    "REVOKELASTONLINEDOC",
    "CASHIER",
    "LOGOURL",
    "COMMENT",
    "VER",
    "ORDERTAXNUM",
    "OFFLINE",
    "PREVDOCHASH",
    "REVOKED",
    "STORNED",
    "TESTING",
]
ZHEAD_ORDER = [
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
]

ROOT_ATTRS = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="{}01.xsd"'


def _el(tag: str, value: Any) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _rows(rows: Iterable[Sequence[tuple[str, Any]]]) -> str:
    return "".join(
        f'<ROW ROWNUM="{n}">' + "".join(_el(t, v) for t, v in row if v is not None) + "</ROW>"
        for n, row in enumerate(rows, start=1)
    )


@dataclass
class Item:
    name: str
    amount: str
    price: str
    cost: str
    letter: str


@dataclass
class Tax:
    letter: str
    prc: str
    turnover: str
    sum: str


@dataclass
class Pay:
    code: int
    name: str
    sum: str
    provided: str | None = None
    remains: str | None = None


def check_xml(
    head: dict[str, Any],
    *,
    total: str | None = None,
    pays: Sequence[Pay] = (),
    taxes: Sequence[Tax] = (),
    items: Sequence[Item] = (),
) -> bytes:
    parts = [f'<?xml version="1.0" encoding="windows-1251"?><CHECK {ROOT_ATTRS.format("check")}><CHECKHEAD>']
    parts += [_el(k, head[k]) for k in HEAD_ORDER if head.get(k) is not None]
    parts.append("</CHECKHEAD>")
    if total is not None:
        parts.append(f"<CHECKTOTAL>{_el('SUM', total)}</CHECKTOTAL>")
    if pays:
        parts.append(
            "<CHECKPAY>"
            + _rows(
                [
                    ("PAYFORMCD", p.code),
                    ("PAYFORMNM", p.name),
                    ("SUM", p.sum),
                    ("PROVIDED", p.provided),
                    ("REMAINS", p.remains),
                ]
                for p in pays
            )
            + "</CHECKPAY>"
        )
    if taxes:
        parts.append(
            "<CHECKTAX>"
            + _rows(
                [
                    ("TYPE", 0),
                    ("NAME", "ПДВ"),
                    ("LETTER", t.letter),
                    ("PRC", t.prc),
                    ("SIGN", "false"),
                    ("TURNOVER", t.turnover),
                    ("SUM", t.sum),
                ]
                for t in taxes
            )
            + "</CHECKTAX>"
        )
    if items:
        parts.append(
            "<CHECKBODY>"
            + _rows(
                [
                    ("CODE", 1000 + n),
                    ("NAME", i.name),
                    ("UNITCD", 2009),
                    ("UNITNM", "шт"),
                    ("AMOUNT", i.amount),
                    ("PRICE", i.price),
                    ("LETTERS", i.letter),
                    ("COST", i.cost),
                ]
                for n, i in enumerate(items)
            )
            + "</CHECKBODY>"
        )
    parts.append("</CHECK>")
    return "".join(parts).encode("cp1251")


@dataclass
class ZPart:
    sum: str
    orders: int
    payforms: Sequence[tuple[int, str, str]] = ()
    taxes: Sequence[Tax] = ()


def zrep_xml(
    head: dict[str, Any],
    *,
    realiz: ZPart | None = None,
    ret: ZPart | None = None,
    service_in: str | None = None,
    service_out: str | None = None,
) -> bytes:
    parts = [f'<?xml version="1.0" encoding="windows-1251"?><ZREP {ROOT_ATTRS.format("zrep")}><ZREPHEAD>']
    parts += [_el(k, head[k]) for k in ZHEAD_ORDER if head.get(k) is not None]
    parts.append("</ZREPHEAD>")
    for tag, part in (("ZREPREALIZ", realiz), ("ZREPRETURN", ret)):
        if part is None:
            continue
        parts.append(f"<{tag}>{_el('SUM', part.sum)}{_el('ORDERSCNT', part.orders)}")
        if part.payforms:
            parts.append(
                "<PAYFORMS>"
                + _rows([("PAYFORMCD", c), ("PAYFORMNM", n), ("SUM", s)] for c, n, s in part.payforms)
                + "</PAYFORMS>"
            )
        if part.taxes:
            parts.append(
                "<TAXES>"
                + _rows(
                    [
                        ("TYPE", 0),
                        ("NAME", "ПДВ"),
                        ("LETTER", t.letter),
                        ("PRC", t.prc),
                        ("SIGN", "false"),
                        ("TURNOVER", t.turnover),
                        ("SUM", t.sum),
                    ]
                    for t in part.taxes
                )
                + "</TAXES>"
            )
        parts.append(f"</{tag}>")
    if service_in is not None or service_out is not None:
        parts.append("<ZREPBODY>")
        if service_in is not None:
            parts.append(_el("SERVICEINPUT", service_in))
        if service_out is not None:
            parts.append(_el("SERVICEOUTPUT", service_out))
        parts.append("</ZREPBODY>")
    parts.append("</ZREP>")
    return "".join(parts).encode("cp1251")


@dataclass
class Till:
    """One registrar as a till sees it: its registration data, its next local number, its key."""

    client: httpx.Client
    fs_url: str
    fiscal_number: str = "4000000001"
    desk: int = 1
    tin: str = "34554362"
    ipn: str | None = "345543626530"
    org_name: str = 'ТОВ "Тестовий платник 3"'
    point_name: str = 'Магазин "Тестовий"'
    point_address: str = "м. Київ, вул. Хрещатик, 1"
    signer: DevSigner = field(default_factory=lambda: DevSigner.generate("Іваненко Іван Іванович"))
    next_local: int = 1
    testing: bool = False
    when: datetime | None = None

    def registration(self, **extra: Any) -> dict[str, Any]:
        return {
            "fiscal_number": self.fiscal_number,
            "local_number": self.desk,
            "tin": self.tin,
            "ipn": self.ipn,
            "org_name": self.org_name,
            "point_name": self.point_name,
            "point_address": self.point_address,
            **extra,
        }

    def head(self, doctype: int | None, subtype: int | None = None, **extra: Any) -> dict[str, Any]:
        now = kyiv(self.when or datetime.now(UTC))
        head: dict[str, Any] = {
            "DOCTYPE": doctype,
            "DOCSUBTYPE": subtype,
            "UID": str(uuid.uuid4()).upper(),
            "TIN": self.tin,
            "IPN": self.ipn,
            "ORGNM": self.org_name,
            "POINTNM": self.point_name,
            "POINTADDR": self.point_address,
            "ORDERDATE": f"{now:%d%m%Y}",
            "ORDERTIME": f"{now:%H%M%S}",
            "ORDERNUM": self.next_local,
            "CASHDESKNUM": self.desk,
            "CASHREGISTERNUM": self.fiscal_number,
            "CASHIER": "Іваненко І. І.",
            "VER": 1,
            "TESTING": "true" if self.testing else None,
        }
        head.update(extra)
        return head

    # --- documents (the shapes of the official examples, with consistent sums) -----------------------

    def open_shift(self, **extra: Any) -> bytes:
        return check_xml(self.head(100, **extra))

    def close_shift(self, **extra: Any) -> bytes:
        return check_xml(self.head(101, **extra))

    def check_begin(self, **extra: Any) -> bytes:
        return check_xml(self.head(102, **extra))

    def check_end(self, **extra: Any) -> bytes:
        return check_xml(self.head(103, **extra))

    def sale(self, **extra: Any) -> bytes:
        """«check01(Товар)» with its sums made consistent: 417.66, cash 317.66 + card 100.00."""
        return check_xml(
            self.head(0, 0, **extra),
            total="417.66",
            pays=[Pay(0, "ГОТІВКА", "317.66", "400.00", "82.34"), Pay(1, "КАРТКА", "100.00")],
            taxes=[Tax("А", "20.00", "397.16", "66.19"), Tax("Б", "7.00", "20.50", "1.34")],
            items=[
                Item("Куряче Стегно", "5.701", "52.30", "298.16", "А"),
                Item("Пиво", "6", "16.50", "99.00", "А"),
                Item("Сироп від кашлю", "1", "20.50", "20.50", "Б"),
            ],
        )

    def small_sale(self, **extra: Any) -> bytes:
        return check_xml(
            self.head(0, 0, **extra),
            total="16.50",
            pays=[Pay(0, "ГОТІВКА", "16.50")],
            taxes=[Tax("А", "20.00", "16.50", "2.75")],
            items=[Item("Пиво", "1", "16.50", "16.50", "А")],
        )

    def refund(self, sale_fiscal: str, **extra: Any) -> bytes:
        """«check01(Повернення)»: the cough syrup back, in cash."""
        return check_xml(
            self.head(0, 1, ORDERRETNUM=sale_fiscal, **extra),
            total="20.50",
            pays=[Pay(0, "ГОТІВКА", "20.50")],
            taxes=[Tax("Б", "7.00", "20.50", "1.34")],
            items=[Item("Сироп від кашлю", "1", "20.50", "20.50", "Б")],
        )

    def service_in(self, amount: str = "100.58", **extra: Any) -> bytes:
        return check_xml(self.head(0, 2, **extra), total=amount)

    def service_out(self, amount: str = "200.35", **extra: Any) -> bytes:
        return check_xml(self.head(0, 4, **extra), total=amount)

    def storno(self, target_fiscal: str, **extra: Any) -> bytes:
        return check_xml(self.head(0, 5, ORDERSTORNUM=target_fiscal, **extra))

    def zrep(
        self,
        *,
        realiz: ZPart | None = None,
        ret: ZPart | None = None,
        service_in: str | None = None,
        service_out: str | None = None,
        **extra: Any,
    ) -> bytes:
        head = self.head(None, **extra)
        head.pop("DOCTYPE")
        head.pop("DOCSUBTYPE")
        return zrep_xml(head, realiz=realiz, ret=ret, service_in=service_in, service_out=service_out)

    # --- wire ----------------------------------------------------------------------------------------

    def post_doc(self, xml: bytes, *, signer: DevSigner | None = None) -> httpx.Response:
        signed = (signer or self.signer).sign(xml)
        return self.client.post(
            self.fs_url + "/doc", content=signed, headers={"Content-Type": "application/octet-stream"}
        )

    def send(self, xml: bytes, **kwargs: Any) -> httpx.Response:
        """Post a document; on success the till's local number moves on, as a till's would."""
        response = self.post_doc(xml, **kwargs)
        if response.status_code == 200:
            self.next_local += 1
        return response

    def cmd(self, command: str, *, signed: bool = True, **params: Any) -> httpx.Response:
        import json

        body = json.dumps({"Command": command, "UID": str(uuid.uuid4()), **params}).encode()
        if signed:
            return self.client.post(
                self.fs_url + "/cmd",
                content=self.signer.sign(body),
                headers={"Content-Type": "application/octet-stream"},
            )
        return self.client.post(
            self.fs_url + "/cmd", content=body, headers={"Content-Type": "application/json"}
        )

    def state(self) -> dict[str, Any]:
        r = self.cmd("TransactionsRegistrarState", NumFiscal=self.fiscal_number)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data


@dataclass
class OfflineSession:
    """Builds offline documents of one session: numbers, control numbers, hash chain."""

    till: Till
    session_id: int
    seed: str
    next_n: int = 1
    prev_hash: str | None = None
    signed: list[bytes] = field(default_factory=list)

    def add(self, xml_for: Any, *, chained: bool, total: str | None = None, **extra: Any) -> bytes:
        """``xml_for(ORDERTAXNUM=…, OFFLINE="true", PREVDOCHASH=…)`` → XML; signs, chains, keeps it."""
        till = self.till
        when = kyiv(till.when or datetime.now(UTC))
        prev = self.prev_hash if chained else None
        ctrl = control_number(
            self.seed,
            f"{when:%d%m%Y}",
            f"{when:%H%M%S}",
            str(till.next_local),
            till.fiscal_number,
            str(till.desk),
            total,
            prev,
        )
        number = f"{self.session_id}.{self.next_n}.{ctrl}"
        xml = xml_for(ORDERTAXNUM=number, OFFLINE="true", PREVDOCHASH=prev, **extra)
        signed = till.signer.sign(xml)
        self.signed.append(signed)
        if chained:
            self.prev_hash = sha256_hex(signed)
        self.next_n += 1
        till.next_local += 1
        return signed

    def package(self) -> bytes:
        return self.till.signer.sign(build_package(self.signed))


def money(value: str) -> Decimal:
    return Decimal(value)
