"""One exception tree for the whole box.

Every error says what should happen next, which is what each boundary (till API, CLI, sync loop) needs:

* ``RetryLater``  -- transient: the network, a timeout, a 5xx, a reply that is not the protocol's.
  Nothing is lost; try again.
* ``NeedsPerson`` -- the box cannot fix it alone: a document the server refuses, a signature problem,
  a registrar that is closed or absent, a journal that disagrees with the server.
* ``BadInput``    -- the caller sent something wrong. Nothing was journaled.

Leaves also subclass the matching built-in (as gpiozero does) so generic handlers keep working.
"""

from __future__ import annotations


class FiscalBoxError(Exception):
    """Base of every error the box raises on purpose."""

    #: a stable machine-readable code for APIs and events
    code: str = "error"

    def __init__(self, message: str, *, what_to_do: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.what_to_do = what_to_do

    def __str__(self) -> str:
        if self.what_to_do:
            return f"{self.message} -- {self.what_to_do}"
        return self.message


# --- the three kinds ---------------------------------------------------------------------------


class RetryLater(FiscalBoxError):
    code = "retry_later"

    #: False only when the request certainly never reached the server (the connection was not made):
    #: then a document sent with it was not registered and its number may be used again.
    request_sent: bool = True


class NeedsPerson(FiscalBoxError):
    code = "needs_person"


class BadInput(FiscalBoxError, ValueError):
    code = "bad_input"


# --- retry later -------------------------------------------------------------------------------


class ServerUnreachable(RetryLater, ConnectionError):
    """No connection could be made (refused, DNS, no route)."""

    code = "server_unreachable"


class ServerTimeout(RetryLater, TimeoutError):
    """The server did not answer in time."""

    code = "server_timeout"


class ServerUnavailable(RetryLater):
    """The server answered with a 5xx."""

    code = "server_unavailable"

    def __init__(self, message: str, *, http_status: int, what_to_do: str | None = None) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.http_status = http_status


# A reply that is not the protocol's: the server is taken for unreachable.


class InvalidServerReply(RetryLater):
    """The server answered something that is not what the protocol promises: an HTML page or a proxy's
    reply with status 200, a body that is not JSON or not a signed ticket, JSON of the wrong shape.

    Retry later, not a person: for going offline such a server is one that cannot be reached, and the
    document in flight may have been registered (``request_sent`` stays True), so the lost-reply rules
    settle it with the server before anything is sent again (reference §1.5, §4.10)."""

    code = "invalid_server_reply"


# The till was answered while a document's fate is open.


class OutcomeUnknown(RetryLater):
    """A document reached the server or may have, its reply was lost, and the box may not make it offline:
    whether it was registered is settled with the server before anything else. The till retries with the
    same request id and then gets the true outcome (the receipt, or the sale made anew or refused); the
    document is never registered behind the till's back."""

    code = "outcome_unknown"

    def __init__(
        self, message: str, *, local_num: int, request_id: str | None, what_to_do: str | None = None
    ) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.local_num = local_num
        self.request_id = request_id


# --- needs a person ----------------------------------------------------------------------------


class ServerRejected(NeedsPerson):
    """The fiscal server refused a request with one of its error codes (reference §5)."""

    code = "server_rejected"

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        error_code: int | None,
        error_name: str | None,
        server_text: str,
        what_to_do: str | None = None,
    ) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.http_status = http_status
        self.error_code = error_code
        self.error_name = error_name
        self.server_text = server_text


class DocumentRejected(ServerRejected):
    """DocumentValidationError (9) / PackageValidationError (10): the document itself is wrong."""

    code = "document_rejected"


class CryptographyRejected(ServerRejected):
    """CryptographyError (12): the signature or certificate was refused."""

    code = "cryptography_rejected"


class RegistrarNotAvailable(ServerRejected):
    """The registrar is absent (1, HTTP 404), closed, or the key has no access to it (2, HTTP 401)."""

    code = "registrar_not_available"


class ServerStateMismatch(ServerRejected):
    """The server's view of shift or numbering differs from ours (3, 4, 5, 6, 7, 8)."""

    code = "server_state_mismatch"


