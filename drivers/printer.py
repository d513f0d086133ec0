"""ESC/POS receipt printer: a small device class over python-escpos back-ends.

API:

* Line model (the driver's own; the agent converts its layouts into it): :class:`Text`, :class:`Qr`,
  :class:`Rule`, :class:`Feed`, :class:`Cut`; ``PrintLine`` is their union.
* ``ReceiptPrinter(kind, ...)`` with ``kind`` one of ``usb | serial | network | file | dummy``:
  ``print_lines(lines)``, ``kick_drawer(pin=2)``, ``status()``, ``render(lines)``, ``width``,
  ``columns(double)``, ``output`` (dummy only), ``close()``.
* Exceptions: :class:`PrinterError` and its leaves :class:`PrinterOffline` (also ``ConnectionError``),
  :class:`PaperOut`, :class:`CoverOpen`, :class:`PrinterTimeout` (also ``TimeoutError``),
  :class:`PrintInterrupted`. Each says in ``maybe_printed`` whether part of the job may be on paper.
* ``STATUSES``: what ``status()`` may answer -- ``ok | paper_out | cover_open | offline | error``;
  ``warning``: ``paper_near_end`` or None, from the last status the printer gave.

A receipt is confirmed, not assumed: a printer that answers status gets the receipt followed by
``GS r 1``, which -- unlike the real-time ``DLE EOT`` -- it answers only once everything before it was
processed. No answer, or a paper end or open cover afterwards, is :class:`PrintInterrupted`: the receipt
may be cut short and must be printed again (as a copy). A printer that answered status once and then falls
silent is switched off or stalled: :class:`PrinterOffline`, and nothing is sent into the void. A printer that
never answers (a serial cable that carries TX only) is printed to blind, as before.

Text encoding: Cyrillic goes out in one fixed code page selected with ``ESC t`` right after ``ESC @``
(CP866 by default, CP1125 or CP1251 on request), never python-escpos's "magic" guessing, which picks
the first page of the profile that has a letter and may switch pages mid-line. CP866 lacks the
Ukrainian І і Ґ ґ; :data:`FALLBACK` prints them as the Latin I i and Г г (І/I are the same glyph
in printer fonts). Anything a page still cannot encode prints as ``?``; ``transliterate(text)`` shows
what will be printed.

This module imports nothing from ``agent``: drivers are leaves.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import os
import socket
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import usb.backend.libusb1
import usb.core

# python-escpos pickles its capability database into a temp directory at import. The documented knob,
# ESCPOS_CAPABILITIES_PICKLE_DIR, is not enough: 3.1 evaluates ``environ.get(..., mkdtemp())``, so a
# fresh empty directory is made on every import anyway -- a slow leak of /tmp on a box that restarts
# for years. So set the variable, and make that one mkdtemp() call return the same directory too.
# Per user: a directory another account created first would not be writable, and escpos would fail.
_PICKLE_DIR = Path(tempfile.gettempdir()) / f"fiscal-box-escpos-{os.getuid()}"
_PICKLE_DIR.mkdir(mode=0o700, exist_ok=True)
os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(_PICKLE_DIR))


@contextlib.contextmanager
def _no_escpos_tempdir() -> Iterator[None]:
    if "escpos.capabilities" in sys.modules:
        yield
        return
    real = tempfile.mkdtemp

    def same_dir(*args: Any, **kwargs: Any) -> str:
        return str(_PICKLE_DIR)

    tempfile.mkdtemp = same_dir  # type: ignore[assignment]
    try:
        yield
    finally:
        tempfile.mkdtemp = real


with _no_escpos_tempdir():
    from escpos import capabilities as _caps
    from escpos.constants import DLE
    from escpos.exceptions import DeviceNotFoundError
    from escpos.printer import Dummy, File, Network, Serial
    from escpos.printer import usb as _escpos_usb

__all__ = [
    "CODEPAGES",
    "FALLBACK",
    "STATUSES",
    "CoverOpen",
    "Cut",
    "Feed",
    "PaperOut",
    "PrintInterrupted",
    "PrintLine",
    "PrinterError",
    "PrinterOffline",
    "PrinterTimeout",
    "Qr",
    "ReceiptPrinter",
    "Rule",
    "Status",
    "Text",
    "columns_for",
    "transliterate",
]

Kind = Literal["usb", "serial", "network", "file", "dummy"]
Align = Literal["left", "center", "right"]
Status = Literal["ok", "paper_out", "cover_open", "offline", "error"]
STATUSES: Final[tuple[Status, ...]] = ("ok", "paper_out", "cover_open", "offline", "error")

# --- exceptions ---------------------------------------------------------------------------------


class PrinterError(Exception):
    """Any failure to print; the receipt may not be on paper.

    ``maybe_printed``: some of the job may have reached paper (the failure came after the first byte went
    out), so printing it again must not pass for the first print; False when nothing was sent.
    """

    maybe_printed: bool = False


class PrinterOffline(PrinterError, ConnectionError):
    """The printer cannot be reached: unplugged, switched off, wrong address, connection lost."""


class PaperOut(PrinterError):
    """The printer reports no paper; nothing was sent."""


class CoverOpen(PrinterError):
    """The printer reports its cover open; nothing was sent."""


class PrinterTimeout(PrinterError, TimeoutError):
    """The printer stopped accepting data within the timeout; part of the receipt may be printed."""

    maybe_printed = True


class PrintInterrupted(PrinterError):
    """The printer took the receipt but did not confirm printing it all: paper ran out or the cover opened
    on the way, or it fell silent. ``state`` is what it reports now (a :data:`STATUSES` value)."""

    maybe_printed = True

    def __init__(self, message: str, state: Status) -> None:
        super().__init__(message)
        self.state: Status = state


# --- the line model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """One paragraph; longer than the line it wraps at spaces (never cut) on the printer's columns."""

    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False  # double width and height: half the columns


