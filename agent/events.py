"""The box's events: what happened, when, and the detail a dashboard or a technician needs.

Pure types only, so the core (agent/secr) can publish without knowing who listens. The stream that
buffers and delivers them is agent/status; producers take an ``EventSink`` and never wait on a consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol


class EventKind(StrEnum):
    WENT_OFFLINE = "went_offline"  # an offline session (102) began
    WENT_ONLINE = "went_online"  # the session's last package was accepted
    SYNC_DONE = "sync_done"  # offline documents delivered
    SYNC_FAILED = "sync_failed"  # an upload stopped: the server refused a package, or went away again
    LIMIT_WARNING = "limit_warning"  # a time limit or the number reserve past warn_at_percent
    BLOCKED = "blocked"  # sales became impossible (status blocked_reason set)
    UNBLOCKED = "unblocked"  # sales possible again
    FISCALIZED = "fiscalized"  # a document got its fiscal number (online or offline)
    PRINTER_FAULT = "printer_fault"
    PRINTER_OK = "printer_ok"
    FAILOVER = "failover"  # the active uplink changed
    # an offline document made while the server answered (its session's upload under way): the exception
    OFFLINE_WHILE_REACHABLE = "offline_while_reachable"


def _frozen(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(detail))


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: datetime
    # JSON-able values only: the detail goes to the log, MQTT and the slip as it is.
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", _frozen(self.detail))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "at": self.at.isoformat(), **dict(self.detail)}


class EventSink(Protocol):
    """Where a producer hands an event: must return at once and never raise into the producer."""

    def __call__(self, event: Event) -> None: ...


#: called with no arguments when a producer's state changed and its status part should be read again
ChangeListener = Callable[[], None]


def discard(event: Event) -> None:
    """The sink of a part nobody listens to (tests, benchmarks, the CLI without an agent)."""
    return None


__all__ = ["ChangeListener", "Event", "EventKind", "EventSink", "discard"]