class JournalMismatch(NeedsPerson):
    """The local journal and the server disagree in a way the box will not guess about."""

    code = "journal_mismatch"


class SignerError(NeedsPerson):
    """The signing key cannot be loaded or used."""

    code = "signer_error"


class SalesBlocked(NeedsPerson):
    """No legal way to make a document now. ``reason`` is the status model's ``blocked_reason``."""

    code = "sales_blocked"
    reason = "blocked"


class OfflineProhibited(SalesBlocked):
    code = reason = "offline_prohibited"


class NeverOnline(SalesBlocked):
    code = reason = "never_online"


class OfflineSessionLimit(SalesBlocked):
    code = reason = "offline_session_limit"


class OfflineMonthLimit(SalesBlocked):
    code = reason = "offline_month_limit"


class OfflineRangeExhausted(SalesBlocked):
    code = reason = "offline_range_exhausted"


class UploadInProgress(SalesBlocked):
    """The offline session is closed (103 made) but its last package is not delivered yet."""

    code = reason = "upload_in_progress"


class OfflineDocumentsRefused(NeedsPerson):
    """The server refused an offline package; every document is kept and can be sent again."""

    code = "offline_documents_refused"

    def __init__(
        self, message: str, *, local_num: int | None, server_text: str, what_to_do: str | None = None
    ) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.local_num = local_num
        self.server_text = server_text


# The journal cannot be written. Sales are refused (never made offline: the server
# may well answer) with the status's blocked_reason while it lasts; nothing was half-written.


class JournalUnavailable(SalesBlocked):
    """A SQLite error met at the journal's boundary (agent/secr/journal.py), as the box's own kind."""

    code = reason = "journal_error"


class JournalFull(JournalUnavailable):
    """The journal's filesystem is full (SQLITE_FULL)."""

    code = reason = "disk_full"


class JournalLocked(JournalUnavailable):
    """Another process holds the journal's write lock (SQLITE_BUSY / SQLITE_LOCKED)."""

    code = reason = "journal_locked"


# The clock, and what the start-up check finds.


class ClockOff(SalesBlocked):
    """The box's clock is off the fiscal server's by more than the tolerance: nothing may be dated by it."""

    code = reason = "clock_off"

    def __init__(self, message: str, *, skew_s: float, what_to_do: str | None = None) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.skew_s = skew_s  # the box's clock minus the server's


class RegistrarClosed(RegistrarNotAvailable):
    """The server says the register's registration is cancelled (``Closed``)."""

    code = "registrar_closed"


class IdentityMismatch(JournalMismatch):
    """The configured registration data differ from the server's."""

    code = "identity_mismatch"


class StartupProblem(NeedsPerson):
    """What an earlier start-up check found, kept in the journal: it stands until the server can be asked
    again. ``code`` and ``reason`` are those of the refusal it was."""

    reason: str | None = None

    def __init__(self, message: str, *, code: str, reason: str | None, what_to_do: str | None = None) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.code = code
        self.reason = reason


# A refused package stops the offline session.


class OfflineSessionRefused(SalesBlocked):
    """The server refused a package of the open offline session. It answers, so no offline document may be
    made (reference §4.7: not while the server is reachable), and no online one before the session's 103 is
    accepted: a person must resolve the refusal first."""

    code = reason = "offline_session_refused"


# --- bad input ---------------------------------------------------------------------------------


class InvalidInput(BadInput):
    """A value from the caller is wrong; ``field`` names it."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, what_to_do: str | None = None) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.field = field


class InvalidDocument(BadInput):
    """A document is not valid against the tax service's schema."""

    code = "invalid_document"


class NotSupported(BadInput, NotImplementedError):
    """A document kind or feature the box does not issue."""

    code = "not_supported"


class ShiftNotOpen(BadInput):
    code = "shift_not_open"


class ShiftAlreadyOpen(BadInput):
    code = "shift_already_open"


class ConfigError(BadInput):
    """The configuration file is wrong; the message names section.key and the expected form."""

    code = "config_error"


# What no package could carry.


class DocumentTooLarge(InvalidInput):
    """The document would be larger than one offline package can carry (reference §4.8), so it could
    never be delivered if it had to be made (or made again) offline: it is refused before it is journaled."""

    code = "document_too_large"