@dataclass(frozen=True)
class Qr:
    """A centred QR code; ``size`` is the module size in dots (1-16)."""

    data: str
    size: int = 6


@dataclass(frozen=True)
class Rule:
    """A full-width line of ``char``."""

    char: str = "-"


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    partial: bool = False


PrintLine = Text | Qr | Rule | Feed | Cut

# --- text encoding ------------------------------------------------------------------------------

# Code pages a Ukrainian receipt can use, with their Python codec; the ESC t number comes from the
# printer profile. CP866 is first because every Cyrillic-capable profile in escpos-printer-db has it.
CODEPAGES: Final[dict[str, str]] = {"CP866": "cp866", "CP1125": "cp1125", "CP1251": "cp1251"}

# Substitutes for characters a code page lacks, tried only when the character itself cannot be
# encoded. І/і are printed as the Latin letters, which look the same in printer fonts; Ґ/ґ lose the
# upturn (Г/г), the usual practice on CP866 printers. Typography a till may send comes down to ASCII.
FALLBACK: Final[dict[str, str]] = {
    "І": "I",
    "і": "i",
    "Ґ": "Г",
    "ґ": "г",
    "Ї": "I",  # only reached on a page without Ї (none of CODEPAGES)
    "ї": "i",
    "Є": "Е",
    "є": "е",
    "’": "'",
    "ʼ": "'",
    "‘": "'",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "„": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "\u00a0": " ",
    "₴": "грн",
}


