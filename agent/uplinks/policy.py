"""The failover policy: which uplink carries the box, whether it must go offline, and why.

Pure: no I/O and no clock of its own. The I/O side observes each link (carrier and address from the
kernel, a probe of the fiscal server bound to the link's interface) and calls ``step`` with the
observations and the monotonic time; the answer is a frozen ``Decision``.

API:

* ``initial_state(config) -> UplinkState``; ``step(state, config, now_mono, *, primary=None,
  backup=None, signing_ok=None) -> tuple[UplinkState, Decision]``; ``UplinkPolicy(config)`` keeps the
  state for a caller that prefers an object (``observe(now_mono, ...) -> Decision``).
* ``Decision``: ``active`` (one of the status model's UPLINKS), ``route`` (the role the default route
  should use), ``offline``, ``cause`` (one of ``CAUSES``, or None when all is well) and ``message``,
  ``failover`` (the switch this step made, or None), ``fail_back_at``, ``probe_soon``, ``accrued``.
* ``Failover(from_, to, cause, at)`` with ``event(at_wall)`` -> the event stream's ``failover`` event.
* ``MonthLedger``: seconds per Kyiv calendar month that each link was down, that the tax server was down,
  and that the failover saved (the primary down while the backup reached the server).

The rules (defaults in ``[uplinks]``):

* Primary to backup at once when the primary loses carrier or its address, or after ``failed_probes``
  (2) failed probes in a row -- but only to a backup whose last probe answered.
* Backup to primary once the primary has answered every probe for ``hold_down_s`` (30 s), so a toggling
  cable moves the route once; at once when the backup itself fails (both failing: the route stays on the
  primary and the box is offline).
* Offline only on evidence: a link never observed, or up and not yet probed, is not taken as failing;
  going offline spends the law's scarce budget (36 h in a row, 168 h a month).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal

from agent.clock import KYIV
from agent.config import UplinksConfig
from agent.events import Event, EventKind

Role = Literal["primary", "backup"]
Uplink = Literal["ethernet", "lte", "none"]
Cause = Literal[
    "ethernet_down", "ethernet_no_route", "lte_down", "lte_no_route", "server_down", "signing_failed"
]
#: what the observations say of one link: ``unknown`` is "not observed, or up and not answered yet"
Verdict = Literal["unknown", "ok", "down", "no_route"]
LedgerKind = Literal["ethernet", "lte", "server", "saved"]

#: the status model's name (agent/status/snapshot.py UPLINKS) of the link in each role
UPLINK_OF: Final[Mapping[Role, Uplink]] = MappingProxyType({"primary": "ethernet", "backup": "lte"})
_LABEL: Final = MappingProxyType({"ethernet": "Ethernet", "lte": "LTE"})
_BAD: Final = ("down", "no_route")

#: one sentence per cause, for the status, MQTT and the log
CAUSES: Final[Mapping[Cause, str]] = MappingProxyType(
    {
        "ethernet_down": "Ethernet is down (no cable link or no address)",
        "ethernet_no_route": (
            "Ethernet is up but the fiscal server does not answer through it"
            " (the gateway or the shop router's internet)"
        ),
        "lte_down": "LTE is down (no modem link or no address)",
        "lte_no_route": "LTE is up but the fiscal server does not answer through it (no mobile data)",
        "server_down": "Both links are up and neither reaches the fiscal server: the tax service is down",
        "signing_failed": "Signing fails (the key or the certificate), not the network",
    }
)
#: the same, short and in Ukrainian, for the technician's slip
CAUSES_UK: Final[Mapping[Cause, str]] = MappingProxyType(
    {
        "ethernet_down": "Ethernet: немає лінку або адреси",
        "ethernet_no_route": "Ethernet: сервер ДПС не відповідає",
        "lte_down": "LTE: немає з'єднання або адреси",
        "lte_no_route": "LTE: сервер ДПС не відповідає",
        "server_down": "Сервер ДПС недоступний",
        "signing_failed": "Помилка підпису (ключ або сертифікат)",
    }
)


@dataclass(frozen=True)
class LinkObservation:
    """One look at a link. ``probe_ok`` None: not probed in this look (a carrier change from netlink)."""

    carrier: bool
    has_address: bool
    probe_ok: bool | None
    at: float  # monotonic seconds, when it was observed
    # Requests of the register's own through this link that failed since the last look: evidence like a
    # failed probe's (an answer still wipes them out), so that a silent gateway costs one probe's timeout
    # after the sale that met it, not two.
    failed_requests: int = 0

    @property
    def up(self) -> bool:
        return self.carrier and self.has_address


@dataclass(frozen=True)
class LinkState:
    """What the observations so far say of one link."""

    name: str  # the interface, e.g. "eth0"
    role: Role
    seen: bool = False
    up: bool = False
    failures: int = 0  # failed probes in a row since the last answer, or since the link came up
    answered: bool = False  # a probe answered since the link last came up
    # The first answer of the current unbroken run of answers (any failure or carrier loss ends it), and
    # the latest: the hold-down is proven by answers, not by silence.
    healthy_since: float | None = None
    last_ok_at: float | None = None

    @property
    def uplink(self) -> Uplink:
        return UPLINK_OF[self.role]

    def verdict(self, failed_probes: int) -> Verdict:
        if not self.seen:
            return "unknown"
        if not self.up:
            return "down"
        if self.failures >= failed_probes:
            return "no_route"
        return "ok" if self.answered else "unknown"


def observe_link(link: LinkState, obs: LinkObservation) -> LinkState:
    """The link after one more observation."""
    if not obs.up:
        # Whatever it answered before the carrier went says nothing of the link that comes back.
        return replace(
            link, seen=True, up=False, failures=0, answered=False, healthy_since=None, last_ok_at=None
        )
    if obs.probe_ok is None and not obs.failed_requests:
        return replace(link, seen=True, up=True)
    if obs.probe_ok:
        since = link.healthy_since if link.healthy_since is not None else obs.at
        return replace(
            link, seen=True, up=True, failures=0, answered=True, healthy_since=since, last_ok_at=obs.at
        )
    failed = (1 if obs.probe_ok is False else 0) + obs.failed_requests
    return replace(link, seen=True, up=True, failures=link.failures + failed, healthy_since=None)


@dataclass(frozen=True)
class Failover:
    """One switch of the route; ``cause`` is why (None: the primary is back after its hold-down)."""

    from_: Uplink
    to: Uplink
    cause: Cause | None
    at: float  # monotonic

    def detail(self) -> dict[str, Any]:
        return {"from": self.from_, "to": self.to, "cause": self.cause}

    def event(self, at_wall: datetime) -> Event:
        """The event stream's ``failover`` event, dated by the wall clock the caller reads."""
        return Event(EventKind.FAILOVER, at_wall, self.detail())


