"""The paho half of `fiscal-box fleet`: one MQTT 3.1.1 client on ``{prefix}/+/availability`` and
``{prefix}/+/state`` that keeps each box's latest payloads and hands them to the pure half
(agent/mqtt/fleet.py) to be read, ordered and shown.

paho calls the callbacks on its network thread, and an exception in one ends that thread: the client
would then hear nothing more, without a word. So every callback is wrapped by ``_never_raises``, which
logs and keeps the loop alive; the callbacks only record what happened, the main thread decides.

Once: connect, subscribe, take the retained messages until none came for ``QUIET_S`` (bounded by
``--wait``), print, exit. A broker has no "end of the retained messages" in MQTT 3.1.1, and the fleet
user may only read, so it cannot publish a marker of its own to hear back: a quiet time is what is left.
With ``--watch``: the same, then a reprint whenever a payload changes, until SIGTERM or Ctrl-C; paho
reconnects by itself, and on every (re)connect the subscription is made again and the retained
messages come again (unchanged ones change nothing).
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, ParamSpec

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.mqtt.fleet import BoxRow, box_topic, order, parse_box, render_table, to_json
from agent.secr.errors import ConfigError, NeedsPerson

log = logging.getLogger(__name__)
P = ParamSpec("P")

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
#: TCP and TLS inside connect() (paho's connect_timeout), then as long again for the CONNACK and SUBACK
CONNECT_TIMEOUT_S = 10.0
#: no message for this long after the subscription: the retained ones have all come (they come at once)
QUIET_S = 0.5
#: --watch: a burst of changes (a broker's restart, the retained set again) is shown once, when it settles
SETTLE_S = 0.2
#: --watch: but a stream of changes that never settles is still shown this often
SHOW_AT_LEAST_EVERY_S = 2.0
KEEPALIVE_S = 30
_POLL_S = 0.02


class FleetError(NeedsPerson):
    """The broker could not be reached, refused us, or was lost (exit 1)."""

    code = "fleet_failed"


@dataclass(frozen=True)
class BrokerOptions:
    host: str
    port: int
    prefix: str = "fiscal-box"
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: str | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_broker(text: str, *, tls: bool) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[V6]:PORT`` for IPv6; a bare IPv6 address has no port); ConfigError if not."""
    default = DEFAULT_TLS_PORT if tls else DEFAULT_PORT
    host, port_text = text.strip(), None
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ConfigError(f"--broker {text!r}: expected HOST[:PORT], e.g. [::1]:1883")
        host, port_text = inside, rest[1:] if rest else None
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
    if not host or any(c.isspace() or c in "/[]" for c in host):
        raise ConfigError(f"--broker {text!r}: expected HOST[:PORT], e.g. mqtt.example.com:1883")
    if port_text is None:
        return host, default
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"--broker {text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def _existing(option: str, path: Path | None) -> Path | None:
    if path is not None and not path.is_file():
        raise ConfigError(f"{option} {path}: no such file")
    return path


def broker_options(
    broker: str,
    *,
    prefix: str = "fiscal-box",
    tls: bool = False,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    username: str | None = None,
    password_file: Path | None = None,
) -> BrokerOptions:
    """The command line's broker options checked (ConfigError, exit 2, naming the option and file)."""
    host, port = parse_broker(broker, tls=tls)
    if (ca_file or cert_file or key_file) and not tls:
        raise ConfigError("--ca-file, --cert-file and --key-file are for TLS: add --tls")
    if (cert_file is None) != (key_file is None):
        raise ConfigError("--cert-file and --key-file go together: the client certificate and its key")
    if password_file is not None and username is None:
        raise ConfigError("--password-file needs --username")
    if not prefix.strip("/") or any(c in prefix for c in "+#"):
        raise ConfigError(f"--prefix {prefix!r}: a topic prefix without + or #, e.g. fiscal-box")
    return BrokerOptions(
        host=host,
        port=port,
        prefix=prefix.strip("/"),
        tls=tls,
        ca_file=_existing("--ca-file", ca_file),
        cert_file=_existing("--cert-file", cert_file),
        key_file=_existing("--key-file", key_file),
        username=username,
        password=_password(password_file),
    )


def _password(path: Path | None) -> str | None:
    """The password alone in its file (as the box's [mqtt] password_file): its line end is not part of it."""
    if path is None:
        return None
    _existing("--password-file", path)
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--password-file {path}: cannot be read: {exc}") from exc
    if not password:
        raise ConfigError(f"--password-file {path}: the file is empty")
    return password


# --- what the broker told ------------------------------------------------------------------------------


