"""Offline fiscal numbers, control numbers and the hash chain (reference §4.3–4.5). Pure."""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime
from decimal import Decimal

from agent.clock import KYIV


def control_number(
    *,
    seed: str | int,
    when: datetime,
    order_num: int,
    cash_register_num: int | str,
    cash_desk_num: int | str,
    total: Decimal | None = None,
    prev_doc_hash: str | None = None,
) -> int:
    """The CRC-derived control number of an offline document.

    The CRC32 is byte-swapped: only that reproduces the tax service's published example (5008.3.4758).
    """
    local = when.astimezone(KYIV)
    parts = [
        str(seed),
        local.strftime("%d%m%Y"),
        local.strftime("%H%M%S"),
        str(order_num),
        str(cash_register_num),
        str(cash_desk_num),
    ]
    if total is not None:
        parts.append(f"{total:.2f}")
    if prev_doc_hash:
        parts.append(prev_doc_hash)
    crc = zlib.crc32(",".join(parts).encode("ascii"))
    swapped = int.from_bytes(crc.to_bytes(4, "big"), "little")
    return (swapped % 10000) or 1


def offline_fiscal_number(session_id: str | int, number_in_session: int, control: int) -> str:
    return f"{session_id}.{number_in_session}.{control}"


def parse_offline_fiscal_number(value: str) -> tuple[str, int, int]:
    session, n, control = value.split(".")
    return session, int(n), int(control)


def document_hash(signed: bytes) -> str:
    """PREVDOCHASH input: SHA-256 of the exact signed bytes sent to the server, lowercase hex."""
    return hashlib.sha256(signed).hexdigest()
