"""The till API at its bounds (issue 9, scenario 4): what no till should send is answered with the JSON
ErrorBody (4xx), over a real socket; a defect of the box is a 500 with the same body, never a text page."""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent.till_api.limits import MAX_BODY_BYTES
from tests.test_till_api import LiveTill, good, live_till

#: mutated receipt bodies the fuzz sends (a few seconds' worth; more with FISCAL_BOX_FUZZ_BODIES)
FUZZ_BODIES = int(os.environ.get("FISCAL_BOX_FUZZ_BODIES", "400"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTill]:
    """One box for the module: nothing here is meant to change its state, and a box per test would cost
    most of the module's time in set-up."""
    with live_till(tmp_path_factory.mktemp("bounds")) as till:
        yield till


@pytest.fixture()
def till(live: LiveTill) -> tuple[str, dict[str, str]]:
    return live.url, live.headers


def assert_error_body(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert isinstance(body, dict) and isinstance(body["message"], str) and isinstance(body["code"], str)
    return body


@pytest.mark.parametrize(
    ("mode", "value", "status"),
    [
        ("VALUE", 1e300, 422),
        ("PERCENT", 1e300, 422),
        ("PERCENT", 1e9, 400),  # within the bounds of a number, and still more than the line costs
        ("VALUE", 100_000_000_00 + 1, 422),
    ],
)
def test_a_discount_no_till_would_give_is_refused_naming_it(
    till: tuple[str, dict[str, str]], mode: str, value: float, status: int
) -> None:
    url, headers = till
    line = good("Хліб", 1000)
    line["discounts"] = [{"type": "DISCOUNT", "mode": mode, "value": value}]
    answer = httpx.post(
        f"{url}/api/v1/receipts/sell",
        json={"goods": [line], "payments": [{"type": "CASH", "value": 1000}]},
        headers=headers,
    )
    body = assert_error_body(answer, status)
    assert "discount" in str(body).lower()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("card_mask", "4" * 20),  # Checkbox's CardPaymentPayload: maxLength 19
        ("auth_code", "A" * 65),  # check01.xsd AUTHCD: Str64Column
        ("rrn", "1" * 129),  # ACQUIRETRANSID: Str128Column
        ("terminal", "T" * 129),  # DEVICEID
        ("receipt_no", "9" * 129),  # POSTRANSNUM
        ("acquirer_and_seller", "S" * 129),  # ACQUIREID
        ("acquiring", "S" * 129),
        ("bank_name", "Б" * 129),
        ("payment_system", "V" * 129),
        ("owner_name", "I" * 257),  # CLIENTINFO: Str256Column
        ("commission", -1),
        ("commission", 1.5),
    ],
)
def test_a_card_detail_out_of_bounds_is_a_422_naming_it(
    till: tuple[str, dict[str, str]], field: str, value: Any
) -> None:
    url, headers = till
    answer = httpx.post(
        f"{url}/api/v1/receipts/sell",
        json={"goods": [good("Хліб", 1000)], "payments": [{"type": "CASHLESS", "value": 1000, field: value}]},
        headers=headers,
    )
    body = assert_error_body(answer, 422)
    assert any(row["loc"][-1] == field for row in body["detail"]), body


