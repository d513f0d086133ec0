"""The till API driven by checkbox-sdk 1.6's synchronous client, unchanged, over real HTTP."""

from __future__ import annotations

import io
import ipaddress
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from checkbox_sdk.client.synchronous import CheckBoxClient
from checkbox_sdk.exceptions import CheckBoxAPIError, CheckBoxAPIValidationError
from checkbox_sdk.methods import cash_register
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from PIL import Image

from agent.clock import Clock, FakeClock, SystemClock
from agent.config import Cashier
from agent.emulator import Emulator
from agent.till_api.app import ApiContext, create_app
from agent.till_api.auth import Sessions
from agent.till_api.server import ApiServer
from tests.conftest import FISCAL_NUMBER, REGISTRAR, TAXES, Box, EmulatorHandle, cash, item, post_json
from tests.test_offline import dead_url
from tests.test_register import assert_emulator_numbering

LICENSE = "test-licence-key"
CASHIERS = (
    Cashier(name="Іваненко І. І.", login="ivanenko", pin="1234", password="secret-1"),
    Cashier(name="Петренко П. П.", login="petrenko", pin="5678", password="secret-2"),
)


def api_context(box: Box, clock: Clock | None = None, ttl_s: float = 3600) -> ApiContext:
    clock = clock or SystemClock()
    return ApiContext(
        register=box.register,
        sessions=Sessions(CASHIERS, clock, ttl_s=ttl_s),
        license_key=LICENSE,
        taxes=TAXES,
        fiscal_number=FISCAL_NUMBER,
        clock=clock,
        box_status=lambda: {"mode": box.register.status().mode.value},
    )


class TillApi:
    def __init__(self, box: Box) -> None:
        self.box = box
        self.server = ApiServer(create_app(api_context(box))).start()
        self.url = self.server.url

    def client(self) -> CheckBoxClient:
        return CheckBoxClient(base_url=self.url, requests_per_10s=10_000)


@dataclass
class LiveTill:
    """A box with its till API on a free port, against its own emulator, signed in with a shift open."""

    box: Box
    emulator: EmulatorHandle
    url: str
    headers: dict[str, str]