@dataclass(frozen=True)
class Accrual:
    """Seconds between the previous step and this one, by what was wrong in that time."""

    seconds: float = 0.0
    ethernet_down_s: float = 0.0  # the primary did not reach the server (for a reason of its own)
    lte_down_s: float = 0.0
    server_down_s: float = 0.0  # both links up, neither reached the server
    saved_s: float = 0.0  # the primary down while the box was online over the backup


@dataclass(frozen=True)
class UplinkState:
    primary: LinkState
    backup: LinkState
    route: Role = "primary"
    signing_ok: bool = True
    switched_for: Cause | None = None  # why the route went to the backup; kept until it comes back
    at: float | None = None  # the last step's time


@dataclass(frozen=True)
class Decision:
    active: Uplink  # the link that carries the box to the server; "none" while offline
    route: Role  # where the default route should point (the primary while both fail)
    offline: bool  # no uplink reaches the server
    cause: Cause | None  # the headline; signing_failed wins, as fixing the network would not help
    network_cause: Cause | None  # the links' own cause, also while signing fails
    message: str
    failover: Failover | None  # the switch this step made: the caller moves the route and tells it
    # When the route returns to the primary if it keeps answering: probe the primary then.
    fail_back_at: float | None
    probe_soon: tuple[Role, ...]  # links to probe at the degraded cadence (about every 0.5 s)
    accrued: Accrual
    at: float


def initial_state(config: UplinksConfig) -> UplinkState:
    return UplinkState(LinkState(config.primary, "primary"), LinkState(config.backup, "backup"))


