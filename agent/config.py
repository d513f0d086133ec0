"""The box's configuration: one TOML file, validated at start, as frozen typed settings (contract §2).

API:

* ``load_config(path) -> Settings`` and ``parse_config(text, source="<string>", *, base_dir=None)``.
* ``Settings``: one attribute per section -- ``box``, ``registrar``, ``fiscal_server``, ``signer``,
  ``offline``, ``api``, ``taxes`` (tuple of ``agent.secr.documents.Tax``), ``cashiers`` (tuple of
  ``Cashier``), ``printer``, ``drawer``, ``led``, ``button``, ``mqtt``, ``uplinks``, ``modem`` -- and
  ``source`` (the file name, for messages).
* ``describe_disabled(settings) -> list[str]``: the lines the agent prints at start for parts turned off.

Any problem raises ``ConfigError`` listing *every* problem, one per line, each naming the file,
``section.key`` (``taxes[2].rate``, counted from 1 as the tables appear in the file) and the expected
form: an installer on site fixes the file in one go instead of one restart per typo.

Every section is described once, in ``_SECTIONS``: the key, its form, when it is required or allowed.
Defaults live only in the dataclasses below. Relative paths are taken from the config file's directory,
so a config next to its keys works wherever the service's working directory is.
"""

# long module: the whole file format in one place -- every section's keys, their forms, defaults and
# conditions -- read as the one table that config.example.toml mirrors; the loader around it is short.

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import hmac
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from agent.secr.documents import Tax
from agent.secr.errors import ConfigError
from agent.secr.identity import Registrar as RegistrarConfig

PinFactory = Literal["mock", "lgpio", "rpigpio", "native"]

# --- the settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxConfig:
    id: str
    state_dir: Path = Path("/var/lib/fiscal-box")


@dataclass(frozen=True)
class FiscalServerConfig:
    url: str = "https://fs.tax.gov.ua:8643/fs"
    timeout_s: float = 5.0
    connect_timeout_s: float = 3.0
    # How far the box's clock may be from the server's before the box refuses to date documents by it.
    # 60 s: receipts carry the time to the second, so a minute is the most a receipt may be off; a
    # synced clock is within milliseconds and a Pi's crystal drifts some seconds a week without NTP, so
    # only a clock that was never set right (a Pi without a real-time clock booting from the time it
    # last saved) or was set wrong trips it; the comparison itself is good to the round trip and a second.
    clock_tolerance_s: float = 60.0


@dataclass(frozen=True)
class SignerConfig:
    kind: Literal["dev", "dstu4145"] = "dev"
    key_file: Path = Path("dev-key.pem")  # when not given: <box.state_dir>/dev-key.pem
    password_file: Path | None = None
    certificate_file: Path | None = None
    tsp_url: str | None = None


@dataclass(frozen=True)
class OfflineConfig:
    check_interval_s: float = 600.0
    max_session_hours: float = 36.0
    max_month_hours: float = 168.0
    warn_at_percent: int = 80
    probe_budget_ms: int = 300


