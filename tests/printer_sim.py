"""A serial ESC/POS receipt printer on a pseudo-terminal that behaves as a shop's printer does.

The box opens ``path`` (a symlink, as udev names ``/dev/ttyUSB0``) with pyserial; this side holds the pty's
master. The printer:

* answers the real-time status queries (``DLE EOT 1..4``) at once, whatever its state, as real ones do;
* puts on paper only what it receives while it is ready (paper in, cover shut) -- anything else that arrives
  while it is not ready is lost, the worst a printer does;
* answers ``GS r 1`` in sequence, after what came before it was processed, and only while ready;
* can run out of paper or have its cover opened after a number of printed lines (mid-receipt), fall
  ``silent`` (switched off with the cable in: it reads and drops everything, answers nothing), ``stall``
  (stops reading: the port's buffer fills), be ``unplug``-ged (the pty closes and the device node goes, as a
  USB-serial adapter's does) and plugged in again (a new pty behind the same path).

What reached paper is kept as ``sheets``: one per ``ESC @`` (every receipt starts with one), each whole or
torn (something of it was lost); ``receipts()`` reads them back with the tests' ESC/POS decoder.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.escpos_decode import Printed, decode

ESC, GS, DLE, LF = 0x1B, 0x1D, 0x10, 0x0A
_FIXED = 0x12  # bits 1 and 4 of every DLE EOT reply


@dataclass
class Sheet:
    """What one receipt put on paper; ``torn``: part of what was sent for it was lost."""

    data: bytearray = field(default_factory=bytearray)
    torn: bool = False

    @property
    def cut(self) -> bool:
        return b"\x1dV" in self.data

    @property
    def whole(self) -> bool:
        return not self.torn and self.cut

    def read(self) -> Printed:
        return decode(bytes(self.data))


def _command_length(buf: bytes | bytearray, i: int) -> int | None:
    """The length of the command at ``buf[i]`` (a text run counts to its line feed); None: incomplete."""
    b = buf[i]
    need = None
    if b == ESC:
        if i + 1 >= len(buf):
            return None
        cmd = buf[i + 1]
        need = {ord("@"): 2, ord("p"): 5}.get(cmd, 3)
    elif b == GS:
        if i + 2 >= len(buf):
            return None
        cmd = buf[i + 1]
        if cmd == ord("V"):
            need = 3 if buf[i + 2] in (0, 1, 48, 49) else 4
        elif cmd == ord("(") and buf[i + 2] == ord("k"):
            if i + 4 >= len(buf):
                return None
            need = 5 + (buf[i + 3] | buf[i + 4] << 8)
        elif cmd == ord("v"):
            if i + 7 >= len(buf):
                return None
            need = 8 + (buf[i + 4] | buf[i + 5] << 8) * (buf[i + 6] | buf[i + 7] << 8)
        else:
            need = 3  # GS ! n, GS r n
    elif b == DLE:
        need = 3
    else:
        end = buf.find(b"\n", i)
        return None if end < 0 else end - i + 1
    return need if i + need <= len(buf) else None


class SimulatedPrinter:
    """See the module docstring. ``path``: where the box finds the port."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.paper = True
        self.cover_open = False
        self.near_end = False
        self.silent = False
        self.cutter_jammed = False
        self.sheets: list[Sheet] = []
        self.status_queries = 0
        self._lock = threading.Condition()
        self._stalled = False
        self._pending = bytearray()
        self._run_out_after: tuple[int, str] | None = None  # (lines, "paper" | "cover")
        self._master = -1
        self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = False
        self.plug()

    # --- what a test does to the printer ---------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.paper and not self.cover_open and not self.cutter_jammed

    def set(self, *, paper: bool | None = None, cover_open: bool | None = None, near_end: bool | None = None,
            silent: bool | None = None, cutter_jammed: bool | None = None) -> None:
        with self._lock:
            if cutter_jammed is not None:
                self.cutter_jammed = cutter_jammed
            if paper is not None:
                self.paper = paper
            if cover_open is not None:
                self.cover_open = cover_open
            if near_end is not None:
                self.near_end = near_end
            if silent is not None:
                self.silent = silent

    def fail_after(self, lines: int, what: str = "paper") -> None:
        """Run out of paper (``what="paper"``) or have the cover opened (``"cover"``) once ``lines`` more
        text lines are on paper: the middle of the next receipt."""
        with self._lock:
            self._run_out_after = (lines, what)

    def stall(self, stalled: bool = True) -> None:
        with self._lock:
            self._stalled = stalled
            self._lock.notify_all()

    def unplug(self) -> None:
        """The cable is pulled: the port vanishes and what the box holds open fails."""
        self._stop_thread()
        self.path.unlink(missing_ok=True)
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = -1

    def plug(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        # The slave stays open here too, so the pty survives between the box's opens of the port.
        tmp = self.path.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self._slave))
        tmp.replace(self.path)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="printer-sim", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._master >= 0:
            self.unplug()

    # --- what a test reads back ------------------------------------------------------------------

    def receipts(self) -> list[tuple[Sheet, Printed]]:
        with self._lock:
            sheets = [Sheet(bytearray(s.data), s.torn) for s in self.sheets]
        return [(s, s.read()) for s in sheets if s.data]

    def wait(self, predicate: Callable[[], bool], timeout: float = 10) -> bool:
        with self._lock:
            return self._lock.wait_for(predicate, timeout)

    # --- the printer ------------------------------------------------------------------------------

    def _stop_thread(self) -> None:
        self._stop = True
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        master = self._master
        while not self._stop:
            with self._lock:
                if self._stalled:
                    self._lock.wait(0.05)
                    continue
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            with self._lock:
                self._pending += chunk
                replies = self._process()
                self._lock.notify_all()
            if replies:
                try:
                    os.write(master, replies)
                except OSError:
                    return

    def _process(self) -> bytes:
        replies = bytearray()
        i = 0
        buf = self._pending
        while i < len(buf):
            length = _command_length(buf, i)
            if length is None:
                break
            command = bytes(buf[i : i + length])
            i += length
            if self.silent:
                continue
            if command[0] == DLE:
                self.status_queries += 1
                replies.append(self._real_time(command[2]))
            elif command[:2] == b"\x1dr":
                if self.ready:
                    replies.append((0x03 if self.near_end else 0) | (0 if self.paper else 0x0C))
            else:
                self._print(command)
        del buf[:i]
        return bytes(replies)

    def _real_time(self, n: int) -> int:
        if n == 1:
            return _FIXED | (0 if self.ready else 0x08)
        if n == 2:
            error = 0x40 if self.cutter_jammed else 0
            return _FIXED | (0x04 if self.cover_open else 0) | (0 if self.paper else 0x20) | error
        if n == 3:
            return _FIXED | (0x08 if self.cutter_jammed else 0)
        if n == 4:
            return _FIXED | (0x0C if self.near_end else 0) | (0 if self.paper else 0x60)
        return _FIXED

    def _print(self, command: bytes) -> None:
        if command[:2] == b"\x1b@":
            self.sheets.append(Sheet())
        if not self.sheets:
            self.sheets.append(Sheet())
        sheet = self.sheets[-1]
        if not self.ready:
            # Lost; a drawer pulse after a receipt's cut does not tear the receipt before it.
            sheet.torn = sheet.torn or not sheet.cut
            return
        sheet.data += command
        if command.endswith(b"\n") and self._run_out_after is not None:
            lines, what = self._run_out_after
            if lines <= 1:
                self._run_out_after = None
                if what == "paper":
                    self.paper = False
                else:
                    self.cover_open = True
            else:
                self._run_out_after = (lines - 1, what)