def _encodable(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def transliterate(text: str, codepage: str = "CP866") -> str:
    """The text as it will be printed in ``codepage``: :data:`FALLBACK` for letters the page lacks,
    ``?`` for anything else it cannot encode, a space for control characters."""
    codec = CODEPAGES[codepage]
    out = []
    for ch in text:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            # A control byte from a product name would be an ESC/POS command to the printer.
            out.append(" ")
        elif ord(ch) < 128 or _encodable(ch, codec):
            out.append(ch)
        else:
            sub = FALLBACK.get(ch, "?")
            out.append(sub if all(_encodable(c, codec) for c in sub) else "?")
    return "".join(out)


# --- geometry -----------------------------------------------------------------------------------

_COLUMNS: Final[dict[int, int]] = {58: 32, 80: 48}  # Font A, 12x24 dots
_DOTS: Final[dict[int, int]] = {58: 384, 80: 576}  # printable width at 203 dpi


def columns_for(width_mm: int) -> int:
    try:
        return _COLUMNS[width_mm]
    except KeyError:
        raise ValueError(f"paper width must be 58 or 80 mm, got {width_mm}") from None


def _profile(name: str, width_mm: int) -> Any:
    """A copy of a capability profile with the paper's geometry filled in.

    Without a pixel width python-escpos prints a notice to stdout on every image and cannot centre an
    image QR; the shared profile data must not be changed, hence the copy. It has to be a
    ``Profile`` subclass: python-escpos takes any other object for a profile name.
    """
    base = _caps.get_profile_class(name)
    data = copy.deepcopy(base.profile_data)
    data.setdefault("media", {})["width"] = {"mm": width_mm, "pixels": _DOTS[width_mm]}
    data["media"]["dpi"] = 203
    columns = _COLUMNS[width_mm]

    def init(self: Any) -> None:
        self.columns = columns
        self.features = data.get("features", {})

    cls = type(f"FiscalBox{base.__name__}", (_caps.Profile,), {"profile_data": data, "__init__": init})
    return cls()


# --- back-ends ----------------------------------------------------------------------------------


class _AppendFile(File):  # type: ignore[misc]
    """python-escpos File truncates on open; a receipt log (or a device file) must be appended to."""

    def open(self, raise_not_found: bool = True) -> None:
        try:
            self.device = open(self.devfile, "ab")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise DeviceNotFoundError(f"cannot open {self.devfile}: {e}") from e


class _Serial(Serial):  # type: ignore[misc]
    """Serial with a write deadline and a status read that returns on the first byte."""

    status_timeout: float = 0.5

    def _raw(self, msg: bytes) -> None:
        assert self.device
        # Without a write timeout pyserial blocks for as long as the port does not drain (flow control
        # held, a USB-serial adapter wedged). The deadline covers the wire time of the whole message.
        self.device.write_timeout = self.timeout + len(msg) * 10 / self.baudrate
        self.device.write(msg)
        self.device.flush()

    def _read(self) -> bytes:
        assert self.device
        # Status replies are one byte; read(16) would wait out the whole timeout every time.
        self.device.timeout = self.status_timeout
        return bytes(self.device.read(1))


class _Network(Network):  # type: ignore[misc]
    status_timeout: float = 0.5

    def open(self, raise_not_found: bool = True) -> None:
        # escpos's own open() drops the socket unclosed when connect() fails: one fd per retry.
        try:
            self.device = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise DeviceNotFoundError(f"cannot connect to {self.host}:{self.port}: {e}") from e

    def _read(self) -> bytes:
        assert self.device
        self.device.settimeout(self.status_timeout)
        try:
            return bytes(self.device.recv(16))
        except TimeoutError:
            return b""
        finally:
            self.device.settimeout(self.timeout)


def _usb_backend() -> Any:
    """The pyusb back-end USB printers are found through: libusb-1.0, None when it is not installed.

    pyusb's own seam: the tests put a simulated bus here (tests/usb_backend.py). Only libusb-1.0,
    not pyusb's libusb0/openusb fallbacks, because python-escpos detaches the kernel's usblp driver
    only on libusb-1.0, and a printer usblp holds cannot be claimed.
    """
    return usb.backend.libusb1.get_backend()


def _usb_printer_class(dev: Any) -> bool:
    return any(intf.bInterfaceClass == _USB_CLASS_PRINTER for cfg in dev for intf in cfg)


_USB_CLASS_PRINTER: Final = 7
# USB printer class GET_PORT_STATUS (class spec 1.1, 4.2.2): class request to the interface, one byte
# laid out like a parallel port's status lines.
_GET_PORT_STATUS: Final = (0xA1, 1)
_PORT_PAPER_EMPTY: Final = 0x20
_PORT_SELECTED: Final = 0x10
_PORT_NOT_ERROR: Final = 0x08
_DLE_EOT_FIXED: Final = 0x12  # bits 1 and 4 are always set in a DLE EOT reply
# Bytes a USB printer is assumed to drain per millisecond at the least, on top of the write timeout:
# a long receipt, a raster QR above all, takes longer to print than a short one (about 30 kB/s for a
# raster at 50 mm/s on 80 mm paper). libusb's timeout covers the whole transfer.
_USB_BYTES_PER_MS: Final = 16


class _Usb(_escpos_usb.Usb):  # type: ignore[misc]
    """Usb that finds the device on :func:`_usb_backend`, bounds every transfer and answers status.

    Status: DLE EOT on bulk OUT/IN where the printer answers it; a printer that does not (no IN
    endpoint, no reply) is asked with the printer class's GET_PORT_STATUS instead, and the reply is
    given in the DLE EOT form the caller reads. Port status knows paper empty, offline and error, not
    a cover open nor a near-end sensor.
    """

    status_timeout: float = 0.5
    # None: not known yet; False: it did not answer DLE EOT on bulk IN, so it is not asked again
    # (each unanswered request waits out the status timeout). Forgotten on reopening.
    _dle_eot: bool | None = None

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        backend = _usb_backend()
        if backend is None:
            raise PrinterError(
                "USB printers need libusb-1.0, which is not installed: apt install libusb-1.0-0"
            )
        found = usb.core.find(backend=backend, **self.usb_args)
        if found is None:
            raise DeviceNotFoundError(self._not_found())
        self.device = found
        self._dle_eot = None
        self._check_driver()
        self._configure_usb()

    def _not_found(self) -> str:
        vendor, product = self.usb_args.get("idVendor"), self.usb_args.get("idProduct")
        if vendor is None and product is None:
            return (
                "no USB printer-class device found; a vendor-specific printer needs vendor_id and"
                " product_id in [printer] (lsusb shows them as vendor:product)"
            )
        ids = ":".join("*" if v is None else f"{v:04x}" for v in (vendor, product))
        return f"no USB device {ids}: is the printer plugged in and switched on? (lsusb lists it)"

    def _status_ms(self) -> int:
        return max(1, int(self.status_timeout * 1000))

    def _raw(self, msg: bytes) -> None:
        assert self.device
        timeout = self.timeout + len(msg) // _USB_BYTES_PER_MS
        # libusb reports a timeout after part of the data went out as a short write, not an error.
        written = self.device.write(self.out_ep, msg, timeout)
        if written < len(msg):
            raise PrinterTimeout(
                f"usb printer took {written} of {len(msg)} bytes within {timeout} ms;"
                " part of the receipt may be printed"
            )

    def _read(self) -> bytes:
        assert self.device
        # pyusb's default read timeout is a second; a printer answers DLE EOT in milliseconds.
        return bytes(self.device.read(self.in_ep, 16, self._status_ms()))

    @property
    def reads_replies(self) -> bool:
        """Does it answer on bulk IN (so that a print confirmation can be read back)?"""
        return self._dle_eot is True

    def query_status(self, mode: bytes) -> bytes:
        assert self.device
        if self._dle_eot is not False:
            reply = b""
            try:
                # The request gets the status timeout too: a printer whose buffer is full (no paper)
                # may not take it, and then the port status is the one answer left.
                self.device.write(self.out_ep, mode, self._status_ms())
            except usb.core.USBTimeoutError:
                pass
            else:
                try:
                    reply = self._read()
                except usb.core.USBTimeoutError:
                    pass
                except ValueError:  # pyusb: the printer has no endpoint in_ep
                    self._dle_eot = False
                if reply:
                    self._dle_eot = True
                    return reply
                if self._dle_eot is None:
                    self._dle_eot = False
        port = self._port_status()
        return b"" if port is None else _as_dle_eot(mode, port)

    def _port_status(self) -> int | None:
        """GET_PORT_STATUS from the printer-class interface; None without one or an answer."""
        assert self.device
        cfg = self.device.get_active_configuration()
        number = next((i.bInterfaceNumber for i in cfg if i.bInterfaceClass == _USB_CLASS_PRINTER), None)
        if number is None:
            return None
        try:
            reply = self.device.ctrl_transfer(*_GET_PORT_STATUS, 0, number, 1, self._status_ms())
        except usb.core.USBTimeoutError:
            return None
        except usb.core.USBError as e:
            if e.errno == errno.EPIPE:  # a stall: the request is not supported
                return None
            raise
        return int(reply[0]) if len(reply) else None


def _as_dle_eot(mode: bytes, port: int) -> bytes:
    """The DLE EOT ``mode`` reply a printer with this GET_PORT_STATUS byte would give."""
    paper_empty = bool(port & _PORT_PAPER_EMPTY)
    error = not port & _PORT_NOT_ERROR
    if mode == _ASK_PRINTER:
        # A printer at the paper end stops, i.e. goes offline, as it does on DLE EOT 1.
        offline = paper_empty or error or not port & _PORT_SELECTED
        return bytes([_DLE_EOT_FIXED | (0x08 if offline else 0)])
    if mode == _ASK_OFFLINE_CAUSE:
        # bit 5: stopped at the paper end; bit 6: an error. The cover (bit 2) is not in port status.
        return bytes([_DLE_EOT_FIXED | (0x20 if paper_empty else 0) | (0x40 if error and not paper_empty else 0)])
    if mode == _ASK_PAPER:
        return bytes([_DLE_EOT_FIXED | (0x60 if paper_empty else 0)])
    return b""  # DLE EOT 3 (error cause): port status cannot say


# --- the device ---------------------------------------------------------------------------------

# Real-time status requests (DLE EOT n): 1 printer, 2 offline cause, 4 paper roll sensor.
_ASK_PRINTER = DLE + b"\x04\x01"
_ASK_OFFLINE_CAUSE = DLE + b"\x04\x02"
_ASK_PAPER = DLE + b"\x04\x04"
_ASK_ERROR_CAUSE = DLE + b"\x04\x03"
# GS r 1: the paper sensor status, answered in sequence -- after every byte sent before it was processed.
_CONFIRM = b"\x1dr\x01"
_CONFIRM_PAPER_END = 0x0C  # GS r 1 bits 2-3: roll paper end
_CONFIRM_NEAR_END = 0x03  # bits 0-1: roll near end
PrinterWarning = Literal["paper_near_end"]


def _check_arguments(
    kind: str, *, port: object, host: str | None, path: object, codepage: str, timeout_s: float
) -> None:
    if kind not in ("usb", "serial", "network", "file", "dummy"):
        raise ValueError(f"printer kind must be usb, serial, network, file or dummy, got {kind!r}")
    if kind == "serial" and not isinstance(port, str):
        raise ValueError("a serial printer needs port, the device path (e.g. /dev/ttyUSB0)")
    if kind == "network":
        if not host:
            raise ValueError("a network printer needs host")
        if port is not None and not isinstance(port, int):
            raise ValueError("a network printer's port is a TCP port number")
    if kind == "file" and path is None:
        raise ValueError("a file printer needs path")
    if codepage not in CODEPAGES:
        raise ValueError(f"codepage must be one of {', '.join(CODEPAGES)}, got {codepage!r}")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")


class ReceiptPrinter:
    """An ESC/POS printer on one back-end, opened lazily and reopened after any failure.

    ``kind``: ``usb`` (``vendor_id``, ``product_id``; both None: the first USB printer-class device),
    ``serial`` (``port`` = device path, ``baudrate``), ``network`` (``host``, ``port`` = TCP port,
    default 9100), ``file`` (``path``; raw ESC/POS appended -- also a ``/dev/usb/lp0`` device file),
    ``dummy`` (in memory; ``output`` holds the bytes). ``timeout_s`` bounds every connect and write.
    USB endpoints differ between models (``lsusb -v``): ``usb_in_ep``/``usb_out_ep``.
    A network printer is connected for each job and released after it; the others stay open.
    ``check_paper``: before a receipt, ask a back-end that can answer for the paper sensor and refuse
    with :class:`PaperOut` rather than print half a receipt.
    ``answers_status``: None (learn it: once the printer answered a status query, its silence means it is
    off), True (silence is always "offline": a printer known to answer), False (never ask: a one-way cable).
    ``confirm_timeout_s``: how long a receipt may take to print before its confirmation is given up on;
    None: ``timeout_s`` plus the wire time of the receipt at the port's speed.
    """

    def __init__(
        self,
        kind: Kind,
        *,
        vendor_id: int | None = None,
        product_id: int | None = None,
        port: str | int | None = None,
        baudrate: int = 19200,
        host: str | None = None,
        path: str | os.PathLike[str] | None = None,
        width_mm: int = 80,
        timeout_s: float = 5.0,
        status_timeout_s: float = 0.5,
        codepage: str = "CP866",
        profile: str = "default",
        check_paper: bool = True,
        usb_in_ep: int = 0x82,
        usb_out_ep: int = 0x01,
        answers_status: bool | None = None,
        confirm_timeout_s: float | None = None,
    ) -> None:
        _check_arguments(kind, port=port, host=host, path=path, codepage=codepage, timeout_s=timeout_s)
        self.kind: Kind = kind
        self.width_mm = width_mm
        self.width = columns_for(width_mm)
        self.codepage = codepage
        self.timeout_s = timeout_s
        self.status_timeout_s = status_timeout_s
        self.check_paper = check_paper
        self._vendor_id = vendor_id
        self._product_id = product_id
        self._port = port
        self._baudrate = baudrate
        self._host = host
        self._path = os.fspath(path) if path is not None else None
        self._usb_eps = (usb_in_ep, usb_out_ep)
        self._profile = _profile(profile, width_mm)
        if codepage not in self._profile.get_code_pages():
            raise ValueError(f"printer profile {profile!r} has no code page {codepage}")
        self._backend: Any = None
        self._lock = threading.RLock()
        self._answers = answers_status  # None until learned
        self._confirms: bool | None = None  # does it answer GS r? None until learned
        self.confirm_timeout_s = confirm_timeout_s
        self.warning: PrinterWarning | None = None
        self._status_error: str | None = None
        self._printed_blind = False  # a receipt went to a printer that never answered status

    def __repr__(self) -> str:
        return f"<ReceiptPrinter {self.kind} {self.width_mm}mm {self.codepage}>"

    # --- geometry ---

    def columns(self, double: bool = False) -> int:
        """Characters per line in Font A; double-size text takes two columns a character."""
        return self.width // 2 if double else self.width

    # --- back-end management ---

    @property
    def can_read_status(self) -> bool:
        return self.kind in ("serial", "usb", "network") and self._answers is not False

    @property
    def status_detail(self) -> str | None:
        """Why the last status query gave what it gave, where there is more to say (DLE EOT 3's error
        cause, the failure of the query itself); None after a plain answer."""
        return self._status_error

    @property
    def answers_status(self) -> bool:
        """Has this printer answered a status query (so that its silence means it is off)?"""
        return bool(self._answers)

    def _make_backend(self) -> Any:
        common: dict[str, Any] = {"profile": self._profile}
        if self.kind == "dummy":
            return Dummy(**common)
        if self.kind == "file":
            return _AppendFile(devfile=self._path, **common)
        if self.kind == "network":
            tcp_port = self._port if isinstance(self._port, int) else 9100
            net = _Network(host=self._host, port=tcp_port, timeout=self.timeout_s, **common)
            net.status_timeout = self.status_timeout_s
            return net
        if self.kind == "serial":
            if not Serial.is_usable():
                raise PrinterError("serial printers need pyserial: pip install pyserial")
            ser = _Serial(
                devfile=self._port,
                baudrate=self._baudrate,
                timeout=self.timeout_s,
                **common,
            )
            ser.status_timeout = self.status_timeout_s
            return ser
        usb_args: dict[str, Any] = {}
        if self._vendor_id is None and self._product_id is None:
            usb_args["custom_match"] = _usb_printer_class
        printer = _Usb(
            idVendor=self._vendor_id,
            idProduct=self._product_id,
            usb_args=usb_args,
            # python-escpos's default 0 means "wait forever" in pyusb.
            timeout=max(1, int(self.timeout_s * 1000)),
            in_ep=self._usb_eps[0],
            out_ep=self._usb_eps[1],
            **common,
        )
        printer.status_timeout = self.status_timeout_s
        return printer

    def _open(self) -> Any:
        if self._backend is None:
            backend = self._make_backend()
            try:
                backend.open()
            except DeviceNotFoundError as e:
                backend._device = False
                raise PrinterOffline(f"{self.kind} printer not reachable: {_first_line(e)}") from e
            except RuntimeError as e:  # python-escpos's "dependency missing"
                backend._device = False
                raise PrinterError(str(e)) from e
            except Exception as e:  # e.g. pyusb's NoBackendError when libusb-1.0 is not installed
                backend._device = False
                raise _translate(e, self.kind) from e
            self._backend = backend
        return self._backend

    def close(self) -> None:
        """Release the device; the next call reopens it."""
        backend, self._backend = self._backend, None
        if backend is not None and self.kind != "dummy":
            with contextlib.suppress(Exception):
                backend.close()
            backend._device = False

    def __enter__(self) -> ReceiptPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, payload: bytes) -> None:
        backend = self._open()
        try:
            backend._raw(payload)
        except Exception as e:
            if self.kind != "dummy":
                self.close()  # a half-dead connection is reopened on the next call
            translated = _translate(e, self.kind)
            translated.maybe_printed = True  # the write had begun: part of it may be on paper
            raise translated from e

    @property
    def output(self) -> bytes:
        """Everything sent to a dummy printer so far."""
        if self.kind != "dummy":
            raise AttributeError("output exists only on a dummy printer")
        return bytes(self._open().output)

    # --- rendering ---

    def render(self, lines: Iterable[PrintLine], *, cut: bool = True) -> bytes:
        """The ESC/POS bytes of one receipt: initialise, code page, lines, and a cut at the end."""
        buf = Dummy(profile=self._profile)
        buf.hw("INIT")
        # ESC @ resets the code page to the printer's default; select ours right after it.
        buf.charcode(self.codepage)
        items = list(lines)
        if cut and not (items and isinstance(items[-1], Cut)):
            items.append(Cut())
        for line in items:
            self._render_line(buf, line)
        return bytes(buf.output)

    def _render_line(self, buf: Any, line: PrintLine) -> None:
        if isinstance(line, Text):
            # Every line sets its whole style, so a line never inherits the previous one's.
            buf.set(
                align=line.align,
                bold=line.bold,
                double_width=line.double,
                double_height=line.double,
                normal_textsize=not line.double,
            )
            text = transliterate(line.text, self.codepage)
            for chunk in textwrap.wrap(
                text, self.columns(line.double), break_long_words=True, break_on_hyphens=False
            ) or [""]:
                buf.textln(chunk)
        elif isinstance(line, Rule):
            buf.set(align="left", bold=False, normal_textsize=True)
            char = transliterate(line.char[:1] or "-", self.codepage)
            buf.textln(char * self.width)
        elif isinstance(line, Qr):
            buf.set(align="center", bold=False, normal_textsize=True)
            if self._profile.supports("qrCode"):
                buf.qr(line.data, size=line.size, native=True)
                buf.textln("")
            else:
                # No native QR on this printer: a raster image of the same code, centred by escpos.
                buf.qr(line.data, size=line.size, native=False, image_arguments={"center": True})
            buf.set(align="left")
        elif isinstance(line, Feed):
            buf.print_and_feed(max(0, min(255, line.lines)))
        elif isinstance(line, Cut):
            buf.cut(mode="PART" if line.partial else "FULL")
        else:  # pragma: no cover - the type checker sees to this
            raise TypeError(f"not a print line: {line!r}")

    # --- operations ---

    def print_lines(self, lines: Iterable[PrintLine], *, cut: bool = True) -> None:
        """Print one receipt, written to the back-end in a single write, and wait for the printer to
        confirm it when it can.

        Raises :class:`PaperOut` or :class:`CoverOpen` (nothing sent), :class:`PrinterOffline`,
        :class:`PrinterTimeout`, :class:`PrintInterrupted` or :class:`PrinterError`.
        """
        payload = self.render(lines, cut=cut)
        with self._job():
            self._open()  # a printer that cannot be opened says why (unplugged, a library missing)
            state = self._query_status() if self.can_read_status else "unknown"
            if state == "paper_out" and self.check_paper:
                raise PaperOut("the printer reports no paper; load a roll and print again")
            if state == "cover_open" and self.check_paper:
                raise CoverOpen("the printer's cover is open; close it and print again")
            why = self._status_error
            if state == "offline" or (state == "unknown" and self._answers):
                raise PrinterOffline(
                    f"{self.kind} printer does not answer ({why or 'no reply to a status query'}):"
                    " switched off, stalled or unplugged; nothing was sent"
                )
            if state == "error":  # a cutter jam, a head too hot: it would not print what it is sent
                raise PrinterError(
                    f"{self.kind} printer: {why}" if why else "the printer reports an error; see its panel"
                )
            confirm = (
                state != "unknown"
                and self._confirms is not False
                and getattr(self._backend, "reads_replies", True)
            )
            self._send(payload + _CONFIRM if confirm else payload)
            if state != "unknown":
                self._confirm(len(payload), asked=confirm)
            else:
                self._printed_blind = True

    def _confirm(self, size: int, *, asked: bool) -> None:
        """After a receipt sent to a printer that answers status: did all of it reach paper?"""
        reply = self._read_confirmation(size) if asked else b""
        if reply and not reply[0] & _CONFIRM_PAPER_END:
            self._confirms = True
            self.warning = "paper_near_end" if reply[0] & _CONFIRM_NEAR_END else None
            return  # processed in order, with paper: the receipt is on paper
        state = self._query_status()
        if not reply and state == "ok" and not (asked and self._confirms):
            if asked:  # it answers DLE EOT but not GS r (some clones): all it can say is that it is well now
                self._confirms = False
            return
        now: Status = "offline" if state == "unknown" else state
        raise PrintInterrupted(
            f"{self.kind} printer did not confirm the receipt and reports {now}: it may be cut short", now
        )

    def _read_confirmation(self, size: int) -> bytes:
        backend = self._open()
        wait = self.confirm_timeout_s
        if wait is None:
            baud = self._baudrate if self.kind == "serial" else 0
            wait = self.timeout_s + (size * 10 / baud if baud else 0)
        saved = backend.status_timeout
        backend.status_timeout = wait
        try:
            return bytes(backend._read())
        except Exception as e:
            self.close()
            if isinstance(_translate(e, self.kind), PrinterTimeout):
                return b""  # pyusb raises where the others return b""
            raise PrintInterrupted(
                f"{self.kind} printer lost while printing: {_first_line(e)}", "offline"
            ) from e
        finally:
            backend.status_timeout = saved

    def kick_drawer(self, pin: Literal[2, 5] = 2) -> None:
        """Pulse the drawer connector (ESC p) on pin 2 or 5."""
        if pin not in (2, 5):
            raise ValueError("the drawer kick pin is 2 or 5")
        buf = Dummy(profile=self._profile)
        buf.cashdraw(pin)
        with self._job():
            self._send(bytes(buf.output))

    def status(self) -> Status:
        """``ok | paper_out | cover_open | offline | error``; never raises.

        File and dummy printers cannot answer: ``ok`` when the back-end opens. The others are asked
        with DLE EOT; no answer within the status timeout is ``offline`` -- except from a printer that
        never answered and took a receipt since it was opened (a one-way serial cable), which is ``ok``:
        otherwise its state would flap between a print's ok and the next poll's offline.
        """
        with self._job():
            try:
                self._open()
            except PrinterOffline:
                return "offline"
            except Exception:
                return "error"
            if not self.can_read_status:
                return "ok"
            state = self._query_status()
            if state == "unknown":
                return "ok" if self._printed_blind and not self._answers else "offline"
            return state

    @contextlib.contextmanager
    def _job(self) -> Iterator[None]:
        # One job at a time: a status poll between a receipt's bytes would read the wrong reply, and
        # a drawer kick must not land inside a receipt.
        with self._lock:
            try:
                yield
            finally:
                if self.kind == "network":
                    # Port 9100 printers serve one connection at a time and drop idle ones; a write to
                    # a connection the printer dropped can "succeed" into the void. One per job.
                    self.close()

    def _query_status(self) -> Status | Literal["unknown"]:
        """Ask the printer; "unknown" when it does not answer (many serial cables are one-way).
        ``_status_error``: what failed when asking did, else None."""
        self._status_error = None
        try:
            backend = self._open()
            with contextlib.suppress(Exception):
                if self.kind == "serial":
                    backend.device.reset_input_buffer()  # stale auto-status bytes would be misread
            online_reply = backend.query_status(_ASK_PRINTER)
            if not online_reply:
                return "unknown"
            self._answers = True
            # Not escpos's paper_status(): it calls any reply without the fixed bits "no paper".
            paper = backend.query_status(_ASK_PAPER)
            self.warning = "paper_near_end" if paper and paper[0] & 0x0C == 0x0C else None
            if paper and paper[0] & 0x60 == 0x60:  # roll end sensor
                return "paper_out"
            if online_reply[0] & 0x08:  # offline bit
                cause = backend.query_status(_ASK_OFFLINE_CAUSE)
                if cause and cause[0] & 0x04:
                    return "cover_open"
                if cause and cause[0] & 0x20:
                    return "paper_out"
                if cause and cause[0] & 0x40:  # an error occurred: DLE EOT 3 says which
                    self._status_error = _error_cause(backend.query_status(_ASK_ERROR_CAUSE))
                return "error"
            return "ok"
        except PrinterOffline as e:
            self._status_error = _first_line(e)
            return "offline"
        except Exception as e:
            self.close()
            translated = _translate(e, self.kind)
            if isinstance(translated, PrinterTimeout):  # pyusb raises where the others return b""
                return "unknown"
            self._status_error = _first_line(e)
            return "offline" if isinstance(translated, PrinterOffline) else "error"