class Fleet:
    """The latest payload of each box's two topics. paho's thread writes, the main thread reads."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._payloads: dict[str, dict[str, bytes]] = {}
        #: bumped on every change a reader would see
        self.version = 0
        self._heard_at = time.monotonic()

    def receive(self, topic: str, payload: bytes) -> bool:
        """Take one message; whether it changed anything. An empty payload clears a retained topic (a
        box taken out of service), so it forgets that topic, and the box with neither."""
        found = box_topic(self.prefix, topic)
        with self._lock:
            self._heard_at = time.monotonic()
            if found is None:
                return False
            box_id, kind = found
            topics = self._payloads.setdefault(box_id, {})
            if topics.get(kind) == (payload or None):
                return False
            if payload:
                topics[kind] = payload
            else:
                topics.pop(kind, None)
            if not topics:
                del self._payloads[box_id]
            self.version += 1
            return True

    def touch(self) -> None:
        """Count the quiet time from now (the subscription was just acknowledged)."""
        with self._lock:
            self._heard_at = time.monotonic()

    def quiet_for(self) -> float:
        with self._lock:
            return time.monotonic() - self._heard_at

    def rows(self) -> list[BoxRow]:
        with self._lock:
            payloads = {box: dict(topics) for box, topics in self._payloads.items()}
        return order(
            parse_box(box, topics.get("availability"), topics.get("state"))
            for box, topics in payloads.items()
        )


def _never_raises(callback: Callable[P, None]) -> Callable[P, None]:
    """A paho callback that logs what it raised instead of ending paho's network thread."""

    @functools.wraps(callback)
    def safe(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            callback(*args, **kwargs)
        except Exception:
            log.exception("the fleet view's %s failed (the client goes on)", callback.__name__)

    return safe


# --- the client ----------------------------------------------------------------------------------------


def _refusal(reason: Any, options: BrokerOptions) -> str:
    """Why the broker refused the CONNECT, in words a person can act on. Brokers differ in the code for
    a wrong password (mosquitto 2 answers "not authorized" to MQTT 3.1.1), so with a user name either
    code is taken as the credentials refused."""
    name = str(getattr(reason, "getName", lambda: reason)())
    if options.username is not None and name in ("Bad user name or password", "Not authorized"):
        return (
            f"the broker at {options.address} refused the credentials of user {options.username!r}"
            f" ({name.lower()}): check --username and --password-file"
        )
    if name in ("Bad user name or password", "Not authorized"):
        return (
            f"the broker at {options.address} refused an anonymous client ({name.lower()}): it may want"
            " --username and --password-file, or a client certificate (--cert-file, --key-file)"
        )
    return f"the broker at {options.address} refused the connection: {name}"


class FleetClient:
    """One paho client subscribed to the fleet's two topics; its callbacks only record what happened."""

    def __init__(self, options: BrokerOptions, fleet: Fleet) -> None:
        self.options, self.fleet = options, fleet
        # Unique, and within MQTT 3.1.1's 23 characters: two people's fleet views never push each other off.
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"fleet-{secrets.token_hex(8)}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.reconnect_delay_set(1, 30)
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            self._set_tls(client)
        client.on_connect = _never_raises(self._on_connect)
        client.on_subscribe = _never_raises(self._on_subscribe)
        client.on_message = _never_raises(self._on_message)
        client.on_disconnect = _never_raises(self._on_disconnect)
        self.client = client
        self._lock = threading.Lock()
        self._ready = threading.Event()  # subscribed, or failed before that
        self._failure: str | None = None
        self._opened = False
        self._notices: list[str] = []

    def _set_tls(self, client: mqtt.Client) -> None:
        options = self.options
        try:
            client.tls_set(
                ca_certs=str(options.ca_file) if options.ca_file else None,
                certfile=str(options.cert_file) if options.cert_file else None,
                keyfile=str(options.key_file) if options.key_file else None,
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            files = ", ".join(str(f) for f in (options.ca_file, options.cert_file, options.key_file) if f)
            raise ConfigError(f"TLS files {files or '(the system CAs)'} cannot be used: {exc}") from exc

    def open(self) -> None:
        """Connect and subscribe; FleetError when the broker cannot be reached or refuses."""
        address = self.options.address
        try:
            self.client.connect(self.options.host, self.options.port, keepalive=KEEPALIVE_S)
        except ssl.SSLCertVerificationError as exc:
            raise FleetError(
                f"the broker at {address} has a TLS certificate this machine does not trust: {exc.verify_message}",
                what_to_do="give the CA that signed it with --ca-file",
            ) from exc
        except ssl.SSLError as exc:
            raise FleetError(
                f"TLS with the broker at {address} failed: {exc.reason or exc}",
                what_to_do="check that the port is the broker's TLS listener",
            ) from exc
        except (OSError, ValueError) as exc:  # refused, no route, DNS, timeout; a host name paho rejects
            # A plain listener answers a TLS hello by closing: the port, not the network, is wrong.
            hint = " and that the port is its TLS listener" if self.options.tls else ""
            raise FleetError(
                f"cannot reach the MQTT broker at {address}: {exc}",
                what_to_do=f"check --broker, that the broker runs and lets this machine in{hint}",
            ) from exc
        self.client.loop_start()
        if not self._ready.wait(CONNECT_TIMEOUT_S):
            self.close()
            raise FleetError(
                f"the broker at {address} did not answer the MQTT connection within {CONNECT_TIMEOUT_S:g} s"
            )
        with self._lock:
            failure, self._opened = self._failure, self._failure is None
        if failure is not None:
            self.close()
            raise FleetError(failure)
        self.fleet.touch()

    def failure(self) -> str | None:
        """Why the connection ended since it was opened (None while it holds)."""
        with self._lock:
            return self._failure

    def notices(self) -> list[str]:
        """What happened to the connection since it was opened (lost, back), for --watch to say."""
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _fail(self, why: str) -> None:
        """Before the first subscription: why open() fails (the first reason only); after: a notice."""
        with self._lock:
            if not self._opened:
                if self._failure is None:
                    self._failure = why
                self._ready.set()
            else:
                self._failure = why
                self._notices.append(why)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._fail(_refusal(reason, self.options))
            return
        prefix = self.options.prefix
        client.subscribe([(f"{prefix}/+/availability", 1), (f"{prefix}/+/state", 1)])

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[Any], _props: Any
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            self._fail(
                f"the broker at {self.options.address} refused the subscription to {self.options.prefix}/+/state:"
                " the user may not read it (see the broker's ACL)"
            )
            return
        with self._lock:
            self._ready.set()
            if self._opened and self._failure is not None:
                self._failure = None
                self._notices.append(f"subscribed again on {self.options.address}")

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.fleet.receive(message.topic, bytes(message.payload))

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, _reason: Any, _props: Any
    ) -> None:
        # After a refused CONNECT the connection ends too: _fail keeps the refusal, the first reason.
        # paho's reason here is its own ("unspecified error" for a connection the broker closed): not said.
        with self._lock:
            opened = self._opened
        if opened:
            self._fail(f"lost the connection to the broker at {self.options.address}; reconnecting")
            return
        hint = " (is it a TLS port? --tls)"
        if self.options.tls:
            hint = (
                " (does its TLS listener want a client certificate? --cert-file and --key-file)"
                if self.options.cert_file is None
                else ""
            )
        self._fail(f"the broker at {self.options.address} closed the connection before accepting it{hint}")


# --- the command ---------------------------------------------------------------------------------------


def collect(client: FleetClient, wait_s: float, *, quiet_s: float = QUIET_S) -> list[BoxRow]:
    """The rows once the retained messages have come: none for ``quiet_s``, or ``wait_s`` passed."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and client.fleet.quiet_for() < quiet_s:
        failure = client.failure()
        if failure is not None:
            raise FleetError(failure)
        time.sleep(_POLL_S)
    return client.fleet.rows()


def watch(
    client: FleetClient, show: Callable[[list[BoxRow]], None], stop: threading.Event, *, wait_s: float
) -> None:
    """Show the rows when the retained messages have come (as without --watch: a quiet time, at most
    ``wait_s``), then on every change once it settles, until ``stop``."""
    shown, waiting_since = -1, time.monotonic()
    while not stop.is_set():
        for notice in client.notices():
            sys.stderr.write(f"fiscal-box fleet: {notice}\n")
        version = client.fleet.version
        quiet, longest = (QUIET_S, wait_s) if shown < 0 else (SETTLE_S, SHOW_AT_LEAST_EVERY_S)
        if version == shown:
            waiting_since = time.monotonic()
        elif client.fleet.quiet_for() >= quiet or time.monotonic() - waiting_since >= longest:
            show(client.fleet.rows())
            shown, waiting_since = version, time.monotonic()
        stop.wait(_POLL_S)


def _printer(as_json: bool, watching: bool, where: str) -> Callable[[list[BoxRow]], None]:
    """How the rows reach stdout: the table, or JSON (one document per line while watching)."""
    clear = watching and sys.stdout.isatty()
    first = [True]

    def show(rows: list[BoxRow]) -> None:
        now = datetime.now(UTC)
        if as_json:
            text = json.dumps(to_json(rows, now), ensure_ascii=False, indent=None if watching else 2)
        else:
            text = render_table(rows, now, where=where)
            if watching:  # a terminal shows the latest table alone; a pipe or file gets them all, apart
                text = ("\x1b[H\x1b[2J" if clear else "" if first[0] else "\n") + text
        first[0] = False
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    return show


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM and Ctrl-C end --watch cleanly (exit 0); returns what puts the old handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread may set handlers (and only it gets signals)

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def fleet_command(
    options: BrokerOptions, *, as_json: bool = False, watching: bool = False, wait_s: float = 2.0
) -> int:
    """`fiscal-box fleet`: print the fleet once (or on every change with ``watching``); 0, or FleetError."""
    if wait_s <= 0:
        raise ConfigError(f"--wait {wait_s:g}: the seconds to wait must be above 0")
    client = FleetClient(options, Fleet(options.prefix))
    show = _printer(as_json, watching, f"{options.prefix}/ on {options.address}")
    stop = threading.Event()
    restore = _stop_on_signals(stop) if watching else (lambda: None)
    try:
        client.open()
        if not watching:
            show(collect(client, wait_s))
            return 0
        watch(client, show, stop, wait_s=wait_s)
        return 0
    finally:
        restore()
        client.close()
