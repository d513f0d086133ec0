"""The LTE modem's health, asked over its AT port (a Quectel EC25's /dev/ttyUSB2, a SIMCom's ttyUSB2).

API::

    modem = Modem("/dev/fiscal-box-modem", baudrate=115200, timeout_s=2.0)
    modem.command("AT+CSQ")          # ['+CSQ: 18,99']: the answer's lines, without echo, URCs or "OK"
    modem.health()                   # ModemHealth(present=True, sim='READY', registered=True, ...)
    modem.close()

The port is opened on the first command, not in the constructor, and opened again after the device
went away (a USB modem re-enumerates after a crash or a firmware reset): a box that starts without its
modem gets it as soon as it is plugged in. ``command()`` raises :class:`ModemTimeout` when no final result
comes in time, :class:`ModemGone` when the device cannot be opened, read or written, and
:class:`ModemRefused` on ``ERROR`` / ``+CME ERROR: n`` / ``+CMS ERROR: n``; all are :class:`ModemError`.
``health()`` never raises: what it could not learn is None, and why is in ``error``.

The data connection itself (wwan0 over QMI/MBIM) is ModemManager's; this module only reads.
This module imports nothing from ``agent``: drivers are leaves.
"""

from __future__ import annotations

import logging
import re
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import serial

