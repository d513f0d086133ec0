"""Agreeing with the server: at start-up (who we are, the range, the numbering), after a lost reply
(ask DocumentInfoByLocalNum before anything is sent again, so nothing is registered twice), and when the
server refuses a document over our numbering or shift (re-read its state and explain, never guess).
"""

from __future__ import annotations

import logging
from enum import Enum

from agent.secr import codes, identity, offline
from agent.secr.context import Core
from agent.secr.errors import (
    IdentityMismatch,
    InvalidServerReply,
    JournalMismatch,
    NeedsPerson,
    OutcomeUnknown,
    RegistrarClosed,
    RegistrarNotAvailable,
    RetryLater,
    ServerRejected,
    ServerStateMismatch,
    StartupProblem,
)
from agent.secr.journal import PENDING, VOID, Entry
from agent.secr.meta import IDENTITY_KEYS, IdentityKey, Mode
from agent.secr.pipeline import Pipeline, WentDark
from agent.secr.reachability import Reachability
from agent.secr.replies import NO_STATE, RegistrarState, TaxObject, known
from agent.secr.results import DuplicateRequest, Fiscalized

log = logging.getLogger(__name__)


class Startup(Enum):
    UNREACHABLE = "unreachable"  # could not check: the journal knows enough; the loop asks again
    CHECKED = "checked"  # online, and the journal agrees with the server
    OFFLINE_WAITING = "offline_waiting"  # offline documents from before the restart wait for delivery


#: the loop asks again at most this often (or every check_interval_s, when shorter) while the start-up
#: check is owed or what it found stands
STARTUP_RETRY_S = 60.0

#: what leaves the start-up check unmade rather than failed: the network, and a reply that is no answer
#: (a proxy's page with status 200): a passing fault must never latch a refusal until the next restart
_COULD_NOT_CHECK = (RetryLater, InvalidServerReply)


def _identity(tax_object: TaxObject | None, fiscal_number: str) -> dict[IdentityKey, str | None]:
    """The server's registration data for the documents' heads: None where it said nothing, "" where it
    says there is none (a taxpayer without a VAT number, a point without an address)."""
    if tax_object is None:
        return dict.fromkeys(IDENTITY_KEYS)
    ours = tax_object.registrar(fiscal_number)
    local = ours.num_local if ours is not None else None
    found: dict[IdentityKey, str | None] = {
        "tin": tax_object.tin,
        "ipn": tax_object.ipn or "",
        "org_name": tax_object.org_name,
        "point_name": tax_object.name,
        "point_address": tax_object.address or "",
        "local_number": None if local is None else str(local),
    }
    return found


