"""The box's MQTT topics (contract §5), in one place for the publisher, the fleet view and the docs."""

from __future__ import annotations

from dataclasses import dataclass

AVAILABLE = "online"
NOT_AVAILABLE = "offline"
#: the remote actions of contract §5; nothing here makes a fiscal document or moves money
COMMANDS = ("go_online", "slip", "state")


@dataclass(frozen=True)
class Topics:
    prefix: str
    box_id: str
    discovery_prefix: str = "homeassistant"

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.box_id}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def commands(self) -> str:
        """The filter the box subscribes to for remote actions."""
        return f"{self.base}/command/+"

    @property
    def command_result(self) -> str:
        return f"{self.base}/command/result"

    def command(self, name: str) -> str:
        return f"{self.base}/command/{name}"

    @property
    def home_assistant_status(self) -> str:
        """Where Home Assistant says ``online`` when it starts: the discovery configs are sent again."""
        return f"{self.discovery_prefix}/status"

    def command_name(self, topic: str) -> str | None:
        """``go_online`` for ``<base>/command/go_online``; None for any other topic (the result's own)."""
        head = f"{self.base}/command/"
        if not topic.startswith(head):
            return None
        name = topic[len(head) :]
        return None if name == "result" or "/" in name else name
