"""Printing behind the till API: receipts on paper (decoded from the ESC/POS bytes), the drawer, reprints,
the slip; a printer fault never undoes a sale."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from agent.printing import PrintService
from agent.receipts import Layout, Text
from agent.till_api.app import create_app
from agent.till_api.server import ApiServer
from drivers.drawer import CashDrawer
from drivers.printer import ReceiptPrinter
from tests.conftest import Box, EmulatorHandle
from tests.escpos_decode import decode
from tests.test_till_api import LICENSE, api_context, sale_body

pytestmark = pytest.mark.print_documents  # the box fixture's register queues for paper


class Shop:
    def __init__(self, box: Box, printer: ReceiptPrinter) -> None:
        self.printer = printer
        # The service follows the register's journal and events, as in the agent: the till API only
        # fiscalizes, the print worker prints what the register queued.
        self.printing = PrintService(
            printer, CashDrawer("printer", printer=printer), journal=box.journal, clock=box.register.clock
        )
        box.recorder.forward_to(self.printing.on_event)
        ctx = api_context(box)
        ctx.printing = self.printing
        ctx.slip = lambda: Layout(32, [Text("СЛУЖБОВИЙ СТАН")])
        self.server = ApiServer(create_app(ctx)).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=30)
        token = self.http.post("/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).json()[
            "access_token"
        ]
        self.http.headers.update({"Authorization": f"Bearer {token}", "X-License-Key": LICENSE})
        assert self.http.post("/api/v1/shifts", json={}).status_code == 202

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.printing.close()


@pytest.fixture()
def shop(box: Box) -> Iterator[Shop]:
    s = Shop(box, ReceiptPrinter("dummy", width_mm=58))
    yield s
    s.close()


def printed_since(shop: Shop, start: int) -> tuple[str, list[tuple[str, object]]]:
    shop.printing.drain()
    printed = decode(shop.printer.output[start:])
    return "\n".join(printed.texts), printed.events


def test_a_cash_sale_prints_its_receipt_and_opens_the_drawer(shop: Shop) -> None:
    start = len(shop.printer.output)
    receipt = shop.http.post("/api/v1/receipts/sell", json=sale_body(1)).json()
    text, events = printed_since(shop, start)
    assert receipt["fiscal_code"] in text and "ДО СПЛАТИ" in text and "ОНЛАЙН" in text
    assert any(kind == "qr_store" for kind, _ in events)
    assert [kind for kind, _ in events].count("drawer") == 1
    assert [kind for kind, _ in events].index("drawer") > [kind for kind, _ in events].index("cut")


def test_a_card_sale_does_not_open_the_drawer(shop: Shop) -> None:
    start = len(shop.printer.output)
    shop.http.post("/api/v1/receipts/sell", json=sale_body(2, card=True))
    _, events = printed_since(shop, start)
    assert "drawer" not in [kind for kind, _ in events]


def test_card_details_reach_the_paper_and_the_answer(shop: Shop) -> None:
    """The till's card details go through the registered XML to rows 12-17 of the paper and back to the
    answer, as Checkbox echoes them (CardPaymentPayload)."""
    body = sale_body(4, card=True)
    details = {
        "bank_name": "АТ КБ ПриватБанк",
        "acquirer_and_seller": "S1234567",
        "terminal": "T0001",
        "commission": 38,
        "receipt_no": "0042",
        "owner_name": "IVANENKO IVAN",
    }
    body["payments"][0].update(details)
    start = len(shop.printer.output)
    receipt = shop.http.post("/api/v1/receipts/sell", json=body).json()
    text, _ = printed_since(shop, start)
    (paid,) = receipt["payments"]
    sent = body["payments"][0]
    assert {k: paid[k] for k in sent} == {**sent, "type": "CASHLESS"}
    assert paid["acquiring"] == "S1234567"  # Checkbox's obsolete name of acquirer_and_seller
    lines = text.replace("І", "I").splitlines()  # CP866 prints І as Latin I
    for wanted in (
        "ЕКВАЙР АТ КБ ПриватБанк",
        "ЕКВАЙР ТА ТОРГОВЕЦЬ S1234567",
        "ТЕРМIНАЛ T0001",
        "ЕПЗ 4111****1111",
        "ПЛАТIЖНА СИСТЕМА VISA",
        "КОД АВТ. A1B2C3",
        "RRN 123456789012",
        "ЧЕК ТЕРМIНАЛУ 0042",
    ):
        assert any(wanted in line for line in lines), (wanted, text)
    assert any("КОМIСIЯ" in line and "0.38" in line for line in lines), text
    assert "IVANENKO" not in text


def test_reprint_slip_and_drawer(shop: Shop) -> None:
    receipt = shop.http.post("/api/v1/receipts/sell", json=sale_body(3)).json()
    shop.printing.drain()
    start = len(shop.printer.output)
    assert shop.http.post(f"/api/v1/receipts/{receipt['id']}/print").json()["copy"] is True
    text, events = printed_since(shop, start)
    assert "КОПIЯ" in text and receipt["fiscal_code"] in text  # CP866 prints І as Latin I
    assert "drawer" not in [kind for kind, _ in events]
    start = len(shop.printer.output)
    assert shop.http.post("/api/v1/box/slip", json={}).status_code == 200
    assert "СЛУЖБОВИЙ СТАН" in printed_since(shop, start)[0]
    start = len(shop.printer.output)
    assert shop.http.post("/api/v1/box/drawer", json={}).status_code == 200
    assert [kind for kind, _ in printed_since(shop, start)[1]] == ["drawer"]


def test_a_till_retry_after_a_lost_answer_gets_its_receipt_printed_once(
    shop: Shop, emulator: EmulatorHandle
) -> None:
    emulator.fault("slow", delay_s=1.5)
    body = sale_body(5)
    start = len(shop.printer.output)
    # The till gives up before the box answers: the sale is fiscalized all the same.
    with pytest.raises(httpx.TimeoutException):
        shop.http.post("/api/v1/receipts/sell", json=body, timeout=0.5)
    emulator.fault("none")
    retry = shop.http.post("/api/v1/receipts/sell", json=body)
    assert retry.status_code == 400 and retry.json()["code"] == "receipt.already_exists"
    receipt = shop.http.get(f"/api/v1/receipts/{body['id']}").json()
    text, events = printed_since(shop, start)
    assert [kind for kind, _ in events].count("cut") == 1  # one receipt on paper
    assert receipt["fiscal_code"] in text
    assert len([d for d in emulator.documents() if d["doc_type"] == 0]) == 1


def test_a_printer_fault_never_undoes_a_sale(box: Box) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = Shop(box, ReceiptPrinter("network", host="127.0.0.1", port=port, timeout_s=0.5))
    try:
        sale = s.http.post("/api/v1/receipts/sell", json=sale_body(4))
        assert sale.status_code == 201 and sale.json()["status"] == "DONE"
        s.printing.drain()
        assert s.printing.last_error is not None and "PrinterOffline" in s.printing.last_error
        assert s.printing.status() == "offline"
        reprint = s.http.post(f"/api/v1/receipts/{sale.json()['id']}/print")
        assert reprint.status_code == 409 and reprint.json()["code"] == "printer.printeroffline"
    finally:
        s.close()


def test_without_a_printer_the_box_says_so(box: Box) -> None:
    server = ApiServer(create_app(api_context(box))).start()
    try:
        with httpx.Client(base_url=server.url) as http:
            token = http.post("/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).json()[
                "access_token"
            ]
            answer = http.post(
                "/api/v1/box/drawer",
                json={},
                headers={"Authorization": f"Bearer {token}", "X-License-Key": LICENSE},
            )
            assert answer.status_code == 409 and answer.json()["code"] == "printer.not_configured"
    finally:
        server.stop()
