"""Who the box fiscalizes for: the registrar as configured. Shared by the config and the register."""

from __future__ import annotations

from dataclasses import dataclass


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
