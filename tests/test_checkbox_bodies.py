"""Issue 10 acceptance: bodies generated from Checkbox's own request schemas, against a running box.

Checkbox's published OpenAPI document (tests/reference/checkbox-openapi.json) is the authority on what a
till integrated with Checkbox sends. Bodies for its POST receipts/sell, receipts/service, shifts and
shifts/close are generated from the request schemas it declares there (ReceiptSellPayload,
ReceiptServicePayload, CreateShiftPayload, CloseShiftPayload) by schemathesis, which reads OpenAPI 3.0 as
JSON Schema (`nullable`, the boolean `exclusiveMinimum` of draft 4, formats). hypothesis-jsonschema, the
library meant for it, cannot generate an object under the hypothesis schemathesis needs (0.23.1, its
latest: "'many' object has no attribute 'more'"). A second strategy makes mostly valid, realistic bodies
(the box's own tax codes, payments that cover the total, card details within their bounds) so that a good
share of the examples gets as far as a fiscal document. They go to a real box with the real emulator.

For every example: no 5xx; every answer that is not 2xx is JSON with a non-empty `message`; every answer
is what Checkbox's description declares for the operation (tests/checkbox_openapi.py); and the emulator holds exactly the new documents the answer stands for (a receipt: one; an opened shift: its
open-shift document; a closed one: the Z report and the close-shift document; a 2xx for an id already
answered, or any refusal: none).
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core import NotSet

from tests import checkbox_openapi
from tests.conftest import TAXES
from tests.test_till_api import LiveTill, live_till

#: examples in one run; `make faults` gives 1000 (derandomized: the same bodies every run)
EXAMPLES = int(os.environ.get("FISCAL_BOX_CHECKBOX_BODIES", "150"))

# --- realistic bodies ------------------------------------------------------------------------------

_LETTERS = {t.code: t.letter for t in TAXES.values()}
# Mostly what windows-1251 carries, now and then what XML carries and a printer or a picture may trip on
# (U+0085 and U+2029 once broke the PNG), or what it carries only as a character reference.
_CHARS = st.characters(codec="cp1251", exclude_categories=("Cc", "Cs")) | st.sampled_from(
    ["\x85", "\u2028", "\u2029", "\r", "\x7f", "😀", "𝕏", "\u202e", "<", "&"]
)


def _bounded(max_size: int) -> st.SearchStrategy[str]:
    return st.text(_CHARS, min_size=1, max_size=max_size)


_TEXT = _bounded(24)


# Hypothesis draws the same few UUIDs again and again: a realistic body asks for a fresh id (the run gives
# each its own) and, one time in ten, for one already answered: the till's retry.
FRESH = "fresh-id"
AGAIN = "an-id-already-answered"
_IDS = st.sampled_from([FRESH] * 9 + [AGAIN])


@st.composite
def card_details(draw: st.DrawFn) -> dict[str, Any]:
    """Some of CardPaymentPayload's details, each within the bound the box declares for it."""
    bounds = {
        "card_mask": 19,
        "bank_name": 128,
        "auth_code": 64,
        "rrn": 128,
        "payment_system": 128,
        "owner_name": 256,
        "terminal": 128,
        "acquiring": 128,
        "acquirer_and_seller": 128,
        "receipt_no": 128,
    }
    chosen = draw(st.lists(st.sampled_from(sorted(bounds)), unique=True, max_size=len(bounds)))
    details: dict[str, Any] = {name: draw(_bounded(min(bounds[name], 40))) for name in chosen}
    if draw(st.booleans()):
        details["commission"] = draw(st.integers(0, 500))
    return details


def discounts() -> st.SearchStrategy[dict[str, Any]]:
    """A discount or extra charge a till gives: a few percent, or some kopecks."""
    return st.fixed_dictionaries(
        {"type": st.sampled_from(["DISCOUNT", "DISCOUNT", "EXTRA_CHARGE"])},
        optional={"name": _bounded(20)},
    ).flatmap(
        lambda d: st.one_of(
            st.builds(lambda v: {**d, "mode": "PERCENT", "value": v}, st.sampled_from([1, 5, 10, 12.5, 50])),
            st.builds(lambda v: {**d, "mode": "VALUE", "value": v}, st.integers(1, 300)),
        )
    )