def _error_cause(reply: bytes) -> str:
    """DLE EOT 3's answer in words a technician acts on."""
    if not reply:
        return "the printer reports an error and does not say which"
    bits = reply[0]
    if bits & 0x08:
        return "the auto-cutter is jammed: open the cover, free the paper and close it"
    if bits & 0x20:
        return "the printer reports an unrecoverable error: switch it off and on, or have it serviced"
    if bits & 0x40:
        return "the print head is too hot or the voltage is wrong: let it cool, check its power supply"
    return "the printer reports an error"


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).split("\n"))
    return text.strip() or type(e).__name__


def _translate(e: BaseException, kind: str) -> PrinterError:
    """One exception tree for callers, whatever the back-end library raised."""
    if isinstance(e, PrinterError):
        return e
    msg = f"{kind} printer: {_first_line(e)}"
    # pyserial's SerialTimeoutException and pyusb's USBTimeoutError are not TimeoutError subclasses,
    # but both are OSErrors: look at the name before falling through to "offline".
    if isinstance(e, TimeoutError) or "Timeout" in type(e).__name__:
        return PrinterTimeout(msg)
    if isinstance(e, (OSError, DeviceNotFoundError)):  # SerialException and USBError are OSErrors too
        return PrinterOffline(msg)
    return PrinterError(msg)
