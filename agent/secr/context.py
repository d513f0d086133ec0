"""What the register's parts share: the journal and its meta keys, the server, the signer, the clock, the
one register lock, the problem that stops sales, and where events and change notices go.

Locking: one re-entrant register lock around every operation, taken before the journal's own lock (never
the other way round). The lock also carries the change notices: a part says ``changed()`` whenever it
altered what ``status()`` reports; the listeners hear of it once the thread has let go of the lock, so a
listener never runs inside an operation and can never hold a sale up by taking the lock itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from agent.clock import Clock
from agent.events import ChangeListener, Event, EventKind, EventSink, discard
from agent.secr import documents as docs
from agent.secr import offline
from agent.secr.clockcheck import ServerClock
from agent.secr.errors import NeedsPerson, NeverOnline
from agent.secr.identity import Registrar
from agent.secr.journal import Journal, Shift
from agent.secr.meta import IDENTITY_KEYS, IdentityKey, Meta
from agent.secr.server import FiscalServerClient
from agent.secr.signing.base import Signer

log = logging.getLogger(__name__)

Crashpoint = Callable[[str], None]

#: Every crash point, in the order a document meets them: ``core.crashpoint(name)`` in the register's parts
#: and the print worker's own hook (agent/printing.py). In production ``crashpoint`` is ``no_crash``; the
#: fault suite (tests/faults) arms one at a time to SIGKILL the process there and checks that a restart
#: loses nothing, registers nothing twice and prints every receipt once. A new point goes here too
#: (tests/faults/test_crashpoints.py holds the list and the code to each other).
CRASHPOINTS: tuple[str, ...] = (
    "after_sign",  # pipeline.journal_document: rendered and signed, nothing journaled yet
    "after_journal",  # pipeline.make_online: journaled (pending), not sent
    "after_send",  # pipeline.transmit: the server's reply received, not stored
    "after_registered",  # pipeline.registered: fiscal number, effects and print row committed; not announced
    "settle_found",  # reconcile.reconcile: the server has the lost document; its number not stored yet
    "settle_resend",  # reconcile.reconcile: the server never got it; the same bytes about to go again
    "after_offline_begin",  # offline_session.enter: the 102 committed; the sale not yet made again offline
    "after_offline_doc",  # offline_session.fiscalize: an offline document committed, not announced
    "lost_online_delivered",  # upload: the online document lost at the outage delivered, not yet revoked
    "after_revoke",  # upload: the 102 amended to revoke it and committed; no package sent yet
    "after_offline_end",  # upload: the 103 committed, not sent
    "after_package",  # upload: the server accepted a package; the journal does not know yet
    "package_marked",  # upload: a package marked delivered; the next one not cut yet (or the run ends)
    "print_taken",  # printing: a queued receipt taken; nothing sent to the printer
    "print_on_paper",  # printing: the printer took the bytes; printed_at not committed (a copy follows)
    "print_marked",  # printing: printed_at committed
)


class Uplinks(Protocol):
    """What the register asks of the box's uplinks (agent/uplinks/monitor.py) before it goes offline.

    The register's request fails the moment a cable is pulled or a gateway dies; the uplinks move the
    route to the other link a second or two later. Offline in that gap would spend the law's budget
    while a legal way to the server exists, so the register asks first."""

    def way_out(self, since: float) -> bool:
        """True when the route has moved since the monotonic time ``since`` (waiting a bounded time for a
        failover under way) onto a link that reaches the server: worth one more try. False at once when
        nothing is under way that could give one."""
        ...


def no_crash(_: str) -> None:
    return None


class RegisterLock:
    """The register's re-entrant lock; on the outermost release it hands on the changes made under it."""

    def __init__(self, on_changes: Callable[[], None]) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()
        self._on_changes = on_changes

    def __enter__(self) -> None:
        self._lock.acquire()
        self._local.depth = getattr(self._local, "depth", 0) + 1

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        depth = self._local.depth - 1
        self._local.depth = depth
        self._lock.release()
        if depth == 0 and getattr(self._local, "changed", False):
            self._local.changed = False
            self._on_changes()

    def note_change(self) -> None:
        """Held: tell the listeners at the release. Not held: tell them now."""
        if getattr(self._local, "depth", 0):
            self._local.changed = True
        else:
            self._on_changes()


@dataclass(frozen=True)
class Settings:
    check_interval_s: float = 600
    probe_budget_s: float = 0.3
    probe_freshness_s: float = 5.0
    auto_sync: bool = True
    validate_documents: bool = True
    print_documents: bool = False
    #: how far the box's clock may be from the server's; None: not compared (tests on a clock of their own)
    clock_tolerance_s: float | None = None


