"""A real mosquitto for the tests: four listeners on free ports, files it may read, restartable.

Listeners (``per_listener_settings``, so each has its own authentication):

- ``anonymous``: plain TCP, anyone;
- ``password``: plain TCP, a user and password from a mosquitto password file (``USER``, ``PASSWORD``);
- ``tls``: TLS with a server certificate from the test CA, the same password file;
- ``mtls``: TLS that requires a client certificate of the test CA; the certificate's CN is the user.

``persistence false``: a restart forgets every retained message, as a broker without persistence does,
which is what the box's "republish on every connect" must survive. mosquitto drops root for its
``mosquitto`` user, so its directory is traversable and its files belong to that user.

``Broker.start(users={...}, acl=TEXT)``: more users in the password file, and a mosquitto ``acl_file``
with that text on the three listeners that know who the client is (password, tls, mtls); the
anonymous listener stays open to everything, for the tests' own watchers. Without them, no ACL.

Usage::

    with Broker.start(workdir) as broker:
        broker.port("password"); broker.ca_file; broker.client_cert()
        broker.stop(); broker.restart()           # the same ports again
    Watcher(broker, "fiscal-box/#")                # a paho subscriber collecting what it hears
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from tests.waiting import wait_for

USER = "box"
PASSWORD = "s3cret-box-password"
LISTENERS = ("anonymous", "password", "tls", "mtls")


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


# --- the test CA -------------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@dataclass
class TestCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls) -> TestCA:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("fiscal-box test CA"))
            .issuer_name(_name("fiscal-box test CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(self, cn: str, directory: Path, *, server: bool) -> tuple[Path, Path]:
        """A certificate and key for ``cn`` (a server's: for localhost and 127.0.0.1)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_file, key_file = directory / f"{cn}.crt", directory / f"{cn}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_file, key)
        return cert_file, key_file


# --- the broker --------------------------------------------------------------------------------------


@dataclass
class Broker:
    directory: Path
    ports: dict[str, int]
    ca_file: Path
    ca: TestCA
    process: subprocess.Popen[bytes] | None = None
    _clients: int = field(default=0)

    @classmethod
    def start(
        cls, parent: Path | None = None, *, users: dict[str, str] | None = None, acl: str | None = None
    ) -> Broker:
        binary = mosquitto_path()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (make test installs it: make debian-packages)")
        # Not under pytest's tmp_path: its 0700 parents keep the mosquitto user out.
        directory = Path(tempfile.mkdtemp(prefix="mosquitto-", dir=parent or "/tmp"))
        directory.chmod(0o755)
        ca = TestCA.create()
        ca_file = directory / "ca.crt"
        ca_file.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
        ca.issue("localhost", directory, server=True)
        subprocess.run(
            ["mosquitto_passwd", "-b", "-c", str(directory / "passwords"), USER, PASSWORD],
            check=True,
            capture_output=True,
        )
        for user, password in (users or {}).items():
            subprocess.run(
                ["mosquitto_passwd", "-b", str(directory / "passwords"), user, password],
                check=True,
                capture_output=True,
            )
        if acl is not None:
            (directory / "acl").write_text(acl, encoding="utf-8")
        ports = dict(zip(LISTENERS, _free_ports(len(LISTENERS)), strict=True))
        config = _config(directory, ports, acl=acl is not None)
        (directory / "mosquitto.conf").write_text(config, encoding="utf-8")
        broker = cls(directory, ports, ca_file, ca)
        broker._give_to_mosquitto()
        broker.restart()
        return broker

    def port(self, listener: str = "anonymous") -> int:
        return self.ports[listener]

    def client_cert(self, cn: str = USER) -> tuple[Path, Path]:
        """A client certificate (and key) of the test CA; with mtls its CN is the user."""
        cert_file, key_file = self.ca.issue(cn, self.directory, server=False)
        self._give_to_mosquitto()
        return cert_file, key_file

    def restart(self) -> None:
        """Start mosquitto (again) on the same ports; returns once every listener accepts."""
        self.stop()
        log = (self.directory / "mosquitto.log").open("ab")
        process = subprocess.Popen(
            [mosquitto_path() or "mosquitto", "-c", str(self.directory / "mosquitto.conf")],
            stdout=log,
            stderr=log,
        )
        log.close()
        self.process = process
        wait_for(lambda: self._listening() or process.poll() is not None, timeout=20, what="mosquitto")
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited {process.returncode}: {self.log_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_text(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _listening(self) -> bool:
        for port in self.ports.values():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                return False
        return True

    def _give_to_mosquitto(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam("mosquitto")
        except KeyError:
            return
        for path in self.directory.iterdir():
            os.chown(path, user.pw_uid, user.pw_gid)
            if path.name == "passwords" or path.suffix == ".key":
                path.chmod(0o600 if path.name == "passwords" else 0o640)


def _config(directory: Path, ports: dict[str, int], *, acl: bool = False) -> str:
    tls = (
        f"cafile {directory / 'ca.crt'}\ncertfile {directory / 'localhost.crt'}\n"
        f"keyfile {directory / 'localhost.key'}\n"
    )
    acl_file = f"acl_file {directory / 'acl'}\n" if acl else ""
    passwords = f"password_file {directory / 'passwords'}\nallow_anonymous false\n{acl_file}"
    return (
        "per_listener_settings true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
        "log_type notice\nconnection_messages true\n"
        f"listener {ports['anonymous']} 127.0.0.1\nallow_anonymous true\n"
        f"listener {ports['password']} 127.0.0.1\n{passwords}"
        f"listener {ports['tls']} 127.0.0.1\n{tls}{passwords}"
        f"listener {ports['mtls']} 127.0.0.1\n{tls}require_certificate true\nuse_identity_as_username true\n"
        f"{acl_file}"
    )


# --- a subscriber for the tests ------------------------------------------------------------------------


@dataclass
class Heard:
    topic: str
    payload: bytes
    retain: bool
    at: float

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A paho client on the anonymous listener that records every message on ``topics`` (on another
    listener it signs in with ``credentials``)."""

    def __init__(
        self,
        broker: Broker,
        *topics: str,
        listener: str = "anonymous",
        credentials: tuple[str, str] = (USER, PASSWORD),
    ) -> None:
        self.broker = broker
        self._lock = threading.Lock()
        self.heard: list[Heard] = []
        self._subscribed = threading.Event()
        # Its own topic, heard after everything the broker sent before: see sync()
        self._sync_topic = f"watcher-sync/{time.monotonic_ns()}"
        self._topics = (*topics, self._sync_topic)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{time.monotonic_ns()}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        if listener != "anonymous":
            self.client.username_pw_set(*credentials)
        self.client.connect(  # the test's own client may block: the broker is up
            "127.0.0.1", broker.port(listener), keepalive=30
        )
        self.client.loop_start()
        wait_for(self._subscribed.is_set, timeout=20, what="the watcher's subscription")

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        self._subscribed.clear()
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.heard.append(Heard(message.topic, bytes(message.payload), bool(message.retain), time.monotonic()))

    def messages(self, topic: str | None = None) -> list[Heard]:
        with self._lock:
            return [m for m in self.heard if topic is None or mqtt.topic_matches_sub(topic, m.topic)]

    def last(self, topic: str) -> Heard | None:
        found = self.messages(topic)
        return found[-1] if found else None

    def wait(
        self, topic: str, condition: Callable[[Heard], bool] = lambda _m: True, *, timeout: float = 20
    ) -> Heard:
        """The first message heard on ``topic`` (a filter) for which ``condition`` holds."""

        def found() -> Heard | None:
            return next((m for m in self.messages(topic) if condition(m)), None)

        heard = wait_for(found, timeout=timeout, what=f"a message on {topic}")
        assert heard is not None
        return heard

    def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def sync(self, timeout: float = 20) -> None:
        """Return once everything the broker sent this watcher before now has arrived (a broker keeps a
        connection's messages in order, so hearing its own message back means the earlier ones came)."""
        marker = str(time.monotonic_ns()).encode()
        self.publish(self._sync_topic, marker)
        self.wait(self._sync_topic, lambda m: m.payload == marker, timeout=timeout)

    def clear(self) -> None:
        with self._lock:
            self.heard.clear()

    def close(self) -> None:
        # disconnect first: it wakes paho's loop, which otherwise sits out its 1 s select
        self.client.disconnect()
        self.client.loop_stop()


def retained(broker: Broker, topic: str, *, timeout: float = 5) -> dict[str, Heard]:
    """What the broker retains under ``topic`` (a filter) now: a fresh subscriber's retained messages."""
    watcher = Watcher(broker, topic)
    try:
        watcher.sync()
        return {m.topic: m for m in watcher.messages(topic) if m.retain}
    finally:
        watcher.close()


class Gate:
    """A TCP relay in front of a broker's listener that a test opens and shuts: shut, the box meets a
    broker that is down (connections cut, reconnects refused) while the test's own clients, connected
    straight to the broker, stay subscribed."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.port = _free_ports(1)[0]
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self.open()

    def open(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        with self._lock:
            self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def shut(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            pairs, self._pairs = self._pairs, []
        if server is not None:
            # close() alone does not wake a thread blocked in accept(), and the socket would go on
            # accepting on Linux; shutdown() does.
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        for a, b in pairs:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                # no Nagle waits on the relayed MQTT packets (they are small)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
