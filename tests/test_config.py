"""The configuration contract (§2): the example loads, defaults hold, and every problem is named."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import (
    _SECTIONS,
    Settings,
    describe_disabled,
    load_config,
    parse_config,
)
from agent.secr.documents import Tax
from agent.secr.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

MINIMAL = """
[box]
id = "till-1"
[registrar]
fiscal_number = "4000000001"
[api]
license_key = "k"
"""


def problems(text: str, base: str = MINIMAL) -> list[str]:
    """The problem lines for ``base`` + ``text``. TOML forbids declaring a table twice, so a test that
    changes [box], [registrar] or [api] passes its own ``base``."""
    with pytest.raises(ConfigError) as info:
        parse_config(base + text, "config.toml")
    return str(info.value).splitlines()


def one_problem(text: str, base: str = MINIMAL) -> str:
    lines = problems(text, base)
    assert len(lines) == 1, lines
    return lines[0]


# --- the example and the defaults -------------------------------------------------------------


def test_example_loads_with_the_contract_values() -> None:
    s = load_config(EXAMPLE)
    assert s.box.id == "shop-12-till-1"
    assert (s.registrar.fiscal_number, s.registrar.local_number, s.registrar.tin) == (
        "4000000001",
        1,
        "34554362",
    )
    assert s.taxes == (
        Tax(code=1, letter="А", rate=Decimal("20.00"), name="ПДВ"),
        Tax(code=2, letter="Б", rate=Decimal("7.00"), name="ПДВ"),
        Tax(code=3, letter="В", rate=Decimal("0.00"), name="ПДВ 0%"),
    )
    (cashier,) = s.cashiers
    assert (cashier.name, cashier.login) == ("Іваненко І. І.", "ivanenko")
    assert cashier.verify_pin("1234") and not cashier.verify_pin("4321")
    assert s.source == str(EXAMPLE)


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for m in re.finditer(r"^\[\[?(\w+)\]\]?[^\n]*\n(.*?)(?=^\[|\Z)", text, re.M | re.S):
        blocks[m[1]] = blocks.get(m[1], "") + m[2]
    assert set(blocks) == set(_SECTIONS)
    for name, section in _SECTIONS.items():
        for key in section.keys:
            assert re.search(rf"^#? ?{key.name} = .*# ", blocks[name], re.M), (
                f"{name}.{key.name} undocumented"
            )


def test_defaults() -> None:
    s = parse_config(MINIMAL)
    assert s.box.state_dir == Path("/var/lib/fiscal-box")
    assert s.registrar.local_number is None and s.registrar.testing is False
    assert s.fiscal_server.url == "https://fs.tax.gov.ua:8643/fs"
    assert (s.fiscal_server.timeout_s, s.fiscal_server.connect_timeout_s) == (5, 3)
    assert s.signer.kind == "dev" and s.signer.key_file == Path("/var/lib/fiscal-box/dev-key.pem")
    assert dataclasses.astuple(s.offline) == (600, 36, 168, 80, 300)
    assert (s.api.enabled, s.api.host, s.api.port, s.api.token_ttl_s) == (True, "127.0.0.1", 8080, 28800)
    assert s.taxes == () and s.cashiers == ()
    p = s.printer
    assert (p.enabled, p.kind, p.width_mm, p.timeout_s, p.baudrate, p.tcp_port) == (
        True,
        "usb",
        80,
        5,
        19200,
        9100,
    )
    assert (s.drawer.enabled, s.drawer.kind) == (True, "printer")
    assert (s.led.enabled, s.led.pin, s.led.pin_factory, s.led.active_high) == (True, 17, None, True)
    b = s.button
    assert (b.enabled, b.pin, b.pin_factory, b.long_press_s, b.pull_up, b.bounce_ms) == (
        False,
        27,
        None,
        3.0,
        True,
        50,
    )
    m = s.mqtt
    assert (m.enabled, m.host, m.port, m.topic_prefix, m.tls, m.discovery, m.discovery_prefix) == (
        True,
        "localhost",
        1883,
        "fiscal-box",
        False,
        True,
        "homeassistant",
    )
    assert (s.uplinks.primary, s.uplinks.backup, s.uplinks.probe_interval_s) == ("eth0", "wwan0", 30)
    assert (s.uplinks.hold_down_s, s.uplinks.failed_probes) == (30, 2)
    assert (s.modem.enabled, s.modem.port, s.modem.apn, s.modem.baudrate) == (
        True,
        "/dev/ttyUSB2",
        None,
        115200,
    )


def test_settings_are_frozen() -> None:
    s = parse_config(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.box.id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.mqtt = s.mqtt  # type: ignore[misc]


def test_a_settings_object_can_be_built_in_code() -> None:
    from agent.config import BoxConfig, RegistrarConfig

    s = Settings(box=BoxConfig("x"), registrar=RegistrarConfig("1"))
    assert s.printer.kind == "usb" and s.api.license_key is None


# --- each kind of problem names section.key ----------------------------------------------------


def test_unknown_key_suggests_the_close_one() -> None:
    line = one_problem('[mqtt]\nhots = "broker"\n')
    assert line == 'config.toml: mqtt.hots: unknown key (did you mean "host"?)'


def test_unknown_key_without_a_close_one_lists_the_known() -> None:
    assert one_problem("[led]\nxyz = 1\n") == (
        "config.toml: led.xyz: unknown key (known: enabled, pin, pin_factory, active_high)"
    )


def test_unknown_section() -> None:
    assert one_problem('[modm]\nport = "/dev/ttyUSB2"\n') == (
        'config.toml: [modm]: unknown section (did you mean "modem"?)'
    )


def test_missing_required() -> None:
    line = one_problem("", '[registrar]\nfiscal_number = "1"\n[api]\nlicense_key = "k"\n')
    assert line.startswith("config.toml: box.id: missing, required; must be letters, digits")


def test_missing_license_key_while_api_enabled() -> None:
    line = one_problem("", '[box]\nid = "x"\n[registrar]\nfiscal_number = "1"\n')
    assert line.startswith("config.toml: api.license_key: missing, required when enabled = true")


def test_wrong_type() -> None:
    base = '[box]\nid = "x"\n[api]\nlicense_key = "k"\n'
    assert one_problem("[registrar]\nfiscal_number = 4000000001\n", base) == (
        "config.toml: registrar.fiscal_number = 4000000001: must be a string of 1 to 20 digits in quotes,"
        ' e.g. "4000000001"'
    )
    assert one_problem('[mqtt]\nport = "1883"\n') == (
        'config.toml: mqtt.port = "1883": must be a whole number from 1 to 65535'
    )
    assert one_problem("[mqtt]\ntls = 1\n") == "config.toml: mqtt.tls = 1: must be true or false"
    assert one_problem("[led]\npin = true\n").startswith("config.toml: led.pin = true: must be a GPIO number")


def test_led_active_high() -> None:
    # An LED wired from 3.3 V to the pin is lit while the pin is low.
    assert parse_config(MINIMAL + "[led]\nactive_high = false\n").led.active_high is False
    assert one_problem('[led]\nactive_high = "no"\n') == (
        'config.toml: led.active_high = "no": must be true or false'
    )
    assert one_problem("[led]\nactive_hihg = false\n") == (
        'config.toml: led.active_hihg: unknown key (did you mean "active_high"?)'
    )


def test_button_keys() -> None:
    s = parse_config(
        MINIMAL
        + '[button]\nenabled = true\npin = 5\npin_factory = "mock"\nlong_press_s = 0.2\n'
        + "pull_up = false\nbounce_ms = 0\n"
    )
    b = s.button
    assert (b.enabled, b.pin, b.pin_factory, b.long_press_s, b.pull_up, b.bounce_ms) == (
        True,
        5,
        "mock",
        0.2,
        False,
        0,
    )
    assert isinstance(b.long_press_s, float)
    assert parse_config(MINIMAL + "[button]\nlong_press_s = 5\n").button.long_press_s == 5.0
    assert one_problem("[button]\nlong_press_s = 0.1\n") == (
        "config.toml: button.long_press_s = 0.1: must be a number from 0.2 to 30"
    )
    assert one_problem("[button]\nlong_press_s = 60\n") == (
        "config.toml: button.long_press_s = 60: must be a number from 0.2 to 30"
    )
    assert one_problem("[button]\nbounce_ms = 0.05\n") == (
        "config.toml: button.bounce_ms = 0.05: must be a whole number from 0 to 100"
    )
    assert one_problem("[button]\nbounce_ms = 500\n") == (
        "config.toml: button.bounce_ms = 500: must be a whole number from 0 to 100"
    )
    assert one_problem('[button]\npull_up = "yes"\n') == (
        'config.toml: button.pull_up = "yes": must be true or false'
    )
    assert one_problem('[button]\npin_factory = "gpio"\n') == (
        'config.toml: button.pin_factory = "gpio": must be one of "mock", "lgpio", "rpigpio", "native"'
    )
    assert one_problem("[button]\nlong_press = 3\n") == (
        'config.toml: button.long_press: unknown key (did you mean "long_press_s"?)'
    )


def test_out_of_range() -> None:
    assert one_problem("[offline]\ncheck_interval_s = 5\n") == (
        "config.toml: offline.check_interval_s = 5: must be a number from 10 to 3600"
    )
    assert one_problem("[offline]\nwarn_at_percent = 100\n") == (
        "config.toml: offline.warn_at_percent = 100: must be a whole number from 1 to 99"
    )
    assert (
        one_problem("[printer]\nwidth_mm = 57\n")
        == "config.toml: printer.width_mm = 57: must be one of 58, 80"
    )


@pytest.mark.parametrize(
    ("key", "value", "limit"), [("max_session_hours", 40, 36), ("max_month_hours", 169, 168)]
)
def test_limits_above_the_law(key: str, value: int, limit: int) -> None:
    assert one_problem(f"[offline]\n{key} = {value}\n") == (
        f"config.toml: offline.{key} = {value}: must be a number above 0 and at most {limit} (the law's limit)"
    )


def test_limits_below_the_law_are_fine() -> None:
    s = parse_config(MINIMAL + "[offline]\nmax_session_hours = 0.5\nmax_month_hours = 24\n")
    assert (s.offline.max_session_hours, s.offline.max_month_hours) == (0.5, 24)
    assert "offline.max_session_hours = 0" in one_problem("[offline]\nmax_session_hours = 0\n")


def test_uplinks_failover_settings() -> None:
    assert (parse_config(MINIMAL).uplinks.hold_down_s, parse_config(MINIMAL).uplinks.failed_probes) == (30, 2)
    s = parse_config(MINIMAL + "[uplinks]\nhold_down_s = 0\nfailed_probes = 10\n")
    # 0: fail back as soon as the primary answers (a lab without flapping cables)
    assert (s.uplinks.hold_down_s, s.uplinks.failed_probes) == (0.0, 10)
    assert isinstance(s.uplinks.hold_down_s, float)
    assert one_problem("[uplinks]\nhold_down_s = 3601\n") == (
        "config.toml: uplinks.hold_down_s = 3601: must be a number from 0 to 3600"
    )
    assert one_problem("[uplinks]\nfailed_probes = 0\n") == (
        "config.toml: uplinks.failed_probes = 0: must be a whole number from 1 to 10"
    )
    assert one_problem("[uplinks]\nfailed_probes = 2.5\n") == (
        "config.toml: uplinks.failed_probes = 2.5: must be a whole number from 1 to 10"
    )


def test_bad_forms() -> None:
    assert 'box.id = "shop 12"' in one_problem("", MINIMAL.replace('"till-1"', '"shop 12"'))
    assert 'fiscal_server.url = "ftp://x"' in one_problem('[fiscal_server]\nurl = "ftp://x"\n')
    assert 'api.listen = "8080": must be HOST:PORT' in one_problem("", MINIMAL + 'listen = "8080"\n')
    assert 'registrar.tin = "12"' in one_problem(
        "", MINIMAL.replace('"4000000001"', '"4000000001"\ntin = "12"')
    )
    assert 'mqtt.topic_prefix = "a/#"' in one_problem('[mqtt]\ntopic_prefix = "a/#"\n')


def test_tin_forms() -> None:
    for tin in ("34554362", "1234567890", "АБ123456"):
        text = MINIMAL.replace('"4000000001"', f'"4000000001"\ntin = "{tin}"')
        assert parse_config(text).registrar.tin == tin


def test_listen_takes_ipv6() -> None:
    s = parse_config(MINIMAL + 'listen = "[::1]:9000"\n')
    assert (s.api.host, s.api.port) == ("::1", 9000)


# --- taxes -------------------------------------------------------------------------------------

TAX = '[[taxes]]\ncode = {code}\nletter = "{letter}"\nrate = {rate}\nname = "ПДВ"\n'


def test_tax_rates_become_decimals() -> None:
    text = MINIMAL + TAX.format(code=1, letter="А", rate='"20"') + TAX.format(code=2, letter="Б", rate=7.5)
    s = parse_config(text + "included = false\ntype = 1\n")
    assert [t.rate for t in s.taxes] == [Decimal("20.00"), Decimal("7.50")]
    assert (s.taxes[1].included, s.taxes[1].type) == (False, 1)


@pytest.mark.parametrize("rate", ['"20.001"', "100.01", '"-1"', '"abc"', "true", "0.125"])
def test_bad_tax_rate(rate: str) -> None:
    line = one_problem(TAX.format(code=1, letter="А", rate=rate))
    assert line.startswith(f"config.toml: taxes[1].rate = {rate}: must be a percentage from 0 to 100")


def test_duplicate_tax_code_and_letter() -> None:
    text = (
        TAX.format(code=1, letter="А", rate=20)
        + TAX.format(code=2, letter="Б", rate=7)
        + TAX.format(code=1, letter="А", rate=0)
    )
    assert problems(text) == [
        "config.toml: taxes[3].code = 1: must be unique; taxes[1] has it too",
        'config.toml: taxes[3].letter = "А": must be unique; taxes[1] has it too',
    ]


def test_tax_letter_is_one_capital() -> None:
    assert one_problem(TAX.format(code=1, letter="аб", rate=20)).startswith(
        'config.toml: taxes[1].letter = "аб": must be one capital letter'
    )


def test_taxes_must_be_an_array_of_tables() -> None:
    assert one_problem("[taxes]\ncode = 1\n") == (
        "config.toml: taxes: must be an array of tables, each written [[taxes]]"
    )


# --- cashiers ----------------------------------------------------------------------------------


def test_cashier_secrets() -> None:
    digest = hashlib.sha256(b"s3cret").hexdigest()
    s = parse_config(
        MINIMAL + f'[[cashiers]]\nname = "A"\nlogin = "a"\npassword_sha256 = "{digest}"\n'
        '[[cashiers]]\nname = "B"\nlogin = "b"\npassword = "pw"\npin = "0007"\n'
    )
    a, b = s.cashiers
    assert a.verify_password("s3cret") and not a.verify_password("other") and not a.verify_pin("1234")
    assert b.verify_password("pw") and b.verify_pin("0007")
    assert "pw" not in repr(s) and "0007" not in repr(s) and "license_key" not in repr(s)


def test_duplicate_cashier_login() -> None:
    text = '[[cashiers]]\nname = "A"\nlogin = "x"\npin = "1111"\n[[cashiers]]\nname = "B"\nlogin = "x"\npin = "2222"\n'
    assert one_problem(text) == 'config.toml: cashiers[2].login = "x": must be unique; cashiers[1] has it too'


def test_bad_sha256() -> None:
    text = '[[cashiers]]\nname = "A"\nlogin = "a"\npin_sha256 = "' + "A" * 64 + '"\n'
    assert one_problem(text).startswith('config.toml: cashiers[1].pin_sha256 = "AAAA')
    assert one_problem(text).endswith("must be 64 lowercase hex digits (the SHA-256 of the secret)")


def test_cashier_needs_a_secret_and_not_two_of_a_kind() -> None:
    assert one_problem('[[cashiers]]\nname = "A"\nlogin = "a"\n') == (
        "config.toml: cashiers[1]: needs one of pin, pin_sha256, password, password_sha256"
    )
    digest = "0" * 64
    assert one_problem(f'[[cashiers]]\nname = "A"\nlogin = "a"\npin = "1234"\npin_sha256 = "{digest}"\n') == (
        "config.toml: cashiers[1].pin_sha256: give pin or pin_sha256, not both"
    )


def test_secrets_are_not_echoed() -> None:
    line = one_problem('[[cashiers]]\nname = "A"\nlogin = "a"\npin = "12ab"\n')
    assert line == "config.toml: cashiers[1].pin = (hidden): must be a string of 4 to 16 digits"


# --- conditional keys --------------------------------------------------------------------------


def test_tls_cert_without_key() -> None:
    assert one_problem('tls_cert_file = "api.crt"\n', MINIMAL) == (
        "config.toml: api.tls_key_file: missing; tls_cert_file is given, give both or neither"
    )


def test_printer_kind_file_without_path() -> None:
    assert one_problem('[printer]\nkind = "file"\n') == (
        'config.toml: printer.path: missing, required when kind = "file"; must be a path in quotes'
    )


def test_printer_port_by_kind() -> None:
    serial = parse_config(MINIMAL + '[printer]\nkind = "serial"\nport = "/dev/ttyS0"\nbaudrate = 9600\n')
    assert (serial.printer.serial_port, serial.printer.baudrate) == ("/dev/ttyS0", 9600)
    network = parse_config(MINIMAL + '[printer]\nkind = "network"\nhost = "10.0.0.5"\nport = 9101\n')
    assert (network.printer.host, network.printer.tcp_port) == ("10.0.0.5", 9101)
    assert one_problem('[printer]\nkind = "network"\nhost = "h"\nport = "/dev/ttyS0"\n') == (
        'config.toml: printer.port = "/dev/ttyS0": must be a whole number from 1 to 65535'
    )
    assert one_problem('[printer]\nhost = "10.0.0.5"\n') == (
        'config.toml: printer.host: only used with kind = "network" (here kind = "usb")'
    )


def test_printer_answers_status() -> None:
    assert parse_config(MINIMAL).printer.answers_status is None  # learned
    serial = '[printer]\nkind = "serial"\nport = "/dev/ttyS0"\n'
    assert parse_config(MINIMAL + serial + "answers_status = false\n").printer.answers_status is False
    assert parse_config(MINIMAL + "[printer]\nanswers_status = true\n").printer.answers_status is True
    assert one_problem('[printer]\nkind = "file"\npath = "r.bin"\nanswers_status = true\n') == (
        'config.toml: printer.answers_status: only used with kind = "usb" or "serial" or "network"'
        ' (here kind = "file")'
    )


def test_printer_usb_ids_in_hex() -> None:
    s = parse_config(MINIMAL + "[printer]\nvendor_id = 0x0416\nproduct_id = 0x5011\n")
    assert (s.printer.vendor_id, s.printer.product_id) == (0x0416, 0x5011)
    # Copied from lsusb's "ID 0416:5011", in quotes.
    s = parse_config(MINIMAL + '[printer]\nvendor_id = "0416"\nproduct_id = "0x5011"\n')
    assert (s.printer.vendor_id, s.printer.product_id) == (0x0416, 0x5011)
    assert (s.printer.usb_in_ep, s.printer.usb_out_ep) == (0x82, 0x01)
    assert one_problem('[printer]\nvendor_id = "0416:5011"\n') == (
        'config.toml: printer.vendor_id = "0416:5011": must be a USB id from 0x0000 to 0xFFFF,'
        ' e.g. 0x0416 or "0416" (lsusb: ID vendor:product)'
    )
    assert one_problem("[printer]\nproduct_id = 0x10000\n").startswith(
        "config.toml: printer.product_id = 65536: must be a USB id"
    )
    assert one_problem("[printer]\nvendor_id = true\n").startswith("config.toml: printer.vendor_id = true:")


def test_printer_usb_endpoints() -> None:
    s = parse_config(MINIMAL + '[printer]\nusb_out_ep = 0x02\nusb_in_ep = "81"\n')
    assert (s.printer.usb_in_ep, s.printer.usb_out_ep) == (0x81, 0x02)
    # The directions swapped: the IN endpoint has bit 7 set.
    assert problems("[printer]\nusb_out_ep = 0x81\nusb_in_ep = 0x02\n") == [
        "config.toml: printer.usb_out_ep = 129: must be a bulk OUT endpoint from 0x01 to 0x0F"
        " (lsusb -v: bEndpointAddress ... OUT)",
        "config.toml: printer.usb_in_ep = 2: must be a bulk IN endpoint from 0x81 to 0x8F"
        " (lsusb -v: bEndpointAddress ... IN)",
    ]
    assert one_problem('[printer]\nkind = "serial"\nport = "/dev/ttyS0"\nusb_in_ep = 0x82\n') == (
        'config.toml: printer.usb_in_ep: only used with kind = "usb" (here kind = "serial")'
    )


def test_signer_dstu4145_needs_a_key_file() -> None:
    assert one_problem('[signer]\nkind = "dstu4145"\n').startswith(
        'config.toml: signer.key_file: missing, required when kind = "dstu4145"'
    )


def test_disabled_sections_do_not_require_their_keys() -> None:
    base = '[box]\nid = "x"\n[registrar]\nfiscal_number = "1"\n'
    s = parse_config(
        base + '[api]\nenabled = false\n[printer]\nenabled = false\nkind = "file"\n'
        '[drawer]\nenabled = false\nkind = "gpio"\n'
    )
    assert s.api.license_key is None and s.printer.path is None and s.drawer.pin is None
    # Disabled does not mean unchecked: a typo in a disabled section is still a typo.
    assert one_problem('[printer]\nenabled = false\nknd = "file"\n').startswith(
        "config.toml: printer.knd: unknown"
    )


def test_gpio_pins_are_not_shared() -> None:
    assert one_problem("[button]\nenabled = true\npin = 17\n") == (
        "config.toml: button.pin = 17: already used by led.pin"
    )
    parse_config(MINIMAL + "[button]\nenabled = false\npin = 17\n")


# --- reporting ---------------------------------------------------------------------------------


def test_all_problems_at_once() -> None:
    lines = problems(
        "",
        '[box]\nid = "a b"\nx = 1\n[registrar]\n[offline]\nmax_session_hours = 48\n[nope]\n'
        '[printer]\nkind = "file"\n',
    )
    wheres = [
        "[nope]",
        "box.id",
        "box.x",
        "registrar.fiscal_number",
        "offline.max_session_hours",
        "api.license_key",
        "printer.path",
    ]
    assert [line.split(" ")[1].split("=")[0].rstrip(":") for line in lines] == wheres


def test_toml_syntax_error_gives_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[box]\nid = "x"\nstate_dir = /var\n', "config.toml")
    assert str(info.value).startswith("config.toml: line 3, column 13: not valid TOML")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path / "missing.toml")


def test_relative_paths_resolve_against_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "etc" / "config.toml"
    conf.parent.mkdir()
    conf.write_text(
        MINIMAL.replace('"till-1"', '"till-1"\nstate_dir = "state"')
        + 'tls_cert_file = "tls/api.crt"\ntls_key_file = "/abs/api.key"\n'
        + '[printer]\nkind = "file"\npath = "out/receipts.bin"\n'
        + '[[cashiers]]\nname = "A"\nlogin = "a"\npin = "1234"\nkey_file = "keys/a.pfx"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    s = load_config(Path("etc/config.toml"))
    assert s.box.state_dir == conf.parent / "state"
    assert s.signer.key_file == conf.parent / "state" / "dev-key.pem"
    assert s.api.tls_cert_file == conf.parent / "tls" / "api.crt"
    assert s.api.tls_key_file == Path("/abs/api.key")
    assert s.printer.path == conf.parent / "out" / "receipts.bin"
    assert s.cashiers[0].key_file == conf.parent / "keys" / "a.pfx"
    assert s.source == "etc/config.toml"


def test_describe_disabled() -> None:
    s = parse_config(MINIMAL + "[printer]\nenabled = false\n[mqtt]\nenabled = false\n")
    assert describe_disabled(s) == [
        "printer: disabled in config",
        "button: disabled in config",
        "mqtt: disabled in config",
        'drawer: not active: kind = "printer" but the printer is disabled in config',
    ]
    assert describe_disabled(parse_config(MINIMAL + "[button]\nenabled = true\n")) == []


def test_mqtt_credentials_and_certificates_are_checked_together() -> None:
    assert one_problem('[mqtt]\npassword_file = "p"\n') == (
        "config.toml: mqtt.username: missing; password_file is given, the broker needs both"
    )
    assert one_problem('[mqtt]\ntls = true\ncert_file = "c.crt"\n') == (
        "config.toml: mqtt.key_file: missing; cert_file is given, give both or neither"
    )
    assert problems('[mqtt]\ncert_file = "c.crt"\nkey_file = "c.key"\n') == [
        "config.toml: mqtt.cert_file: only used with tls = true (here tls = false)",
        "config.toml: mqtt.key_file: only used with tls = true (here tls = false)",
    ]
    assert "needs an authenticated connection" in one_problem("[mqtt]\ncommands = true\n")
    assert "needs an authenticated connection" in one_problem('[mqtt]\ncommands = true\nusername = "box"\n')
    # either proof of who the box is will do
    parse_config(MINIMAL + '[mqtt]\ncommands = true\nusername = "box"\npassword_file = "p"\n')
    s = parse_config(MINIMAL + '[mqtt]\ncommands = true\ntls = true\ncert_file = "c.crt"\nkey_file = "c.key"\n', base_dir="/etc/fb")
    assert s.mqtt.commands and s.mqtt.cert_file == Path("/etc/fb/c.crt")
    assert parse_config(MINIMAL).mqtt.client_id is None  # fiscal-box-<box.id> when the agent connects
