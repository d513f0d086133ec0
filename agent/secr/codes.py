"""What the box does with the server's error codes 3-8 (fsko_evpz_doc.txt, «Коди помилок»), each as the
text describes it, and never by stopping the whole register until a restart.

The codes, in the text's words, and our reading of each:

* 3 ``InvalidTin`` «В документі зазначено реєстраційний код платника, що не дорівнює реєстраційному коду
  господарської одиниці»: the registration data the box put in the head are not the server's. The box
  reads them again (``TransactionsRegistrarState`` with ``IncludeTaxObject``). Changed on the server:
  they are journaled and the document may simply be made again (retry, ``RegistrationDataChanged``). A
  config that pins other values: ``IdentityMismatch`` (a person), re-checked by the loop. Unchanged:
  this document alone is refused (a person), nothing latched.
* 4 ``ShiftAlreadyOpened``, 5 ``ShiftNotOpened``, 7 ``CheckLocalNumberInvalid``: «local state drifted —
  resync from TransactionsRegistrarState before continuing» (reference §4.10). The box re-reads the
  state and compares it with its journal (Reconciler.check_against_server). A real drift (documents
  made elsewhere, a shift the journal does not know) stops sales as a person's matter, journaled and
  re-checked by the loop every ``STARTUP_RETRY_S`` (reconcile.Reconciler.retry_start): it lifts as soon
  as the server and the journal agree again, without a restart. No drift: this document alone was
  refused.
* 6 ``LastDocumentMustBeZRep`` «Останній документ, зареєстрований перед закриттям зміни, повинен бути
  Z-звітом», 8 ``ZRepAlreadyRegistered`` «Z-звіт наразі зареєстрований для поточної зміни»: the box
  asks ``LastShiftTotals`` (its ``ZRepPresent``, ``ZRepFiscalNum``) and compares with the journal's
  shift; a difference is a drift, as above.

The refused document's number is given back (journal.mark_rejected) before any of this: the server did
not take it (it registers nothing it refuses), so the next document uses it and none is skipped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.secr.errors import (
    FiscalBoxError,
    JournalMismatch,
    NeedsPerson,
    RetryLater,
    ServerStateMismatch,
)
from agent.secr.replies import NO_STATE

if TYPE_CHECKING:
    from agent.secr.reconcile import Reconciler

log = logging.getLogger(__name__)

INVALID_TIN = 3
SHIFT_ALREADY_OPENED = 4
SHIFT_NOT_OPENED = 5
LAST_MUST_BE_ZREP = 6
LOCAL_NUMBER_INVALID = 7
ZREP_ALREADY = 8


class RegistrationDataChanged(ServerStateMismatch):
    """Code 3: the server's registration data changed since the box read them; it has them now, and the
    same request makes a document that carries them. A refusal of this one document (never a RetryLater:
    inside the pipeline that means "the outcome is unknown", and the server did answer)."""

    code = "registration_data_changed"


def after_refusal(reconciler: Reconciler, refusal: ServerStateMismatch) -> FiscalBoxError:
    """What to raise for a document refused with code 3-8 (its number already given back)."""
    if refusal.error_code == INVALID_TIN:
        return _invalid_tin(reconciler, refusal)
    return _drift(reconciler, refusal)


def _invalid_tin(reconciler: Reconciler, refusal: ServerStateMismatch) -> FiscalBoxError:
    core = reconciler.core
    before = core.seller()
    try:
        state = core.server.registrar_state(core.registrar.fiscal_number, include_tax_object=True)
    except RetryLater:
        reconciler.startup_owed = True  # read again by the loop when the server answers
        return refusal
    if state is None or state.tax_object is None:
        return refusal
    try:
        reconciler.adopt_identity(state)
    except NeedsPerson as problem:
        reconciler.latch(problem)
        return problem
    if core.seller() != before:
        log.warning("the server's registration data changed (code 3): the next document carries them")
        return RegistrationDataChanged(
            f"the fiscal server refused the document for its registration data ({refusal.server_text});"
            " the box has read the server's data again and they had changed",
            http_status=refusal.http_status,
            error_code=refusal.error_code,
            error_name=refusal.error_name,
            server_text=refusal.server_text,
            what_to_do="send the same request again: nothing was registered, the number is used again",
        )
    return refusal


def _drift(reconciler: Reconciler, refusal: ServerStateMismatch) -> FiscalBoxError:
    core = reconciler.core
    fiscal_number = core.registrar.fiscal_number
    try:
        state = core.server.registrar_state(fiscal_number) or NO_STATE
        reconciler.check_against_server(state)
        if refusal.error_code in (LAST_MUST_BE_ZREP, ZREP_ALREADY):
            _check_z(reconciler)
    except RetryLater:
        reconciler.startup_owed = True  # compared by the loop when the server answers again
        return refusal
    except NeedsPerson as drift:
        reconciler.latch(drift)
        return drift
    log.warning("the server refused one document although its state agrees with the journal: %s", refusal)
    return refusal


def _check_z(reconciler: Reconciler) -> None:
    """Codes 6 and 8: the shift's Z report, as the server has it (``LastShiftTotals``), against the journal."""
    core = reconciler.core
    shift = core.open_shift()
    totals = core.server.last_shift_totals(core.registrar.fiscal_number) or {}
    present = bool(totals.get("ZRepPresent"))
    ours = shift is not None and shift.z_doc is not None
    if shift is not None and present != ours:
        raise JournalMismatch(
            f"the server {'has' if present else 'has no'} Z report for the open shift"
            f" ({totals.get('ZRepFiscalNum') or 'none'}); the journal {'has' if ours else 'has none'}",
            what_to_do="call support with this text; every document is kept in the journal",
        )


__all__ = ["RegistrationDataChanged", "after_refusal"]
