"""A fake LTE modem on a real pseudo-terminal, for drivers/modem.py and the agent's tests.

The client opens ``FakeModem.path`` (the pty's slave) as it would /dev/ttyUSB2; a thread of the fake
plays the modem on the master: it echoes each command (a modem's ATE1 default), answers it from the
script, and otherwise keeps quiet::

    modem = FakeModem({"AT+CSQ": "\\r\\n+CSQ: 18,99\\r\\n\\r\\nOK\\r\\n"})
    modem.urc("RING")        # an unsolicited result code, now
    modem.go_silent()        # commands get no answer (and no echo) until go_silent(False)
    modem.unplug()           # the master closed: the client's next read or write fails
    modem.close()

A script value is the raw answer, or a callable of the command giving it; an answer that is a list is
written piece by piece (a response split across USB packets). A command the script lacks is answered
``ERROR``, as a modem answers one it does not know. ``received`` lists the commands in order.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable

Answer = str | list[str]
Script = dict[str, Answer | Callable[[str], Answer]]

#: between the pieces of a split answer: long enough that the client reads them apart
PIECE_GAP_S = 0.02


class FakeModem:
    def __init__(self, script: Script, *, echo: bool = True) -> None:
        self.script = dict(script)
        self.echo = echo
        self.received: list[str] = []
        self._master, self._slave = os.openpty()
        # Raw at once, so that the line discipline neither echoes nor translates before the client has
        # opened the port (pyserial makes it raw then too).
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._silent = False
        self._unplugged = False
        self._write_lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="fake-modem", daemon=True)
        self._thread.start()

    def urc(self, text: str) -> None:
        """An unsolicited result code, framed as a modem frames it."""
        self.send(f"\r\n{text}\r\n".encode())

    def send(self, data: bytes) -> None:
        """Raw bytes to the client (line noise, a URC half written)."""
        with self._write_lock:
            if not self._unplugged:
                os.write(self._master, data)

    def go_silent(self, silent: bool = True) -> None:
        self._silent = silent

    def unplug(self) -> None:
        """The modem gone from the bus: both ends of the pty closed, the path no longer there."""
        with self._write_lock:
            if self._unplugged:
                return
            self._unplugged = True
        os.write(self._stop_w, b"x")
        self._thread.join(2)
        os.close(self._master)
        os.close(self._slave)

    def close(self) -> None:
        self.unplug()
        os.close(self._stop_r)
        os.close(self._stop_w)

    def _run(self) -> None:
        pending = b""
        while True:
            ready, _, _ = select.select([self._master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                pending += os.read(self._master, 1024)
            except OSError:  # EIO while no one has the slave open: nothing to read yet
                time.sleep(PIECE_GAP_S)
                continue
            *commands, pending = pending.split(b"\r")
            for raw in commands:
                self._answer(raw.decode("ascii", errors="replace").strip())

    def _answer(self, command: str) -> None:
        self.received.append(command)
        if self._silent:
            return
        if self.echo:
            self.send(command.encode() + b"\r")
        answer = self.script.get(command, "\r\nERROR\r\n")
        if callable(answer):
            answer = answer(command)
        pieces = [answer] if isinstance(answer, str) else answer
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(PIECE_GAP_S)
            self.send(piece.encode("utf-8", errors="surrogateescape"))
