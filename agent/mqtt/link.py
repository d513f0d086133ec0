"""A small typed wrapper over paho-mqtt 2.x: one connection to the broker, kept up on paho's own thread.

What it takes care of, so its users do not:

- ``connect_async`` + ``loop_start``: a broker that is down at boot never delays the agent, and paho's
  thread reconnects with an exponential backoff (``reconnect_min_s`` doubling up to ``reconnect_max_s``);
- the last will (set before the first connect, as MQTT requires);
- TLS (a CA file or the system's CAs, an optional client certificate) and username + password;
- callbacks that never raise: an exception inside a paho callback ends its network thread silently;
- ``publish`` only while connected: paho keeps a QoS 1 message published while disconnected in a queue
  of its own and sends it on reconnect, which would both grow memory and deliver stale state. The
  caller keeps what must survive an outage (the latest state, a bounded buffer of events).

Usage::

    link = MqttLink(LinkSettings(host="broker", port=8883, client_id="fiscal-box-shop-1", tls=True,
                                 will=Will("fiscal-box/shop-1/availability", "offline")),
                    on_connect=..., on_message=...)
    link.start()
    link.publish("fiscal-box/shop-1/state", payload, retain=True)   # False while disconnected
    link.stop()
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

QOS = 1
#: paho's own queue, a safety net only: ``publish`` is not called while disconnected
PAHO_QUEUE_LIMIT = 100


@dataclass(frozen=True)
class Will:
    topic: str
    payload: str
    retain: bool = True


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 1.5
    will: Will | None = None

    def __repr__(self) -> str:  # the password must not reach a log
        hidden = "(hidden)" if self.password is not None else None
        return f"LinkSettings(host={self.host!r}, port={self.port}, client_id={self.client_id!r}, tls={self.tls}, username={self.username!r}, password={hidden})"

    @property
    def authenticated(self) -> bool:
        """Whether the box proves who it is: a password, or a client certificate."""
        return self.password is not None or self.cert_file is not None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class MqttLink:
    """``on_connect`` runs on paho's thread after every CONNACK that accepts the connection;
    ``on_message(topic, payload)`` for every message of a subscription; both must return quickly."""

    def __init__(
        self,
        settings: LinkSettings,
        *,
        on_connect: Callable[[], None] = lambda: None,
        on_disconnect: Callable[[str], None] = lambda _reason: None,
        on_message: Callable[[str, bytes], None] = lambda _topic, _payload: None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_change``: after the connection came, went or was refused (``connected``/``last_error``)."""
        self.settings = settings
        self._on_change = on_change
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_message = on_message
        self._lock = threading.Lock()
        self._connected = False
        self.connects = 0
        #: why the broker last refused or dropped the connection, for the status and the log
        self.last_error: str | None = None
        self._client = self._build_client()
        self._started = False
        self._stopping = False

    def _build_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv311,  # what every broker speaks, clustered ones included
            clean_session=True,  # nothing of a box's session is worth keeping on the broker
        )
        client.max_queued_messages_set(PAHO_QUEUE_LIMIT)
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)  # type: ignore[arg-type]
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(
                ca_certs=str(s.ca_file) if s.ca_file else None,
                certfile=str(s.cert_file) if s.cert_file else None,
                keyfile=str(s.key_file) if s.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if s.will is not None:
            client.will_set(s.will.topic, s.will.payload, qos=QOS, retain=s.will.retain)
        client.on_connect = self._connected_cb
        client.on_disconnect = self._disconnected_cb
        client.on_connect_fail = self._connect_failed_cb
        client.on_message = self._message_cb
        return client

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    def start(self) -> None:
        """Returns at once; paho's thread connects, and reconnects for as long as the link runs."""
        s = self.settings
        self._client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self._client.loop_start()
        self._started = True

    def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> bool:
        """Hand a QoS 1 message to paho; False (and nothing queued) while not connected."""
        if not self.connected:
            return False
        try:
            info = self._client.publish(topic, payload, qos=QOS, retain=retain)
        except (ValueError, RuntimeError) as exc:  # a topic or payload paho refuses: the caller's bug
            log.error("MQTT: cannot publish on %s: %s", topic, exc)
            return False
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def subscribe(self, *topics: str) -> bool:
        if not self.connected or not topics:
            return False
        rc, _mid = self._client.subscribe([(topic, QOS) for topic in topics])
        return rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def stop(self, *, goodbye: tuple[str, str] | None = None, timeout_s: float = 2.0) -> None:
        """``goodbye`` (topic, payload): published retained before a clean disconnect, since the broker
        sends the last will only when a connection is lost, not when it is closed."""
        if not self._started:
            return
        if goodbye is not None and self.connected:
            try:
                info = self._client.publish(goodbye[0], goodbye[1], qos=QOS, retain=True)
                info.wait_for_publish(timeout_s)
            except (ValueError, RuntimeError) as exc:
                log.info("MQTT: the goodbye was not delivered: %s", exc)
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._started = False

    # --- paho's callbacks: on paho's thread, and never raising ---------------------------------------

    def _connected_cb(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any = None) -> None:
        try:
            if reason.is_failure:
                error = f"the broker at {self.settings.address} refused the connection: {reason}"
                if error != self.last_error:
                    log.warning("MQTT: %s", error)
                    self.last_error = error
                    self._on_change()
                return
            with self._lock:
                self._connected = True
                self.connects += 1
            self.last_error = None
            log.info("MQTT: connected to %s as %s", self.settings.address, self.settings.client_id)
            self._on_change()
            self._on_connect()
        except Exception:
            log.exception("MQTT: the connect handler failed")

    def _connect_failed_cb(self, _c: mqtt.Client, _u: Any) -> None:
        try:
            # paho does not say why (refused, unreachable, a TLS handshake that failed): the log before
            # this line, at debug, does; the status needs only that the broker is not there.
            error = f"cannot reach the broker at {self.settings.address}"
            if error != self.last_error:
                log.warning("MQTT: %s; retrying every %g s at most", error, self.settings.reconnect_max_s)
                self.last_error = error
                self._on_change()
        except Exception:
            log.exception("MQTT: the connect-failure handler failed")

    def _disconnected_cb(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any = None) -> None:
        try:
            with self._lock:
                was = self._connected
                self._connected = False
            if was and self._stopping:
                log.info("MQTT: disconnected from %s", self.settings.address)
            elif was:
                log.warning("MQTT: lost the broker at %s (%s); reconnecting", self.settings.address, reason)
                self.last_error = f"lost the broker at {self.settings.address}: {reason}"
                self._on_change()
                self._on_disconnect(str(reason))
        except Exception:
            log.exception("MQTT: the disconnect handler failed")

    def _message_cb(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._on_message(message.topic, bytes(message.payload))
        except Exception:
            log.exception("MQTT: the handler of %s failed", message.topic)
