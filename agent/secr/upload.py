"""Going online again (reference §4.8-4.9): close the session with its 103, deliver the packages in order,
take the next range from the reply, go online. An online document lost when the box went offline is
settled first and revoked in the 102 (which may be amended only until it is delivered). A run killed half
way resumes from what the server says it already has; a package the server refuses is kept and reported.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.events import EventKind
from agent.secr import documents as docs
from agent.secr import offline
from agent.secr.context import Core
from agent.secr.errors import (
    DocumentRejected,
    FiscalBoxError,
    InvalidServerReply,
    JournalMismatch,
    OfflineDocumentsRefused,
    RetryLater,
    ServerRejected,
    UploadInProgress,
)
from agent.secr.journal import OFFLINE, REVOKED, Entry
from agent.secr.meta import Mode
from agent.secr.offline_session import OfflineSession
from agent.secr.pipeline import Pipeline, Request, financially_significant
from agent.secr.reachability import Reachability
from agent.secr.reconcile import Reconciler
from agent.secr.replies import NO_STATE, RegistrarState, known
from agent.secr.results import SyncReport
from agent.secr.server import Ticket
from agent.secr.sync import MAX_DOCUMENTS, package_room, split_packages

log = logging.getLogger(__name__)

_PACKAGE_INDEX = re.compile(r"(?:№|No\.?|номер|index)\s*(\d+)", re.IGNORECASE)


@dataclass
class _Progress:
    packages: int = 0
    delivered: int = 0
    batch: list[Entry] = field(default_factory=list)  # the package in flight
    revoked: str | None = None
    max_documents: int = MAX_DOCUMENTS  # halved each time the server refuses a package for its size


class Upload:
    def __init__(
        self,
        core: Core,
        pipeline: Pipeline,
        reconciler: Reconciler,
        session: OfflineSession,
        reach: Reachability,
    ) -> None:
        self.core = core
        self.pipeline = pipeline
        self.reconciler = reconciler
        self.session = session
        self.reach = reach
        self.last_sync_attempt: float | None = None
        self.last_range_refresh: float | None = None
        self._thread: threading.Thread | None = None
        #: the session whose 103 package was just accepted, until one run announces it (runs interleave)
        self._ended_session: str | None = None

    # --- when --------------------------------------------------------------------------------------

    def maintain(self) -> None:
        """Periodic probes while offline, range refresh while online."""
        core = self.core
        now = core.clock.monotonic()
        interval = core.settings.check_interval_s
        with core.lock:
            mode = core.meta.mode
            has_pending = bool(core.journal.pending())
        if mode == Mode.ONLINE:
            refresh_due = self.last_range_refresh is None or now - self.last_range_refresh >= interval
            if has_pending or refresh_due:
                self.go_online()
        elif self.last_sync_attempt is None or now - self.last_sync_attempt >= interval:
            self.go_online()

    def kick(self) -> None:
        """The server answers again while offline: upload in the background (the sale does not wait)."""
        if not self.core.settings.auto_sync:
            return
        if self._thread is not None and self._thread.is_alive():
            return

        def run() -> None:
            try:
                self.go_online()
            except FiscalBoxError as exc:
                log.warning("background upload: %s", exc)
            except Exception:  # the thread must report, never die silently
                log.exception("background upload failed")

        self._thread = threading.Thread(target=run, name="fiscal-box-sync", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout=timeout)

    def finish_now(self) -> Mode:
        """The 103 is made: nothing may be numbered until its package is delivered."""
        try:
            report = self.go_online()
        except OfflineDocumentsRefused as exc:
            raise UploadInProgress(str(exc), what_to_do=exc.what_to_do) from exc
        if report.mode == Mode.UPLOADING:
            raise self.uploading()
        return report.mode

    def uploading(self) -> UploadInProgress:
        return UploadInProgress(
            "the offline session is closed and its last package is not delivered yet: the box waits for the"
            " fiscal server to answer",
            what_to_do="wait for the connection; the box delivers the package by itself",
        )

    def before_offline_document(self) -> tuple[Mode, bool]:
        """The check before an offline document, and going online first when the server answers.

        Порядок 317 asks for a connection check before every offline document and allows offline work only
        while the server cannot be reached, and the box must go back online as soon as the link returns
        (reference §4.2 step 5, §4.6 step 1, §4.7). So when the check finds the server answering, the
        session is finished before this document whenever that fits the document's time: when the rest of
        the session and its 103 fit in one package (≤ 100 documents, ≤ 200 KB, §4.8). That package must be
        delivered before any online document anyway (the server takes none while a session is open,
        §4.11), so the sale waits for a state query and one package (each bounded by the client's timeout),
        about what an online sale waits for its own request; the probe itself is bounded by [offline]
        probe_budget_ms. A longer backlog cannot be delivered in a sale's time: it goes in the background,
        and this document is made in the session still open — the exception, counted and announced
        (offline_session.OfflineSession.fiscalize).

        Called under the register's lock. Returns the mode to go on in and whether the server answered."""
        core = self.core
        if core.meta.upload_error is not None:
            return core.meta.mode, False  # a refused package stands: the session refuses, a person decides
        if not self.reach.before_document():
            return core.meta.mode, False
        if not self._rest_fits_one_package():
            self.kick()
            return core.meta.mode, True
        try:
            self._go_online(refresh_range=False)
        except (OfflineDocumentsRefused, JournalMismatch):
            pass  # upload_error is set: the session's refusal answers the sale
        except FiscalBoxError as exc:
            # An answer that is no answer: the sale is not held to it; the loop's next run tries again.
            log.warning("finishing the offline session before a sale failed: %s", exc)
        mode = core.meta.mode
        return mode, mode != Mode.ONLINE and self.reach.last_ok is True

    def _rest_fits_one_package(self) -> bool:
        """The rest of the session and its 103 in one package: the rule _next_package closes the session by."""
        core = self.core
        session_id = core.meta.session_id
        if session_id is None:
            return True
        unsent = core.journal.offline_unsent(session_id, limit=MAX_DOCUMENTS + 1)
        packages = split_packages(unsent, [len(e.signed) for e in unsent], **self._package_limits())
        return len(unsent) < MAX_DOCUMENTS and len(packages) <= 1

    # --- the run -----------------------------------------------------------------------------------

    def go_online(self) -> SyncReport:
        """Probe now; when the server answers, deliver every offline document and go online."""
        core = self.core
        with core.journal.exclusive("upload") as ours:
            if not ours:
                with core.lock:
                    mode = core.meta.mode
                return SyncReport(True, False, 0, 0, mode, error="another upload of this journal is running")
            return self._go_online()

    def _go_online(self, *, refresh_range: bool = True) -> SyncReport:
        # No lock of its own: every package is cut, sent and marked under the register's lock, so two
        # runs (the agent's loop and a sale's probe) can interleave without sending anything twice.
        core = self.core
        with core.lock:  # the journal's connection is shared: every touch of it holds the lock
            self.last_sync_attempt = core.clock.monotonic()
            if core.meta.mode == Mode.ONLINE:
                return self._refresh_online()
            session_id, seed = core.meta.session_id, core.meta.session_seed
        try:
            state = core.server.registrar_state(
                core.registrar.fiscal_number, offline_session_id=session_id, offline_seed=seed
            )
        except RetryLater as exc:
            self.reach.record(False)
            with core.lock:
                return SyncReport(False, False, 0, 0, core.meta.mode, error=str(exc))
        self.reach.record(True)
        return self._deliver(state or NO_STATE, session_id, refresh_range=refresh_range)

    def _deliver(
        self, state: RegistrarState, session_id: str | None, *, refresh_range: bool = True
    ) -> SyncReport:
        core = self.core
        progress = _Progress()
        try:
            with core.lock:
                progress.revoked = self._settle_lost_online(progress)
                done = self._adopt_server_progress(state, session_id)
            if not done:
                self._send_packages(progress)
        except JournalMismatch as exc:
            # The box will not guess (e.g. the lost document is not where it must be): the session stops
            # here like a refused package, for a person.
            with core.lock:
                core.meta.upload_error = str(exc)
            core.publish(EventKind.SYNC_FAILED, error=str(exc), needs_person=True)
            raise
        except ServerRejected as exc:
            # A refusal is an answer: the server is reachable, so the session stops here (sales refuse,
            # offline_session.OfflineSession.refusal) with the document and the server's text for a person.
            error = self._package_refused(exc, progress.batch)
            core.publish(
                EventKind.SYNC_FAILED,
                error=str(error),
                local_num=error.local_num,
                server_text=error.server_text,
                needs_person=True,
            )
            raise error from exc
        except RetryLater as exc:
            self.reach.record(False)
            core.publish(EventKind.SYNC_FAILED, error=str(exc))
            with core.lock:
                mode = core.meta.mode
            return SyncReport(True, False, progress.packages, progress.delivered, mode, error=str(exc))
        with core.lock:
            mode = core.meta.mode
            # Runs interleave (a sale finishes the session while the loop's run waits for the lock):
            # whichever sees the end first announces it, once.
            ended, self._ended_session = self._ended_session is not None, None
        if ended:
            self._after_went_online(progress.delivered, refresh_range=refresh_range)
        return SyncReport(
            True,
            mode == Mode.ONLINE,
            progress.packages,
            progress.delivered,
            mode,
            revoked_online_fiscal_num=progress.revoked,
        )

    def _send_packages(self, progress: _Progress) -> None:
        core = self.core
        done = False
        while not done:
            with core.lock:
                progress.batch = self._next_package(progress.max_documents)
                if not progress.batch:
                    return
                try:
                    reply = core.server.send_package([e.signed for e in progress.batch])
                except DocumentRejected as exc:
                    if not self._smaller(progress, exc):
                        raise
                    continue
                core.crashpoint("after_package")
                progress.packages += 1
                progress.delivered += len(progress.batch)
                # Only the reply to the package with the 103 carries the next session (reference §4.8).
                ends = any(e.doc_type == docs.DocType.OFFLINE_END for e in progress.batch)
                done = self._package_delivered(
                    progress.batch,
                    reply.next_offline_session_id if ends else None,
                    reply.next_offline_seed if ends else None,
                )
                core.crashpoint("package_marked")
            time.sleep(0)  # let a waiting sale take the lock between packages

    @staticmethod
    def _smaller(progress: _Progress, refusal: DocumentRejected) -> bool:
        """A package refused for its size (HTTP 416, reference §1.2) is sent again in smaller ones, never
        unchanged; True when there is a smaller one to send."""
        if refusal.http_status != 416 or len(progress.batch) <= 1:
            return False
        progress.max_documents = max(1, len(progress.batch) // 2)
        log.warning(
            "the fiscal server refused a package of %s documents for its size; sending at most %s at a time",
            len(progress.batch),
            progress.max_documents,
        )
        return True

    def _refresh_online(self) -> SyncReport:
        """Online already: settle what is pending and keep the range fresh."""
        core = self.core
        try:
            with core.lock:
                self.reconciler.resolve_pending()
                state = known(core.server.registrar_state(core.registrar.fiscal_number))
                if state is not None:
                    with core.journal.transaction():
                        self.reconciler.adopt_range(state)
                self.last_range_refresh = core.clock.monotonic()
        except RetryLater as exc:
            self.reach.record(False)
            return SyncReport(False, False, 0, 0, Mode.ONLINE, error=str(exc))
        self.reach.record(True)
        return SyncReport(True, False, 0, 0, Mode.ONLINE)

    # --- the online document lost at the outage ----------------------------------------------------

    def _settle_lost_online(self, progress: _Progress) -> str | None:
        """The online document lost when the box went offline: revoke it in the 102 if the server has it,
        or, a shift document kept through the outage, see that the server has it.

        Must run before the 102 is delivered: only then may the 102 still be amended, and the kept document
        comes before the 102 in numbering."""
        core = self.core
        lost_id = core.meta.lost_doc
        if lost_id is None:
            return None
        lost = core.journal.document(lost_id)
        begin = core.journal.document(core.meta.begin_doc or 0)
        assert lost is not None and begin is not None
        if begin.state != OFFLINE:
            raise JournalMismatch(
                "the offline begin document was delivered before the lost online document was settled"
            )
        progress.batch = [lost]  # a refusal from here on is about this document
        if not financially_significant(lost):
            self._settle_kept(lost)
            progress.batch = []
            return None
        fiscal_num = self._registered_fiscal_num(lost)
        progress.batch = []
        document = docs.parse(begin.xml)
        assert isinstance(document, docs.Check) and document.head.offline is not None
        amended = dataclasses.replace(
            document,
            head=dataclasses.replace(
                document.head, offline=dataclasses.replace(document.head.offline, revoke_last_online_doc=True)
            ),
        )
        xml = docs.render(amended)
        with core.journal.transaction():
            core.journal.replace_signed(begin.id, xml, core.signer.sign(xml))
            core.journal.set_state(lost.id, REVOKED, fiscal_num=fiscal_num)
            core.meta.lost_doc = None
        core.crashpoint("after_revoke")
        log.info(
            "online document %s (fiscal %s) revoked in the offline begin document", lost.local_num, fiscal_num
        )
        return fiscal_num

    def _registered_fiscal_num(self, lost: Entry) -> str:
        """The lost document's fiscal number on the server, delivering it first if it never arrived."""
        found, ticket = self._find_or_deliver(lost, "online document", "lost at the outage")
        if ticket is None:
            return found
        # It never arrived: its number must still be used, so it was delivered; the 102 revokes it (its
        # sale was made again offline and counts there).
        self.core.crashpoint("lost_online_delivered")
        return ticket.fiscal_num or ""

    def _settle_kept(self, kept: Entry) -> None:
        """A shift document kept through the outage (offline_session.OfflineSession._set_aside) may not be
        revoked, so the box made nothing in its place: find it on the server, or send the same signed
        document now (reference §4.10: absent, and the server expects its number — it never arrived)."""
        core = self.core
        found, ticket = self._find_or_deliver(kept, "shift document", "kept through the outage")
        if ticket is None:
            log.info("shift document %s kept through the outage was registered as %s", kept.local_num, found)
            self.pipeline.settled(kept, found, core.clock.now(), None)
            return
        if not ticket.fiscal_num:
            raise InvalidServerReply("the server's ticket carries no fiscal number")
        log.info(
            "shift document %s kept through the outage delivered now as %s", kept.local_num, ticket.fiscal_num
        )
        self.pipeline.settled(kept, ticket.fiscal_num, core.clock.now(), ticket)

    def _find_or_deliver(self, entry: Entry, kind: str, how: str) -> tuple[str, Ticket | None]:
        """An online document from before the outage, on the server: its fiscal number when the server has
        it (and no ticket), or the ticket of sending the same signed bytes now when the server never got it
        and still expects its number; anything else is a mismatch the box does not guess about."""
        core = self.core
        fiscal_number = core.registrar.fiscal_number
        info = core.server.document_info_by_local_num(fiscal_number, entry.local_num)
        if info is not None and info.num_fiscal is not None:
            return info.num_fiscal, None
        state = core.server.registrar_state(fiscal_number) or NO_STATE
        if (state.next_local_num or 0) != entry.local_num:
            raise JournalMismatch(
                f"the {kind} {entry.local_num} {how} is not on the server, which expects"
                f" {state.next_local_num}",
                what_to_do="call support; every document is kept in the journal",
            )
        return "", core.server.send_document(entry.signed)

    # --- packages ----------------------------------------------------------------------------------

    def _adopt_server_progress(self, state: RegistrarState, session_id: str | None) -> bool:
        """Resume: what the server already has of this session is delivered. True when all of it is."""
        core = self.core
        if session_id is None:
            return True
        server_session = state.offline_session_id
        if server_session is not None and server_session != session_id:
            # The server has closed our session: its 103 arrived and the reply was lost.
            if (state.next_local_num or 0) != core.journal.next_local_num():
                raise JournalMismatch(
                    f"the server moved on to offline session {server_session} but expects local number"
                    f" {state.next_local_num}, the journal's next is {core.journal.next_local_num()}",
                    what_to_do="call support; every document is kept in the journal",
                )
            with core.journal.transaction():
                core.journal.mark_session_uploaded(session_id, core.clock.now())
                self._package_delivered([], server_session, state.offline_seed)
            return True
        if state.offline_session_rolled_back:
            # The close of our session was undone for this query (its reply was lost): the 103 goes again
            # below, from where the server says it stands, and the next range comes in its reply.
            log.warning(
                "the server rolled back the close of offline session %s (request %s); sending its end again",
                session_id,
                state.offline_session_rollback_uid,
            )
        server_next_n = state.offline_next_local_num or 1
        already = core.journal.mark_session_uploaded(session_id, core.clock.now(), below_n=server_next_n)
        if already:
            core.changed()
            log.info("the server already has %s documents of session %s (resuming)", already, session_id)
        return False

    def _package_limits(self, max_documents: int = MAX_DOCUMENTS) -> dict[str, int]:
        # The room the frames have under this signer's own envelope, not a guess at it (reference §4.8).
        return {"max_documents": max_documents, "max_bytes": package_room(self.core.server.package_envelope)}

    def _next_package(self, max_documents: int = MAX_DOCUMENTS) -> list[Entry]:
        core = self.core
        session_id = core.meta.session_id
        if session_id is None:
            return []
        limits = self._package_limits(max_documents)
        unsent = core.journal.offline_unsent(session_id, limit=MAX_DOCUMENTS + 1)
        packages = split_packages(unsent, [len(e.signed) for e in unsent], **limits)
        if core.meta.mode == Mode.OFFLINE and len(packages) <= 1 and len(unsent) < max_documents:
            # The rest fits in one package: close the session now, so the 103 is its last document.
            with core.journal.transaction():
                end = self.session.make(Request(docs.offline_end))
                core.meta.mode = Mode.UPLOADING
            core.crashpoint("after_offline_end")
            self.pipeline.announce(end)
            unsent = core.journal.offline_unsent(session_id, limit=MAX_DOCUMENTS + 1)
            packages = split_packages(unsent, [len(e.signed) for e in unsent], **limits)
        return packages[0] if packages else []

    def _package_delivered(self, batch: list[Entry], next_id: str | None, next_seed: str | None) -> bool:
        core, meta = self.core, self.core.meta
        now = core.clock.now()
        with core.journal.transaction():
            core.journal.mark_uploaded([e.id for e in batch], now)
            meta.upload_error = None
            meta.last_sync_at = now
            if next_id is None:
                return False
            # The package with the 103 was accepted: the next range, and we are online.
            meta.offline_session_id = next_id
            if next_seed is not None:
                meta.offline_seed = next_seed
            self._ended_session = meta.session_id
            meta.end_session()
            meta.mode = Mode.ONLINE
            meta.save_ledger(offline.end_session(meta.ledger(now), now))
        return True

    def _after_went_online(self, delivered: int, *, refresh_range: bool = True) -> None:
        core = self.core
        core.publish(EventKind.SYNC_DONE, documents=delivered)
        core.publish(EventKind.WENT_ONLINE)
        if not refresh_range:
            # A sale is waiting: the next range came with the last package; the server's offline figures
            # are read by the loop's next range refresh.
            self.last_range_refresh = None
            return
        try:
            state = known(core.server.registrar_state(core.registrar.fiscal_number))
        except FiscalBoxError as exc:
            log.warning("could not read the server's offline figures after the upload: %s", exc)
            return
        if state is not None:
            with core.lock, core.journal.transaction():
                self.reconciler.adopt_range(state)

    def _package_refused(self, exc: ServerRejected, batch: Sequence[Entry]) -> OfflineDocumentsRefused:
        match = _PACKAGE_INDEX.search(exc.server_text or "")
        failing = batch[0] if len(batch) == 1 else None
        if match and batch:
            index = int(match.group(1))
            if 0 <= index < len(batch):
                failing = batch[index]
        named = (
            f"document local № {failing.local_num} ({failing.offline_tax_num or 'sent online'})"
            if failing
            else "a document of the package"
        )
        error = OfflineDocumentsRefused(
            f"the fiscal server refused {named}: {exc.server_text or exc.message}",
            local_num=failing.local_num if failing else None,
            server_text=exc.server_text,
            what_to_do="every document is kept; call support with this text, then send again (fiscal-box go-online)",
        )
        with self.core.lock:
            self.core.meta.upload_error = str(error)
        return error


__all__ = ["Upload"]
