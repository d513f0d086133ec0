"""The typed status snapshot (contract §5) and its JSON projection. Pure: no I/O, no clock of its own.

Parts not configured (the uplinks, the modem, MQTT) report null, never a made-up value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from agent import __version__
from agent.secr.register import Mode, RegisterStatus

CERTIFICATE_WARNING_DAYS = 14
#: the printer states of contract §5
PRINTER_STATES: Final = frozenset({"ok", "paper_out", "cover_open", "offline", "error"})
#: the uplinks of contract §5
UPLINKS: Final = frozenset({"ethernet", "lte", "none"})


@dataclass(frozen=True)
class PrinterPart:
    state: str  # one of PRINTER_STATES
    #: the last fault's text (for the slip and MQTT); in ``errors`` while the printer is not ok
    error: str | None = None
    #: ``paper_near_end`` while the printer still prints: change the roll soon
    warning: str | None = None


@dataclass(frozen=True)
class CertificatePart:
    """Who signs and until when: a qualified certificate must be renewed before it runs out."""

    subject: str | None
    key_id: str | None
    qualified: bool
    expires_at: datetime
    days_left: int

    @classmethod
    def from_signer(cls, signer: object, now: datetime) -> CertificatePart | None:
        certificate = getattr(signer, "certificate", None)
        if certificate is None:
            return None
        not_after = getattr(certificate, "not_after", None) or getattr(
            certificate, "not_valid_after_utc", None
        )
        if not isinstance(not_after, datetime):
            return None
        return cls(
            subject=getattr(signer, "subject_name", None),
            key_id=getattr(signer, "subject_key_id", None),
            qualified=type(signer).__name__ != "DevSigner",
            expires_at=not_after,
            days_left=(not_after - now).days,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CertificatePart:
        return cls(
            subject=data["subject"],
            key_id=data["key_id"],
            qualified=data["qualified"],
            expires_at=datetime.fromisoformat(data["expires_at"]),
            days_left=data["days_left"],
        )

    def at(self, now: datetime) -> CertificatePart:
        """The same certificate with the days left counted from ``now``."""
        days_left = (self.expires_at - now).days
        return self if days_left == self.days_left else replace(self, days_left=days_left)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "key_id": self.key_id,
            "qualified": self.qualified,
            "expires_at": self.expires_at.isoformat(),
            "days_left": self.days_left,
        }

    def warning(self) -> str | None:
        if self.days_left > CERTIFICATE_WARNING_DAYS:
            return None
        return (
            f"the signing certificate of {self.subject} expires in {self.days_left} days"
            f" ({self.expires_at.isoformat()}): renew it"
        )


@dataclass(frozen=True)
class ModemPart:
    """The LTE modem as its AT port tells (drivers/modem.py). The first three are §5's; the rest are
    for the slip, `fiscal-box status` and a technician: whether the modem is there at all, its SIM,
    roaming, packet attach and what could not be asked. All None: no modem configured."""

    signal_dbm: int | None = None
    registered: bool | None = None
    operator: str | None = None
    present: bool | None = None
    sim: str | None = None
    roaming: bool | None = None
    attached: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # §5's keys first, as the fields are declared


_NO_MODEM = ModemPart()


@dataclass(frozen=True)
class NetworkMonth:
    """One Kyiv calendar month of the uplinks (agent/uplinks/ledger.py): how long each way to the server
    failed, and how much offline time the failover saved. Whole minutes, rounded down as the register's
    ``offline.month_minutes`` is: the status (and MQTT's retained state) then changes at most once a
    minute for them, not at every probe."""

    month: str  # "2026-12"
    ethernet_down_minutes: int  # Ethernet did not reach the server for a reason of its own (link, route)
    lte_down_minutes: int  # the same for LTE
    server_down_minutes: int  # both links up and neither reached the server: the tax service was down
    offline_saved_minutes: int  # Ethernet failed while the box stayed online over LTE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NetworkPart:
    """Why the server is not reached the way it should be (the uplinks' verdict), whether the default
    route could be moved as the failover asked, this month's downtime, and each link's IPv4 addresses
    (``{"ethernet": ("192.168.1.20/24",), "lte": ()}``: a technician at the box needs them to tell a
    link without an address from one the server does not answer on)."""

    cause: str | None  # agent/uplinks/policy.py Cause: ethernet_down, ethernet_no_route, server_down, ...
    message: str | None
    route_error: str | None = None
    month: NetworkMonth | None = None
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # the month too, as a dict (or None)
        # Lists, as JSON reads them back: the status file and MQTT compare equal to the projection.
        out["addresses"] = {link: list(found) for link, found in self.addresses.items()}
        return out


@dataclass(frozen=True)
class MqttPart:
    """Whether the dashboards can see the box: for the slip and `fiscal-box status`, which a technician
    reads when a dashboard shows nothing."""

    broker: str  # host:port
    connected: bool
    error: str | None = None  # why not, when not

    def to_dict(self) -> dict[str, Any]:
        return {"broker": self.broker, "connected": self.connected, "error": self.error}


@dataclass(frozen=True)
class Snapshot:
    """The box's state at ``at``, built from the parts its producers set."""

    register: RegisterStatus
    at: datetime
    printer: PrinterPart | None = None
    certificate: CertificatePart | None = None
    #: what the agent's main loop met (a maintenance step that failed), after the register's own errors
    agent_errors: tuple[str, ...] = ()
    uplink: str | None = None  # one of UPLINKS once the uplinks are built
    network: NetworkPart | None = None  # None: the uplinks are off in the config
    modem: ModemPart | None = None
    mqtt: MqttPart | None = None  # None: MQTT is off in the config
    version: str = __version__

    @property
    def mode(self) -> str:
        # Contract §5 knows online | offline | blocked; uploading is still offline until the last package.
        if self.register.blocked_reason:
            return "blocked"
        return "online" if self.register.mode == Mode.ONLINE else "offline"

    @property
    def blocked_reason(self) -> str | None:
        return self.register.blocked_reason

    @property
    def errors(self) -> list[str]:
        """Every problem a person should read, the register's refusal first."""
        register = self.register
        problems = [*register.errors, *self.agent_errors]
        warning = self.certificate.warning() if self.certificate is not None else None
        if warning is not None:
            problems.append(warning)
        if self.printer is not None and self.printer.state != "ok":
            # Receipts wait in the queue meanwhile: the cashier, the slip and the dashboards must read why.
            printer = self.printer
            problems.append(f"printer {printer.state}" + (f": {printer.error}" if printer.error else ""))
        if register.problem and register.problem not in problems:
            problems.insert(0, register.problem)
        return problems

    @property
    def oldest_pending_age_s(self) -> int | None:
        oldest = self.register.oldest_pending_at
        return max(0, int((self.at - oldest).total_seconds())) if oldest else None

    def to_dict(self) -> dict[str, Any]:
        """The §5 JSON; the keys beyond §5 (offline.allowed ... uploading, certificate, next_local_num)
        are where `fiscal-box status`, the slip and the till API have always found them."""
        register = self.register
        return {
            "mode": self.mode,
            "blocked_reason": register.blocked_reason,
            "uplink": self.uplink,
            "network": self.network.to_dict() if self.network is not None else None,
            "shift": "open" if register.shift_open else "closed",
            "offline": {
                "session_minutes": register.session_minutes,
                "month_minutes": register.month_minutes,
                "max_session_minutes": register.max_session_minutes,
                "max_month_minutes": register.max_month_minutes,
                "numbers_left": register.numbers_left,
                "allowed": register.offline_allowed,
                "session_id": register.offline_session_id,
                "warnings": list(register.warnings),
                "uploading": register.mode == Mode.UPLOADING,
                # offline documents made while the server answered (a long upload under way): the exception
                "made_while_reachable": register.offline_while_reachable,
            },
            "pending_documents": register.pending_documents,
            "oldest_pending_age_s": self.oldest_pending_age_s,
            "last_sync_at": register.last_sync_at.isoformat() if register.last_sync_at else None,
            "printer": self.printer.state if self.printer is not None else None,
            "printer_warning": self.printer.warning if self.printer is not None else None,
            "modem": (self.modem or _NO_MODEM).to_dict(),
            "certificate": self.certificate.to_dict() if self.certificate is not None else None,
            "mqtt": self.mqtt.to_dict() if self.mqtt is not None else None,
            "errors": self.errors,
            "version": self.version,
            "updated_at": self.at.isoformat(),
            "next_local_num": register.next_local_num,
        }

    def change_key(self, age_resolution_s: int = 60) -> dict[str, Any]:
        """What two snapshots must differ in to be a change: the projection without ``updated_at``, and
        the age of the oldest pending document in whole ``age_resolution_s`` steps, as it grows with the
        clock alone."""
        key = self.to_dict()
        del key["updated_at"]
        age = key["oldest_pending_age_s"]
        if age is not None:
            key["oldest_pending_age_s"] = age // age_resolution_s
        return key


def certificate_status(signer: object, now: datetime) -> dict[str, Any] | None:
    """Who signs and until when, as the dict of the status JSON (kept for agent/app.py)."""
    part = CertificatePart.from_signer(signer, now)
    return part.to_dict() if part is not None else None


def build_status(
    register: RegisterStatus,
    *,
    now: datetime,
    errors: list[str] | None = None,
    printer: str | None = None,
    certificate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The status JSON from its parts in one call (kept for agent/app.py and the CLI without an agent)."""
    return Snapshot(
        register=register,
        at=now,
        printer=PrinterPart(printer) if printer is not None else None,
        certificate=CertificatePart.from_dict(certificate) if certificate is not None else None,
        agent_errors=tuple(errors or ()),
    ).to_dict()