def step(
    state: UplinkState,
    config: UplinksConfig,
    now_mono: float,
    *,
    primary: LinkObservation | None = None,
    backup: LinkObservation | None = None,
    signing_ok: bool | None = None,
) -> tuple[UplinkState, Decision]:
    """The state and decision after new observations (any of them), or after time alone has passed."""
    accrued = _accrual(state, config, now_mono)
    observed = replace(
        state,
        primary=observe_link(state.primary, primary) if primary else state.primary,
        backup=observe_link(state.backup, backup) if backup else state.backup,
        signing_ok=state.signing_ok if signing_ok is None else signing_ok,
        at=now_mono if state.at is None else max(state.at, now_mono),
    )
    routed, failover = _route(observed, config, now_mono)
    return routed, _decide(routed, config, now_mono, failover, accrued)


def _route(state: UplinkState, config: UplinksConfig, now: float) -> tuple[UplinkState, Failover | None]:
    """Where the route goes now, and the switch when it moves."""
    pv = state.primary.verdict(config.failed_probes)
    bv = state.backup.verdict(config.failed_probes)
    if state.route == "primary":
        # Never to a backup that has not answered: moving the route to an unproven link (a modem
        # attached without data) would trade a known outage for an unknown one. Its last probe must have
        # answered, too: a backup failing as the primary fails is the server going, not a way round it.
        if pv in _BAD and bv == "ok" and state.backup.failures == 0:
            lost = _link_cause(state.primary, pv)
            return replace(state, route="backup", switched_for=lost), Failover("ethernet", "lte", lost, now)
        return state, None
    if bv != "ok":
        # The backup failing ends the hold-down early: the primary is no worse, and if both fail the
        # route rests on the primary, the link expected back first.
        failing = _link_cause(state.backup, bv) if bv in _BAD else None
        return replace(state, route="primary", switched_for=None), Failover("lte", "ethernet", failing, now)
    if pv == "ok" and _held(state.primary, config.hold_down_s):
        return replace(state, route="primary", switched_for=None), Failover("lte", "ethernet", None, now)
    return state, None


def _held(link: LinkState, hold_down_s: float) -> bool:
    return (
        link.healthy_since is not None
        and link.last_ok_at is not None
        and link.last_ok_at - link.healthy_since >= hold_down_s
    )


def _link_cause(link: LinkState, verdict: Verdict) -> Cause:
    if link.role == "primary":
        return "ethernet_down" if verdict == "down" else "ethernet_no_route"
    return "lte_down" if verdict == "down" else "lte_no_route"


def _network_cause(state: UplinkState, config: UplinksConfig) -> Cause | None:
    pv = state.primary.verdict(config.failed_probes)
    bv = state.backup.verdict(config.failed_probes)
    if pv == "no_route" and bv == "no_route":
        # Two independent paths (the shop's line and the mobile network) failing together at the far
        # end: the server, not the links.
        return "server_down"
    if pv in _BAD:
        return _link_cause(state.primary, pv)
    if state.route == "backup":
        return state.switched_for  # the primary answers again but is still in its hold-down
    if bv in _BAD:
        return _link_cause(state.backup, bv)  # online over Ethernet with no backup left
    return None


def _decide(
    state: UplinkState, config: UplinksConfig, now: float, failover: Failover | None, accrued: Accrual
) -> Decision:
    carrier = state.primary if state.route == "primary" else state.backup
    offline = carrier.verdict(config.failed_probes) in _BAD
    active: Uplink = "none" if offline else carrier.uplink
    network_cause = _network_cause(state, config)
    cause: Cause | None = "signing_failed" if not state.signing_ok else network_cause
    fail_back_at = None
    if state.route == "backup" and state.primary.healthy_since is not None:
        fail_back_at = state.primary.healthy_since + config.hold_down_s
    return Decision(
        active=active,
        route=state.route,
        offline=offline,
        cause=cause,
        network_cause=network_cause,
        message=_message(cause, network_cause, active, fail_back_at, now),
        failover=failover,
        fail_back_at=fail_back_at,
        probe_soon=tuple(link.role for link in (state.primary, state.backup) if _pending(link, config)),
        accrued=accrued,
        at=now,
    )


def _pending(link: LinkState, config: UplinksConfig) -> bool:
    """A link whose verdict hangs on the next probe: up and not answered yet, or failing but not failed."""
    return link.up and (not link.answered or 0 < link.failures < config.failed_probes)


def _message(
    cause: Cause | None, network_cause: Cause | None, active: Uplink, fail_back_at: float | None, now: float
) -> str:
    where = (
        "offline: no uplink reaches the fiscal server"
        if active == "none"
        else f"online over {_LABEL[active]}"
    )
    if cause is None:
        return f"All is well: {where}."
    said = [CAUSES[cause]] if cause == "signing_failed" else []
    if network_cause is not None:
        said.append(_network_text(network_cause, fail_back_at, now))
    return "; ".join([*said, where]) + "."