@contextmanager
def live_till(base: Path) -> Iterator[LiveTill]:
    """For a module that shares one box (a fuzzer's, whose every example would pay a set-up otherwise)."""
    with Emulator(base / "emulator") as emulator:
        post_json(f"{emulator.url}/emulator/registrars", REGISTRAR)
        box = Box(base / "box", emulator.fs_url)
        box.register.start()
        api = TillApi(box)
        token = httpx.post(f"{api.url}/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "X-License-Key": LICENSE}
        assert httpx.post(f"{api.url}/api/v1/shifts", json={}, headers=headers).status_code == 202
        try:
            yield LiveTill(box, EmulatorHandle(emulator), api.url, headers)
        finally:
            api.server.stop()
            box.close()


@pytest.fixture()
def api(box: Box) -> Iterator[TillApi]:
    till = TillApi(box)
    yield till
    till.server.stop()


def good(name: str, price: int, quantity: int = 1000, tax: list[Any] | None = None) -> dict[str, Any]:
    return {"good": {"code": name[:8], "name": name, "price": price, "tax": tax or [1]}, "quantity": quantity}


def sale_body(i: int, *, card: bool = False) -> dict[str, Any]:
    goods = [good(f"Товар {i}", 1250 + i, 2000), good("Вода", 1599, 1000, ["Б"])]
    total = (1250 + i) * 2 + 1599
    payment: dict[str, Any] = (
        {
            "type": "CASHLESS",
            "value": total,
            "label": "Картка",
            "card_mask": "4111****1111",
            "payment_system": "VISA",
            "auth_code": "A1B2C3",
            "rrn": "123456789012",
        }
        if card
        else {"type": "CASH", "value": total + (500 if i % 2 else 0)}
    )
    return {"id": str(uuid.uuid4()), "goods": goods, "payments": [payment]}


def test_a_whole_day_with_the_sdk(api: TillApi, emulator: EmulatorHandle) -> None:
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    shift = client.shifts.create_shift(timeout=10)
    assert shift["status"] == "OPENED"
    receipts = []
    for i in range(20):
        receipt = client.receipts.create_receipt(receipt=sale_body(i, card=i % 3 == 0), timeout=10)
        assert receipt["status"] == "DONE" and receipt["fiscal_code"] and not receipt["is_created_offline"]
        receipts.append(receipt)
    assert receipts[1]["total_rest"] == 500  # change for cash
    sold = receipts[0]
    ret = client.receipts.create_receipt(
        receipt={
            "id": str(uuid.uuid4()),
            "goods": [
                {
                    **good(sold["goods"][0]["good"]["name"], sold["goods"][0]["good"]["price"], 1000),
                    "is_return": True,
                }
            ],
            "payments": [{"type": "CASHLESS", "value": sold["goods"][0]["good"]["price"]}],
            "related_receipt_id": sold["id"],
        },
        timeout=10,
    )
    assert ret["type"] == "RETURN" and ret["status"] == "DONE"
    service_in = client.receipts.create_service_receipt(payment={"type": "CASH", "value": 50000}, timeout=10)
    service_out = client.receipts.create_service_receipt(
        payment={"type": "CASH", "value": -12000}, timeout=10
    )
    assert service_in["type"] == "SERVICE_IN" and service_out["type"] == "SERVICE_OUT"
    assert service_out["payments"][0]["value"] == 12000
    x = client.reports.create_x_report()
    assert x["sell_receipts_count"] == 20 and x["return_receipts_count"] == 1

    # the outage: the same calls keep succeeding, offline
    emulator.fault("down")
    offline = [client.receipts.create_receipt(receipt=sale_body(100 + i), timeout=10) for i in range(3)]
    assert all(r["status"] == "DONE" and r["is_created_offline"] and r["control_number"] for r in offline)
    assert client.cash_registers.get_cash_register()["offline_mode"] is True
    text = client.receipts.get_receipt_visualization_text(offline[0]["id"])
    assert "ОФЛАЙН" in text and "Контрольне число" in text
    emulator.fault("none")
    assert client.cash_registers.go_online()["status"] == "ok"
    assert client.cash_registers.get_cash_register()["offline_mode"] is False
    again = client.receipts.get_receipt(offline[0]["id"])
    assert again["is_sent_dps"] is True

    z = client.shifts.close_shift(timeout=10)
    assert z is not None and z["is_z_report"] and z["sell_receipts_count"] == 23
    client.cashier.sign_out()

    registered = assert_emulator_numbering(emulator)
    # open, 20 sales, return, in, out, the sale lost at the outage (revoked), 102, 3 offline sales, 103, Z, close
    assert len(registered) == 32 and sum(1 for d in registered if d["revoked"]) == 1


def test_same_receipt_id_is_fiscalized_once(api: TillApi, emulator: EmulatorHandle) -> None:
    client = api.client()
    client.cashier.authenticate(login="ivanenko", password="secret-1", license_key=LICENSE)
    client.shifts.create_shift(timeout=10)
    body = sale_body(1)
    first = client.receipts.create_receipt(receipt=body, timeout=10)
    with pytest.raises(CheckBoxAPIError) as info:
        client.receipts.create_receipt(receipt=body, timeout=10)
    assert info.value.status == 400 and info.value.content["code"] == "receipt.already_exists"
    assert client.receipts.get_receipt(body["id"])["fiscal_code"] == first["fiscal_code"]

    # the same id at the same moment from two tills
    twin = sale_body(2)
    outcomes: list[Any] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        own = api.client()
        own.cashier.authenticate_pin_code("1234", license_key=LICENSE)
        barrier.wait()
        try:
            outcomes.append(own.receipts.create_receipt(receipt=twin, timeout=10)["fiscal_code"])
        except CheckBoxAPIError as exc:
            outcomes.append(exc.content["code"])

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str).count("receipt.already_exists") == 3
    sales = [d for d in emulator.documents() if d["doc_type"] == 0]
    assert len(sales) == 2  # one per id


