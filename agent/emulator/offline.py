"""Offline arithmetic, written from the reference (§4.3–§4.5, §4.8) independently of the agent."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from agent.emulator.errors import PACKAGE, FsError

MAX_PACKAGE_DOCS = 100


def control_number(
    seed: str,
    order_date: str,
    order_time: str,
    order_num: str,
    cash_register_num: str,
    cash_desk_num: str,
    total: str | None = None,
    prev_hash: str | None = None,
) -> int:
    """CRC-32 of the comma-joined fields, byte-swapped, last four decimal digits, 0 → 1.

    The byte swap is what makes the official worked example (§9.1) come out as 4758.
    """
    parts = [seed, order_date, order_time, order_num, cash_register_num, cash_desk_num]
    if total is not None:
        parts.append(total)
    if prev_hash is not None:
        parts.append(prev_hash)
    crc = zlib.crc32(",".join(parts).encode("ascii"))
    swapped = int.from_bytes(crc.to_bytes(4, "big"), "little")
    return (swapped % 10000) or 1


@dataclass(frozen=True)
class OfflineNumber:
    session_id: int
    local: int
    control: int

    def __str__(self) -> str:
        return f"{self.session_id}.{self.local}.{self.control}"


def parse_offline_number(text: str) -> OfflineNumber | None:
    parts = text.strip().split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return OfflineNumber(int(parts[0]), int(parts[1]), int(parts[2]))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_package(content: bytes) -> list[bytes]:
    """``[4-byte little-endian length][document]…``; FsError(10) on a frame that does not fit."""
    docs: list[bytes] = []
    pos = 0
    while pos < len(content):
        if pos + 4 > len(content):
            raise FsError(PACKAGE, f"Пакет пошкоджено: неповна довжина документа № {len(docs)}")
        (length,) = struct.unpack_from("<I", content, pos)
        pos += 4
        if length == 0 or pos + length > len(content):
            raise FsError(
                PACKAGE, f"Пакет пошкоджено: документ № {len(docs)} має неправильну довжину {length}"
            )
        docs.append(content[pos : pos + length])
        pos += length
        if len(docs) > MAX_PACKAGE_DOCS:
            raise FsError(
                PACKAGE,
                f"Пакет містить більше {MAX_PACKAGE_DOCS} документів (документ № {MAX_PACKAGE_DOCS} зайвий)",
            )
    if not docs:
        raise FsError(PACKAGE, "Пакет не містить жодного документа")
    return docs


def build_package(docs: list[bytes]) -> bytes:
    """The inverse of split_package (tests and tools)."""
    return b"".join(struct.pack("<I", len(d)) + d for d in docs)
