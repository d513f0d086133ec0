"""The ids the till API gives the box's records.

Checkbox names shifts, Z reports and cash registers by UUID. The box derives them from its fiscal number
and the journal's shift number instead of storing them: an id survives a restart, needs no table, and a
UUID of another box (another prefix) is simply not found here.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

# The middle groups say what the UUID names; the last group carries the number.
SHIFT = "0000-4000-8000"
Z_REPORT = "0000-4000-9000"
CASH_REGISTER = "0000-4000-a000"
ORGANIZATION = "0000-4000-b000"


def prefix_of(fiscal_number: str) -> str:
    return hashlib.sha256(f"fiscal-box:{fiscal_number}".encode()).hexdigest()[:8]


def record_uuid(prefix: str, kind: str, number: int) -> str:
    return f"{prefix}-{kind}-{number:012x}"


def _number_in(prefix: str, kind: str, text: str) -> int | None:
    if not text.startswith(prefix) or text[9:23] != kind:
        return None
    try:
        return int(text[-12:], 16)
    except ValueError:
        return None


def shift_number(prefix: str, value: str) -> int | None:
    """The shift a shift UUID names; None when it is not a UUID, or not one of this box's shifts."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return _number_in(prefix, SHIFT, str(parsed))


def z_shift_number(prefix: str, value: str) -> int | None:
    """The shift whose Z report a report id names, or None (report ids are matched as text, any case)."""
    return _number_in(prefix, Z_REPORT, value.lower())


@dataclass(frozen=True)
class IdScheme:
    """One box's ids: what the views need to name its records, and the routes to find them."""

    prefix: str
    cash_register: str

    @classmethod
    def of(cls, fiscal_number: str) -> IdScheme:
        prefix = prefix_of(fiscal_number)
        return cls(prefix, record_uuid(prefix, CASH_REGISTER, int(fiscal_number) % 16**12))

    def shift(self, shift_id: int) -> str:
        return record_uuid(self.prefix, SHIFT, shift_id)

    def z_report(self, shift_id: int) -> str:
        return record_uuid(self.prefix, Z_REPORT, shift_id)

    def shift_number(self, value: str) -> int | None:
        return shift_number(self.prefix, value)

    def z_shift_number(self, value: str) -> int | None:
        return z_shift_number(self.prefix, value)

    def shift_numbers(self, values: Iterable[uuid.UUID] | None) -> tuple[int, ...] | None:
        """The shifts a list's filter names, by number (None: no filter); another box's match nothing."""
        if values is None:
            return None
        numbers = (self.shift_number(str(value)) for value in values)
        return tuple(n for n in numbers if n is not None)

    def names_only_other_registers(self, values: Iterable[uuid.UUID] | None) -> bool:
        """A list's cash_register_id filter that leaves this box's register out (an empty page)."""
        wanted = {str(value) for value in values or ()}
        return bool(wanted) and self.cash_register not in wanted

    @staticmethod
    def organization(tin: str) -> str:
        """The organization (the taxpayer) whose registrar this box is, named by its tax number (ЄДРПОУ or
        РНОКПП): the prefix is derived from the tax number, not from the box's fiscal number, so every box of
        one organization gives it the same id, and the last group carries the number itself (digits only;
        another form of number leaves it 0 and is still told apart by the prefix)."""
        prefix = hashlib.sha256(f"fiscal-box-organization:{tin}".encode()).hexdigest()[:8]
        return record_uuid(prefix, ORGANIZATION, int(tin) % 16**12 if tin.isdigit() else 0)
