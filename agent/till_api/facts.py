"""What Checkbox's answers say about its cloud's own records, as a box can honestly say it.

Checkbox's answers carry records the cloud keeps: the organization, the cash register, the cashiers, the
taxes, each with a UUID and a creation date, and the delivery of each document as a "transaction". A box
has no cloud: it names them with stable values derived from what it does know (docs/checkbox-compat.md,
"Values with no meaning on a box"), so that a till generated from Checkbox's description reads every
answer and the same record always has the same id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agent.config import Cashier
from agent.secr import documents as docs
from agent.till_api.auth import cashier_id
from agent.till_api.ids import IdScheme

_NAMESPACE = uuid.UUID("6f1c7d1e-5b0a-4c1b-9a53-6e0f2b1c9d40")  # fiscal-box's own UUID namespace


def derived_uuid(*parts: object) -> str:
    """A UUID that names one thing for good: the same parts, the same id, on every box and restart."""
    return str(uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)))


@dataclass(frozen=True)
class BoxFacts:
    """The box as Checkbox's records: its ids, its registration data, its signer and its cashiers."""

    ids: IdScheme
    fiscal_number: str
    seller: docs.Seller
    #: the creation date of records the box keeps no date of (register, taxes, cashiers, organization):
    #: when its journal was first used
    since: datetime
    #: the box signs every document with its own key (Checkbox's signature type AGENT)
    key_id: str
    cashiers: Sequence[Cashier] = ()
    taxes: Mapping[int, docs.Tax] = field(default_factory=dict)
    # Worked out once: every answer names its taxes and cashier, and a UUID5 is a SHA-1.
    _tax_ids: dict[int, str] = field(init=False, repr=False, compare=False)
    _by_letter: dict[str, docs.Tax] = field(init=False, repr=False, compare=False)
    _cashier_ids: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tax_ids", {code: self._tax_uuid(code) for code in self.taxes})
        by_letter: dict[str, docs.Tax] = {}
        for tax in self.taxes.values():
            by_letter.setdefault(tax.letter, tax)
        object.__setattr__(self, "_by_letter", by_letter)
        ids: dict[str, str] = {}
        for cashier in self.cashiers:
            ids.setdefault(cashier.name, cashier_id(cashier))
        object.__setattr__(self, "_cashier_ids", ids)

    def _tax_uuid(self, code: int) -> str:
        return derived_uuid(self.ids.prefix, "tax", code)

    def tax_id(self, code: int) -> str:
        return self._tax_ids.get(code) or self._tax_uuid(code)

    def tax_by_letter(self, letter: str) -> docs.Tax | None:
        return self._by_letter.get(letter)

    def cashier_id(self, name: str | None) -> str:
        """A configured cashier's id (the one sign-in gives); a cashier no longer configured keeps one by
        name."""
        known = self._cashier_ids.get(name or "")
        return known or derived_uuid(self.ids.prefix, "cashier", name or "")

    @property
    def organization_id(self) -> str:
        return self.ids.organization(self.seller.tin)