__all__ = ["Modem", "ModemError", "ModemGone", "ModemHealth", "ModemRefused", "ModemTimeout"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: a read waits at most this long at a time, so that the deadline of a command is kept closely
READ_SLICE_S = 0.05
#: the final result codes of V.250 and 3GPP TS 27.007 that end an answer
_FINAL_OK = "OK"
_FINAL_ERROR = re.compile(r"^(?:ERROR|\+CM[ES] ERROR:\s*(.*))$")
#: 3GPP TS 27.007 §9.2: +CME ERROR 10 is "SIM not inserted", which AT+CPIN? answers with no SIM
_CME_SIM_NOT_INSERTED = "10"
_REGISTERED = {1: False, 5: True}  # stat of +CREG/+CEREG: 1 home, 5 roaming (the value: roaming)
# Around the text of a line: line noise decoded as U+FFFD, NULs a modem sends while it boots.
_NOISE = " \t\x00\ufffd"


class ModemError(RuntimeError):
    """The modem did not answer a command as asked."""


class ModemTimeout(ModemError, TimeoutError):
    """No final result code in time (the modem busy, hung, or another program on the port)."""


class ModemGone(ModemError, ConnectionError):
    """The device cannot be opened, read or written: unplugged, re-enumerating, or not there at all."""


class ModemRefused(ModemError):
    """The modem answered ``ERROR`` or ``+CME/+CMS ERROR: <code>``; ``code`` is None for a bare ERROR."""

    def __init__(self, command: str, line: str, code: str | None) -> None:
        self.command = command
        self.code = code
        super().__init__(f"{command}: {line}")


@dataclass(frozen=True)
class ModemHealth:
    """What the modem says of itself; None where it was not asked or did not say."""

    present: bool  # the AT port could be opened and read
    sim: str | None = None  # AT+CPIN?: READY, SIM PIN, SIM PUK, NOT INSERTED, ...
    registered: bool | None = None  # AT+CREG? / AT+CEREG?: home or roaming
    roaming: bool | None = None
    operator: str | None = None  # AT+COPS?: the name in quotes
    signal_dbm: int | None = None  # AT+CSQ: -113 + 2 * rssi
    attached: bool | None = None  # AT+CGATT?: attached to the packet service
    error: str | None = None  # what failed, "; "-joined


def _prefix(command: str) -> str | None:
    """``AT+CSQ`` -> ``+CSQ:``; ``AT+CPIN?`` -> ``+CPIN:``; None for a command without one (``ATI``)."""
    match = re.match(r"^AT([+^$][A-Z0-9]+)", command.upper())
    return f"{match.group(1)}:" if match else None


def _looks_unsolicited(line: str) -> bool:
    # For a command whose answer has no prefix (ATI, AT+GSN answers bare text): what a URC looks like.
    return line.startswith(("+", "^")) or line in ("RING", "NO CARRIER", "RDY")


class Modem:
    """Thread-safe: one command at a time on the port."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        timeout_s: float = 2.0,
        serial_factory: Callable[..., Any] = serial.serial_for_url,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self._serial_factory = serial_factory
        self._serial: Any = None
        self._lock = threading.Lock()

    def command(self, command: str, *, timeout_s: float | None = None) -> list[str]:
        """Send ``command`` and return the lines of its answer before ``OK``."""
        with self._lock:
            port = self._open()
            try:
                # What a late answer or a URC left behind must not be read as this command's answer.
                port.reset_input_buffer()
                port.write(command.encode("ascii") + b"\r")
                return self._read_answer(port, command, timeout_s or self.timeout_s)
            except ModemError:  # ModemTimeout is an OSError (TimeoutError) too: not a device gone
                raise
            except serial.SerialTimeoutException as e:  # the write did not drain: the port is there
                raise ModemTimeout(f"{command}: {e}") from e
            except (serial.SerialException, OSError, termios.error) as e:  # tcflush raises termios.error
                self._drop()
                raise ModemGone(f"modem on {self.port}: gone: {e}") from e

    def _open(self) -> Any:
        if self._serial is None:
            try:
                self._serial = self._serial_factory(
                    self.port, baudrate=self.baudrate, timeout=READ_SLICE_S, write_timeout=self.timeout_s
                )
            except (serial.SerialException, OSError, ValueError, termios.error) as e:
                raise ModemGone(f"modem on {self.port}: cannot be opened: {e}") from e
            log.info("modem: AT port %s open", self.port)
        return self._serial

    def _drop(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except Exception as e:  # closing a vanished device may fail too; it is gone either way
                log.debug("modem: closing %s: %s", self.port, e)

    def _read_answer(self, port: Any, command: str, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        prefix = _prefix(command)
        buffer = b""
        lines: list[str] = []
        while time.monotonic() < deadline:
            buffer += port.read(max(1, port.in_waiting))
            *complete, buffer = re.split(rb"[\r\n]", buffer)
            for raw in complete:
                line = raw.decode("utf-8", errors="replace").strip(_NOISE)
                if not line or line.upper() == command.upper():
                    continue  # blank framing, or the echo of the command (ATE1, the default)
                if line == _FINAL_OK:
                    return lines
                if (refused := _FINAL_ERROR.match(line)) is not None:
                    raise ModemRefused(command, line, refused.group(1))
                if line.startswith(prefix) if prefix else not _looks_unsolicited(line):
                    lines.append(line)
        raise ModemTimeout(f"{command}: no answer in {timeout_s:g} s")

    def close(self) -> None:
        with self._lock:
            self._drop()

    def health(self) -> ModemHealth:
        """The modem's SIM, registration, operator, signal and packet attach; never raises."""
        errors: list[str] = []
        ask = _Asking(self, errors)
        try:
            sim = ask("AT+CPIN?", _sim_state, on_refused=_sim_refused)
            creg = ask("AT+CREG?", _registration)
            cereg = ask("AT+CEREG?", _registration)  # LTE; AT+CREG? is the 2G/3G circuit-switched side
            operator = ask("AT+COPS?", _operator)
            signal = ask("AT+CSQ", _signal_dbm)
            attached = ask("AT+CGATT?", _attached)
        except ModemGone as e:
            return ModemHealth(present=False, error=str(e))
        known = [r for r in (creg, cereg) if r is not None]
        registered = any(r[0] for r in known) if known else None
        return ModemHealth(
            present=True,
            sim=sim,
            registered=registered,
            roaming=any(r[0] and r[1] for r in known) if registered else None,
            operator=operator,
            signal_dbm=signal,
            attached=attached,
            error="; ".join(errors) or None,
        )


class _Asking:
    """One health() round: each query's failure is recorded and leaves its field None; a modem gone is
    raised (the rest cannot answer either), and a modem silent twice in a row is not asked the rest,
    so that a hung modem costs two timeouts, not six."""

    SILENT_LIMIT = 2

    def __init__(self, modem: Modem, errors: list[str]) -> None:
        self._modem = modem
        self._errors = errors
        self._silent = 0

    def __call__(
        self,
        command: str,
        parse: Callable[[list[str]], T | None],
        *,
        on_refused: Callable[[ModemRefused], T | None] | None = None,
    ) -> T | None:
        """The parsed answer; None when the modem does not know (e.g. no signal) or did not answer."""
        if self._silent >= self.SILENT_LIMIT:
            return None
        try:
            lines = self._modem.command(command)
        except ModemTimeout as e:
            self._silent += 1
            silent = self._silent >= self.SILENT_LIMIT
            self._errors.append(f"{e}; the modem is not answering" if silent else str(e))
            return None
        except ModemRefused as e:
            self._silent = 0
            value = on_refused(e) if on_refused is not None else None
            if value is None:
                self._errors.append(str(e))
            return value
        self._silent = 0
        try:
            return parse(lines)
        except ValueError:  # an answer of a format we do not know: the field stays unknown
            self._errors.append(f"{command}: unexpected answer {lines!r}")
            return None


def _sim_refused(refused: ModemRefused) -> str | None:
    # With no SIM the EC25 and SIMCom answer AT+CPIN? with +CME ERROR: 10 rather than a +CPIN: state.
    # (AT+CMEE=2 makes it the words instead of the number.)
    code = (refused.code or "").strip().lower()
    return "NOT INSERTED" if code in (_CME_SIM_NOT_INSERTED, "sim not inserted") else None


def _fields(lines: list[str], pattern: str) -> re.Match[str]:
    """The first line of the query's format; ValueError when none is."""
    for line in lines:
        if (match := re.match(pattern, line)) is not None:
            return match
    raise ValueError(pattern)


def _sim_state(lines: list[str]) -> str:
    return _fields(lines, r"^\+CPIN:\s*(.+)$").group(1).strip()


def _registration(lines: list[str]) -> tuple[bool, bool]:
    """(registered, roaming) from the query's ``+CREG: <n>,<stat>[,...]``; a URC (``+CREG: <stat>`` or
    ``+CREG: <stat>,"lac",...``) that came in between has no bare number second and is passed over."""
    stat = int(_fields(lines, r"^\+C[EG]?REG:\s*\d+\s*,\s*(\d+)").group(1))
    return (stat in _REGISTERED, _REGISTERED.get(stat, False))


def _operator(lines: list[str]) -> str | None:
    """The name in ``+COPS: <mode>,<format>,"<name>",<act>``; None for ``+COPS: <mode>`` (no operator)."""
    match = _fields(lines, r'^\+COPS:\s*\d+(?:\s*,\s*\d+\s*,\s*"([^"]*)")?')
    return match.group(1) or None


def _signal_dbm(lines: list[str]) -> int | None:
    rssi = int(_fields(lines, r"^\+CSQ:\s*(\d+)\s*,").group(1))
    return -113 + 2 * rssi if 0 <= rssi <= 31 else None  # 99: not known or not detectable


def _attached(lines: list[str]) -> bool:
    return _fields(lines, r"^\+CGATT:\s*([01])").group(1) == "1"