def test_visualizations(api: TillApi) -> None:
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    client.shifts.create_shift(timeout=10)
    receipt = client.receipts.create_receipt(receipt=sale_body(3, card=True), timeout=10)
    rid = receipt["id"]
    text = client.receipts.get_receipt_visualization_text(rid, width=32)
    assert all(len(line) <= 32 for line in text.splitlines())
    assert "ФІСКАЛЬНИЙ ЧЕК" in text and receipt["fiscal_code"] in text and "ОНЛАЙН" in text
    xml = client.receipts.get_receipt_visualization_xml(rid)
    root = etree.fromstring(xml.encode("utf-8"))
    assert root.tag == "CHECK" and root.findtext("CHECKHEAD/CASHREGISTERNUM") == FISCAL_NUMBER
    png = client.receipts.get_receipt_visualization_png(rid)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    qr = client.receipts.get_receipt_visualization_qrcode(rid)
    assert Image.open(io.BytesIO(qr)).format == "PNG"
    assert receipt["tax_url"].startswith("https://cabinet.tax.gov.ua/cashregs/check?")
    assert "<html" in client.receipts.get_receipt_visualization_html(rid).lower()


def test_offline_calls_and_register_info(api: TillApi) -> None:
    client = api.client()
    client.cashier.authenticate_pin_code("5678", license_key=LICENSE)
    info = client.cash_registers.get_cash_register()
    assert info["fiscal_number"] == FISCAL_NUMBER and info["offline_mode"] is False
    assert client.cash_registers.ping_tax_service()["status"] == "DONE"
    assert client.cash_registers.go_offline()["status"] == "ok"
    count = client(cash_register.GetOfflineCodesCount())
    assert count["enough_offline_codes"] is True
    time_info = client.cash_registers.get_offline_time()
    assert time_info["status"]["current"] == 0


def test_refusals_are_4xx_with_reasons(api: TillApi, emulator: EmulatorHandle) -> None:
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    with pytest.raises(CheckBoxAPIError) as info:  # no open shift
        client.receipts.create_receipt(receipt=sale_body(1), timeout=10)
    assert info.value.status == 400 and info.value.content["code"] == "shift.not_opened"
    client.shifts.create_shift(timeout=10)
    bad = sale_body(2)
    bad["goods"][0]["good"]["price"] = 12.5
    with pytest.raises(CheckBoxAPIValidationError) as invalid:
        client.receipts.create_receipt(receipt=bad, timeout=10)
    assert invalid.value.status == 422 and "price" in str(invalid.value)
    unknown_tax = sale_body(3)
    unknown_tax["goods"][0]["good"]["tax"] = [9]
    with pytest.raises(CheckBoxAPIError) as tax:
        client.receipts.create_receipt(receipt=unknown_tax, timeout=10)
    assert tax.value.status == 400 and "tax" in tax.value.content["message"]
    short = sale_body(4)
    short["payments"][0]["value"] = 1
    with pytest.raises(CheckBoxAPIError):
        client.receipts.create_receipt(receipt=short, timeout=10)
    # offline prohibited and the server gone: sales blocked, said so
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, "offline_allowed": False})
    api.box.register.go_online()
    # The link cut, so the sale certainly never arrives and is refused (a server that reads it and drops
    # the connection leaves its fate open: 503 receipt.outcome_unknown, tests/test_outage.py).
    api.box.client.base_url = dead_url()
    with pytest.raises(CheckBoxAPIError) as blocked:
        client.receipts.create_receipt(receipt=sale_body(5), timeout=10)
    assert blocked.value.status == 409 and "offline_prohibited" in blocked.value.content["code"]
    assert api.box.journal.count(state="rejected") == 0
    emulator.fault("none")