class Reconciler:
    def __init__(self, core: Core, pipeline: Pipeline, reach: Reachability) -> None:
        self.core = core
        self.pipeline = pipeline
        self.reach = reach
        #: the start-up check could not be made (the server did not answer, or not with an answer)
        self.startup_owed = False
        #: what the start-up check found that stops sales, while it stands
        self._found: NeedsPerson | None = None
        self._start_attempted_at: float | None = None

    # --- start-up ---------------------------------------------------------------------------------

    def start(self) -> Startup:
        """Learn who we are from the server, resolve what a crash left, check numbering (under the lock).

        The server being unreachable is not fatal: the check is owed, and the agent's loop makes it when
        the server answers (``retry_start``). A disagreement is, and is explained instead of guessed at;
        it stops sales until a check finds it resolved, across restarts too (it is journaled)."""
        core = self.core
        self._start_attempted_at = core.clock.monotonic()
        core.problem = None
        try:
            outcome = self._check()
        except _COULD_NOT_CHECK as exc:
            log.warning("the start-up check could not be made (it is retried): %s", exc)
            if isinstance(exc, RetryLater):
                self.reach.record(False)
            self.startup_owed = True
            remembered = self._remembered()
            self._found = core.problem = remembered
            if remembered is not None:
                raise remembered from exc
            return Startup.UNREACHABLE
        except NeedsPerson as exc:
            self.startup_owed = False
            self._latch(exc)
            raise
        self.startup_owed = False
        self._found = None
        core.meta.startup_problem = None
        return outcome

    def retry_start(self) -> Startup | None:
        """The agent's loop: the start-up check again while it is owed or what it found stands (so that a
        refusal resolved on the server's side lifts), at most every ``STARTUP_RETRY_S``. None: not due."""
        core = self.core
        if not self.startup_owed and self._found is None:
            return None
        attempted = self._start_attempted_at
        every = min(STARTUP_RETRY_S, core.settings.check_interval_s)
        if attempted is not None and core.clock.monotonic() - attempted < every:
            return None
        with core.lock:
            if core.problem is not None and core.problem is not self._found:
                return None  # another part's refusal, lifted by its own remedy
            try:
                return self.start()
            except NeedsPerson as exc:
                log.error("start-up check: %s", exc)
                return None

    def _check(self) -> Startup:
        core = self.core
        fiscal_number = core.registrar.fiscal_number
        state = core.server.registrar_state(fiscal_number, include_tax_object=True)
        self.reach.record(True)
        if state is None:
            raise RegistrarNotAvailable(
                f"the fiscal server does not know register {fiscal_number}",
                http_status=204,
                error_code=None,
                error_name=None,
                server_text="",
                what_to_do="check registrar.fiscal_number in the config against the tax cabinet",
            )
        if state.empty:
            raise InvalidServerReply("TransactionsRegistrarState: the server answered an empty object")
        self.adopt_identity(state)
        if core.meta.mode != Mode.ONLINE:
            # Offline documents wait for delivery: numbering is checked by the upload itself.
            log.info("offline documents from before the restart are waiting; delivering them")
            return Startup.OFFLINE_WAITING
        self.resolve_pending()
        again = core.server.registrar_state(fiscal_number)
        self.check_against_server(known(again) or state)
        return Startup.CHECKED

    def latch(self, problem: NeedsPerson) -> None:
        """A problem found after start-up (codes.py) stands as the start-up check's would: journaled, and
        lifted by the loop's next check that finds the server and the journal agreeing."""
        self._start_attempted_at = self.core.clock.monotonic()
        self._latch(problem)

    def _latch(self, problem: NeedsPerson) -> None:
        """What the check found stops sales, and is journaled: a restart that cannot ask the server keeps it."""
        core = self.core
        self._found = core.problem = problem
        core.meta.startup_problem = {
            "code": problem.code,
            "reason": getattr(problem, "reason", None),
            "message": problem.message,
            "what_to_do": problem.what_to_do,
            "found_at": core.clock.now().isoformat(),
        }

    def _remembered(self) -> StartupProblem | None:
        """What an earlier check found, standing until the server can be asked again."""
        core = self.core
        data = core.meta.startup_problem
        if data is None:
            return None
        if data.get("code") == IdentityMismatch.code and not core.config_differences():
            # The config was put right since: it agrees with the server's data as journaled.
            return None
        found_at = data.get("found_at")
        return StartupProblem(
            f"{data.get('message') or 'the start-up check found a problem'} (found {found_at or 'earlier'};"
            " the fiscal server could not be asked again since)",
            code=str(data.get("code") or NeedsPerson.code),
            reason=data.get("reason") if isinstance(data.get("reason"), str) else None,
            what_to_do=data.get("what_to_do") if isinstance(data.get("what_to_do"), str) else None,
        )

    def adopt_identity(self, state: RegistrarState) -> None:
        """Journal the server's registration data (the documents carry them: Core.seller), then refuse
        what the server says stands against selling: a cancelled registration, a config that differs."""
        core = self.core
        registrar = core.registrar
        found = _identity(state.tax_object, registrar.fiscal_number)
        # An empty or odd value is never journaled (every later document would carry it): identity.py.
        usable = identity.usable(found)
        with core.journal.transaction():
            for key, value in usable.items():
                if value is not None:
                    core.meta.set_identity(key, value)
            if core.meta.mode == Mode.ONLINE:
                self.adopt_range(state)
        ours = state.tax_object.registrar(registrar.fiscal_number) if state.tax_object else None
        if (ours is not None and ours.closed) or state.closed:
            # reference §2.5: Closed — "registrar registration cancelled while a shift is still open"
            raise RegistrarClosed(
                f"register {registrar.fiscal_number} is closed (its registration was cancelled)",
                http_status=200,
                error_code=None,
                error_name=None,
                server_text="",
                what_to_do="the register can no longer issue documents; contact the owner",
            )
        unknown = [
            f"{key} {found[key]!r}"
            for key in identity.REQUIRED
            if usable[key] is None
            and found[key] is not None
            and core.meta.identity(key) is None
            and getattr(registrar, key) is None
        ]
        if unknown:
            raise IdentityMismatch(
                "the fiscal server's registration data (TaxObject) cannot go into a document: "
                + ", ".join(unknown),
                what_to_do="check the register's data in the tax cabinet, or give them in the config's [registrar]",
            )
        mismatches = core.config_differences()
        if mismatches:
            raise IdentityMismatch(
                "the configuration does not match the register's registration data: " + "; ".join(mismatches),
                what_to_do="correct the config (or leave those keys out to take the server's values)",
            )

    def adopt_range(self, state: RegistrarState) -> None:
        """The offline range the server hands out: session id, seed, and (where finite) the reserve.

        Only while online: during an offline session the range in use is fixed until its 103."""
        meta = self.core.meta
        supported = state.offline_supported
        session_id, seed = state.offline_session_id, state.offline_seed
        # Only OfflineSupported=false says «prohibited»: the range itself comes with the first open
        # shift's ticket («Ідентифікатор офлайн сесії надається Сервером у відповідь на документ
        # «Відкриття зміни»», fsko_evpz_doc.txt, Офлайн сесія), and the Offline… fields are null for anyone
        # but the shift's opener or a senior cashier («Поля “Offline…” заповнюються, якщо запит засвідчено
        # КЕП особи, яка відкрила зміну, або КЕП старшого користувача»): a null range is "not yet" or
        # "not shown", and the box without one refuses offline sales as never_online.
        meta.offline_prohibited = supported is False
        if session_id is not None and seed is not None:
            meta.offline_session_id = session_id
            meta.offline_seed = seed
        if state.reports_offline_session_reserve:
            meta.offline_reserve = state.offline_session_reserve
        now = self.core.clock.now()
        meta.save_ledger(
            offline.with_server_figures(
                meta.ledger(now),
                now,
                state.offline_sessions_monthly_duration,
                clock_checked=self.core.server_clock.agrees(),
            )
        )

    def check_against_server(self, state: RegistrarState) -> None:
        core = self.core
        server_next = state.next_local_num or 1
        never_used = not core.meta.numbering_started()
        if never_used:
            # A new journal on a register with history: the server's counter is the truth to start from.
            core.journal.set_next_local_num(server_next)
            log.info("new journal: numbering starts at the server's next local number %s", server_next)
        else:
            ours = core.journal.next_local_num()
            if ours < server_next:
                raise JournalMismatch(
                    f"the server has documents this box did not make: it expects local number {server_next},"
                    f" the journal's next is {ours} (documents {ours}..{server_next - 1} came from elsewhere)",
                    what_to_do="is another device using this register? stop it; then call support",
                )
            if ours > server_next:
                raise JournalMismatch(
                    f"the journal is ahead of the server: it holds documents up to local number {ours - 1},"
                    f" the server expects {server_next}",
                    what_to_do="call support: documents the box journaled are missing on the server",
                )
        shift = core.open_shift()
        if state.shift_open and shift is None and not never_used:
            raise JournalMismatch(
                "the server has an open shift that this box's journal does not",
                what_to_do="close that shift from the device that opened it, or call support",
            )
        if shift is not None and not state.shift_open:
            raise JournalMismatch(
                f"the journal has shift {shift.id} open but the server has no open shift",
                what_to_do="call support",
            )

    def explain_drift(self, refusal: ServerStateMismatch) -> NeedsPerson:
        try:
            state = self.core.server.registrar_state(self.core.registrar.fiscal_number) or NO_STATE
            self.check_against_server(state)
        except NeedsPerson as explained:
            return explained
        except RetryLater:
            pass
        return JournalMismatch(
            f"the server refused the document although the journal agrees with its state: {refusal.message}",
            what_to_do="call support with this text",
        )

    # --- sending, and what a lost reply leaves ----------------------------------------------------

    def send(self, entry: Entry, *, reconcile_on_loss: bool = True) -> Fiscalized:
        """Send a journaled document; on a lost reply, find out before anything is sent again."""
        journal = self.core.journal
        try:
            ticket = self.pipeline.transmit(entry)
        except ServerStateMismatch as exc:
            # Codes 3-8: the number goes back (the server took nothing), then each code as the text says
            # (codes.py): re-read the server's state and explain, never guess at the next number
            # (reference §4.10); a real drift stops sales until a check finds it resolved, not a restart.
            journal.mark_rejected(entry.id, str(exc))
            self.core.changed()
            raise codes.after_refusal(self, exc) from exc
        except ServerRejected as exc:
            journal.mark_rejected(entry.id, str(exc))
            self.core.changed()
            raise
        except RetryLater as lost:
            # The outcome is unknown: the server may have registered it. Ask before anything else,
            # and resend at most once per call so a server that keeps timing out cannot loop us.
            return self._after_loss(entry, lost, reconcile_on_loss)
        self.reach.record(True)
        return self.pipeline.accept(entry, ticket)

    def _after_loss(self, entry: Entry, lost: RetryLater, reconcile: bool) -> Fiscalized:
        try:
            if not reconcile:
                raise lost
            settled = self.reconcile(entry)
        except RetryLater as exc:
            self.core.journal.set_error(entry.id, str(exc))
            failure = RetryLater(
                f"the document (local number {entry.local_num}) is journaled but not yet registered:"
                f" {exc.message}",
                what_to_do="retry with the same request id; it will not be registered twice",
            )
            failure.request_sent = lost.request_sent
            raise failure from exc
        assert settled is not None, "a document just sent is never in doubt"
        return settled

    def reconcile(self, entry: Entry) -> Fiscalized | None:
        """Find out what became of a document whose reply was lost, then finish it. Never a blind resend.

        None: the server never had it and its till had been told the outcome was not known, so it is voided
        (its number given back) rather than sent now, behind the till's back."""
        core = self.core
        info = core.server.document_info_by_local_num(core.registrar.fiscal_number, entry.local_num)
        if info is not None and info.num_fiscal is not None:
            log.info(
                "local number %s was registered as %s (reply had been lost)", entry.local_num, info.num_fiscal
            )
            core.crashpoint("settle_found")
            done = self.pipeline.registered(entry, info.num_fiscal, core.clock.now(), None)
            self._no_longer_in_doubt(entry)
            return done
        state = core.server.registrar_state(core.registrar.fiscal_number) or NO_STATE
        server_next = state.next_local_num or 0
        if server_next != entry.local_num:
            raise JournalMismatch(
                f"document with local number {entry.local_num} is not on the server, which expects {server_next}",
                what_to_do="call support; the document is kept in the journal",
            )
        if entry.id in core.meta.in_doubt:
            # Scenario "a refused sale is never fiscalized later": the till heard "not known yet, retry with
            # the same id"; registering it now would make a sale nobody may have wanted any more. The
            # server has not got it and expects its number next, so the number is simply given back.
            log.info("local number %s never reached the server: voided (its till was told)", entry.local_num)
            with core.journal.transaction():
                core.journal.mark_rejected(entry.id, "never reached the server; voided", state=VOID)
                core.meta.in_doubt = core.meta.in_doubt - {entry.id}
            core.changed()
            return None
        log.info(
            "local number %s never reached the server: sending the same signed document again",
            entry.local_num,
        )
        core.crashpoint("settle_resend")
        return self.send(entry, reconcile_on_loss=False)

    def _no_longer_in_doubt(self, entry: Entry) -> None:
        doubts = self.core.meta.in_doubt
        if entry.id in doubts:
            self.core.meta.in_doubt = doubts - {entry.id}

    def resolve_pending(self) -> None:
        for entry in self.core.journal.pending():
            self.reconcile(entry)

    def settle_pending(self) -> None:
        """Online: a document whose outcome is unknown must be settled before the next one is numbered."""
        for entry in self.core.journal.pending():
            try:
                self.reconcile(entry)
            except RetryLater as exc:
                # Left pending by an earlier call: whether it ever arrived is not known any more.
                uncertain = RetryLater(exc.message, what_to_do=exc.what_to_do)
                raise WentDark(entry, uncertain, own=False) from exc

    def refuse_duplicate(self, request_id: str) -> None:
        """A request id already used names its document: answer that one, settled if need be.

        Returns (and the request is made anew) when the document it named never reached the server and
        was voided."""
        core = self.core
        existing = core.journal.by_request_id(request_id)
        if existing is None:
            return
        if existing.state == PENDING and existing.id == core.meta.lost_doc:
            # A shift document kept through the outage: settled at reconnection, before the 102 goes.
            raise DuplicateRequest(self.pipeline.kept(existing))
        if existing.state == PENDING:
            try:
                settled = self.reconcile(existing)
            except RetryLater as exc:
                raise OutcomeUnknown(
                    f"the document with request id {request_id} (local number {existing.local_num}) is"
                    f" journaled but whether the server registered it is not known yet: {exc.message}",
                    local_num=existing.local_num,
                    request_id=request_id,
                    what_to_do="retry with the same request id; it will not be registered twice",
                ) from exc
            if settled is None:
                return
            raise DuplicateRequest(settled)
        raise DuplicateRequest(self.pipeline.result(existing))


__all__ = ["Reconciler", "Startup"]