def test_a_body_too_large_is_answered_413_and_not_a_reset(till: tuple[str, dict[str, str]]) -> None:
    url, headers = till
    huge = b'{"goods": [' + b" " * (4 * MAX_BODY_BYTES) + b"]}"
    answer = httpx.post(
        f"{url}/api/v1/receipts/sell", content=huge, headers={**headers, "Content-Type": "application/json"}
    )
    assert assert_error_body(answer, 413)["code"] == "request.too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"goods": ['
        for _ in range(2 * MAX_BODY_BYTES // 65536):
            yield b" " * 65536
        yield b"]}"

    answer = httpx.post(
        f"{url}/api/v1/receipts/sell",
        content=chunks(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_error_body(answer, 413)
    # A body under the limit, chunked, still reaches the route whole.
    small = httpx.post(
        f"{url}/api/v1/receipts/sell",
        content=iter([b'{"goods": [], ', b'"payments": []}']),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_error_body(small, 422)


def test_a_defect_of_the_box_is_a_500_with_the_json_body(live: LiveTill, monkeypatch: pytest.MonkeyPatch) -> None:
    box, url, headers = live.box, live.url, live.headers

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("a defect")

    monkeypatch.setattr(box.register, "sell", broken)
    answer = httpx.post(
        f"{url}/api/v1/receipts/sell",
        json={"goods": [good("Хліб", 1000)], "payments": [{"type": "CASH", "value": 1000}]},
        headers=headers,
    )
    body = assert_error_body(answer, 500)
    assert body["code"] == "internal_error" and "same id" in body["message"]
    assert_error_body(httpx.get(f"{url}/api/v1/no-such-thing", headers=headers), 404)
    assert_error_body(httpx.put(f"{url}/api/v1/receipts/sell", headers=headers), 405)


def test_after_a_defect_the_till_s_next_request_is_answered(live: LiveTill, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 500 ends its connection (uvicorn closes it once the exception is re-raised): it says so, or a
    keep-alive client's next request met a reset instead of an answer."""
    box, url, headers = live.box, live.url, live.headers

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("a defect")

    monkeypatch.setattr(box.register, "sell", broken)
    with httpx.Client(base_url=url, headers=headers) as till:
        for _ in range(3):
            answer = till.post(
                "/api/v1/receipts/sell",
                json={"goods": [good("Хліб", 1000)], "payments": [{"type": "CASH", "value": 1000}]},
            )
            assert assert_error_body(answer, 500)["code"] == "internal_error"
            assert till.get("/api/v1/cashier/me").status_code == 200  # was a ReadError: connection reset
            assert answer.headers["connection"] == "close"


def sell(url: str, headers: dict[str, str], content: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/receipts/sell",
        content=content,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # numbers no till would send, each refused naming the field
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": 1e300, "tax": [1]}, "quantity": 1000}],'
            ' "payments": [{"value": 1000}]}',
            "price",
        ),
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": 100, "tax": [1]},'
            ' "quantity": 100000000000000000000000000000000}], "payments": [{"value": 1000}]}',
            "quantity",
        ),
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": -5, "tax": [1]}, "quantity": 1000}],'
            ' "payments": [{"value": 1000}]}',
            "price",
        ),
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": 100, "tax": [1]}, "quantity": 1000}],'
            ' "payments": [{"value": 99999999999999999999999}]}',
            "payments",
        ),
        # NaN and infinities: as JSON's non-standard tokens (Python's parser takes them) and as strings
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": NaN, "tax": [1]}, "quantity": 1000}],'
            ' "payments": [{"value": 1000}]}',
            "price",
        ),
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": 100, "tax": [1]}, "quantity": Infinity,'
            ' "discounts": []}], "payments": [{"value": 1000}]}',
            "quantity",
        ),
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": 100, "tax": [1]}, "quantity": 1000,'
            ' "discounts": [{"mode": "PERCENT", "value": NaN}]}], "payments": [{"value": 1000}]}',
            "discounts",
        ),
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": 100, "tax": [1]}, "quantity": 1000,'
            ' "discounts": [{"mode": "PERCENT", "value": "-Infinity"}]}], "payments": [{"value": 1000}]}',
            "discounts",
        ),
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": "NaN", "tax": [1]}, "quantity": 1000}],'
            ' "payments": [{"value": "inf"}]}',
            "price",
        ),
        # a JSON list where an object is expected, and the other way round
        ('[{"goods": [], "payments": []}]', "body"),
        (
            '{"goods": {"good": {"code": "1", "name": "x", "price": 100}, "quantity": 1000},'
            ' "payments": [{"value": 100}]}',
            "goods",
        ),
        ('{"goods": [[1, 2, 3]], "payments": [{"value": 100}]}', "goods"),
        ('{"goods": [{"good": [], "quantity": 1000}], "payments": [{"value": 100}]}', "good"),
        (
            '{"goods": [{"good": {"code": "1", "name": "x", "price": 100, "tax": {"a": 1}}, "quantity": 1000}],'
            ' "payments": [{"value": 100}]}',
            "tax",
        ),
        ('"a string"', "body"),
        ("null", "body"),
    ],
)
def test_absurd_bodies_are_refused_naming_the_field(
    till: tuple[str, dict[str, str]], body: str, field: str
) -> None:
    url, headers = till
    answer = sell(url, headers, body.encode())
    assert 400 <= answer.status_code < 500, answer.text
    found = assert_error_body(answer, answer.status_code)
    named = " ".join([found["message"], *(" ".join(map(str, row["loc"])) for row in found["detail"])])
    assert field in named, found


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than any parser recurses
        b'{"goods": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b'{"goods": [' + b"[" * 5_000 + b"]" * 5_000 + b'], "payments": [{"value": 1}]}',
        b'{"goods": [}',  # not JSON at all
        b"\xff\xfe\x00garbage",  # not UTF-8
        b"",
    ],
)
def test_deeply_nested_or_broken_json_is_a_4xx_with_the_json_body(
    till: tuple[str, dict[str, str]], content: bytes
) -> None:
    url, headers = till
    answer = sell(url, headers, content)
    assert 400 <= answer.status_code < 500, answer.text
    assert_error_body(answer, answer.status_code)


# ---- the fuzz: mutated receipts over real HTTP ------------------------------------------------------