def test_access_needs_token_and_licence(api: TillApi) -> None:
    with httpx.Client(base_url=api.url) as raw:
        assert raw.get("/api/v1/cashier/me").status_code == 403
        assert raw.get("/api/v1/cashier/me", headers={"X-License-Key": LICENSE}).status_code == 401
        wrong = raw.post("/api/v1/cashier/signinPinCode", json={"pin_code": "0000"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "base.credentials"
        assert raw.get("/api/v1/openapi.json").status_code == 200


def test_z_report_by_id_and_taxes(api: TillApi) -> None:
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    client.shifts.create_shift(timeout=10)
    client.receipts.create_receipt(receipt=sale_body(1), timeout=10)
    z = client.shifts.close_shift(timeout=10)
    assert z is not None
    again = client.reports.get_report(z["id"])
    assert again["fiscal_code"] == z["fiscal_code"] and again["sell_receipts_count"] == 1
    text = client.reports.get_report_text(z["id"])
    assert "Z-ЗВІТ" in text and z["fiscal_code"] in text
    taxes = client.tax.get_all_taxes()
    assert [(t["code"], t["symbol"]) for t in taxes] == [(1, "А"), (2, "Б")]


def test_receipt_ids_survive_a_restart_of_the_box(tmp_path: Path, emulator: EmulatorHandle) -> None:
    box = Box(tmp_path / "box", emulator.fs_url)
    box.register.start()
    api = TillApi(box)
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    client.shifts.create_shift(timeout=10)
    body = sale_body(7)
    first = client.receipts.create_receipt(receipt=body, timeout=10)
    api.server.stop()
    box.close()
    box = Box(tmp_path / "box", emulator.fs_url)  # the same journal, a new process's worth of state
    box.register.start()
    api = TillApi(box)
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    with pytest.raises(CheckBoxAPIError) as info:
        client.receipts.create_receipt(receipt=body, timeout=10)
    assert info.value.content["code"] == "receipt.already_exists"
    assert client.receipts.get_receipt(body["id"])["fiscal_code"] == first["fiscal_code"]
    api.server.stop()
    box.close()


def test_tokens_expire(box: Box) -> None:
    clock = FakeClock()
    ctx = api_context(box, clock, ttl_s=60)
    with ApiServer(create_app(ctx)) as server, httpx.Client(base_url=server.url) as raw:
        token = raw.post("/api/v1/cashier/signin", json={"login": "petrenko", "password": "secret-2"}).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}", "X-License-Key": LICENSE}
        assert raw.get("/api/v1/cashier/me", headers=headers).json()["full_name"] == "Петренко П. П."
        clock.advance(61)
        expired = raw.get("/api/v1/cashier/me", headers=headers)
        assert expired.status_code == 401 and "expired" in expired.json()["message"]


def test_tls_from_config(box: Box, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "api.crt", tmp_path / "api.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = api_context(box)
    with ApiServer(create_app(ctx), tls_cert_file=cert_file, tls_key_file=key_file) as server:
        assert server.url.startswith("https://")
        ssl_context = ssl.create_default_context(cafile=str(cert_file))
        with httpx.Client(base_url=server.url, verify=ssl_context) as raw:
            assert raw.post("/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).status_code == 200


def test_a_sale_with_discounts_extra_charges_and_rounding_end_to_end(
    api: TillApi, emulator: EmulatorHandle
) -> None:
    """Line discounts, a receipt-level percent discount and value extra charge, cash rounding: the answer,
    the document the emulator stored (it checked the arithmetic itself), the printed text and the Z."""
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    client.shifts.create_shift(timeout=10)
    cheese = good("Сир", 10000) | {"discounts": [{"type": "DISCOUNT", "mode": "PERCENT", "value": 10}]}
    bread = good("Хліб", 2003) | {"discounts": [{"type": "EXTRA_CHARGE", "mode": "VALUE", "value": 100}]}
    body = {
        "id": str(uuid.uuid4()),
        "goods": [cheese, bread, good("Вода", 1599, 2000, ["Б"])],
        "payments": [{"type": "CASH", "value": 50000}],
        "discounts": [
            {"type": "DISCOUNT", "mode": "PERCENT", "value": 5, "name": "Картка клієнта"},
            {"type": "EXTRA_CHARGE", "mode": "VALUE", "value": 250, "name": "Пакування"},
        ],
        "rounding": True,
    }
    receipt = client.receipts.create_receipt(receipt=body, timeout=10)
    # lines after their own: 90.00, 21.03, 31.98 = 143.01; 5 % of it is 7.15 off, 2.50 charged: 138.36
    # payable, rounded to 138.40 in cash (4 kopecks up: the 5-9 kopecks of the National Bank's rule)
    assert receipt["total_sum"] == 13840 and receipt["round_sum"] == 4
    assert receipt["discounts"] == [
        {"type": "DISCOUNT", "mode": "VALUE", "value": 465, "sum": 465, "name": None}
    ]
    g_cheese, g_bread, g_water = receipt["goods"]
    assert g_cheese["discounts"] == [
        {"type": "DISCOUNT", "mode": "PERCENT", "value": 10.0, "sum": 1000, "name": None}
    ]
    assert g_cheese["total_sum"] == 9000
    assert g_bread["discounts"] == [
        {"type": "EXTRA_CHARGE", "mode": "VALUE", "value": 100, "sum": 100, "name": None}
    ]
    assert g_bread["total_sum"] == 2103 and g_water["discounts"] == [] and g_water["total_sum"] == 3198
    assert receipt["total_rest"] == 50000 - 13840

    (stored,) = [x for x in emulator.documents() if x["fiscal_number"] == receipt["fiscal_code"]]
    root = etree.fromstring(emulator.xml_of(stored))
    assert root.findtext("CHECKTOTAL/SUM") == "138.40" and root.findtext("CHECKTOTAL/NORNDSUM") == "138.36"
    assert root.findtext("CHECKTOTAL/RNDSUM") == "-0.04"
    assert root.findtext("CHECKTOTAL/SUBCHECK") == "143.01" and root.findtext("CHECKTOTAL/USAGETYPE") == "1"
    assert (
        root.findtext("CHECKTOTAL/DISCOUNTSUM")
        == f"{Decimal('10.00') - Decimal('1.00') + Decimal('4.65'):.2f}"
    )
    rows = root.findall("CHECKBODY/ROW")
    assert [r.findtext("DISCOUNTTYPE") for r in rows] == ["1", "0", "0"]
    assert rows[1].findtext("SUBTOTAL") == "21.03"
    assert root.findtext("CHECKPAY/ROW/SUM") == "138.40" and root.findtext("CHECKPAY/ROW/REMAINS") == "361.60"

    text = client.receipts.get_receipt_visualization_text(receipt["id"], width=42)
    for expected in ("ЗНИЖКА 10.00%", "НАДБАВКА", "+1.00", "ЗНИЖКА НА ЧЕК", "-4.65", "Заокруглення", "-0.04"):
        assert expected in text, expected
    assert text.index("ПДВ А") < text.index("Заокруглення") < text.index("ДО СПЛАТИ")
    assert "138.40 грн" in text.split("ДО СПЛАТИ", 1)[1].splitlines()[0]

    # a mixed card + cash sale: only its cash part is rounded; a card-only one is not rounded
    mixed = {
        "id": str(uuid.uuid4()),
        "goods": [good("Кава", 4567)],
        "payments": [{"type": "CASHLESS", "value": 2000}, {"type": "CASH", "value": 2567}],
        "rounding": True,
    }
    second = client.receipts.create_receipt(receipt=mixed, timeout=10)
    assert second["total_sum"] == 4570 and second["round_sum"] == 3
    by_card = client.receipts.create_receipt(
        receipt={
            "id": str(uuid.uuid4()),
            "goods": [good("Чай", 1234)],
            "payments": [{"type": "CASHLESS", "value": 1234}],
            "rounding": True,
        },
        timeout=10,
    )
    assert by_card["total_sum"] == 1234 and by_card["round_sum"] == 0
    z = client.shifts.close_shift(timeout=10)
    assert z is not None
    sums = [receipt["total_sum"], second["total_sum"], by_card["total_sum"]]
    assert z["sell_sum"] == sum(sums) and z["sell_receipts_count"] == 3
    cash_row = next(p for p in z["payments"] if p["type"] == "CASH")
    assert cash_row["sell_sum"] == 13840 + 2570
    zdoc = next(x for x in emulator.documents() if x["doc_class"] == "ZREP")
    zroot = etree.fromstring(emulator.xml_of(zdoc))
    assert zroot.findtext("ZREPREALIZ/SUM") == f"{Decimal(sum(sums)) / 100:.2f}"
    assert zroot.findtext("ZREPREALIZ/RNDSUM") == "-0.07"
    assert zroot.findtext("ZREPREALIZ/NORNDSUM") == f"{Decimal(sum(sums) - 7) / 100:.2f}"


def test_a_receipt_made_without_a_till_id_is_found_by_the_id_it_is_answered_with(api: TillApi) -> None:
    """A receipt the box made itself (the demo, a technician) has no till id: its answers name it by its
    document's UID, and that id finds it again."""
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    client.shifts.create_shift(timeout=10)
    made = api.box.register.sell([item()], [cash("10.00")])
    assert made.request_id is None
    with httpx.Client(base_url=api.url, headers={"X-License-Key": LICENSE}) as raw:
        raw.headers["Authorization"] = f"Bearer {client.storage.token}"
        listed = raw.get("/api/v1/receipts", params={"fiscal_code": made.fiscal_num}).json()["results"]
        assert [r["id"] for r in listed] == [made.uid]
        found = raw.get(f"/api/v1/receipts/{made.uid}")
        assert found.status_code == 200 and found.json()["fiscal_code"] == made.fiscal_num


def test_the_z_answers_roundings_up_and_down_and_discounts_and_charges_apart(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """zrep01 carries only the net rounding and no discount sums; the Z's answer still gives each apart
    (summed from the shift's checks once, kept in the journal), the same after a restart."""
    box = Box(tmp_path / "box", emulator.fs_url)
    box.register.start()
    api = TillApi(box)
    client = api.client()
    client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
    client.shifts.create_shift(timeout=10)

    def sale(goods: list[dict[str, Any]], value: int) -> dict[str, Any]:
        body = {"id": str(uuid.uuid4()), "goods": goods, "payments": [{"type": "CASH", "value": value}]}
        receipt: dict[str, Any] = client.receipts.create_receipt(receipt=body | {"rounding": True}, timeout=10)
        return receipt

    up = sale([good("Кава", 4567)], 5000)  # 45.67 → 45.70: 3 up
    down = sale([good("Чай", 1232)], 2000)  # 12.32 → 12.30: 2 down
    off = good("Сир", 10000) | {"discounts": [{"type": "DISCOUNT", "mode": "VALUE", "value": 500}]}
    on = good("Хліб", 2000) | {"discounts": [{"type": "EXTRA_CHARGE", "mode": "VALUE", "value": 200}]}
    sale([off, on], 12000)  # 95.00 + 22.00 = 117.00, nothing to round
    assert (up["round_sum"], down["round_sum"]) == (3, -2)
    z = client.shifts.close_shift(timeout=10)
    assert z is not None
    expected = {
        "sales_round_up": 3,
        "sales_round_down": 2,
        "discounts_sum": 500,
        "extra_charge_sum": 200,
        "returns_round_up": 0,
        "returns_round_down": 0,
    }
    assert {k: z[k] for k in expected} == expected
    api.server.stop()
    box.close()

    again = Box(tmp_path / "box", emulator.fs_url)
    again.register.start()
    api = TillApi(again)
    try:
        client = api.client()
        client.cashier.authenticate_pin_code("1234", license_key=LICENSE)
        report = client.reports.get_report(z["id"])
        assert {k: report[k] for k in expected} == expected
    finally:
        api.server.stop()
        again.close()