def _network_text(cause: Cause, fail_back_at: float | None, now: float) -> str:
    if fail_back_at is None:
        return CAUSES[cause]
    # In the hold-down the cause is history: say so, lest "Ethernet is down" be read off a working cable.
    left = max(0.0, fail_back_at - now)
    return f"Ethernet answers again, back to it in {left:.0f} s if it holds (left for: {CAUSES[cause]})"


def _accrual(state: UplinkState, config: UplinksConfig, now: float) -> Accrual:
    """The time since the last step, put down to what was wrong during it (the state before this step)."""
    if state.at is None or now <= state.at:
        return Accrual()
    seconds = now - state.at
    cause = _network_cause(state, config)
    if cause == "server_down":
        return Accrual(seconds, server_down_s=seconds)
    pv = state.primary.verdict(config.failed_probes)
    bv = state.backup.verdict(config.failed_probes)
    on_backup = state.route == "backup" and bv == "ok"
    return Accrual(
        seconds,
        ethernet_down_s=seconds if pv in _BAD else 0.0,
        lte_down_s=seconds if bv in _BAD else 0.0,
        saved_s=seconds if on_backup and pv in _BAD else 0.0,
    )


class UplinkPolicy:
    """``step`` with the state kept, for the I/O loop that owns one."""

    def __init__(self, config: UplinksConfig) -> None:
        self.config = config
        self.state = initial_state(config)

    def observe(
        self,
        now_mono: float,
        *,
        primary: LinkObservation | None = None,
        backup: LinkObservation | None = None,
        signing_ok: bool | None = None,
    ) -> Decision:
        self.state, decision = step(
            self.state, self.config, now_mono, primary=primary, backup=backup, signing_ok=signing_ok
        )
        return decision


# --- the month's accounting ----------------------------------------------------------------------


def month_key(wall: datetime) -> str:
    """The Kyiv calendar month of an aware wall-clock time, e.g. "2026-11" (the law counts by it)."""
    return wall.astimezone(KYIV).strftime("%Y-%m")


def _month_start_utc(end: datetime) -> datetime:
    """The start (in UTC) of the Kyiv month the instant just before ``end`` falls in."""
    local = end.astimezone(KYIV)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if first >= local:  # ``end`` is the boundary itself: the time before it is the previous month's
        first = (first - timedelta(days=1)).replace(day=1)
    return first.astimezone(UTC)


@dataclass(frozen=True)
class MonthLedger:
    """Seconds per (Kyiv month, kind). Amounts come from the monotonic clock (``Accrual``); the wall time
    only places them, so a wall clock stepped by NTP moves no second from one total to another."""

    totals: Mapping[tuple[str, LedgerKind], float] = field(default_factory=lambda: MappingProxyType({}))

    def add(self, kind: LedgerKind, seconds: float, until: datetime) -> MonthLedger:
        """``seconds`` of ``kind`` that ended at ``until``, split at Kyiv month boundaries."""
        if seconds <= 0:
            return self
        totals = dict(self.totals)
        end = until.astimezone(UTC)
        start = end - timedelta(seconds=seconds)
        while end > start:
            piece_start = max(start, _month_start_utc(end))
            key = (month_key(piece_start), kind)
            totals[key] = totals.get(key, 0.0) + (end - piece_start).total_seconds()
            end = piece_start
        return MonthLedger(MappingProxyType(totals))

    def add_accrual(self, accrued: Accrual, until: datetime) -> MonthLedger:
        pieces: tuple[tuple[LedgerKind, float], ...] = (
            ("ethernet", accrued.ethernet_down_s),
            ("lte", accrued.lte_down_s),
            ("server", accrued.server_down_s),
            ("saved", accrued.saved_s),
        )
        ledger = self
        for kind, seconds in pieces:
            ledger = ledger.add(kind, seconds, until)
        return ledger

    def seconds(self, kind: LedgerKind, month: str) -> float:
        return self.totals.get((month, kind), 0.0)

    def month(self, month: str) -> dict[LedgerKind, float]:
        """Every kind's seconds in ``month`` (0 for none), for the status and the slip."""
        kinds: tuple[LedgerKind, ...] = ("ethernet", "lte", "server", "saved")
        return {kind: self.seconds(kind, month) for kind in kinds}
