"""USB receipt printers on a simulated bus (tests/usb_backend.py): pyusb's real device handling, a fake
printer behind its back-end interface. Finding by id, write timeouts, DLE EOT on bulk IN and the printer
class's port status in its place, a printer plugged in late, unplugged and plugged back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import usb.backend.libusb1

import drivers.printer as printer_mod
from agent.builders import build_printing
from agent.config import parse_config
from agent.printing import PrintService
from agent.receipts import Layout
from agent.receipts import Text as LayoutText
from drivers.printer import (
    PaperOut,
    PrinterError,
    PrinterOffline,
    PrinterTimeout,
    PrintLine,
    ReceiptPrinter,
    Text,
)
from tests.escpos_decode import decode
from tests.test_config import MINIMAL
from tests.usb_backend import CLASS_VENDOR, PORT_OK, PORT_PAPER_EMPTY, FakeUsbBus
from tests.waiting import wait_for

RECEIPT: list[PrintLine] = [Text("ФІСКАЛЬНИЙ ЧЕК", "center", bold=True), Text("Хліб житній")]


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> FakeUsbBus:
    fake = FakeUsbBus()
    monkeypatch.setattr(printer_mod, "_usb_backend", lambda: fake)
    return fake


@pytest.fixture
def printer(bus: FakeUsbBus) -> Iterator[ReceiptPrinter]:
    with ReceiptPrinter("usb", vendor_id=0x0416, product_id=0x5011, timeout_s=5) as p:
        yield p


def texts(data: bytes) -> list[str]:
    return decode(data).texts


# --- printing ---------------------------------------------------------------------------------------


def test_a_receipt_goes_to_bulk_out_with_a_finite_timeout(bus: FakeUsbBus, printer: ReceiptPrinter) -> None:
    printer.print_lines(RECEIPT)
    assert texts(bus.printed) == ["ФIСКАЛЬНИЙ ЧЕК", "Хлiб житнiй"]
    receipt = next(w for w in bus.writes if w.data == bus.printed)
    # The configured 5 s, plus time for the bytes to drain; never pyusb's 0 (wait forever).
    assert 5000 <= receipt.timeout_ms < 6000
    # Status requests wait the status timeout, not the write timeout; the receipt's confirmation (GS r 1,
    # answered once it is printed) waits as long as the write may take, and no longer.
    assert {w.timeout_ms for w in bus.writes if w is not receipt} == {500}
    assert bus.read_timeouts and set(bus.read_timeouts) == {500, 5000}
    assert receipt.data.endswith(b"\x1dr\x01")


def test_the_device_is_found_by_vendor_and_product(bus: FakeUsbBus) -> None:
    bus.product = 0x0E15  # another printer on the bus, not ours
    with (
        ReceiptPrinter("usb", vendor_id=0x0416, product_id=0x5011) as p,
        pytest.raises(PrinterOffline, match=r"0416:5011.*lsusb"),
    ):
        p.print_lines(RECEIPT)
    assert bus.writes == []


def test_without_ids_the_first_printer_class_device_is_used(bus: FakeUsbBus) -> None:
    with ReceiptPrinter("usb") as p:
        p.print_lines(RECEIPT)
    assert texts(bus.printed)[-1] == "Хлiб житнiй"


def test_without_ids_a_vendor_specific_printer_asks_for_them(bus: FakeUsbBus) -> None:
    bus.interface_class = CLASS_VENDOR
    with ReceiptPrinter("usb") as p, pytest.raises(PrinterOffline, match="vendor_id and product_id"):
        p.print_lines(RECEIPT)


def test_custom_endpoints_reach_pyusb(bus: FakeUsbBus) -> None:
    # The fake printer only has 0x01/0x82: another OUT endpoint is pyusb's "invalid endpoint".
    with (
        ReceiptPrinter("usb", vendor_id=0x0416, product_id=0x5011, usb_out_ep=0x03, check_paper=False) as p,
        pytest.raises(PrinterError, match="0x3"),
    ):
        p.print_lines(RECEIPT)


def test_a_stalled_printer_is_a_timeout_and_the_next_call_reopens(
    bus: FakeUsbBus, printer: ReceiptPrinter
) -> None:
    printer.print_lines(RECEIPT)
    opened = bus.opened
    bus.stalled = True
    with pytest.raises(PrinterTimeout):
        printer.print_lines(RECEIPT)
    assert all(0 < w.timeout_ms < 10_000 for w in bus.writes)
    bus.stalled = False
    printer.print_lines(RECEIPT)
    assert bus.opened > opened


def test_a_short_write_is_a_timeout_not_a_silent_half_receipt(bus: FakeUsbBus, printer: ReceiptPrinter) -> None:
    printer.check_paper = False
    bus.accept_at_most = 10
    with pytest.raises(PrinterTimeout, match="took 10 of"):
        printer.print_lines(RECEIPT)


# --- libusb missing ---------------------------------------------------------------------------------


def test_without_libusb_the_error_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # pyusb's libusb1 back-end answers None when it cannot load libusb-1.0 (find() then raises
    # NoBackendError): the production path, with the library made unloadable.
    monkeypatch.setattr(usb.backend.libusb1, "get_backend", lambda *a, **k: None)
    printer = ReceiptPrinter("usb", vendor_id=0x0416, product_id=0x5011)  # construction never fails
    with pytest.raises(PrinterError, match=r"libusb-1\.0-0") as err:
        printer.print_lines(RECEIPT)
    assert not isinstance(err.value, PrinterOffline)  # installing something fixes it, not a cable
    assert printer.status() == "error"


def test_the_production_back_end_is_libusb1() -> None:
    backend = printer_mod._usb_backend()
    assert backend is not None and type(backend).__module__ == "usb.backend.libusb1"


# --- status -----------------------------------------------------------------------------------------


def test_status_over_dle_eot_on_bulk_in(bus: FakeUsbBus, printer: ReceiptPrinter) -> None:
    assert printer.status() == "ok"
    bus.dle_eot[4] = 0x12 | 0x60  # roll end
    assert printer.status() == "paper_out"
    bus.dle_eot.update({1: 0x12 | 0x08, 2: 0x12 | 0x04, 4: 0x12})  # offline: cover open
    assert printer.status() == "cover_open"
    assert bus.control_requests == []  # the printer answered: port status was never needed


@pytest.mark.parametrize("why", ["no reply on bulk IN", "no IN endpoint"])
def test_status_falls_back_to_port_status(bus: FakeUsbBus, printer: ReceiptPrinter, why: str) -> None:
    if why == "no IN endpoint":
        bus.in_endpoint = False
    else:
        bus.answers_dle_eot = False
    assert printer.status() == "ok"
    assert (0xA1, 1, 0, 0) in bus.control_requests
    bus.port_status = PORT_PAPER_EMPTY
    assert printer.status() == "paper_out"
    with pytest.raises(PaperOut):
        printer.print_lines(RECEIPT)
    bus.port_status = 0x10  # selected, error line active: not a cause port status can name
    assert printer.status() == "error"
    bus.port_status = PORT_OK & ~0x10  # not selected
    assert printer.status() == "error"
    bus.port_status = PORT_OK
    printer.print_lines(RECEIPT)
    assert texts(bus.printed)[-1] == "Хлiб житнiй"


def test_a_printer_that_never_answers_dle_eot_is_not_asked_again(
    bus: FakeUsbBus, printer: ReceiptPrinter
) -> None:
    bus.answers_dle_eot = False
    assert printer.status() == "ok"
    asked = len(bus.read_timeouts)
    assert asked == 1  # one unanswered request, then port status for the rest
    assert printer.status() == "ok"
    assert len(bus.read_timeouts) == asked


def test_a_vendor_specific_printer_without_dle_eot_is_unknown(bus: FakeUsbBus, printer: ReceiptPrinter) -> None:
    # No printer-class interface to ask either: "offline" on status, and a receipt is still tried.
    bus.interface_class = CLASS_VENDOR
    bus.answers_dle_eot = False
    assert printer.status() == "offline"
    assert bus.control_requests == []
    printer.print_lines(RECEIPT)
    assert texts(bus.printed)[-1] == "Хлiб житнiй"


def test_port_status_not_supported_is_unknown(bus: FakeUsbBus, printer: ReceiptPrinter) -> None:
    bus.answers_dle_eot = False
    bus.port_status = None  # the printer stalls the request
    assert printer.status() == "offline"
    printer.print_lines(RECEIPT)


def test_port_status_answers_dle_eot_in_its_own_form() -> None:
    ask = {n: b"\x10\x04" + bytes([n]) for n in (1, 2, 3, 4)}
    as_dle_eot = printer_mod._as_dle_eot
    assert [as_dle_eot(ask[n], PORT_OK) for n in (1, 2, 4)] == [b"\x12"] * 3
    assert as_dle_eot(ask[1], PORT_PAPER_EMPTY) == b"\x1a"  # bit 3: offline
    assert as_dle_eot(ask[2], PORT_PAPER_EMPTY) == b"\x32"  # bit 5: stopped at the paper end
    assert as_dle_eot(ask[4], PORT_PAPER_EMPTY) == b"\x72"  # bits 5-6: roll end
    assert as_dle_eot(ask[2], 0x10) == b"\x52"  # bit 6: an error
    assert as_dle_eot(ask[3], PORT_OK) == b""  # the error cause is not in port status


# --- plugged in late, unplugged, plugged back -------------------------------------------------------


def test_a_printer_plugged_in_after_start_is_picked_up(bus: FakeUsbBus) -> None:
    bus.unplug()
    with ReceiptPrinter("usb", vendor_id=0x0416, product_id=0x5011) as p:
        assert p.status() == "offline"
        with pytest.raises(PrinterOffline, match="plugged in"):
            p.print_lines(RECEIPT)
        bus.plug()
        assert p.status() == "ok"
        p.print_lines(RECEIPT)
    assert texts(bus.printed)[-1] == "Хлiб житнiй"


def test_an_unplug_mid_life_is_offline_and_the_next_call_reopens(bus: FakeUsbBus, printer: ReceiptPrinter) -> None:
    printer.print_lines(RECEIPT)
    bus.unplug()
    with pytest.raises(PrinterOffline):
        printer.print_lines(RECEIPT)
    assert printer.status() == "offline"
    bus.plug()  # a new address: the old handle stays dead, the printer must be found again
    assert printer.status() == "ok"
    printer.print_lines(RECEIPT)
    assert texts(bus.printed).count("Хлiб житнiй") == 2


def test_a_status_poll_on_an_unplugged_printer_is_offline(bus: FakeUsbBus, printer: ReceiptPrinter) -> None:
    assert printer.status() == "ok"
    bus.unplug()  # the handle is open: the DLE EOT request itself meets ENODEV
    assert printer.status() == "offline"
    bus.plug()
    assert printer.status() == "ok"


def test_an_unplug_between_status_and_receipt_is_offline(bus: FakeUsbBus, printer: ReceiptPrinter) -> None:
    assert printer.status() == "ok"
    bus.unplug()
    bus.plug()  # replugged while idle: the open handle is stale
    printer.check_paper = False
    with pytest.raises(PrinterOffline, match="No such device"):
        printer.print_lines(RECEIPT)
    printer.print_lines(RECEIPT)


def test_the_print_service_follows_the_plug(bus: FakeUsbBus) -> None:
    bus.unplug()
    printer = ReceiptPrinter("usb", vendor_id=0x0416, product_id=0x5011)
    service = PrintService(printer, status_every_s=0.02, retry_s=0.02, max_retry_s=0.05)
    try:
        wait_for(lambda: service.state == "offline", timeout=10, what="the service sees the printer offline")
        bus.plug()
        wait_for(lambda: service.state == "ok", timeout=10, what="the service sees the printer plugged in")
        service.print_now(Layout(48, [LayoutText("X-ЗВІТ")]))
        assert "X-ЗВIТ" in texts(bus.printed)
    finally:
        service.close()
        printer.close()


# --- from the configuration -------------------------------------------------------------------------

CONFIG = MINIMAL + """
[printer]
kind = "usb"
vendor_id = "0416"
product_id = 0x5011
"""


def test_the_configured_ids_and_endpoints_reach_the_device(bus: FakeUsbBus) -> None:
    service = build_printing(parse_config(CONFIG))
    assert service is not None
    try:
        service.print_now(Layout(48, [LayoutText("Z-ЗВІТ")]))
        assert "Z-ЗВIТ" in texts(bus.printed)
    finally:
        service.close()
        service.printer.close()
    # An OUT endpoint the printer does not have: pyusb's "invalid endpoint" proves it got there.
    service = build_printing(parse_config(CONFIG + "usb_out_ep = 0x02\nusb_in_ep = 0x81\n"))
    assert service is not None
    try:
        with pytest.raises(PrinterError, match="0x2"):
            service.print_now(Layout(48, [LayoutText("Z-ЗВІТ")]))
    finally:
        service.close()
        service.printer.close()
