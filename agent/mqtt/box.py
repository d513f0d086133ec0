"""The box's MQTT part built from ``[mqtt]``: the publisher, its subscriptions, the remote actions.

Usage (what agent/app.py does)::

    mqtt = BoxMqtt(settings, clock, handlers={"go_online": ..., "slip": ..., "state": ...})
    mqtt.start(model, stream)      # returns at once, whether the broker is up or not
    ...
    mqtt.close()                   # availability "offline", then a clean disconnect
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from agent import __version__
from agent.clock import Clock
from agent.config import MqttConfig, Settings
from agent.mqtt.commands import Handler, RemoteCommands
from agent.mqtt.discovery import discovery_messages, discovery_removals
from agent.mqtt.link import LinkSettings
from agent.mqtt.publisher import MqttPublisher
from agent.mqtt.topics import Topics
from agent.secr.errors import NeedsPerson
from agent.status.delivery import Subscription
from agent.status.model import StatusModel
from agent.status.snapshot import MqttPart
from agent.status.stream import EventStream

log = logging.getLogger(__name__)


def read_password(config: MqttConfig) -> str | None:
    if config.password_file is None:
        return None
    try:
        text = config.password_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NeedsPerson(
            f"MQTT: cannot read mqtt.password_file {config.password_file}: {exc}",
            what_to_do="put the broker password in that file, readable by the fiscal-box user",
        ) from exc
    # One line; a trailing newline from `echo` is not part of it.
    password = text.rstrip("\r\n")
    if not password:
        raise NeedsPerson(
            f"MQTT: mqtt.password_file {config.password_file} is empty",
            what_to_do="put the broker password in it",
        )
    return password


def link_settings(settings: Settings) -> LinkSettings:
    config = settings.mqtt
    return LinkSettings(
        host=config.host,
        port=config.port,
        client_id=config.client_id or f"fiscal-box-{settings.box.id}",
        username=config.username,
        password=read_password(config),
        tls=config.tls,
        ca_file=config.ca_file,
        cert_file=config.cert_file,
        key_file=config.key_file,
        keepalive_s=config.keepalive_s,
        reconnect_max_s=config.reconnect_max_s,
    )


class BoxMqtt:
    def __init__(self, settings: Settings, clock: Clock, *, handlers: Mapping[str, Handler]) -> None:
        """Raises NeedsPerson when the password file cannot be read (the agent runs on without MQTT)."""
        config = settings.mqtt
        topics = Topics(config.topic_prefix, settings.box.id, config.discovery_prefix)
        link = link_settings(settings)
        # With discovery off the box empties its configs on every connect: a box that had it on leaves
        # no stale device behind in Home Assistant (an empty retained config removes the entity).
        discovery = (
            discovery_messages(
                box_id=settings.box.id,
                topic_prefix=config.topic_prefix,
                discovery_prefix=config.discovery_prefix,
                version=__version__,
                fiscal_number=settings.registrar.fiscal_number,
            )
            if config.discovery
            else discovery_removals(box_id=settings.box.id, discovery_prefix=config.discovery_prefix)
        )
        self._model: StatusModel | None = None
        self.publisher = MqttPublisher(
            link,
            topics,
            now=clock.now,
            discovery=discovery,
            event_buffer=config.event_buffer,
            on_command=self._command,
            on_link_change=self._link_changed,
        )
        self.commands = RemoteCommands(
            _with_state(handlers, self.publisher),
            self.publisher.answer,
            now=clock.now,
            enabled=config.commands,
            authenticated=link.authenticated,
        )
        self._subscriptions: list[Subscription[Any]] = []

    def start(self, model: StatusModel, stream: EventStream) -> BoxMqtt:
        """Subscribe to the status and the events, and connect in the background."""
        self._model = model
        model.set_mqtt(self.publisher.link_part())
        # The status queue keeps only the newest snapshots when full: the latest state wins anyway.
        self._subscriptions.append(model.subscribe(self.publisher.on_status, name="mqtt"))
        events = stream.subscribe(self.publisher.on_event, name="mqtt")
        self.publisher.count_upstream_drops(lambda: events.dropped)
        self._subscriptions.append(events)
        self.publisher.start()
        log.info(
            "MQTT: publishing under %s/ to %s (remote commands %s)",
            self.publisher.topics.base,
            self.publisher.link.settings.address,
            "on" if self.commands.enabled else "off",
        )
        return self

    def close(self) -> None:
        for unsubscribe in self._subscriptions:
            unsubscribe()
        self.commands.close()
        self.publisher.close()

    def _command(self, name: str, payload: bytes) -> None:
        self.commands.received(name, payload)

    def _link_changed(self, part: MqttPart) -> None:
        if self._model is not None:
            self._model.set_mqtt(part)


def _with_state(handlers: Mapping[str, Handler], publisher: MqttPublisher) -> dict[str, Handler]:
    """``state`` republishes the retained state and answers with it."""
    actions = dict(handlers)
    status: Callable[[], Mapping[str, Any]] | None = actions.get("state")
    if status is not None:

        def state() -> Mapping[str, Any]:
            current = dict(status())
            publisher.set_state(current)
            return {"republished": True, "mode": current.get("mode")}

        actions["state"] = state
    return actions