@st.composite
def realistic_sell(draw: st.DrawFn) -> dict[str, Any]:
    goods = []
    total = 0
    for _ in range(draw(st.integers(1, 3))):
        price = draw(st.integers(1, 50_000))
        quantity = draw(st.sampled_from([1000, 2000, 500, 1250, 3000]))
        code = draw(st.sampled_from(sorted(TAXES)))
        tax: list[int | str] = [draw(st.sampled_from([code, _LETTERS[code]]))]
        goods.append(
            {
                "good": {"code": draw(_bounded(12)), "name": draw(_TEXT), "price": price, "tax": tax},
                "quantity": quantity,
            }
        )
        total += (price * quantity + 500) // 1000  # the line's cost, rounded half up to the kopeck
    how = draw(st.sampled_from(["cash", "cash", "card", "split"]))
    payments: list[dict[str, Any]]
    extra: dict[str, Any] = {}
    if how == "cash" and draw(st.booleans()):
        # Discounts, extra charges and rounding, which the box spreads over the lines itself: cash handed
        # over generously covers whatever the total becomes (the change is given back).
        extra["rounding"] = draw(st.booleans())
        extra["discounts"] = draw(st.lists(discounts(), max_size=2))
        for line in goods:
            line["discounts"] = draw(st.lists(discounts(), max_size=1))
        payments = [{"type": "CASH", "value": 2 * total + 10_000}]
    elif how == "cash":
        payments = [{"type": "CASH", "value": total + draw(st.sampled_from([0, 0, 1, 500, 10_000]))}]
    elif how == "card":
        payments = [{"type": draw(st.sampled_from(["CASHLESS", "CARD"])), "value": total, **draw(card_details())}]
    else:
        cash = draw(st.integers(0, total))
        payments = [{"type": "CASH", "value": cash}, {"type": "CASHLESS", "value": total - cash, **draw(card_details())}]
    body: dict[str, Any] = {"goods": goods, "payments": payments, **extra}
    if draw(st.integers(0, 9)):  # mostly with the till's id, as the SDK sends it
        body["id"] = draw(_IDS)
    return body


@st.composite
def realistic_service(draw: st.DrawFn) -> dict[str, Any]:
    value = draw(st.integers(1, 100_000)) * draw(st.sampled_from([1, 1, -1]))
    return {"id": draw(_IDS), "payment": {"type": "CASH", "value": value}}


RETURN_OF = "return-of-a-sale"  # a realistic return: the run makes it of a sale it was answered for


@st.composite
def realistic_return(draw: st.DrawFn) -> dict[str, Any]:
    """What to return of an answered sale: which sale, how much of its first line, how paid back."""
    paid = {"type": draw(st.sampled_from(["CASH", "CASHLESS"]))}
    if paid["type"] != "CASH":
        paid.update(draw(card_details()))
    return {RETURN_OF: draw(st.integers(0, 1000)), "half": draw(st.booleans()), "payment": paid}


