"""Who the box fiscalizes for: the registrar as configured. Shared by the config and the register."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K", bound=str)


@dataclass(frozen=True)
class Registrar:
    """The registrar (ПРРО); fields left None come from the server (TaxObject) and are only
    compared with it when given."""

    fiscal_number: str
    local_number: int | None = None
    tin: str | None = None
    ipn: str | None = None
    org_name: str | None = None
    point_name: str | None = None
    point_address: str | None = None
    testing: bool = False


# What the documents' heads accept (check01.xsd, CHECKHEAD): TIN «DGDrfo» (5-10 digits, or a passport:
# two Cyrillic capitals and six digits), IPN «DGHIPN0» (0, 6-12 digits, or a passport) and optional, ORGNM
# and POINTNM «DGStr256» and required, POINTADDR optional, CASHDESKNUM a positive integer.
_PASSPORT = "[АБВГДЕЄЖЗИІКЛМНОПРСТУФХЦЧШЩЮЯ]{2}[0-9]{6}"
_TIN = re.compile(f"[0-9]{{5,10}}|{_PASSPORT}")
_IPN = re.compile(f"0|[0-9]{{6,12}}|{_PASSPORT}")
_TEXT_MAX = 256

#: the keys a document cannot be made without (an empty value there breaks every document)
REQUIRED: tuple[Literal["tin", "org_name", "point_name", "local_number"], ...] = (
    "tin",
    "org_name",
    "point_name",
    "local_number",
)


def odd_value(key: str, value: str) -> str | None:
    """Why a value from the server's TaxObject cannot go into a document head, or None when it can.

    "" is the server saying "there is none": allowed where the head's element is optional (IPN of a payer
    that is not a VAT payer, the point's address), never for a required one."""
    text = value.strip()
    if key in REQUIRED and not text:
        return "empty"
    if key == "tin" and not _TIN.fullmatch(text):
        return "not a registration code (5-10 digits or a passport number)"
    if key == "ipn" and text and not _IPN.fullmatch(text):
        return "not a VAT number (6-12 digits, 0 or a passport number)"
    if key == "local_number" and not (text.isdigit() and int(text) > 0):
        return "not a positive number"
    if key in ("org_name", "point_name", "point_address") and len(text) > _TEXT_MAX:
        return f"longer than {_TEXT_MAX} characters"
    return None


def usable(found: Mapping[K, str | None]) -> dict[K, str | None]:
    """The server's registration data with every empty or odd value left out (None: "the server said
    nothing"), so that what the journal holds (or the config) stays in use; each left out is logged."""
    kept: dict[K, str | None] = {}
    for key, value in found.items():
        why = None if value is None else odd_value(key, value)
        if why is not None:
            log.error(
                "the fiscal server's TaxObject has an unusable %s (%r: %s): kept the known value",
                key,
                value,
                why,
            )
            value = None
        kept[key] = value if value is None else value.strip()
    return kept