@dataclass(frozen=True)
class ApiConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:8080"
    # Required while enabled: an open till API sells for anyone. Secrets stay out of repr() and logs.
    license_key: str | None = field(default=None, repr=False)
    token_ttl_s: int = 28800
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @property
    def host(self) -> str:
        return _split_hostport(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_hostport(self.listen)[1]


@dataclass(frozen=True)
class Cashier:
    name: str
    login: str
    pin: str | None = field(default=None, repr=False)
    pin_sha256: str | None = None  # hex SHA-256 of the UTF-8 PIN
    password: str | None = field(default=None, repr=False)
    password_sha256: str | None = None
    key_file: Path | None = None

    def verify_pin(self, pin: str) -> bool:
        return _secret_matches(pin, self.pin, self.pin_sha256)

    def verify_password(self, password: str) -> bool:
        return _secret_matches(password, self.password, self.password_sha256)


@dataclass(frozen=True)
class PrinterConfig:
    enabled: bool = True
    kind: Literal["usb", "serial", "network", "file"] = "usb"
    vendor_id: int | None = None  # usb; None: the first ESC/POS printer found
    product_id: int | None = None
    usb_in_ep: int = 0x82  # usb: bulk endpoints; these are most printers' (lsusb -v tells)
    usb_out_ep: int = 0x01
    serial_port: str | None = None  # TOML `port` with kind = "serial"
    baudrate: int = 19200
    host: str | None = None
    tcp_port: int = 9100  # TOML `port` with kind = "network"
    path: Path | None = None
    width_mm: Literal[58, 80] = 80
    timeout_s: float = 5.0
    # CP866 is on every Cyrillic printer but lacks І and Ґ (printed as I, Г); CP1125 and CP1251 have them.
    codepage: Literal["CP866", "CP1125", "CP1251"] = "CP866"
    # None: learned (silence after an answer is "switched off"); True: silence is always "off", from the
    # first receipt after a restart; False: never asked (a one-way serial cable)
    answers_status: bool | None = None


@dataclass(frozen=True)
class DrawerConfig:
    enabled: bool = True
    kind: Literal["printer", "gpio"] = "printer"
    pin: int | None = None
    pin_factory: PinFactory | None = None


@dataclass(frozen=True)
class LedConfig:
    enabled: bool = True
    pin: int = 17
    pin_factory: PinFactory | None = None  # None: gpiozero's own choice
    active_high: bool = True  # False: the pin sinks the LED's current (lit while low)


@dataclass(frozen=True)
class ButtonConfig:
    enabled: bool = False
    pin: int = 27
    pin_factory: PinFactory | None = None  # None: gpiozero's own choice, as the LED's
    long_press_s: float = 3.0  # held this long: Go Online; shorter: the slip
    pull_up: bool = True  # a button from the pin to ground (pressed while low); false: to 3.3 V
    bounce_ms: int = 50  # edges within this of the last are contact bounce; 0: none


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    topic_prefix: str = "fiscal-box"
    client_id: str | None = None  # None: "fiscal-box-<box.id>", unique per box as brokers require
    username: str | None = None
    password_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None  # a client certificate, for brokers that authenticate boxes by it
    key_file: Path | None = None
    keepalive_s: int = 30
    # A broker that comes back is found within this (plus a connect): the state is current in seconds
    reconnect_max_s: float = 1.5
    #: events kept while the broker is away; the oldest go first, and their number is reported
    event_buffer: int = 1000
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    commands: bool = False  # remote go_online / slip / state for ops; needs an authenticated connection


@dataclass(frozen=True)
class UplinksConfig:
    enabled: bool = True
    primary: str = "eth0"
    backup: str = "wwan0"
    probe_interval_s: float = 30.0
    # Back to the primary only once it has answered for this long: a cable toggling every few seconds
    # must not move the route each time (agent/uplinks/policy.py).
    hold_down_s: float = 30.0
    # Failed probes in a row before a link that still has carrier counts as not reaching the server: one
    # lost probe is a hiccup, two at the degraded cadence (~0.5 s apart) switch within 1-3 s of the loss.
    failed_probes: int = 2
    # How long a sale whose request failed waits for a failover under way before it goes offline: a dead
    # gateway is left after two failed probes (~0.5 s apart, each up to 1 s), well within this.
    failover_wait_s: float = 4.0


@dataclass(frozen=True)
class ModemConfig:
    enabled: bool = True
    port: str = "/dev/ttyUSB2"
    apn: str | None = None
    baudrate: int = 115200


@dataclass(frozen=True)
class Settings:
    box: BoxConfig
    registrar: RegistrarConfig
    fiscal_server: FiscalServerConfig = field(default_factory=FiscalServerConfig)
    signer: SignerConfig = field(default_factory=SignerConfig)
    offline: OfflineConfig = field(default_factory=OfflineConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    taxes: tuple[Tax, ...] = ()
    cashiers: tuple[Cashier, ...] = ()
    printer: PrinterConfig = field(default_factory=PrinterConfig)
    drawer: DrawerConfig = field(default_factory=DrawerConfig)
    led: LedConfig = field(default_factory=LedConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    uplinks: UplinksConfig = field(default_factory=UplinksConfig)
    modem: ModemConfig = field(default_factory=ModemConfig)
    source: str = "<string>"


# --- forms a value may take --------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as it would be written in TOML, so the installer recognizes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "(not set)"
    return str(value)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _Form:
    text: str  # completes "must be ..."
    ok: Callable[[Any], bool]
    convert: Callable[[Any], Any] = _same


def _integer(lo: int, hi: int, text: str | None = None) -> _Form:
    # TOML booleans are not numbers, though Python's bool is an int.
    return _Form(text or f"a whole number from {lo} to {hi}", lambda v: type(v) is int and lo <= v <= hi)


def _number(lo: float, hi: float, *, above: bool = False, note: str = "") -> _Form:
    def ok(v: Any) -> bool:
        # NaN and inf fail the comparisons by themselves.
        return type(v) in (int, float) and (lo < v if above else lo <= v) and v <= hi

    text = f"a number above {lo:g} and at most {hi:g}" if above else f"a number from {lo:g} to {hi:g}"
    return _Form(text + note, ok, float)


def _hex_integer(lo: int, hi: int, text: str) -> _Form:
    """A TOML integer (0x0416 is one) or the hex digits in quotes as lsusb prints them ("0416")."""

    def value(v: Any) -> int | None:
        if type(v) is int:
            return v
        if isinstance(v, str) and re.fullmatch(r"(0[xX])?[0-9A-Fa-f]{1,4}", v.strip()):
            return int(v.strip(), 16)
        return None

    def ok(v: Any) -> bool:
        n = value(v)
        return n is not None and lo <= n <= hi

    return _Form(text, ok, value)


def _text(pattern: str | None = None, text: str = "a non-empty string in quotes") -> _Form:
    def ok(v: Any) -> bool:
        return isinstance(v, str) and (re.fullmatch(pattern, v) is not None if pattern else v.strip() != "")

    return _Form(text, ok)


def _choice(*options: Any) -> _Form:
    return _Form(
        "one of " + ", ".join(_show(o) for o in options),
        lambda v: any(type(v) is type(o) and v == o for o in options),
    )


def _split_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:8080
    if (
        not sep
        or not host
        or re.search(r"[\s/]", host)
        or not (port.isascii() and port.isdigit())
        or not 1 <= int(port) <= 65535
    ):
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host, int(port)


def _is_hostport(v: Any) -> bool:
    try:
        _split_hostport(v)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _is_url(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        parts = urlsplit(v)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port number
        return False


def _is_rate(v: Any) -> bool:
    # str() of a float is its shortest repr, so 7.5 passes and 0.125 (three decimals) does not.
    return (
        type(v) in (str, int, float)
        and re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,2})?", str(v)) is not None
        and Decimal(str(v)) <= 100
    )


_BOOL = _Form("true or false", lambda v: type(v) is bool)
_PATH = _Form("a path in quotes", lambda v: isinstance(v, str) and v.strip() != "", Path)
_URL = _Form('an http:// or https:// URL, e.g. "https://fs.tax.gov.ua:8643/fs"', _is_url)
_HOSTPORT = _Form('HOST:PORT, e.g. "127.0.0.1:8080" or "[::1]:8080"', _is_hostport)
_RATE = _Form(
    'a percentage from 0 to 100 with at most 2 decimals, e.g. "20.00"',
    _is_rate,
    lambda v: Decimal(str(v)).quantize(Decimal("0.01")),
)
_TEXT = _text()
_HOST = _text(r"[^\s/]+", 'a host name or IP address, e.g. "192.168.1.50"')
_DEVICE = _text(r"/\S+", 'a device path, e.g. "/dev/ttyUSB0"')
_IFACE = _text(r"[A-Za-z0-9_.:@-]{1,15}", 'a network interface name, e.g. "eth0"')
_TOPIC = _text(
    r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*",
    'MQTT topic levels of letters, digits, "-" or "_" joined by "/", e.g. "fiscal-box"',
)
_SHA256 = _text(r"[0-9a-f]{64}", "64 lowercase hex digits (the SHA-256 of the secret)")
_USB_ID = _hex_integer(0, 0xFFFF, 'a USB id from 0x0000 to 0xFFFF, e.g. 0x0416 or "0416" (lsusb: ID vendor:product)')
# lsusb -v: bEndpointAddress of the printer interface's bulk endpoints; IN ones have bit 7 set.
_USB_OUT_EP = _hex_integer(0x01, 0x0F, "a bulk OUT endpoint from 0x01 to 0x0F (lsusb -v: bEndpointAddress ... OUT)")
_USB_IN_EP = _hex_integer(0x81, 0x8F, "a bulk IN endpoint from 0x81 to 0x8F (lsusb -v: bEndpointAddress ... IN)")
_PORT = _integer(1, 65535)
_BAUD = _integer(300, 4_000_000, "a baud rate, e.g. 19200")
_GPIO = _integer(0, 53, "a GPIO number (BCM numbering) from 0 to 53")
_FACTORY = _choice("mock", "lgpio", "rpigpio", "native")
_LAW = " (the law's limit)"


# --- the sections ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    name: str
    form: _Form
    # True, or (other key, value): required when that key has that value. Never while enabled = false.
    required: bool | tuple[str, Any] = False
    when: tuple[str, Any] | None = None  # allowed only when this other key has this value
    attr: str | None = None  # the attribute, when it differs from the TOML key
    secret: bool = False  # never echoed into a message (messages end up in logs)


@dataclass(frozen=True)
class _Section:
    cls: type[Any]
    keys: tuple[_Key, ...]
    array: bool = False  # [[taxes]]: an array of tables
    unique: tuple[str, ...] = ()  # across the array's tables
    one_of: tuple[tuple[str, ...], ...] = ()  # at least one key of each group
    not_both: tuple[tuple[str, str], ...] = ()
    together: tuple[tuple[str, str], ...] = ()  # both or neither


def _switch(cls: type[Any], *keys: _Key, **rules: Any) -> _Section:
    """A hardware or network section: ``enabled = false`` lets the agent run on any Linux machine."""
    return _Section(cls, (_Key("enabled", _BOOL), *keys), **rules)


_K = _Key
_SECTIONS: dict[str, _Section] = {
    "box": _Section(
        BoxConfig,
        (
            _K(
                "id",
                _text(
                    r"[A-Za-z0-9_-]{1,64}",
                    'letters, digits, "-" or "_" (it goes into MQTT topics), e.g. "shop-12-till-1"',
                ),
                required=True,
            ),
            _K("state_dir", _PATH),
        ),
    ),
    "registrar": _Section(
        RegistrarConfig,
        (
            _K(
                "fiscal_number",
                _text(r"[0-9]{1,20}", 'a string of 1 to 20 digits in quotes, e.g. "4000000001"'),
                required=True,
            ),
            _K("local_number", _integer(1, 2**31 - 1)),
            _K(
                "tin",
                _text(
                    r"[0-9]{5,10}|[А-ЩЬЮЯЄІЇҐ]{2}[0-9]{6}",
                    'a string of 5 to 10 digits, or 2 Cyrillic capitals and 6 digits, e.g. "34554362"',
                ),
            ),
            _K("ipn", _text(r"[0-9]{1,12}", 'a string of digits (12 for a VAT payer), e.g. "345543626543"')),
            _K("org_name", _TEXT),
            _K("point_name", _TEXT),
            _K("point_address", _TEXT),
            _K("testing", _BOOL),
        ),
    ),
    "fiscal_server": _Section(
        FiscalServerConfig,
        (
            _K("url", _URL),
            _K("timeout_s", _number(1, 120)),
            _K("connect_timeout_s", _number(0.1, 120)),
            _K("clock_tolerance_s", _number(5, 3600)),
        ),
    ),
    "signer": _Section(
        SignerConfig,
        (
            _K("kind", _choice("dev", "dstu4145")),
            _K("key_file", _PATH, required=("kind", "dstu4145")),
            _K("password_file", _PATH),
            _K("certificate_file", _PATH),
            _K("tsp_url", _URL),
        ),
    ),
    "offline": _Section(
        OfflineConfig,
        (
            _K("check_interval_s", _number(10, 3600)),
            _K("max_session_hours", _number(0, 36, above=True, note=_LAW)),
            _K("max_month_hours", _number(0, 168, above=True, note=_LAW)),
            _K("warn_at_percent", _integer(1, 99)),
            _K("probe_budget_ms", _integer(0, 5000)),
        ),
    ),
    "api": _Section(
        ApiConfig,
        (
            _K("enabled", _BOOL),
            _K("listen", _HOSTPORT),
            _K("license_key", _TEXT, required=("enabled", True), secret=True),
            _K("token_ttl_s", _integer(60, 30 * 86400)),
            _K("tls_cert_file", _PATH),
            _K("tls_key_file", _PATH),
        ),
        together=(("tls_cert_file", "tls_key_file"),),
    ),
    "taxes": _Section(
        Tax,
        (
            _K("code", _integer(0, 2**31 - 1), required=True),
            _K(
                "letter",
                _text(r"[A-ZА-ЩЬЮЯЄІЇҐ]", 'one capital letter, Cyrillic or Latin, e.g. "А"'),
                required=True,
            ),
            _K("rate", _RATE, required=True),
            _K("name", _TEXT, required=True),
            _K("type", _integer(0, 99)),
            _K("included", _BOOL),
        ),
        array=True,
        unique=("code", "letter"),
    ),
    "cashiers": _Section(
        Cashier,
        (
            _K("name", _TEXT, required=True),
            _K("login", _text(r"\S+", "a string without spaces"), required=True),
            _K("pin", _text(r"[0-9]{4,16}", "a string of 4 to 16 digits"), secret=True),
            _K("pin_sha256", _SHA256),
            _K("password", _TEXT, secret=True),
            _K("password_sha256", _SHA256),
            _K("key_file", _PATH),
        ),
        array=True,
        unique=("login",),
        one_of=(("pin", "pin_sha256", "password", "password_sha256"),),
        not_both=(("pin", "pin_sha256"), ("password", "password_sha256")),
    ),
    "printer": _switch(
        PrinterConfig,
        _K("kind", _choice("usb", "serial", "network", "file")),
        _K("vendor_id", _USB_ID, when=("kind", "usb")),
        _K("product_id", _USB_ID, when=("kind", "usb")),
        _K("usb_in_ep", _USB_IN_EP, when=("kind", "usb")),
        _K("usb_out_ep", _USB_OUT_EP, when=("kind", "usb")),
        _K("port", _DEVICE, when=("kind", "serial"), required=True, attr="serial_port"),
        _K("baudrate", _BAUD, when=("kind", "serial")),
        _K("host", _HOST, when=("kind", "network"), required=True),
        _K("port", _PORT, when=("kind", "network"), attr="tcp_port"),
        _K("path", _PATH, when=("kind", "file"), required=True),
        _K("width_mm", _choice(58, 80)),
        _K("timeout_s", _number(1, 120)),
        _K("codepage", _choice("CP866", "CP1125", "CP1251")),
        # One key a kind that can answer (a file printer cannot).
        *(_K("answers_status", _BOOL, when=("kind", kind)) for kind in ("usb", "serial", "network")),
    ),
    "drawer": _switch(
        DrawerConfig,
        _K("kind", _choice("printer", "gpio")),
        _K("pin", _GPIO, when=("kind", "gpio"), required=True),
        _K("pin_factory", _FACTORY, when=("kind", "gpio")),
    ),
    "led": _switch(LedConfig, _K("pin", _GPIO), _K("pin_factory", _FACTORY), _K("active_high", _BOOL)),
    "button": _switch(
        ButtonConfig,
        _K("pin", _GPIO),
        _K("pin_factory", _FACTORY),
        _K("long_press_s", _number(0.2, 30)),
        _K("pull_up", _BOOL),
        _K("bounce_ms", _integer(0, 100)),
    ),
    "mqtt": _switch(
        MqttConfig,
        _K("host", _HOST),
        _K("port", _PORT),
        _K("topic_prefix", _TOPIC),
        _K("client_id", _text(r"[A-Za-z0-9_.:-]{1,64}", 'letters, digits, ".", ":", "-" or "_", e.g. "box-12"')),
        _K("username", _TEXT),
        _K("password_file", _PATH),
        _K("tls", _BOOL),
        _K("ca_file", _PATH, when=("tls", True)),
        _K("cert_file", _PATH, when=("tls", True)),
        _K("key_file", _PATH, when=("tls", True)),
        _K("keepalive_s", _integer(5, 3600)),
        _K("reconnect_max_s", _number(0.5, 300)),
        _K("event_buffer", _integer(10, 1_000_000)),
        _K("discovery", _BOOL),
        _K("discovery_prefix", _TOPIC),
        _K("commands", _BOOL),
        together=(("cert_file", "key_file"),),
    ),
    "uplinks": _switch(
        UplinksConfig,
        _K("primary", _IFACE),
        _K("backup", _IFACE),
        _K("probe_interval_s", _number(1, 3600)),
        _K("hold_down_s", _number(0, 3600)),
        _K("failed_probes", _integer(1, 10)),
        _K("failover_wait_s", _number(0, 30)),
    ),
    "modem": _switch(ModemConfig, _K("port", _DEVICE), _K("apn", _TEXT), _K("baudrate", _BAUD)),
}

# The sections describe_disabled reports on, in the order the agent starts them.
_SWITCHABLE = ("api", "printer", "drawer", "led", "button", "mqtt", "uplinks", "modem")


# --- loading -----------------------------------------------------------------------------------


def load_config(path: str | Path) -> Settings:
    """Read and validate the configuration file; relative paths in it are taken from its directory."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the configuration file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save the file as UTF-8") from None
    return parse_config(text, str(path), base_dir=file.absolute().parent)


def parse_config(text: str, source: str = "<string>", *, base_dir: str | Path | None = None) -> Settings:
    """Validate TOML text; relative paths are taken from ``base_dir`` (default: the current directory)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_syntax_error(source, e)) from None
    base = Path(base_dir).absolute() if base_dir is not None else Path.cwd()

    problems: list[str] = []
    for name in data:
        if name not in _SECTIONS:
            problems.append(f"{source}: [{name}]: unknown section{_hint(name, _SECTIONS)}")
    built: dict[str, Any] = {}
    for name, section in _SECTIONS.items():
        value = _section(data.get(name, [] if section.array else {}), name, section, source, problems)
        if value is not _INVALID:
            built[name] = value
    problems += _shared_pins(built, source)
    problems += _mqtt_credentials(built.get("mqtt"), source)
    if problems:
        raise ConfigError("\n".join(problems))

    for name, value in built.items():
        multiple = isinstance(value, tuple)
        built[name] = tuple(_resolved(v, base) for v in value) if multiple else _resolved(value, base)
    if "key_file" not in data.get("signer", {}):
        dev_key = built["box"].state_dir / "dev-key.pem"
        built["signer"] = dataclasses.replace(built["signer"], key_file=dev_key)
    return Settings(**built, source=source)


def _section(raw: Any, name: str, section: _Section, source: str, problems: list[str]) -> Any:
    """One section (a table, or an array of tables) checked; _INVALID when its shape is wrong."""
    if section.array:
        if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
            problems.append(f"{source}: {name}: must be an array of tables, each written [[{name}]]")
            return _INVALID
        items = [_table(t, section, f"{name}[{i}]", source, problems) for i, t in enumerate(raw, 1)]
        problems += _duplicates(raw, section, name, source)
        return tuple(items)
    if not isinstance(raw, dict):
        problems.append(f"{source}: {name}: must be a table, written [{name}]")
        return _INVALID
    return _table(raw, section, name, source, problems)


def describe_disabled(settings: Settings) -> list[str]:
    """Human lines for the parts the config turns off, for the agent to print at start."""
    lines = [f"{name}: disabled in config" for name in _SWITCHABLE if not getattr(settings, name).enabled]
    if settings.drawer.enabled and settings.drawer.kind == "printer" and not settings.printer.enabled:
        lines.append('drawer: not active: kind = "printer" but the printer is disabled in config')
    return lines


def _table(raw: Mapping[str, Any], section: _Section, where: str, source: str, problems: list[str]) -> Any:
    """Check one table; returns the dataclass, or None after adding to ``problems``."""
    start = len(problems)
    check = _TableCheck(raw, section, f"{source}: {where}", problems)
    # Unconditional keys first: they include the selectors the conditional ones depend on.
    check.plain_keys()
    check.conditional_keys()
    if "enabled" not in check.keys or check.state("enabled") is True:
        check.required_keys()
    check.relations()
    return section.cls(**check.got) if len(problems) == start else None


_INVALID = object()  # a selector (kind, enabled) with a bad value: the keys that depend on it are unknown


class _TableCheck:
    """One table's keys against its section, every problem added to ``problems``."""

    def __init__(self, raw: Mapping[str, Any], section: _Section, where: str, problems: list[str]) -> None:
        self.raw, self.section, self.where, self.problems = raw, section, where, problems
        self.keys: dict[str, list[_Key]] = {}
        for key in section.keys:
            self.keys.setdefault(key.name, []).append(key)
        self.defaults = {f.name: f.default for f in dataclasses.fields(section.cls)}
        self.got: dict[str, Any] = {}
        self.seen: dict[str, Any] = {}

    def state(self, name: str) -> Any:
        return self.seen.get(name, self.defaults.get(name))

    def holds(self, cond: tuple[str, Any] | None) -> bool:
        return cond is None or self.state(cond[0]) == cond[1]

    def check(self, key: _Key, value: Any) -> None:
        if key.form.ok(value):
            self.got[key.attr or key.name] = self.seen[key.name] = key.form.convert(value)
        else:
            self.seen[key.name] = _INVALID
            shown = "(hidden)" if key.secret else _show(value)
            self.problems.append(f"{self.where}.{key.name} = {shown}: must be {key.form.text}")

    def plain_keys(self) -> None:
        for name, value in self.raw.items():
            if name not in self.keys:
                self.problems.append(f"{self.where}.{name}: unknown key{_hint(name, self.keys)}")
            elif all(k.when is None for k in self.keys[name]):
                self.check(self.keys[name][0], value)

    def conditional_keys(self) -> None:
        for name, value in self.raw.items():
            conditional = [k for k in self.keys.get(name, []) if k.when is not None]
            if not conditional:
                continue
            live = [k for k in conditional if self.holds(k.when)]
            if live:
                self.check(live[0], value)
            elif all(self.state(k.when[0]) is not _INVALID for k in conditional if k.when):
                sel = conditional[0].when[0] if conditional[0].when else ""
                allowed = " or ".join(_show(k.when[1]) for k in conditional if k.when)
                self.problems.append(
                    f"{self.where}.{name}: only used with {sel} = {allowed}"
                    f" (here {sel} = {_show(self.state(sel))})"
                )

    def required_keys(self) -> None:
        for key in self.section.keys:
            need = key.required is True or (isinstance(key.required, tuple) and self.holds(key.required))
            if need and key.name not in self.raw and self.holds(key.when):
                cond = key.required if isinstance(key.required, tuple) else key.when
                why = f" when {cond[0]} = {_show(cond[1])}" if cond else ""
                self.problems.append(
                    f"{self.where}.{key.name}: missing, required{why}; must be {key.form.text}"
                )
        for group in self.section.one_of:
            if not any(name in self.raw for name in group):
                self.problems.append(f"{self.where}: needs one of {', '.join(group)}")

    def relations(self) -> None:
        raw = self.raw
        for a, b in self.section.not_both:
            if a in raw and b in raw:
                self.problems.append(f"{self.where}.{b}: give {a} or {b}, not both")
        for a, b in self.section.together:
            if (a in raw) != (b in raw):
                given, missing = (a, b) if a in raw else (b, a)
                self.problems.append(f"{self.where}.{missing}: missing; {given} is given, give both or neither")


def _duplicates(tables: list[dict[str, Any]], section: _Section, name: str, source: str) -> list[str]:
    problems = []
    for key in section.unique:
        first: dict[tuple[type, Any], int] = {}
        for i, table in enumerate(tables, 1):
            if key not in table or isinstance(table[key], dict | list):
                continue
            mark = (type(table[key]), table[key])
            if mark in first:
                problems.append(
                    f"{source}: {name}[{i}].{key} = {_show(table[key])}: must be unique;"
                    f" {name}[{first[mark]}] has it too"
                )
            else:
                first[mark] = i
    return problems


def _shared_pins(built: Mapping[str, Any], source: str) -> list[str]:
    # Two parts driving one GPIO line fight over it silently; catch it before the hardware does.
    owners: dict[int, str] = {}
    problems = []
    for name in ("led", "button", "drawer"):
        part = built.get(name)
        if part is None or not part.enabled or part.pin is None or getattr(part, "kind", "gpio") != "gpio":
            continue
        if part.pin in owners:
            problems.append(f"{source}: {name}.pin = {part.pin}: already used by {owners[part.pin]}.pin")
        else:
            owners[part.pin] = name
    return problems


def _mqtt_credentials(mqtt: MqttConfig | None, source: str) -> list[str]:
    if mqtt is None or not mqtt.enabled:
        return []
    problems = []
    if mqtt.password_file is not None and mqtt.username is None:
        problems.append(f"{source}: mqtt.username: missing; password_file is given, the broker needs both")
    # A command topic anyone may publish to would let anyone on the network trigger uploads and print
    # slips: only a box that proves who it is (and so is held to the broker's ACL) listens to commands.
    if mqtt.commands and mqtt.password_file is None and mqtt.cert_file is None:
        problems.append(
            f"{source}: mqtt.commands = true: needs an authenticated connection;"
            " give username and password_file, or tls = true with cert_file and key_file"
        )
    return problems


def _resolved(obj: Any, base: Path) -> Any:
    changes = {
        f.name: base / value
        for f in dataclasses.fields(obj)
        if isinstance(value := getattr(obj, f.name), Path) and not value.is_absolute()
    }
    return dataclasses.replace(obj, **changes) if changes else obj


def _syntax_error(source: str, error: tomllib.TOMLDecodeError) -> str:
    # Python 3.11's TOMLDecodeError has no lineno; the position is only in the message.
    text = str(error)
    if m := re.fullmatch(r"(.*) \(at line ([0-9]+), column ([0-9]+)\)", text, re.S):
        return f"{source}: line {m[2]}, column {m[3]}: not valid TOML: {m[1]}"
    if m := re.fullmatch(r"(.*) \(at end of document\)", text, re.S):
        return f"{source}: at the end of the file: not valid TOML: {m[1]}"
    return f"{source}: not valid TOML: {text}"


def _hint(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else f" (known: {', '.join(known)})"


def _secret_matches(given: str, plain: str | None, sha256: str | None) -> bool:
    if plain is not None:
        return hmac.compare_digest(given.encode(), plain.encode())
    if sha256 is not None:
        return hmac.compare_digest(hashlib.sha256(given.encode()).hexdigest(), sha256)
    return False
