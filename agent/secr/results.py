"""What the register answers: a fiscalized document, shift figures, an upload's report, its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agent.secr import documents as docs
from agent.secr import numbering
from agent.secr.errors import InvalidInput
from agent.secr.meta import Mode


@dataclass(frozen=True)
class Fiscalized:
    """A fiscalized document: safe to print and to answer the till."""

    entry_id: int
    uid: str
    request_id: str | None
    local_num: int
    fiscal_num: str
    offline: bool
    registered_at: datetime
    document: docs.Document
    xml: bytes
    shift_id: int | None
    delivered: bool = True  # False for an offline document not uploaded yet

    @property
    def total(self) -> Decimal | None:
        return self.document.total if isinstance(self.document, docs.Check) else None

    @property
    def control_number(self) -> int | None:
        if not self.offline:
            return None
        return numbering.parse_offline_fiscal_number(self.fiscal_num)[2]


class DuplicateRequest(InvalidInput):
    """The till reused a request id: the document it names was already made (and is not made again)."""

    code = "already_exists"

    def __init__(self, result: Fiscalized) -> None:
        super().__init__(
            f"a document with request id {result.request_id} already exists (fiscal number {result.fiscal_num})",
            field="id",
            what_to_do="use a new id for a new receipt; fetch the existing one by its id",
        )
        self.result = result


@dataclass(frozen=True)
class ShiftReport:
    """An X report (or the figures of a Z): the shift's totals, computed from the journal."""

    shift_id: int
    opened_at: datetime
    cashier: str | None
    report: docs.ZReport
    receipts_count: int  # sales and returns, cancelled ones left out
    z_fiscal_num: str | None = None


@dataclass(frozen=True)
class ShiftView:
    """A shift as the till API shows it."""

    id: int
    opened_at: datetime
    closed_at: datetime | None
    cashier: str | None
    open_fiscal_num: str | None
    z: Fiscalized | None
    figures: docs.ZReport | None  # the totals so far (the Z's own when closed); None unless asked for
    open_uid: str | None = None  # the open-shift document's UID and local number
    open_local_num: int | None = None


@dataclass(frozen=True)
class SyncReport:
    """What a `go_online` did."""

    reachable: bool
    went_online: bool
    packages_sent: int
    documents_delivered: int
    mode: Mode
    error: str | None = None
    revoked_online_fiscal_num: str | None = None


@dataclass(frozen=True)
class RegisterStatus:
    """What ``register.status()`` hands out: frozen, so a status snapshot never changes under its readers."""

    mode: Mode
    blocked_reason: str | None
    shift_open: bool
    shift_id: int | None
    z_done: bool
    next_local_num: int
    pending_documents: int
    oldest_pending_at: datetime | None
    offline_session_id: str | None
    has_offline_seed: bool
    offline_allowed: bool | None
    session_minutes: int
    month_minutes: int
    max_session_minutes: int
    max_month_minutes: int
    numbers_left: int | None
    warnings: tuple[str, ...]
    problem: str | None
    upload_error: str | None
    last_sync_at: datetime | None
    identity_known: bool
    errors: tuple[str, ...] = ()
    #: offline documents made while the server answered (a long upload under way): the exception, shown
    offline_while_reachable: int = 0
    #: why signing fails, until a signed document is accepted again (context.Core.signing_error)
    signing_error: str | None = None

    def __post_init__(self) -> None:
        # Callers may give lists; two equal states must compare equal whatever they were built from.
        object.__setattr__(self, "warnings", tuple(self.warnings))
        object.__setattr__(self, "errors", tuple(self.errors))


__all__ = ["DuplicateRequest", "Fiscalized", "RegisterStatus", "ShiftReport", "ShiftView", "SyncReport"]
