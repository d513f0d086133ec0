"""The lists and look-ups tills call, over real HTTP against a real box and the emulator: receipts,
shifts and reports listed and searched (pagination as Checkbox paginates), the periodic report, the
signature status and the organization's receipt settings.

One history for the module (three shifts: two closed with their Z reports, one open; receipts of every
kind, one made offline; X reports), read by every test; the tests only read it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from checkbox_sdk.client.synchronous import CheckBoxClient

from agent.clock import KYIV
from agent.emulator import Emulator
from agent.receipts.periodic import period_totals
from agent.secr import documents as docs
from agent.till_api.ids import IdScheme
from tests.conftest import FISCAL_NUMBER, REGISTRAR, Box, EmulatorHandle, post_json
from tests.test_till_api import LICENSE, TillApi, good, sale_body


@dataclass
class History:
    api: TillApi
    emulator: EmulatorHandle
    raw: httpx.Client
    client: CheckBoxClient
    shifts: list[dict[str, Any]] = field(default_factory=list)  # as GET /shifts/{id} answers, at the end
    receipts: list[dict[str, Any]] = field(default_factory=list)  # as the POSTs answered, in order
    x_reports: list[dict[str, Any]] = field(default_factory=list)
    z_reports: list[dict[str, Any]] = field(default_factory=list)
    offline_receipt: dict[str, Any] = field(default_factory=dict)
    offline_listed: dict[str, Any] = field(default_factory=dict)  # how the list showed it while offline

    def get(self, path: str, **params: Any) -> Any:
        response = self.raw.get(f"/api/v1/{path}", params=params)
        assert response.status_code == 200, response.text
        return (
            response.json()
            if response.headers["content-type"].startswith("application/json")
            else response.text
        )

    def ids(self, page: dict[str, Any]) -> list[str]:
        return [r["id"] for r in page["results"]]


def _sell(h: History, i: int, *, card: bool = False) -> dict[str, Any]:
    receipt = h.client.receipts.create_receipt(receipt=sale_body(i, card=card), timeout=10)
    h.receipts.append(receipt)
    return receipt


def _service(h: History, value: int) -> None:
    h.receipts.append(
        h.client.receipts.create_service_receipt(payment={"type": "CASH", "value": value}, timeout=10)
    )


def _return(h: History, sold: dict[str, Any]) -> None:
    line = sold["goods"][0]["good"]
    body = {
        "id": str(uuid.uuid4()),
        "goods": [{**good(line["name"], line["price"], 1000), "is_return": True}],
        "payments": [{"type": "CASH", "value": line["price"]}],
        "related_receipt_id": sold["id"],
    }
    h.receipts.append(h.client.receipts.create_receipt(receipt=body, timeout=10))


def _close(h: History) -> None:
    z = h.client.shifts.close_shift(timeout=10)
    assert z is not None
    h.z_reports.append(z)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    base = tmp_path_factory.mktemp("lists")
    with Emulator(base / "emulator") as emu:
        post_json(f"{emu.url}/emulator/registrars", REGISTRAR)
        emulator = EmulatorHandle(emu)
        box = Box(base / "box", emu.fs_url)
        box.register.start()
        api = TillApi(box)
        client = api.client()
        client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
        token = client.storage.token
        raw = httpx.Client(
            base_url=api.url, headers={"Authorization": f"Bearer {token}", "X-License-Key": LICENSE}
        )
        h = History(api, emulator, raw, client)
        # shift 1: sales (cash, card), a return, service in and out, an X report, closed
        client.shifts.create_shift(timeout=10)
        _service(h, 50000)
        sold = _sell(h, 1)
        _sell(h, 2, card=True)
        _return(h, sold)
        _service(h, -12000)
        h.x_reports.append(client.reports.create_x_report())
        _close(h)
        time.sleep(1.0)  # documents are dated to the second: the second shift's in a later one
        # shift 2: a sale online, one offline (the list shows it with its offline fiscal code), closed
        client.shifts.create_shift(timeout=10)
        _sell(h, 3)
        emulator.fault("down")
        h.offline_receipt = _sell(h, 4)
        h.offline_listed = h.get("receipts", fiscal_code=h.offline_receipt["fiscal_code"])
        emulator.fault("none")
        assert client.cash_registers.go_online()["status"] == "ok"
        _sell(h, 5, card=True)
        _close(h)
        # shift 3: open, a sale, an X report
        client.shifts.create_shift(timeout=10)
        _sell(h, 6)
        h.x_reports.append(client.reports.create_x_report())
        h.shifts = [h.get(f"shifts/{r['shift']['id']}") for r in h.receipts if r["shift"]]
        h.shifts = list({s["id"]: s for s in h.shifts}.values())
        assert len(h.shifts) == 3
        yield h
        raw.close()
        api.server.stop()
        box.close()


def receipt_by_id(h: History, rid: str) -> Any:
    return h.get(f"receipts/{rid}")


# --- receipts --------------------------------------------------------------------------------------


def test_receipts_are_listed_in_order_each_as_its_own_get(history: History) -> None:
    h = history
    page = h.get("receipts")
    assert page["meta"] == {"limit": 25, "offset": 0}  # Checkbox's defaults
    assert h.ids(page) == [r["id"] for r in h.receipts]  # the shift documents are no receipts
    assert {r["type"] for r in page["results"]} == {"SELL", "RETURN", "SERVICE_IN", "SERVICE_OUT"}
    for listed in page["results"]:
        # A receipt asked for alone also says whether it is on paper (the box's extension): not in lists.
        alone = receipt_by_id(h, listed["id"])
        assert "box" in alone and "box" not in listed
        assert listed == {k: v for k, v in alone.items() if k != "box"}
    serials = [r["serial"] for r in page["results"]]
    assert serials == sorted(serials)


def test_receipt_pages(history: History) -> None:
    h = history
    every = [r["id"] for r in h.receipts]
    page = h.get("receipts", limit=3, offset=2)
    assert page["meta"] == {"limit": 3, "offset": 2} and h.ids(page) == every[2:5]
    newest = h.get("receipts", limit=4, desc="true")
    assert h.ids(newest) == every[::-1][:4]
    beyond = h.get("receipts", offset=1000)
    assert beyond == {"meta": {"limit": 25, "offset": 1000}, "results": []}
    # the SDK pages through the whole list by itself, from meta
    assert [r["id"] for r in h.client.receipts.get_receipts(limit=3)] == every


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"limit": "many"}, {"offset": -1}, {"desc": "perhaps"}],
)
def test_bad_page_parameters_are_422_in_the_box_error_format(
    history: History, params: dict[str, Any]
) -> None:
    for path in ("receipts", "receipts/search", "shifts", "reports", "reports/search"):
        answer = history.raw.get(f"/api/v1/{path}", params=params)
        assert answer.status_code == 422, (path, answer.text)
        body = answer.json()
        assert body["code"] == "validation_error" and body["detail"][0]["loc"][0] == "query"


def test_receipts_by_fiscal_code_and_serial(history: History) -> None:
    h = history
    third = h.receipts[2]
    assert h.ids(h.get("receipts", fiscal_code=third["fiscal_code"])) == [third["id"]]
    assert h.ids(h.get("receipts", serial=str(third["serial"]))) == [third["id"]]
    assert h.get("receipts", fiscal_code="NO-SUCH-CODE")["results"] == []
    assert h.get("receipts", serial="not-a-number")["results"] == []
    assert h.get("receipts", serial="99999999999999999999999")["results"] == []
    opened = h.shifts[0]["initial_transaction"]["response_id"]  # a shift document's serial: no receipt
    assert h.get("receipts", fiscal_code=opened)["results"] == []


def test_an_offline_receipt_is_listed_with_its_offline_fiscal_code(history: History) -> None:
    h = history
    offline = h.offline_receipt
    assert offline["is_created_offline"] and offline["fiscal_code"].count(".") == 2
    [while_offline] = h.offline_listed["results"]
    assert while_offline["fiscal_code"] == offline["fiscal_code"] and while_offline["is_sent_dps"] is False
    assert while_offline["control_number"] == offline["control_number"]
    [delivered] = h.get("receipts", fiscal_code=offline["fiscal_code"])["results"]
    assert delivered["id"] == offline["id"] and delivered["is_created_offline"] and delivered["is_sent_dps"]


def test_receipt_search_by_shift_and_register(history: History) -> None:
    h = history
    first, second, _third = h.shifts
    in_first = [r["id"] for r in h.receipts if r["shift"]["id"] == first["id"]]
    assert h.ids(h.get("receipts/search", shift_id=first["id"])) == in_first
    both = h.get("receipts/search", shift_id=[first["id"], second["id"]], limit=1000)
    assert len(both["results"]) == len([r for r in h.receipts if r["shift"]["id"] != h.shifts[2]["id"]])
    # a shift of another box, or none of this box's: an empty page, not an error
    foreign = IdScheme.of("4000000999").shift(1)
    assert h.get("receipts/search", shift_id=foreign)["results"] == []
    assert h.get("receipts/search", shift_id=str(uuid.uuid4()))["results"] == []
    ours = IdScheme.of(FISCAL_NUMBER).cash_register
    assert len(h.get("receipts/search", cash_register_id=ours, limit=100)["results"]) == len(h.receipts)
    assert h.get("receipts/search", cash_register_id=str(uuid.uuid4()))["results"] == []
    assert h.get("receipts/search", barcode="4820000000000")["results"] == []  # no receipt barcodes kept
    bad = h.raw.get("/api/v1/receipts/search", params={"shift_id": "not-a-uuid"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["query", "shift_id"]
    # through the SDK, with the parameters it sends (self_receipts, stock_code)
    found = list(h.client.receipts.get_receipts_search(shift_id=[first["id"]], limit=2))
    assert [r["id"] for r in found] == in_first


def test_receipt_search_by_date(history: History) -> None:
    h = history

    def dated(since: str | None = None, until: str | None = None) -> list[str]:
        # a receipt is dated to the second, as its document (fiscal_date) says; both bounds included
        low = datetime.fromisoformat(since) if since else None
        high = datetime.fromisoformat(until) if until else None
        return [
            r["id"]
            for r in h.receipts
            if (low is None or datetime.fromisoformat(r["fiscal_date"]) >= low)
            and (high is None or datetime.fromisoformat(r["fiscal_date"]) <= high)
        ]

    every = [r["id"] for r in h.receipts]
    k = 4
    since, until = h.receipts[k]["fiscal_date"], h.receipts[k + 2]["fiscal_date"]
    assert h.receipts[k]["id"] in h.ids(h.get("receipts/search", from_date=since, to_date=since))
    assert h.ids(h.get("receipts/search", from_date=since, limit=100)) == dated(since)
    assert h.ids(h.get("receipts/search", to_date=since, limit=100)) == dated(None, since)
    assert h.ids(h.get("receipts/search", from_date=since, to_date=until, limit=100)) == dated(since, until)
    # the same moment written in Kyiv time, with its offset; a fraction of a second is within that second
    kyiv = datetime.fromisoformat(since).astimezone(KYIV)
    assert h.ids(h.get("receipts/search", from_date=kyiv.isoformat(), limit=100)) == dated(since)
    later = (kyiv + timedelta(milliseconds=500)).isoformat()
    assert h.ids(h.get("receipts/search", to_date=later, limit=100)) == dated(None, since)
    # plain ISO dates, as Checkbox accepts them (midnight, Kyiv time)
    today = datetime.now(KYIV).date()
    assert h.ids(h.get("receipts/search", from_date=str(today - timedelta(days=1)), limit=100)) == every
    assert h.get("receipts/search", from_date=str(today + timedelta(days=2)))["results"] == []
    assert h.raw.get("/api/v1/receipts/search", params={"from_date": "yesterday"}).status_code == 422


# --- shifts ----------------------------------------------------------------------------------------


def test_shifts_are_listed_each_as_its_own_get(history: History) -> None:
    h = history
    page = h.get("shifts")
    assert page["meta"] == {"limit": 25, "offset": 0}
    assert h.ids(page) == [s["id"] for s in h.shifts]
    for listed in page["results"]:
        own = h.get(f"shifts/{listed['id']}")
        assert {k: v for k, v in listed.items() if k != "cash_register"} == {
            k: v for k, v in own.items() if k != "cash_register"
        }
        assert listed["cash_register"]["id"] == IdScheme.of(FISCAL_NUMBER).cash_register
    assert h.ids(h.get("shifts", desc="true", limit=2)) == [s["id"] for s in h.shifts[::-1][:2]]
    assert h.ids(h.get("shifts", offset=1, limit=1)) == [h.shifts[1]["id"]]


def test_shifts_by_status(history: History) -> None:
    h = history
    closed = h.get("shifts", statuses="CLOSED")
    assert h.ids(closed) == [s["id"] for s in h.shifts[:2]]
    assert all(s["status"] == "CLOSED" and s["z_report"] for s in closed["results"])
    assert h.ids(h.get("shifts", statuses="OPENED")) == [h.shifts[2]["id"]]
    assert len(h.get("shifts", statuses=["OPENED", "CLOSED"])["results"]) == 3
    assert h.get("shifts", statuses=["OPENING", "CLOSING"])["results"] == []
    bad = h.raw.get("/api/v1/shifts", params={"statuses": "HALF_OPEN"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert [s["id"] for s in h.client.shifts.get_shifts(statuses=["CLOSED"], limit=1)] == h.ids(closed)


# --- reports ---------------------------------------------------------------------------------------


def test_reports_of_the_current_shift_by_default(history: History) -> None:
    h = history
    current = h.get("reports")
    assert current["meta"] == {"limit": 25, "offset": 0}
    assert h.ids(current) == [h.x_reports[1]["id"]]  # the open shift's X report; its Z is not made yet


def test_reports_of_every_shift_by_date_and_kind(history: History) -> None:
    h = history
    x1, x3 = h.x_reports
    z1, z2 = h.z_reports
    everything = h.get("reports", from_date="2000-01-01")
    assert h.ids(everything) == [x1["id"], z1["id"], z2["id"], x3["id"]]  # by date
    for listed in everything["results"]:
        assert listed == h.get(f"reports/{listed['id']}")
    assert h.ids(h.get("reports", from_date="2000-01-01", is_z_report="true")) == [z1["id"], z2["id"]]
    assert h.ids(h.get("reports", from_date="2000-01-01", is_z_report="false")) == [x1["id"], x3["id"]]
    newest = h.get("reports", from_date="2000-01-01", desc="true", limit=2, offset=1)
    assert newest["meta"] == {"limit": 2, "offset": 1} and h.ids(newest) == [z2["id"], z1["id"]]
    since_z2 = h.get("reports", from_date=z2["created_at"])
    assert h.ids(since_z2) == [z2["id"], x3["id"]]
    first, second, _ = h.shifts
    assert h.ids(h.get("reports", shift_id=first["id"])) == [x1["id"], z1["id"]]
    assert h.ids(h.get("reports", shift_id=second["id"], serial=str(second["serial"]))) == [z2["id"]]
    assert h.get("reports", shift_id=str(uuid.uuid4()))["results"] == []
    assert h.get("reports", shift_id=first["id"], serial="nine")["results"] == []
    zs = list(h.client.reports.get_reports(from_date="2000-01-01", is_z_report=True, limit=1))
    assert [z["id"] for z in zs] == [z1["id"], z2["id"]]


def test_report_search(history: History) -> None:
    h = history
    ours = IdScheme.of(FISCAL_NUMBER).cash_register
    every = h.get("reports/search", limit=100)  # every shift, no default to the current one
    assert len(every["results"]) == 4
    assert h.ids(h.get("reports/search", cash_register_id=ours, is_z_report="true")) == [
        z["id"] for z in h.z_reports
    ]
    assert h.get("reports/search", cash_register_id=str(uuid.uuid4()))["results"] == []
    assert h.ids(h.get("reports/search", shift_id=h.shifts[1]["id"])) == [h.z_reports[1]["id"]]


# --- the periodic report ----------------------------------------------------------------------------


def _money(kop: int) -> str:
    return f"{Decimal(kop) / 100:.2f}"


def test_periodical_report_sums_the_z_reports_of_the_period(history: History) -> None:
    h = history
    z1, z2 = h.z_reports
    text = h.get("reports/periodical", from_date="2000-01-01", to_date="2100-01-01")
    assert isinstance(text, str)
    lines = text.splitlines()
    assert all(len(line) <= 42 for line in lines)
    assert "ПЕРІОДИЧНИЙ ЗВІТ" in text and REGISTRAR["org_name"] in text
    assert any(line.startswith("Z-звітів") and line.endswith(" 2") for line in lines)
    assert z1["fiscal_code"] in text and z2["fiscal_code"] in text

    def pair(label: str) -> list[str]:
        return [line.rsplit(" ", 1)[-1] for line in lines if line.startswith(label)]

    sold = z1["sell_sum"] + z2["sell_sum"]
    returned = z1["return_sum"] + z2["return_sum"]
    totals = [line for line in lines if line.startswith("СУМА")]  # sales, then returns
    assert totals[0].endswith(f" {_money(sold)} грн") and totals[1].endswith(f" {_money(returned)} грн")
    assert pair("СЛУЖБОВЕ ВНЕСЕННЯ") == [_money(z1["service_in"] + z2["service_in"])]
    assert pair("СЛУЖБОВА ВИДАЧА") == [_money(z1["service_out"] + z2["service_out"])]
    assert pair("Готівка в касі") == [_money(z1["balance"] + z2["balance"])]
    counts = [int(v) for v in pair("Кількість чеків")]
    assert counts == [z1["sell_receipts_count"] + z2["sell_receipts_count"], z1["return_receipts_count"]]
    for tax in z1["taxes"]:  # per tax letter: both reports' sums together
        other = next((t for t in z2["taxes"] if t["symbol"] == tax["symbol"]), {"sell_sum": 0})
        assert _money(tax["sell_sum"] + other["sell_sum"]) in pair(f"{tax['label']} {tax['symbol']}")
    # only the second: the first Z is before the period
    narrow = h.get("reports/periodical", from_date=z2["created_at"], to_date="2100-01-01", width=32)
    assert all(len(line) <= 32 for line in narrow.splitlines())
    assert z2["fiscal_code"] in narrow and z1["fiscal_code"] not in narrow
    empty = h.get("reports/periodical", from_date="2000-01-01", to_date="2000-01-02")
    assert "Z-звітів" in empty and "Розрахункових операцій не було" in empty
    # through the SDK, which also sends is_short
    assert "ПЕРІОДИЧНИЙ ЗВІТ" in h.client.reports.get_periodical_report("2000-01-01", "2100-01-01")
    missing = h.raw.get("/api/v1/reports/periodical", params={"from_date": "2000-01-01"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "to_date"]
    assert (
        h.raw.get(
            "/api/v1/reports/periodical",
            params={"from_date": "2000-01-01", "to_date": "2100-01-01", "width": 5},
        ).status_code
        == 422
    )


# --- the signature and the organization --------------------------------------------------------------


def test_check_signature(history: History) -> None:
    h = history
    assert h.get("cashier/check-signature") == {
        "online": True,
        "type": "AGENT",
        "shift_open_possibility": False,
    }
    assert (
        h.client.cashier.check_signature() is False
    )  # the SDK answers shift_open_possibility; shift 3 is open


def test_check_signature_says_a_shift_can_be_opened(box: Box) -> None:
    api = TillApi(box)
    try:
        client = api.client()
        client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
        assert client.cashier.check_signature() is True  # no shift open, nothing blocks the register
    finally:
        api.server.stop()


def test_organization_receipt_config(history: History) -> None:
    config = history.client.organization.get_organization_receipt_config()
    organization = config["organization"]
    assert organization["title"] == REGISTRAR["org_name"]
    assert organization["edrpou"] == REGISTRAR["tin"] and organization["tax_number"] == REGISTRAR["ipn"]
    assert organization["id"] == IdScheme.organization(str(REGISTRAR["tin"]))
    assert str(uuid.UUID(organization["id"])) == organization["id"]
    assert IdScheme.organization("34554362") != IdScheme.organization("12345678")


def test_an_unauthenticated_list_is_refused(history: History) -> None:
    with httpx.Client(base_url=history.api.url) as raw:
        for path in (
            "receipts",
            "shifts",
            "reports",
            "cashier/check-signature",
            "organization/receipt-config",
        ):
            assert raw.get(f"/api/v1/{path}", headers={"X-License-Key": LICENSE}).status_code == 401


def _zpay(
    total: str, count: int, forms: list[tuple[int, str]], taxes: list[tuple[str, str, str]]
) -> docs.ZPay:
    return docs.ZPay(
        sum=Decimal(total),
        orders_count=count,
        pay_forms=tuple(
            docs.PayFormTotal(form, "ГОТІВКА" if form == 0 else "КАРТКА", Decimal(v)) for form, v in forms
        ),
        taxes=tuple(
            docs.TaxRow(
                type=0,
                name="ПДВ",
                letter=letter,
                rate=Decimal("20.00"),
                included=True,
                turnover=Decimal(turnover),
                sum=Decimal(tax),
            )
            for letter, turnover, tax in taxes
        ),
    )


def test_period_totals_sum_per_pay_form_and_tax_letter() -> None:
    seller = docs.Seller(tin="1", org_name="O", point_name="P", cash_desk_num=1, cash_register_num=1)
    head = docs.DocHead(uid="z", seller=seller, when=datetime(2026, 12, 1, tzinfo=KYIV), order_num=1)
    first = docs.ZReport(
        head=head,
        realiz=_zpay("30.00", 2, [(0, "10.00"), (1, "20.00")], [("А", "30.00", "5.00")]),
        service_input=Decimal("100.00"),
    )
    second = docs.ZReport(
        head=head,
        realiz=_zpay("12.00", 1, [(0, "12.00")], [("А", "6.00", "1.00"), ("Б", "6.00", "0.39")]),
        ret=_zpay("6.00", 1, [(0, "6.00")], [("А", "6.00", "1.00")]),
        service_output=Decimal("40.00"),
    )
    total = period_totals([first, second], head)
    assert total.realiz is not None and total.ret is not None
    assert total.realiz.sum == Decimal("42.00") and total.realiz.orders_count == 3
    assert [(f.form, f.sum) for f in total.realiz.pay_forms] == [(0, Decimal("22.00")), (1, Decimal("20.00"))]
    assert [(t.letter, t.turnover, t.sum) for t in total.realiz.taxes] == [
        ("А", Decimal("36.00"), Decimal("6.00")),
        ("Б", Decimal("6.00"), Decimal("0.39")),
    ]
    assert total.ret.sum == Decimal("6.00") and total.ret.orders_count == 1
    assert total.service_input == Decimal("100.00") and total.service_output == Decimal("40.00")
    assert period_totals([], head).realiz is None
