"""Every JSON answer the box gives, held against Checkbox's own OpenAPI description with a JSON Schema
validator (tests/checkbox_openapi.py): what a till with a client generated from that description reads.

One shop day over real HTTP, online and offline, every kind of document; every answer is validated as it
arrives, and the day must have called every operation of Checkbox's description that the box serves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import checkbox_openapi
from tests.conftest import Box, EmulatorHandle
from tests.test_till_api import LICENSE, TillApi, good, sale_body

# Checkbox answers `null` here when the cashier has no shift (its SDK relies on it), though its
# description names only the shift model.
NULL_ANSWERS = {"GET /api/v1/cashier/shift"}


class CheckedClient:
    """An httpx client that validates every answer and remembers which operations answered what."""

    def __init__(self, url: str) -> None:
        self.problems: list[str] = []
        self.seen: set[tuple[str, int]] = set()
        self.http = httpx.Client(
            base_url=url, headers={"X-License-Key": LICENSE}, event_hooks={"response": [self._check]}
        )

    def _check(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        op = checkbox_openapi.operation(request.method, request.url.path)
        if op is None:
            return  # a box-only route (/box/...), not Checkbox's to describe
        self.seen.add((str(op), response.status_code))
        if not response.headers.get("content-type", "").startswith("application/json"):
            if response.status_code >= 400:
                self.problems.append(f"{op} {response.status_code}: an error that is not JSON")
            return
        body = response.json()
        if body is None and str(op) in NULL_ANSWERS:
            return
        if response.status_code >= 400:
            self.problems += [
                f"{op}: {p}" for p in checkbox_openapi.error_problems(response.status_code, body)
            ]
        self.problems += op.problems(response.status_code, body)

    def sign_in(self) -> None:
        token = self.http.post("/api/v1/cashier/signin", json={"login": "ivanenko", "password": "secret-1"})
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response.json() if response.headers["content-type"].startswith("application/json") else None


@pytest.fixture()
def api(box: Box) -> Iterator[TillApi]:
    till = TillApi(box)
    yield till
    till.server.stop()


@pytest.fixture()
def checked(api: TillApi) -> Iterator[CheckedClient]:
    client = CheckedClient(api.url)
    yield client
    client.http.close()


def sell(client: CheckedClient, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = client.ok("POST", "/api/v1/receipts/sell", json=body)
    return answer


def adjusted_sale() -> dict[str, Any]:
    """Line and receipt-level discounts and extra charges, cash rounding, and a card part with its details."""
    cheese = good("Сир", 10000) | {"discounts": [{"type": "DISCOUNT", "mode": "PERCENT", "value": 10}]}
    bread = good("Хліб", 2003) | {"discounts": [{"type": "EXTRA_CHARGE", "mode": "VALUE", "value": 100}]}
    return {
        "id": str(uuid.uuid4()),
        "goods": [cheese, bread, good("Вода", 1599, 2000, ["Б"])],
        "payments": [
            {
                "type": "CASHLESS",
                "value": 5000,
                "card_mask": "4111****1111",
                "payment_system": "VISA",
                "auth_code": "A1B2C3",
                "rrn": "123456789012",
                "terminal": "T0001",
                "bank_name": "Банк",
                "receipt_no": "42",
            },
            {"type": "CASH", "value": 20000},
        ],
        "discounts": [
            {"type": "DISCOUNT", "mode": "PERCENT", "value": 5},
            {"type": "EXTRA_CHARGE", "mode": "VALUE", "value": 250},
        ],
        "rounding": True,
    }


def refund_of(sale: dict[str, Any]) -> dict[str, Any]:
    sold = sale["goods"][0]["good"]
    return {
        "id": str(uuid.uuid4()),
        "goods": [{**good(sold["name"], sold["price"]), "is_return": True}],
        "payments": [{"type": "CASH", "value": sold["price"]}],
        "related_receipt_id": sale["id"],
    }


def shop_day(client: CheckedClient, emulator: EmulatorHandle) -> None:
    client.ok("POST", "/api/v1/cashier/signinPinCode", json={"pin_code": "1234"})
    client.sign_in()
    client.ok("GET", "/api/v1/cashier/me")
    client.ok("GET", "/api/v1/cashier/shift")  # no shift yet: null
    client.ok("GET", "/api/v1/tax")
    client.ok("GET", "/api/v1/cash-registers/info")
    shift = client.ok("POST", "/api/v1/shifts", json={"id": str(uuid.uuid4())})
    client.ok("GET", f"/api/v1/shifts/{shift['id']}")
    client.ok("GET", "/api/v1/cashier/shift")
    register = client.ok("GET", "/api/v1/cash-registers/info")
    client.ok("GET", f"/api/v1/cash-registers/{register['id']}")

    cash = sell(client, sale_body(1))
    card = sell(client, sale_body(2, card=True))
    client.ok("GET", f"/api/v1/receipts/{cash['id']}")
    client.ok("GET", f"/api/v1/receipts/{card['id']}")
    adjusted = sell(client, adjusted_sale())
    assert adjusted["discounts"] and adjusted["round_sum"]
    client.ok("GET", f"/api/v1/receipts/{adjusted['id']}")
    sell(client, refund_of(cash))
    cash_in = client.ok(
        "POST", "/api/v1/receipts/service", json={"payment": {"type": "CASH", "value": 50000}}
    )
    client.ok("POST", "/api/v1/receipts/service", json={"payment": {"type": "CASH", "value": -10000}})
    client.ok("GET", f"/api/v1/receipts/{cash_in['id']}")
    x = client.ok("POST", "/api/v1/reports")
    client.ok("GET", f"/api/v1/reports/{x['id']}")
    client.ok("POST", "/api/v1/cash-registers/ping-tax-service")
    client.ok("GET", "/api/v1/cash-registers/ask-offline-codes")
    client.ok("GET", "/api/v1/cash-registers/get-offline-codes")

    # the server gone: the same answers, offline
    emulator.fault("down")
    offline = sell(client, sale_body(3))
    assert offline["is_created_offline"] is True
    sell(client, refund_of(offline))
    sell(client, adjusted_sale())
    client.ok("POST", "/api/v1/receipts/service", json={"payment": {"type": "CASH", "value": 1000}})
    client.ok("GET", f"/api/v1/receipts/{offline['id']}")
    client.ok("POST", "/api/v1/reports")
    client.ok("GET", "/api/v1/cash-registers/info")
    client.ok("GET", "/api/v1/cash-registers/get-offline-codes-count")
    client.ok("GET", "/api/v1/cash-registers/get-offline-time")
    client.ok("POST", "/api/v1/cash-registers/go-offline", json={})
    emulator.fault("none")
    client.ok("POST", "/api/v1/cash-registers/go-online")

    closed = client.ok("POST", "/api/v1/shifts/close", json={})
    client.ok("GET", f"/api/v1/shifts/{closed['id']}")
    client.ok("GET", f"/api/v1/reports/{closed['z_report']['id']}")
    client.ok("GET", f"/api/v1/receipts/{cash['id']}")  # a receipt of a closed shift

    # the lists and look-ups, over the day just made
    today = closed["opened_at"][:10]
    client.ok("GET", "/api/v1/receipts", params={"limit": 5})
    client.ok("GET", "/api/v1/receipts", params={"fiscal_code": cash["fiscal_code"]})
    client.ok("GET", "/api/v1/receipts/search", params={"shift_id": closed["id"], "desc": True})
    client.ok("GET", "/api/v1/shifts", params={"statuses": ["CLOSED"]})
    client.ok("GET", "/api/v1/reports", params={"shift_id": closed["id"]})
    client.ok("GET", "/api/v1/reports/search", params={"is_z_report": True})
    client.ok("GET", "/api/v1/reports/periodical", params={"from_date": today, "to_date": today})
    client.ok("GET", "/api/v1/cashier/check-signature")
    client.ok("GET", "/api/v1/organization/receipt-config")

    # refusals are Checkbox's error shapes too
    client.http.get(f"/api/v1/receipts/{uuid.uuid4()}")
    client.http.post("/api/v1/receipts/sell", json={"goods": "none"})
    client.http.post("/api/v1/receipts/sell", json=sale_body(4))  # no shift open


def test_every_answer_of_a_shop_day_is_as_checkbox_describes(
    checked: CheckedClient, emulator: EmulatorHandle
) -> None:
    shop_day(checked, emulator)
    assert not checked.problems, "\n".join(checked.problems)


def test_the_day_called_every_checkbox_operation_the_box_serves(
    api: TillApi, checked: CheckedClient, emulator: EmulatorHandle
) -> None:
    shop_day(checked, emulator)
    served = httpx.get(f"{api.url}/api/v1/openapi.json").json()["paths"]
    expected = set()
    for path, methods in served.items():
        for method in methods:
            op = checkbox_openapi.operation(method, path)
            if op is not None and not path.endswith(
                ("/text", "/html", "/png", "/xml", "/qrcode", "/signout")
            ):
                expected.add(str(op))
    called = {op for op, status in checked.seen if status < 300}
    assert expected - called == set()
