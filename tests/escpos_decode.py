"""A small ESC/POS reader for tests: the bytes a printer received, read back as it would print them.

``decode(data)`` strips and interprets the control sequences the box sends, decodes text with the code
page selected by ``ESC t``, and keeps the QR payloads, cuts, drawer pulses and status requests in order,
so a test checks the words on paper rather than the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ESC, GS, DLE = 0x1B, 0x1D, 0x10
CP_BY_NUMBER = {17: "cp866", 44: "cp1125", 46: "cp1251"}


@dataclass
class Printed:
    """What the bytes would put on paper, and the commands around it."""

    lines: list[tuple[str, str, bool, bool]] = field(default_factory=list)  # text, align, bold, double
    events: list[tuple[str, object]] = field(default_factory=list)  # in order, text lines included
    qr_data: list[str] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [t for t, *_ in self.lines]


# long: one switch over the ESC/POS commands the box sends, in the command set's order; a table of
# handlers would hide the byte layout that the switch shows.
def decode(data: bytes) -> Printed:  # noqa: C901, PLR0912
    out = Printed()
    align, bold, double = "left", False, False
    codec: str | None = None
    text = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == ESC:
            cmd = data[i + 1]
            if cmd == ord("@"):
                align, bold, double, codec = "left", False, False, None
                out.events.append(("init", None))
                i += 2
            elif cmd == ord("t"):
                codec = CP_BY_NUMBER[data[i + 2]]
                out.events.append(("codepage", data[i + 2]))
                i += 3
            elif cmd == ord("a"):
                align = ("left", "center", "right")[data[i + 2]]
                out.events.append(("align", align))
                i += 3
            elif cmd == ord("E"):
                bold = bool(data[i + 2] & 1)
                out.events.append(("bold", bold))
                i += 3
            elif cmd == ord("!"):
                n = data[i + 2]
                double = bool(n & 0x30 == 0x30)
                bold = bool(n & 0x08)  # ESC ! sets emphasis from bit 3
                out.events.append(("size", n))
                i += 3
            elif cmd == ord("d"):
                out.events.append(("feed", data[i + 2]))
                i += 3
            elif cmd == ord("p"):
                out.events.append(("drawer", tuple(data[i + 2 : i + 5])))
                i += 5
            else:
                raise AssertionError(f"unexpected ESC {cmd:#x} at {i}")
        elif b == GS:
            cmd = data[i + 1]
            if cmd == ord("V"):
                m = data[i + 2]
                out.events.append(("cut", m))
                i += 3 if m in (0, 1, 48, 49) else 4
            elif cmd == ord("!"):
                out.events.append(("gs_size", data[i + 2]))
                i += 3
            elif cmd == ord("r"):  # transmit status, answered in sequence: the box's print confirmation
                out.events.append(("confirm_request", data[i + 2]))
                i += 3
            elif cmd == ord("(") and data[i + 2] == ord("k"):
                n = data[i + 3] | data[i + 4] << 8
                body = data[i + 5 : i + 5 + n]
                if body[:3] == b"1P0":
                    out.qr_data.append(body[3:].decode("utf-8"))
                    out.events.append(("qr_store", body[3:].decode("utf-8")))
                elif body[:3] == b"1Q0":
                    out.events.append(("qr_print", None))
                i += 5 + n
            elif cmd == ord("v") and data[i + 2] == ord("0"):
                width_bytes = data[i + 4] | data[i + 5] << 8
                height = data[i + 6] | data[i + 7] << 8
                out.events.append(("raster", (width_bytes, height)))
                i += 8 + width_bytes * height
            else:
                raise AssertionError(f"unexpected GS {cmd:#x} at {i}")
        elif b == DLE and data[i + 1] == 0x04:
            out.events.append(("status_request", data[i + 2]))
            i += 3
        elif b == 0x0A:
            assert codec is not None or all(c < 128 for c in text), "text before any ESC t"
            line = bytes(text).decode(codec or "ascii")
            if line:
                out.lines.append((line, align, bold, double))
            out.events.append(("text", line))
            text.clear()
            i += 1
        else:
            assert b >= 0x20, f"unexpected control byte {b:#x} at {i}"
            text.append(b)
            i += 1
    assert not text, f"text left without a line feed: {bytes(text)!r}"
    return out
