"""Shift totals: what the emulator itself counts from the registered documents of a shift.

Used for ``LastShiftTotals`` (the server's draft Z-report) and to check a received ZREP against it.
Counted: DOCTYPE 0 documents — sales (DOCSUBTYPE 0/absent) into ``Real``, returns (1) into ``Ret``,
service deposit / reinforcement (2, 3) into ServiceInput, service issue (4) into ServiceOutput.
Storned and revoked documents do not count; storno documents themselves carry no money.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agent.emulator.xmldoc import ParsedDoc, ZPart

ZERO = Decimal("0.00")


def doc_facts(doc: ParsedDoc) -> dict[str, Any] | None:
    """The money of one CHECK, kept with the document so totals never re-parse XML."""
    if doc.doc_class != "CHECK" or doc.doc_type != 0:
        return None
    kind = {None: "real", 0: "real", 1: "ret", 2: "in", 3: "in", 4: "out"}.get(doc.doc_subtype)
    if kind is None:
        return None
    paid = sum((p.sum for p in doc.pays), ZERO)
    amount = doc.partpay_sum if doc.partpay_sum is not None else doc.total_sum
    if amount is None:
        amount = paid
    return {
        "kind": kind,
        "sum": str(amount),
        "rnd": None if doc.rnd_sum is None else str(doc.rnd_sum),
        "nornd": None if doc.nornd_sum is None else str(doc.nornd_sum),
        "pay": [[p.code, p.name, str(p.sum)] for p in doc.pays],
        "tax": [
            [
                t.type,
                t.name,
                t.letter,
                str(t.prc),
                t.sign,
                str(t.turnover),
                None if t.turnover_discount is None else str(t.turnover_discount),
                None if t.source_sum is None else str(t.source_sum),
                str(t.sum),
            ]
            for t in doc.taxes
        ],
    }


@dataclass
class TaxTotal:
    type: int
    name: str
    letter: str
    prc: Decimal
    sign: bool
    turnover: Decimal = ZERO
    turnover_discount: Decimal = ZERO
    source_sum: Decimal = ZERO
    sum: Decimal = ZERO


@dataclass
class OrderTotals:
    sum: Decimal = ZERO
    rnd_sum: Decimal = ZERO
    nornd_sum: Decimal = ZERO
    orders: int = 0
    payforms: dict[int, tuple[str, Decimal]] = field(default_factory=dict)
    taxes: dict[tuple[int, str, str, bool], TaxTotal] = field(default_factory=dict)

    def add(self, facts: dict[str, Any]) -> None:
        self.sum += Decimal(facts["sum"])
        self.rnd_sum += Decimal(facts["rnd"] or 0)
        self.nornd_sum += Decimal(facts["nornd"] or 0)
        self.orders += 1
        for code, name, amount in facts["pay"]:
            old_name, old = self.payforms.get(code, (name, ZERO))
            self.payforms[code] = (old_name, old + Decimal(amount))
        for typ, name, letter, prc, sign, turnover, tdisc, source, amount in facts["tax"]:
            key = (typ, letter, prc, sign)
            t = self.taxes.setdefault(key, TaxTotal(typ, name, letter, Decimal(prc), sign))
            t.turnover += Decimal(turnover)
            t.turnover_discount += Decimal(tdisc or 0)
            t.source_sum += Decimal(source or 0)
            t.sum += Decimal(amount)

    def taxes_by_letter(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for t in self.taxes.values():
            out[t.letter] = out.get(t.letter, ZERO) + t.sum
        return out


@dataclass
class Totals:
    real: OrderTotals = field(default_factory=OrderTotals)
    ret: OrderTotals = field(default_factory=OrderTotals)
    service_input: Decimal = ZERO
    service_output: Decimal = ZERO


def shift_totals(documents: Iterable[dict[str, Any]]) -> Totals:
    totals = Totals()
    for d in documents:
        if d["revoked"] or d["storned"] or not d["facts"]:
            continue
        facts = json.loads(d["facts"])
        kind = facts["kind"]
        if kind == "real":
            totals.real.add(facts)
        elif kind == "ret":
            totals.ret.add(facts)
        elif kind == "in":
            totals.service_input += Decimal(facts["sum"])
        elif kind == "out":
            totals.service_output += Decimal(facts["sum"])
    return totals


def _nonzero(values: dict[Any, Decimal]) -> dict[Any, Decimal]:
    return {k: v for k, v in values.items() if v != 0}


def _part_difference(name: str, got: ZPart, want: OrderTotals) -> str | None:
    if got.sum != want.sum:
        return f"{name}/SUM у звіті {got.sum:.2f}, за даними сервера {want.sum:.2f}"
    if got.orders != want.orders:
        return f"{name}/ORDERSCNT у звіті {got.orders}, за даними сервера {want.orders}"
    got_rnd = got.rnd_sum if got.rnd_sum is not None else ZERO
    if got_rnd != want.rnd_sum:
        return f"{name}/RNDSUM у звіті {got_rnd:.2f}, за даними сервера {want.rnd_sum:.2f}"
    # NORNDSUM is the whole section before rounding: the rounded documents' NORNDSUM plus the others' SUM
    if got.nornd_sum is not None and got.nornd_sum != want.sum + want.rnd_sum:
        return f"{name}/NORNDSUM у звіті {got.nornd_sum:.2f}, за даними сервера {want.sum + want.rnd_sum:.2f}"
    got_forms = _nonzero(got.payforms)
    want_forms = _nonzero({code: amount for code, (_, amount) in want.payforms.items()})
    for code in sorted(set(got_forms) | set(want_forms)):
        a, b = got_forms.get(code, ZERO), want_forms.get(code, ZERO)
        if a != b:
            return f"{name}/PAYFORMS форма оплати {code}: у звіті {a:.2f}, за даними сервера {b:.2f}"
    got_taxes = _nonzero(got.taxes)
    want_taxes = _nonzero(want.taxes_by_letter())
    for letter in sorted(set(got_taxes) | set(want_taxes)):
        a, b = got_taxes.get(letter, ZERO), want_taxes.get(letter, ZERO)
        if a != b:
            return f"{name}/TAXES літера «{letter}»: у звіті {a:.2f}, за даними сервера {b:.2f}"
    return None


def zrep_difference(doc: ParsedDoc, totals: Totals) -> str | None:
    """The first place where a ZREP disagrees with the server's totals, or None."""
    for name, got, want in (
        ("ZREPREALIZ", doc.realiz or ZPart(), totals.real),
        ("ZREPRETURN", doc.ret or ZPart(), totals.ret),
    ):
        diff = _part_difference(name, got, want)
        if diff is not None:
            return diff
    for name, got_opt, want_dec in (
        ("ZREPBODY/SERVICEINPUT", doc.service_input, totals.service_input),
        ("ZREPBODY/SERVICEOUTPUT", doc.service_output, totals.service_output),
    ):
        got_dec = got_opt if got_opt is not None else ZERO
        if got_dec != want_dec:
            return f"{name} у звіті {got_dec:.2f}, за даними сервера {want_dec:.2f}"
    return None


