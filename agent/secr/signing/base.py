from __future__ import annotations

from typing import Protocol


class Signer(Protocol):
    """The narrow interface every signer offers."""

    @property
    def subject_key_id(self) -> str:
        """Lowercase hex key identifier of the signing certificate."""
        ...

    @property
    def subject_name(self) -> str:
        """Who signs (the cashier's name in the certificate)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Return an attached CMS SignedData (DER) carrying ``data``."""
        ...
