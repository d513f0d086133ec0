"""The ESC/POS receipt printer driver: bytes decoded back to what a printer would print.

Every test reads the bytes as a printer would -- control sequences stripped and interpreted, text
decoded with the selected code page -- so a wrong code page or a lost line shows up as a wrong string.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.drawer import CashDrawer
from drivers.printer import (
    FALLBACK,
    Cut,
    Feed,
    PaperOut,
    PrinterError,
    PrinterOffline,
    PrinterTimeout,
    PrintLine,
    Qr,
    ReceiptPrinter,
    Rule,
    Text,
    columns_for,
    transliterate,
)
from tests.escpos_decode import Printed, decode
from tests.waiting import wait_for

QR_URL = "https://cabinet.tax.gov.ua/cashregs/check?fn=4000000001&id=123&sm=57.00&time=101500&date=20261125"

RECEIPT: list[PrintLine] = [
    Text("ФІСКАЛЬНИЙ ЧЕК", "center", bold=True, double=True),
    Text("Хліб житній"),
    Text("ДО СПЛАТИ 57.00 грн", "right", bold=True),
    Rule("="),
    Text("ЄЇІҐ єїіґ"),
    Qr(QR_URL),
    Feed(2),
    Cut(),
]

def check_receipt(printed: Printed, *, codepage_number: int = 17) -> None:
    assert printed.events[0] == ("init", None)
    assert printed.events[1] == ("codepage", codepage_number)
    assert printed.lines == [
        ("ФIСКАЛЬНИЙ ЧЕК", "center", True, True),
        ("Хлiб житнiй", "left", False, False),
        ("ДО СПЛАТИ 57.00 грн", "right", True, False),
        ("=" * 48, "left", False, False),
        ("ЄЇIГ єїiг", "left", False, False),
    ]
    assert printed.qr_data == [QR_URL]
    kinds = [k for k, _ in printed.events]
    assert kinds.index("qr_store") < kinds.index("qr_print")
    # The QR is centred, then the two fed lines, and the cut is the very last command.
    before_qr = printed.events[: kinds.index("qr_store")]
    assert [e for e in before_qr if e[0] == "align"][-1] == ("align", "center")
    assert ("feed", 2) in printed.events
    assert printed.events[-1] == ("cut", 0)


# --- rendering and encoding -----------------------------------------------------------------------


def test_dummy_receipt_decodes_back_to_the_lines() -> None:
    printer = ReceiptPrinter("dummy")
    printer.print_lines(RECEIPT)
    check_receipt(decode(printer.output))


def test_cp866_prints_ukrainian_letters_it_lacks_as_documented() -> None:
    # CP866 has Є є Ї ї but not І і Ґ ґ: those go out as Latin I i and Г г.
    for ch in "ЄєЇї":
        ch.encode("cp866")
    for ch in "ІіҐґ":
        with pytest.raises(UnicodeEncodeError):
            ch.encode("cp866")
    assert transliterate("ЄЇІҐ єїіґ", "CP866") == "ЄЇIГ єїiг"
    assert FALLBACK["І"] == "I"
    assert transliterate("м’ясо «Ромашка» — 5 ₴ ☃", "CP866") == 'м\'ясо "Ромашка" - 5 грн ?'
    # A till's product name cannot smuggle ESC/POS commands (here: a drawer kick) onto the wire.
    assert transliterate("Хліб\x1bp\x00\x10\x04", "CP866") == "Хлiб p   "


def test_cp1125_keeps_every_ukrainian_letter() -> None:
    printer = ReceiptPrinter("dummy", codepage="CP1125", width_mm=58)
    printer.print_lines([Text("ЄЇІҐ єїіґ"), Text("ФІСКАЛЬНИЙ ЧЕК", "center")])
    printed = decode(printer.output)
    assert printed.events[1] == ("codepage", 44)
    assert printed.texts == ["ЄЇІҐ єїіґ", "ФІСКАЛЬНИЙ ЧЕК"]


def test_cp1251_is_selectable() -> None:
    printer = ReceiptPrinter("dummy", codepage="CP1251")
    printer.print_lines([Text("Ґудзик і їжак")])
    printed = decode(printer.output)
    assert printed.events[1] == ("codepage", 46)
    assert printed.texts == ["Ґудзик і їжак"]


def test_width_from_paper_and_long_text_wraps_never_cuts() -> None:
    assert columns_for(58) == 32 and columns_for(80) == 48
    with pytest.raises(ValueError):
        columns_for(76)
    printer = ReceiptPrinter("dummy", width_mm=58)
    assert printer.width == 32 and printer.columns(double=True) == 16
    name = "Хліб житній нарізний у вакуумній упаковці ТОВ Київхліб"
    printer.print_lines([Text(name), Text("ДО СПЛАТИ 1057.00 грн", double=True)], cut=False)
    printed = decode(printer.output)
    plain = [t for t, _, _, d in printed.lines if not d]
    big = [t for t, _, _, d in printed.lines if d]
    assert all(len(t) <= 32 for t in plain) and " ".join(plain) == transliterate(name)
    assert all(len(t) <= 16 for t in big) and " ".join(big) == "ДО СПЛАТИ 1057.00 грн"
    assert not any(k == "cut" for k, _ in printed.events)


def test_prelaid_columns_come_out_unchanged() -> None:
    # The agent lays out label/value pairs itself; a line that fits is printed byte for byte.
    pair = "ДО СПЛАТИ" + " " * 20 + "57.00 грн"
    assert len(pair) == 38
    printer = ReceiptPrinter("dummy", width_mm=80)
    printer.print_lines([Text(pair), Text("  Знижка 10.00%" + " " * 27 + "-5.70"), Text("")], cut=False)
    assert decode(printer.output).texts == [pair, "  Знижка 10.00%" + " " * 27 + "-5.70"]
    assert [e for e in decode(printer.output).events if e[0] == "text"][-1] == ("text", "")


def test_style_is_reset_on_every_line() -> None:
    printer = ReceiptPrinter("dummy")
    printer.print_lines([Text("А", "center", bold=True, double=True), Text("Б")])
    assert decode(printer.output).lines == [("А", "center", True, True), ("Б", "left", False, False)]


def test_qr_falls_back_to_an_image_without_native_qr() -> None:
    printer = ReceiptPrinter("dummy", profile="ZJ-5870", width_mm=58)  # a profile without qrCode
    printer.print_lines([Qr(QR_URL, size=4)])
    printed = decode(printer.output)
    assert printed.qr_data == []
    assert any(k == "raster" for k, _ in printed.events)


def test_kick_drawer_emits_esc_p() -> None:
    printer = ReceiptPrinter("dummy")
    printer.kick_drawer()
    printer.kick_drawer(pin=5)
    assert printer.output == b"\x1bp\x00\x32\x32\x1bp\x01\x32\x32"
    with pytest.raises(ValueError):
        printer.kick_drawer(pin=3)  # type: ignore[arg-type]


def test_importing_the_driver_does_not_leak_temp_dirs(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", "import drivers.printer"],
            check=True,
            env=env,
            cwd=Path(__file__).parents[1],
        )
    assert [p.name for p in tmp_path.iterdir()] == [f"fiscal-box-escpos-{os.getuid()}"]


def test_exception_tree() -> None:
    assert issubclass(PrinterOffline, PrinterError) and issubclass(PrinterOffline, ConnectionError)
    assert issubclass(PrinterTimeout, PrinterError) and issubclass(PrinterTimeout, TimeoutError)
    assert issubclass(PaperOut, PrinterError)


def test_bad_arguments_are_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        ReceiptPrinter("serial")
    with pytest.raises(ValueError):
        ReceiptPrinter("network")
    with pytest.raises(ValueError):
        ReceiptPrinter("dummy", codepage="CP437")
    with pytest.raises(ValueError):
        ReceiptPrinter("lp")  # type: ignore[arg-type]


# --- file -------------------------------------------------------------------------------------------


def test_file_printer_appends_whole_receipts(tmp_path: Path) -> None:
    target = tmp_path / "receipts.escpos"
    target.write_bytes(b"")
    printer = ReceiptPrinter("file", path=target)
    assert printer.status() == "ok"
    printer.print_lines(RECEIPT)
    first = target.read_bytes()
    check_receipt(decode(first))
    printer.close()
    # A new printer (an agent restart) appends instead of truncating.
    again = ReceiptPrinter("file", path=target)
    again.print_lines(RECEIPT)
    again.kick_drawer()
    data = target.read_bytes()
    assert data.startswith(first) and data[len(first) :].startswith(b"\x1b@")
    assert data.endswith(b"\x1bp\x00\x32\x32")
    assert decode(data).qr_data == [QR_URL, QR_URL]


def test_file_printer_in_a_missing_directory_is_offline(tmp_path: Path) -> None:
    printer = ReceiptPrinter("file", path=tmp_path / "no" / "such" / "dir")
    assert printer.status() == "offline"
    with pytest.raises(PrinterOffline):
        printer.print_lines(RECEIPT)
    (tmp_path / "no" / "such" / "dir").parent.mkdir(parents=True)
    printer.print_lines(RECEIPT)  # reconnects on the next call
    assert printer.status() == "ok"


def test_dummy_status_is_ok() -> None:
    assert ReceiptPrinter("dummy").status() == "ok"


# --- network ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeNetworkPrinter:
    """A TCP printer on 127.0.0.1 that records what it gets and answers DLE EOT like a real one."""

    def __init__(self, port: int = 0, replies: dict[int, int] | None = None) -> None:
        self.replies = replies if replies is not None else {1: 0x12, 2: 0x12, 4: 0x12}
        self.received = bytearray()
        self.ended = 0  # connections the client closed (everything it sent on them is in ``received``)
        self.sock = socket.create_server(("127.0.0.1", port))
        self.port = int(self.sock.getsockname()[1])
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.05)
                while not self._stop:
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        continue
                    if not chunk:
                        self.ended += 1
                        break
                    self.received += chunk
                    answer_status(chunk, self.replies, conn.sendall)

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()


def answer_status(chunk: bytes, replies: dict[int, int], send: object) -> None:
    """Answer DLE EOT n from ``replies[n]``, and GS r 1 (the box's confirmation) with paper present when the
    printer answers at all (``replies`` not empty)."""
    start = 0
    while (i := chunk.find(b"\x10\x04", start)) >= 0 and i + 2 < len(chunk):
        n = chunk[i + 2]
        if n in replies:
            send(bytes([replies[n]]))  # type: ignore[operator]
        start = i + 3
    if replies and b"\x1dr\x01" in chunk:
        send(b"\x00")  # type: ignore[operator]


@pytest.fixture
def net_printer() -> Iterator[FakeNetworkPrinter]:
    fake = FakeNetworkPrinter()
    yield fake
    fake.close()


def _strip_status_requests(printed: Printed) -> Printed:
    printed.events = [e for e in printed.events if e[0] not in ("status_request", "confirm_request")]
    return printed


def test_network_printer_prints_and_reports_ok(net_printer: FakeNetworkPrinter) -> None:
    printer = ReceiptPrinter("network", host="127.0.0.1", port=net_printer.port, timeout_s=1)
    assert printer.status() == "ok"
    printer.print_lines(RECEIPT)
    printer.close()
    wait_for(lambda: b"\x1dV\x00" in net_printer.received, what="the receipt's cut")
    check_receipt(_strip_status_requests(decode(bytes(net_printer.received))))


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        ({1: 0x12, 2: 0x12, 4: 0x72}, "paper_out"),  # roll sensor: paper end
        ({1: 0x1A, 2: 0x16, 4: 0x12}, "cover_open"),  # offline, cause: cover open
        ({1: 0x1A, 2: 0x52, 4: 0x12}, "error"),  # offline, cause: error occurred
        ({1: 0x12, 2: 0x12, 4: 0x1E}, "ok"),  # near end is still printing
        ({1: 0x00, 2: 0x00, 4: 0x00}, "ok"),  # a clone without the fixed bits
        ({}, "offline"),  # connected, but nothing answers
    ],
)
def test_network_status_from_the_printers_answers(replies: dict[int, int], expected: str) -> None:
    fake = FakeNetworkPrinter(replies=replies)
    try:
        printer = ReceiptPrinter("network", host="127.0.0.1", port=fake.port, status_timeout_s=0.2)
        assert printer.status() == expected
    finally:
        fake.close()


def test_paper_out_refuses_the_receipt_before_sending_it() -> None:
    fake = FakeNetworkPrinter(replies={1: 0x12, 2: 0x12, 4: 0x72})
    try:
        printer = ReceiptPrinter("network", host="127.0.0.1", port=fake.port, timeout_s=1)
        with pytest.raises(PaperOut):
            printer.print_lines(RECEIPT)
        printer.close()
        wait_for(lambda: fake.ended >= 1, what="the printer's connection closed")
        assert b"\x1b@" not in fake.received
    finally:
        fake.close()


def test_network_printer_on_a_closed_port_is_offline_fast() -> None:
    # A refused connection is offline at once, not after the timeout: with a timeout longer than the
    # test may wait, the three calls are over while it waits.
    port = _free_port()
    printer = ReceiptPrinter("network", host="127.0.0.1", port=port, timeout_s=600, status_timeout_s=600)
    outcome: list[object] = []

    def calls() -> None:
        try:
            with pytest.raises(PrinterOffline):
                printer.print_lines(RECEIPT)
            with pytest.raises(ConnectionError):
                printer.kick_drawer()
            outcome.append(printer.status())
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    threading.Thread(target=calls, daemon=True).start()
    assert wait_for(lambda: outcome, what="a closed port found offline") == ["offline"], outcome
    # The printer comes back on the same port: the next call reconnects by itself.
    fake = FakeNetworkPrinter(port=port)
    try:
        assert printer.status() == "ok"
        printer.print_lines(RECEIPT)
    finally:
        printer.close()
        fake.close()


# --- serial on a pseudo-terminal ----------------------------------------------------------------------


class FakeSerialPrinter:
    """The master side of a pty: records bytes and answers DLE EOT when ``replies`` says so."""

    def __init__(self, replies: dict[int, int] | None = None) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.slave_name = os.ttyname(slave)
        self._slave = slave  # kept open so the pty survives between opens of the port
        self.replies = replies or {}
        self.received = bytearray()
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            self.received += chunk
            answer_status(chunk, self.replies, lambda b: os.write(self.master, b))

    def wait_for(self, tail: bytes) -> bytes:
        wait_for(lambda: bytes(self.received).endswith(tail), what=f"the printer to receive {tail!r}")
        return bytes(self.received)

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def pty_printer() -> Iterator[FakeSerialPrinter]:
    fake = FakeSerialPrinter(replies={1: 0x12, 2: 0x12, 4: 0x12})
    yield fake
    fake.close()


def test_serial_printer_on_a_pty(pty_printer: FakeSerialPrinter) -> None:
    printer = ReceiptPrinter("serial", port=pty_printer.slave_name, baudrate=115200, timeout_s=2)
    assert printer.status() == "ok"
    printer.print_lines(RECEIPT)
    printer.kick_drawer()
    data = pty_printer.wait_for(b"\x1bp\x00\x32\x32")
    printer.close()
    printed = _strip_status_requests(decode(data))
    assert printed.events[-1] == ("drawer", (0, 50, 50))
    printed.events.pop()
    check_receipt(printed)


def test_serial_printer_that_never_answers_still_prints() -> None:
    # Many serial cables carry TX only: no status answer must not stop printing.
    fake = FakeSerialPrinter(replies={})
    try:
        printer = ReceiptPrinter("serial", port=fake.slave_name, status_timeout_s=0.1)
        assert printer.status() == "offline"
        printer.print_lines(RECEIPT)
        check_receipt(_strip_status_requests(decode(fake.wait_for(b"\x1dV\x00"))))
        # It took a receipt: its silence is the cable's, not a fault (no ok/offline flapping per poll).
        assert printer.status() == "ok"
        printer.close()
    finally:
        fake.close()


def test_serial_paper_out_and_missing_port(tmp_path: Path) -> None:
    fake = FakeSerialPrinter(replies={1: 0x12, 2: 0x12, 4: 0x72})
    try:
        printer = ReceiptPrinter("serial", port=fake.slave_name)
        assert printer.status() == "paper_out"
        with pytest.raises(PaperOut):
            printer.print_lines(RECEIPT)
        printer.close()
    finally:
        fake.close()
    gone = ReceiptPrinter("serial", port=str(tmp_path / "ttyUSB9"))
    assert gone.status() == "offline"
    with pytest.raises(PrinterOffline):
        gone.print_lines(RECEIPT)


def test_serial_write_that_stalls_is_a_timeout() -> None:
    # Nobody reads the pty: its buffer fills and the write must give up instead of hanging.
    master, slave = os.openpty()
    try:
        printer = ReceiptPrinter(
            "serial", port=os.ttyname(slave), baudrate=4000000, timeout_s=0.2, check_paper=False
        )
        lines: list[PrintLine] = [Text("Ш" * 48)] * 4000
        raised: list[BaseException] = []

        def write() -> None:
            try:
                printer.print_lines(lines)
            except BaseException as exc:  # handed to the test's thread
                raised.append(exc)

        threading.Thread(target=write, daemon=True).start()
        stalled = wait_for(lambda: raised, what="the stalled write to give up")  # it hangs otherwise
        assert isinstance(stalled[0], PrinterTimeout), stalled
        printer.close()
    finally:
        os.close(master)
        os.close(slave)


# --- cash drawer ----------------------------------------------------------------------------------------


def test_drawer_through_the_printer() -> None:
    printer = ReceiptPrinter("dummy")
    CashDrawer("printer", printer=printer).open()
    CashDrawer("printer", printer=printer, pin=5).open()
    assert [e for e in decode(printer.output).events] == [("drawer", (0, 50, 50)), ("drawer", (1, 50, 50))]
    with pytest.raises(ValueError):
        CashDrawer("printer")


def test_drawer_on_a_gpio_pin() -> None:
    factory = MockFactory()
    drawer = CashDrawer("gpio", pin=22, pulse_s=0.05, pin_factory=factory)
    drawer.open()
    pin = factory.pin(22)
    pin.assert_states([False, True, False])
    assert sum(s.timestamp for s in pin.states[2:]) >= 0.04  # held for the pulse
    drawer.close()
    with pytest.raises(ValueError):
        CashDrawer("gpio", pin=22, pulse_s=5)