class Core:
    """The state the parts share. Every part touches the journal only under ``lock``."""

    def __init__(
        self,
        *,
        journal: Journal,
        server: FiscalServerClient,
        signer: Signer,
        online_signer: Callable[[bytes], bytes] | None,
        registrar: Registrar,
        taxes: Mapping[int, docs.Tax],
        clock: Clock,
        limits: offline.Limits,
        settings: Settings,
        crashpoint: Crashpoint,
        events: EventSink | None,
    ) -> None:
        self.journal = journal
        self.server = server
        self.signer = signer
        # Online documents need a qualified signature-time-stamp; offline ones may go without (§1.3).
        self.sign_online = online_signer or signer.sign
        self.registrar = registrar
        self.taxes = dict(taxes)
        self.clock = clock
        self.limits = limits
        self.settings = settings
        self.crashpoint = crashpoint
        self._events: EventSink = events or discard
        self._listeners: list[ChangeListener] = []
        self._listeners_lock = threading.Lock()
        self.lock = RegisterLock(self._notify)
        self.meta = Meta(journal, on_change=self.changed, clock=clock)
        self._problem: NeedsPerson | None = None
        # Why signing fails -- the key or the time-stamp service (the pipeline says, at each signature), or
        # the server refusing the signatures (the client says, at each signed request) -- until it works
        # again: the uplinks' "signing_failed", as mending the network would not help.
        self._signer_error: str | None = None
        self._signature_refused: str | None = None
        #: the box's uplinks, asked before going offline; None: no second way out
        self.uplinks: Uplinks | None = None
        # Every reply that states the server's time is a comparison of the clocks (clockcheck.py).
        self.server_clock = ServerClock(clock, settings.clock_tolerance_s, on_change=self.changed)
        server.on_server_time = self.server_clock.heard
        server.on_signature = self._signature_verdict

    # --- the problem that stops every operation until start() runs again --------------------------

    @property
    def problem(self) -> NeedsPerson | None:
        return self._problem

    @problem.setter
    def problem(self, value: NeedsPerson | None) -> None:
        if value is not self._problem:
            self._problem = value
            self.changed()

    @property
    def signing_error(self) -> str | None:
        return self._signer_error or self._signature_refused

    def signer_verdict(self, error: str | None) -> None:
        """The signer's (and its time-stamp service's) last outcome: None, it signed."""
        if error != self._signer_error:
            self._signer_error = error
            self.changed()

    def _signature_verdict(self, error: str | None) -> None:
        if error != self._signature_refused:
            self._signature_refused = error
            self.changed()

    # --- events and change notices ----------------------------------------------------------------

    def publish(self, kind: EventKind, **detail: Any) -> None:
        try:
            self._events(Event(kind, self.clock.now(), detail))
        except Exception:  # a dashboard must never stop a sale
            log.exception("event sink failed for %s", kind)

    def changed(self) -> None:
        self.lock.note_change()

    def add_listener(self, callback: ChangeListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._listeners_lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def _notify(self) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:  # a listener's fault is its own: the sale has been made
                log.exception("register status listener failed")

    # --- small shared reads -----------------------------------------------------------------------

    def open_shift(self) -> Shift | None:
        shift = self.journal.last_shift()
        return shift if shift is not None and shift.close_doc is None else None

    def seller(self) -> docs.Seller:
        """Who the documents are for: the registration data as the server gave it (journaled at every
        start-up check, reconcile.py), and only where the server was never asked, the configured values.

        The server's data win: a config edited while the server cannot be asked must not put other
        data into documents than the register is registered with (issue 9, scenario 9)."""

        def value(key: IdentityKey) -> str | None:
            journaled = self.meta.identity(key)
            if journaled is not None:
                return journaled or None  # "": the server has none
            configured = getattr(self.registrar, key)
            return str(configured) if configured is not None else None

        tin, org_name, point_name, local_number = (
            value("tin"),
            value("org_name"),
            value("point_name"),
            value("local_number"),
        )
        if not (tin and org_name and point_name and local_number):
            raise NeverOnline(
                "the register's registration data is not known yet: the box has never reached the fiscal server",
                what_to_do="connect the box to the internet; the data is fetched once and kept",
            )
        return docs.Seller(
            tin=tin,
            org_name=org_name,
            point_name=point_name,
            cash_desk_num=int(local_number),
            cash_register_num=int(self.registrar.fiscal_number),
            ipn=value("ipn"),
            point_address=value("point_address"),
        )

    def config_differences(self) -> list[str]:
        """Where the config's registration data differ from the journaled ones (the server's)."""
        found = []
        for key in IDENTITY_KEYS:
            configured = getattr(self.registrar, key)
            journaled = self.meta.identity(key)
            if configured is not None and journaled is not None and str(configured) != journaled:
                server = repr(journaled) if journaled else "none"
                found.append(f"registrar.{key}: the config says {str(configured)!r}, the server says {server}")
        return found


__all__ = ["CRASHPOINTS", "Core", "Crashpoint", "RegisterLock", "Settings", "Uplinks", "no_crash"]