WEIRD: tuple[Any, ...] = (
    None,
    True,
    False,
    "",
    "0",
    "1e300",
    "NaN",
    "-Infinity",
    " 100 ",
    "١٢٣",
    0,
    -1,
    -(10**40),
    10**40,
    2**63,
    1e300,
    -1e300,
    0.5,
    float("nan"),
    float("inf"),
    float("-inf"),
    [],
    {},
    [[]],
    [{}],
    {"a": [1]},
)
#: numbers of the right type that a till could still get wrong: edges of the bounds and beyond
NUMBERS: tuple[int, ...] = (
    0,
    1,
    -1,
    99,
    100,
    101,
    999_999,
    100_000_000_00,
    100_000_000_00 + 1,
    1_000_000_000,
    1_000_000_001,
    2**31,
    2**53 + 1,
    2**63,
    10**30,
)
TEXTS: tuple[str, ...] = (
    "",
    " ",
    "Хліб 🍞",
    "\u0000",
    "\ud800",
    "\u202e‮ reversed",
    "<x>&amp;</x>]]>",
    "a" * 10_000,
    "ї" * 2_000,
    "𝕏" * 300,
    "Ø∂ƒ©˙∆˚¬",
    "日本語",
    "\t\r\n",
    "А",
    "Б",
    "1",
    "%s%n",
)


def leaf(value: Any, rng: random.Random) -> Any:
    """A leaf replaced, mostly by one of its own type (so the body gets past the schema more often)."""
    if rng.random() < 0.3:
        return rng.choice(WEIRD)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice(NUMBERS) * rng.choice([1, 1, 1, -1])
    if isinstance(value, str):
        return rng.choice(TEXTS)
    return rng.choice(WEIRD)


def mutate(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """One change somewhere in a JSON value: a leaf replaced, a key dropped or added, an object wrapped in
    a list, a list given as an object, a list made empty or long."""
    if isinstance(value, dict) and value and (depth == 0 or rng.random() < 0.85):
        key = rng.choice(sorted(value))
        roll = rng.random()
        changed = dict(value)
        if roll < 0.1:
            del changed[key]
        elif roll < 0.15:
            changed[rng.choice(["id", "extra", "discounts", "", "goods"])] = rng.choice(WEIRD)
        else:
            changed[key] = mutate(value[key], rng, depth + 1)
        return changed
    if isinstance(value, list) and value and rng.random() < 0.85:
        roll = rng.random()
        if roll < 0.07:
            return value * rng.choice([0, 50, 600])
        if roll < 0.12:
            return {"0": value[0]}
        changed = list(value)
        i = rng.randrange(len(changed))
        changed[i] = mutate(changed[i], rng, depth + 1)
        return changed
    if isinstance(value, dict | list):
        return [value] if rng.random() < 0.5 else rng.choice(WEIRD)
    return leaf(value, rng)


SALE: dict[str, Any] = {
    "goods": [
        {**good("Хліб", 1000, 2000), "discounts": [{"type": "DISCOUNT", "mode": "PERCENT", "value": 5}]},
        good("Вода", 1599, 1000, ["Б"]),
    ],
    "payments": [{"type": "CASH", "value": 5000}],
    "discounts": [{"type": "DISCOUNT", "mode": "VALUE", "value": 10}],
}
SERVICE: dict[str, Any] = {"payment": {"type": "CASH", "value": 2500, "label": "розмін"}}


def fuzz_bodies(count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """(path, body): mostly sales, one in five a service deposit or issue."""
    rng = random.Random(seed)
    for _ in range(count):
        path, body = (
            ("/api/v1/receipts/service", SERVICE) if rng.random() < 0.2 else ("/api/v1/receipts/sell", SALE)
        )
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            body = mutate(body, rng)
        if isinstance(body, dict) and "id" not in body:
            body["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        # NaN and Infinity go as JSON's tokens; a lone surrogate only escaped (\ud800) is sendable
        text = json.dumps(body, ensure_ascii=rng.random() < 0.5)
        if "\ud800" in text:
            text = json.dumps(body)
        yield path, text.encode()


def test_fuzzed_receipts_answer_json_and_never_a_server_error(live: LiveTill) -> None:
    made = live.box.journal.count(state="registered")
    failures: list[str] = []
    accepted = 0
    with httpx.Client(
        base_url=live.url, headers={**live.headers, "Content-Type": "application/json"}
    ) as http:
        for n, (path, content) in enumerate(fuzz_bodies(FUZZ_BODIES, seed=9)):
            answer = http.post(path, content=content, timeout=30)
            try:
                body = answer.json()
            except ValueError:
                body = None
            if answer.status_code >= 500 or not isinstance(body, dict):
                failures.append(
                    f"#{n} {path} {answer.status_code} {answer.text[:300]!r} for {content[:300]!r}"
                )
            elif answer.status_code == 201:
                accepted += 1
                assert body["fiscal_code"], body
            else:
                assert isinstance(body["message"], str) and body["message"], body
    assert not failures, "\n".join(failures)
    # each 201 is one document, and what was refused left nothing behind
    assert live.box.journal.count(state="registered") == made + accepted
    assert live.box.journal.count(state="pending") == 0