def return_body(sales: dict[str, dict[str, Any]], order: dict[str, Any], rid: str) -> dict[str, Any]:
    """A return of the first line of one of `sales` (id → the sale's body), paid back in full."""
    if not sales:
        return {"id": rid, "goods": [], "payments": []}  # nothing sold yet: a 422
    sale_id = sorted(sales)[order[RETURN_OF] % len(sales)]
    line = sales[sale_id]["goods"][0]
    quantity = max(1, line["quantity"] // 2) if order["half"] else line["quantity"]
    cost = (line["good"]["price"] * quantity + 500) // 1000
    return {
        "id": rid,
        "goods": [{**line, "quantity": quantity, "is_return": True}],
        "payments": [{**order["payment"], "value": cost}],
        "related_receipt_id": sale_id,
    }


SELL = "/api/v1/receipts/sell"
SERVICE = "/api/v1/receipts/service"
OPEN = "/api/v1/shifts"
CLOSE = "/api/v1/shifts/close"


def checkbox_bodies() -> dict[str, st.SearchStrategy[Any]]:
    """path → bodies made from the request schema Checkbox's document declares for its POST."""
    spec = schemathesis.openapi.from_dict(copy.deepcopy(checkbox_openapi.document()))

    def body(case: Any) -> Any:
        # CreateShiftPayload and CloseShiftPayload are optional bodies: "none" is sent as the SDK does, {}
        return {} if isinstance(case.body, NotSet) else case.body

    return {path: spec[path]["POST"].as_strategy().map(body) for path in (SELL, SERVICE, OPEN, CLOSE)}


def requests() -> st.SearchStrategy[tuple[str, Any]]:
    """(path, body): receipts most of the time, a shift opened or closed now and then."""
    generated = checkbox_bodies()
    sell = st.one_of(generated[SELL], realistic_sell(), realistic_sell(), realistic_return())
    service = st.one_of(generated[SERVICE], realistic_service())
    # Hypothesis's one_of does not pick its branches evenly; a weighted path does: sales most of the time,
    # a shift closed about one time in twelve (the run opens the next when a sale is told none is open).
    bodies = {SELL: sell, SERVICE: service, OPEN: st.one_of(generated[OPEN], st.just({})), CLOSE: generated[CLOSE]}
    paths = [SELL] * 7 + [SERVICE] * 2 + [OPEN] * 2 + [CLOSE]
    return st.sampled_from(paths).flatmap(lambda path: st.tuples(st.just(path), bodies[path]))


# --- the run ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTill]:
    with live_till(tmp_path_factory.mktemp("checkbox-bodies")) as till:
        yield till


def kinds(documents: list[dict[str, Any]]) -> Counter[str]:
    """The emulator's documents by kind: a check by its DOCTYPE (0 receipts, 100 open, 101 close), a Z."""
    return Counter("Z" if d["doc_class"] == "ZREP" else f"CHECK {d['doc_type']}" for d in documents)


@dataclass
class Ledger:
    """What the run has seen: the ids answered 2xx, the shifts opened, and the failures, reported together."""

    ids: set[str] = field(default_factory=set)
    shifts: set[str] = field(default_factory=set)
    sales: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    answered: Counter[str] = field(default_factory=Counter)
    sent: int = 0

    def id_for(self, marker: str) -> str:
        """A realistic body's id: a new one (derived from the count, so runs repeat), or an answered one."""
        if marker == AGAIN and self.ids:
            return sorted(self.ids)[self.sent % len(self.ids)]
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fiscal-box checkbox bodies {self.sent}"))

    def expected(self, path: str, body: Any, answer: dict[str, Any]) -> Counter[str]:
        """The new documents a 2xx answer stands for."""
        if path in (SELL, SERVICE):
            rid = str(answer.get("id"))
            if rid in self.ids:
                return Counter()  # an idempotent answer to a retry makes nothing
            self.ids.add(rid)
            if answer.get("type") == "SELL" and isinstance(body, dict):
                self.sales[rid] = body  # what a realistic return may take back
            return Counter({"CHECK 0": 1})
        if path == OPEN:
            sid = str(answer.get("id"))
            if sid in self.shifts:
                return Counter()  # the shift already open, answered again
            self.shifts.add(sid)
            return Counter({"CHECK 100": 1})
        return Counter({"Z": 1, "CHECK 101": 1})


def check(ledger: Ledger, path: str, body: Any, answer: httpx.Response, new: Counter[str]) -> None:
    what = f"POST {path} {json.dumps(body, ensure_ascii=False)[:400]} -> {answer.status_code} {answer.text[:300]!r}"
    try:
        content = answer.json()
    except ValueError:
        content = None
    kind = content.get("type") if isinstance(content, dict) and answer.is_success and path == SELL else None
    ledger.answered[f"{path} {answer.status_code}{f' {kind}' if kind else ''}"] += 1
    ledger.sent += 1
    if answer.status_code >= 500:
        ledger.failures.append(f"server error: {what}")
        return
    if not isinstance(content, dict):
        ledger.failures.append(f"not a JSON object: {what}")
        return
    ledger.failures += [f"{p}: {what}" for p in as_checkbox_describes(path, answer.status_code, content)]
    if answer.is_success:
        expected = ledger.expected(path, body, content)
        if new != expected:
            ledger.failures.append(f"documents {dict(new)} where {dict(expected)} were due: {what}")
        return
    if not (isinstance(content.get("message"), str) and content["message"].strip()):
        ledger.failures.append(f"no message: {what}")
    if new:
        ledger.failures.append(f"a refusal left documents {dict(new)}: {what}")


def as_checkbox_describes(path: str, status: int, content: dict[str, Any]) -> list[str]:
    """What a client generated from Checkbox's document would refuse in the answer (a refusal too)."""
    op = checkbox_openapi.operation("post", path)
    assert op is not None
    problems = op.problems(status, content)
    if status >= 400:
        problems += checkbox_openapi.error_problems(status, content)
    return problems


def views(ledger: Ledger, http: httpx.Client, rid: str) -> None:
    """A new receipt read back as a till shows it: JSON, text and picture, each drawn from the registered
    document (what the box takes from the till has to survive the XML and come out readable)."""
    for suffix, kind in (("", "application/json"), ("/text", "text/plain"), ("/png", "image/png")):
        got = http.get(f"/api/v1/receipts/{rid}{suffix}")
        if got.status_code != 200 or not got.headers.get("content-type", "").startswith(kind):
            ledger.failures.append(f"GET receipts/{rid}{suffix} -> {got.status_code} {got.text[:300]!r}")


def test_checkbox_s_own_bodies_never_break_the_box(live: LiveTill) -> None:
    ledger = Ledger()
    known = kinds(live.emulator.documents())
    with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as http:

        def post(path: str, body: Any) -> httpx.Response:
            nonlocal known
            answer = http.post(path, json=body)
            now = kinds(live.emulator.documents())
            check(ledger, path, body, answer, now - known)
            if path in (SELL, SERVICE) and answer.is_success and now != known:
                views(ledger, http, str(answer.json()["id"]))
            known = now
            return answer

        @given(request=requests())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            # the box's state moves with every request: a failure is collected, never shrunk or replayed
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(request: tuple[str, Any]) -> None:
            path, body = request
            if isinstance(body, dict) and RETURN_OF in body:
                body = return_body(ledger.sales, body, ledger.id_for(FRESH))
            elif isinstance(body, dict) and body.get("id") in (FRESH, AGAIN):
                body = {**body, "id": ledger.id_for(body["id"])}
            answer = post(path, body)
            if answer.status_code == 400 and answer.json().get("code") == "shift.not_opened":
                post(OPEN, {})  # as a till does when told so: the sales go on in a new shift

        run()
    assert not ledger.failures, "\n".join(ledger.failures)
    # the run is only worth its time if a good share of it reached the register and made documents
    made = sum(n for key, n in ledger.answered.items() if key.split()[1].startswith("2"))
    assert made >= EXAMPLES // 5, ledger.answered
    assert any(key.endswith(" RETURN") for key in ledger.answered), ledger.answered  # returns were made
    assert live.box.journal.count(state="pending") == 0