def _order_json(t: OrderTotals) -> dict[str, Any]:
    return {
        "Sum": float(t.sum),
        "PwnSumIssued": 0.0,
        "PwnSumReceived": 0.0,
        "RndSum": float(t.rnd_sum),
        "NoRndSum": float(t.nornd_sum),
        "TotalCurrencySum": 0.0,
        "TotalCurrencyCommission": 0.0,
        "OrdersCount": t.orders,
        "TotalCurrencyCost": 0.0,
        "PayForm": [
            {"PayFormCode": code, "PayFormName": name, "Sum": float(amount)}
            for code, (name, amount) in sorted(t.payforms.items())
        ],
        "Tax": [
            {
                "Type": x.type,
                "Name": x.name,
                "Letter": x.letter,
                "Prc": float(x.prc),
                "Sign": x.sign,
                "Turnover": float(x.turnover),
                "TurnoverDiscount": float(x.turnover_discount),
                "SourceSum": float(x.source_sum),
                "Sum": float(x.sum),
            }
            for x in sorted(t.taxes.values(), key=lambda x: (x.letter, x.type))
        ],
    }


def totals_json(t: Totals) -> dict[str, Any]:
    """The ShiftTotals shape of reference §2.10 (money as JSON numbers with two decimals)."""
    return {
        "Real": _order_json(t.real),
        "Ret": _order_json(t.ret),
        "Cash": None,
        "Currency": None,
        "ServiceInput": float(t.service_input),
        "ServiceOutput": float(t.service_output),
    }
