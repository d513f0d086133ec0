"""Home Assistant MQTT discovery (agent/mqtt/discovery.py): every config is one HA takes, and every template,
rendered with Jinja2 against real status JSONs, gives a state HA takes for that entity.

Two checks, each against Home Assistant 2026.11.0:

- tests/reference/ha-mqtt-discovery.schema.json: the configs HA's MQTT sensor and binary sensor accept (its
  $comment names the sources);
- ``ha_state`` below: what HA does with a rendered value, step by step as homeassistant/components/mqtt/
  sensor.py ``MqttSensor._update_state`` and binary_sensor.py ``state_message_received`` do it, then the
  checks of components/sensor/__init__.py ``SensorEntity.state``. A value HA would drop, ignore (keeping a
  stale state) or raise on fails the test.

Templates are rendered the way HA's ``Template.async_render_with_possible_json_value`` does: an immutable
sandboxed Jinja2 environment, ``value`` and ``value_json`` set, the result stripped; StrictUndefined on top,
so that a template naming a key the status JSON does not have fails here rather than render "" in HA.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import jsonschema_rs
import pytest

from agent.mqtt import discovery
from agent.mqtt.discovery import discovery_messages, discovery_removals, node_id
from agent.secr.register import Mode, RegisterStatus
from agent.status import snapshot
from agent.status.snapshot import (
    CertificatePart,
    ModemPart,
    NetworkMonth,
    NetworkPart,
    PrinterPart,
    Snapshot,
)
from tests.test_status_model import register_status

SCHEMA = json.loads(
    (Path(__file__).parent / "reference" / "ha-mqtt-discovery.schema.json").read_text(encoding="utf-8")
)
VALIDATOR = jsonschema_rs.validator_for(SCHEMA)
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BOX = {"box_id": "shop-12-till-1", "topic_prefix": "fiscal-box", "version": "0.1.0"}
#: what HA's sensor and binary sensor show for a value set to None (homeassistant/const.py STATE_UNKNOWN)
UNKNOWN = "unknown"
# sensor/const.py NON_NUMERIC_DEVICE_CLASSES
NON_NUMERIC = {"date", "enum", "timestamp", "uptime"}
ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)


# --- the status JSONs ----------------------------------------------------------------------------------


def register(**changes: Any) -> RegisterStatus:
    return register_status(**{"last_sync_at": NOW - timedelta(minutes=5), **changes})


CERTIFICATE = CertificatePart(
    subject="Іваненко І. І.",
    key_id="ab12",
    qualified=True,
    expires_at=NOW + timedelta(days=200),
    days_left=200,
)
#: the uplinks' month (network.month) of a box whose Ethernet failed this month and LTE carried it
MONTH = NetworkMonth(
    "2026-11", ethernet_down_minutes=95, lte_down_minutes=3, server_down_minutes=12, offline_saved_minutes=90
)
#: the entities that read it
UPLINKS_MONTH = (
    "ethernet_down_month_minutes",
    "lte_down_month_minutes",
    "server_down_month_minutes",
    "offline_saved_month_minutes",
)
LONG_REASON = "the offline session reached its limit of 36 h: go online to upload the documents; " * 5


def scenarios() -> dict[str, Snapshot]:
    """The status of contract §5 as ``Snapshot.to_dict()`` gives it: online, offline near its limits,
    uploading, blocked, and everything that can be null null."""
    return {
        "online": Snapshot(
            register(),
            NOW,
            printer=PrinterPart("ok"),
            certificate=CERTIFICATE,
            uplink="ethernet",
            network=NetworkPart(None, None, month=MONTH),
            modem=ModemPart(signal_dbm=-71, registered=True, operator="Kyivstar"),
        ),
        "offline_with_limits": Snapshot(
            register(
                mode=Mode.OFFLINE,
                offline_session_id="s-1",
                session_minutes=1800,
                month_minutes=9000,
                numbers_left=12,
                pending_documents=40,
                oldest_pending_at=NOW - timedelta(hours=2),
                warnings=["the offline session is at 83 % of its limit"],
            ),
            NOW,
            printer=PrinterPart("paper_out"),
            certificate=CERTIFICATE,
            uplink="lte",
            # a network part without its month (NetworkPart's default): the templates' guard
            network=NetworkPart("ethernet_down", "Ethernet is down; online over LTE."),
            modem=ModemPart(signal_dbm=-95, registered=True, operator="Vodafone"),
        ),
        "uploading": Snapshot(
            register(
                mode=Mode.UPLOADING,
                offline_session_id="s-1",
                session_minutes=90,
                month_minutes=600,
                pending_documents=5,
                oldest_pending_at=NOW - timedelta(minutes=10),
                numbers_left=300,
            ),
            NOW,
            printer=PrinterPart("ok"),
            certificate=CERTIFICATE,
            uplink="ethernet",
        ),
        "blocked": Snapshot(
            register(
                mode=Mode.OFFLINE,
                blocked_reason=LONG_REASON,
                session_minutes=2160,
                month_minutes=10080,
                numbers_left=0,
                pending_documents=250,
                oldest_pending_at=NOW - timedelta(hours=36),
            ),
            NOW,
            printer=PrinterPart("cover_open", error="cover open"),
            certificate=replace(CERTIFICATE, days_left=-3),
            uplink="none",
        ),
        "all_null": Snapshot(register(last_sync_at=None, shift_open=False), NOW),
    }


def status_json(name: str) -> str:
    """The state topic's payload, as the MQTT client publishes it."""
    return json.dumps(scenarios()[name].to_dict(), ensure_ascii=False)


# --- what Home Assistant does with them ----------------------------------------------------------------


def configs(**kwargs: Any) -> dict[str, dict[str, Any]]:
    """The box's discovery configs by object_id (the topic's last level before /config)."""
    return {
        topic.split("/")[-2]: json.loads(payload) for topic, payload in discovery_messages(**(BOX | kwargs))
    }


def render(template: str, payload: str) -> str:
    return ENV.from_string(template).render(value=payload, value_json=json.loads(payload)).strip()


def numeric_expected(config: dict[str, Any]) -> bool:
    """components/sensor/__init__.py ``_numeric_state_expected``."""
    if config.get("device_class") in NON_NUMERIC:
        return False
    if any(
        config.get(key) is not None
        for key in ("state_class", "unit_of_measurement", "suggested_display_precision")
    ):
        return True
    return config.get("device_class") is not None


def _sensor_state(config: dict[str, Any], rendered: str) -> Any:
    if rendered == "None":  # mqtt/const.py PAYLOAD_NONE, checked first
        return UNKNOWN
    if numeric_expected(config):
        assert rendered != "", "an empty value is ignored by a numeric sensor: the old state would stay"
        number = int(rendered) if "." not in rendered and "e" not in rendered else float(rendered)
        assert math.isfinite(number), f"{rendered!r} is not a finite number"
        return number
    if options := config.get("options"):
        assert rendered in options, f"{rendered!r} is not one of {options}: HA ignores it"
        return rendered
    if config.get("device_class") is None:
        assert len(rendered) <= 255, "a state longer than 255 characters is dropped (MAX_LENGTH_STATE_STATE)"
        return rendered
    assert config["device_class"] == "timestamp", config
    parsed = datetime.fromisoformat(rendered)
    assert parsed.tzinfo is not None, (
        "a timestamp sensor's state needs a time zone (SensorEntity.state raises)"
    )
    return parsed


def ha_state(config: dict[str, Any], payload: str) -> Any:
    """The state HA gives the entity of ``config`` for the state topic's ``payload``; fails for one it would
    not take."""
    rendered = render(config["value_template"], payload)
    if "payload_on" in config:  # a binary sensor
        if rendered == "None":
            return UNKNOWN
        assert rendered in (config["payload_on"], config["payload_off"]), f"{rendered!r}: no matching payload"
        return rendered == config["payload_on"]
    return _sensor_state(config, rendered)


def attributes(config: dict[str, Any], payload: str) -> dict[str, Any]:
    """The entity's attributes, as mqtt/entity.py reads them from json_attributes_template: a JSON dict."""
    assert config["json_attributes_topic"] == config["state_topic"]
    rendered = json.loads(render(config["json_attributes_template"], payload))
    assert isinstance(rendered, dict)
    return rendered


# --- the configs -----------------------------------------------------------------------------------------


def schema_errors(topic: str, payload: dict[str, Any]) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors({"topic": topic, "payload": payload})]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"fiscal_number": "4000000001"},
        {"discovery_prefix": "ha/discovery", "topic_prefix": "shops/kyiv"},
        {"box_id": "Магазин №1 / каса 2"},
    ],
)
def test_every_message_is_a_config_home_assistant_takes(kwargs: dict[str, Any]) -> None:
    messages = discovery_messages(**(BOX | kwargs))
    assert len(messages) == len(discovery.ENTITIES)
    for topic, payload in messages:
        assert schema_errors(topic, json.loads(payload)) == [], topic


def test_topics_follow_the_discovery_topic_format() -> None:
    node = node_id(BOX["box_id"])
    objects = []
    for topic, _ in discovery_messages(**BOX):
        match = re.fullmatch(
            r"homeassistant/(sensor|binary_sensor)/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)/config", topic
        )
        assert match, topic
        assert match[2] == node == "shop-12-till-1"  # a valid box id is its node id unchanged
        objects.append(match[3])
    assert len(set(objects)) == len(objects)


def test_unique_ids_are_unique_box_scoped_and_stable() -> None:
    first, again = discovery_messages(**BOX), discovery_messages(**BOX)
    assert first == again  # byte for byte: republishing on a reconnect changes nothing
    unique_ids = [json.loads(payload)["unique_id"] for _, payload in first]
    assert len(set(unique_ids)) == len(unique_ids)
    assert all(uid.startswith("fiscal-box:shop-12-till-1:") for uid in unique_ids)


def test_the_prefixes_are_honoured_and_two_boxes_share_nothing() -> None:
    kwargs = {"discovery_prefix": "ha/discovery", "topic_prefix": "shops/kyiv"}
    one, two = configs(**kwargs), configs(**kwargs, box_id="shop-12-till-2")
    for box_id, box in (("shop-12-till-1", one), ("shop-12-till-2", two)):
        for config in box.values():
            assert config["state_topic"] == f"shops/kyiv/{box_id}/state"
            assert config["availability_topic"] == f"shops/kyiv/{box_id}/availability"
            assert config.get("json_attributes_topic", config["state_topic"]) == config["state_topic"]
            assert config["device"]["name"] == f"fiscal-box {box_id}"
    topics = [
        {t for t, _ in discovery_messages(**(BOX | kwargs | {"box_id": b}))}
        for b in ("shop-12-till-1", "shop-12-till-2")
    ]
    assert all(t.startswith("ha/discovery/") for t in topics[0] | topics[1])
    assert not topics[0] & topics[1]
    for key in ("unique_id", "default_entity_id"):
        assert not {c[key] for c in one.values()} & {c[key] for c in two.values()}
    assert one["mode"]["device"]["identifiers"] != two["mode"]["device"]["identifiers"]


def test_a_box_id_with_odd_characters_gets_a_valid_node_id_of_its_own() -> None:
    odd = "Магазин №1 / каса 2"
    node = node_id(odd)
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", node)
    # sanitized alike, still two nodes: the hash of the id is kept
    assert node_id("shop 1") != node_id("shop/1") != node_id("shop_1")
    assert node_id("shop_1") == "shop_1"
    box = configs(box_id=odd)
    assert box["mode"]["state_topic"] == f"fiscal-box/{odd}/state"  # the state topic is the contract's, as is
    assert box["mode"]["device"]["name"] == f"fiscal-box {odd}"
    assert all(
        re.fullmatch(r"(sensor|binary_sensor)\.[a-z0-9_]+", c["default_entity_id"]) for c in box.values()
    )
    assert not {c["unique_id"] for c in box.values()} & {c["unique_id"] for c in configs().values()}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"box_id": ""},
        {"box_id": "till+1"},
        {"box_id": "till#1"},
        {"topic_prefix": "a//b"},
        {"discovery_prefix": "/ha"},
    ],
)
def test_ids_that_cannot_be_in_a_topic_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="cannot be part of an MQTT topic"):
        discovery_messages(**(BOX | kwargs))


def test_removals_empty_the_same_topics() -> None:
    for kwargs in ({}, {"discovery_prefix": "ha/discovery", "box_id": "Магазин 1"}):
        messages = discovery_messages(**(BOX | kwargs))
        removals = discovery_removals(
            box_id=(BOX | kwargs)["box_id"], discovery_prefix=kwargs.get("discovery_prefix", "homeassistant")
        )
        assert [t for t, _ in removals] == [t for t, _ in messages]
        assert {p for _, p in removals} == {""}


def test_the_device_and_the_origin() -> None:
    device = configs(fiscal_number="4000000001")["mode"]["device"]
    assert device == {
        "identifiers": ["fiscal-box:shop-12-till-1"],
        "name": "fiscal-box shop-12-till-1",
        "manufacturer": "fiscal-box",
        "model": "ПРРО (software cash register)",
        "sw_version": "0.1.0",
        "serial_number": "4000000001",
    }
    box = configs()
    assert "serial_number" not in box["mode"]["device"]
    assert {json.dumps(c["device"], sort_keys=True) for c in box.values()} == {
        json.dumps(box["mode"]["device"], sort_keys=True)
    }
    assert all(c["origin"] == {"name": "fiscal-box", "sw_version": "0.1.0"} for c in box.values())
    assert all(
        c["payload_available"] == "online" and c["payload_not_available"] == "offline" for c in box.values()
    )


def test_the_entities_and_their_classes() -> None:
    box = configs()
    described = {
        key: (
            c.get("device_class"),
            c.get("unit_of_measurement"),
            c.get("state_class"),
            c.get("entity_category"),
        )
        for key, c in box.items()
    }
    assert described == {
        "mode": ("enum", None, None, None),
        "blocked_reason": (None, None, None, "diagnostic"),
        "uplink": ("enum", None, None, None),
        "shift": ("enum", None, None, None),
        "pending_documents": (None, None, "measurement", None),
        "oldest_pending_age": ("duration", "s", "measurement", None),
        "offline_session_minutes": ("duration", "min", "measurement", None),
        "offline_month_minutes": ("duration", "min", "measurement", None),
        "offline_session_limit_used": (None, "%", "measurement", None),
        "offline_month_limit_used": (None, "%", "measurement", None),
        "numbers_left": (None, None, "measurement", None),
        "ethernet_down_month_minutes": ("duration", "min", "total_increasing", "diagnostic"),
        "lte_down_month_minutes": ("duration", "min", "total_increasing", "diagnostic"),
        "server_down_month_minutes": ("duration", "min", "total_increasing", "diagnostic"),
        "offline_saved_month_minutes": ("duration", "min", "total_increasing", None),
        "printer": ("enum", None, None, None),
        "modem_signal": ("signal_strength", "dBm", "measurement", "diagnostic"),
        "certificate_days_left": ("duration", "d", "measurement", "diagnostic"),
        "last_sync": ("timestamp", None, None, None),
        "sales_blocked": ("problem", None, None, None),
    }
    # the options are contract §5's values, the ones the status model gives
    assert set(box["printer"]["options"]) == snapshot.PRINTER_STATES
    assert set(box["uplink"]["options"]) == snapshot.UPLINKS
    assert (
        {s.mode for s in scenarios().values()}
        <= set(box["mode"]["options"])
        == {"online", "offline", "blocked"}
    )
    assert box["shift"]["options"] == ["open", "closed"]


# --- the schema bites ---------------------------------------------------------------------------------------


def _drop(key: str) -> Any:
    return lambda config: {k: v for k, v in config.items() if k != key}


@pytest.mark.parametrize(
    ("object_id", "spoil"),
    [
        ("mode", _drop("state_topic")),  # required by MQTT_RO_SCHEMA
        ("mode", lambda c: c | {"unit_of_measurement": "s"}),  # options with a unit
        ("mode", lambda c: c | {"state_class": "measurement"}),  # an enum is no measurement
        ("mode", _drop("options")),  # an enum without options
        ("pending_documents", lambda c: c | {"options": ["1", "2"]}),  # options without device class enum
        ("last_sync", lambda c: c | {"state_class": "measurement"}),  # a timestamp is no measurement
        ("last_sync", lambda c: c | {"unit_of_measurement": "s"}),
        ("oldest_pending_age", lambda c: c | {"unit_of_measurement": "seconds"}),  # not a duration unit
        ("modem_signal", lambda c: c | {"state_class": "total"}),  # signal strength is measured only
        ("modem_signal", lambda c: c | {"entity_category": "config"}),  # refused for sensors
        ("mode", lambda c: c | {"object_id": "mode"}),  # removed in 2026.4
        ("mode", lambda c: c | {"stat_t": c["state_topic"]}),  # abbreviations: never sent, refused
        ("mode", lambda c: c | {"availability": [{"topic": c["availability_topic"]}]}),  # both forms
        ("mode", lambda c: c | {"device": {"name": "no identifiers"}}),
        ("mode", _drop("unique_id")),  # a device block without unique_id is not used
        ("mode", lambda c: c | {"device_class": "cash"}),
        ("mode", lambda c: c | {"state_topic": "fiscal-box/+x/state"}),
        ("mode", lambda c: c | {"icon": "cash-register"}),
        ("mode", lambda c: c | {"default_entity_id": "binary_sensor.fiscal_box_mode"}),
        ("sales_blocked", lambda c: c | {"device_class": "enum"}),  # not a binary sensor class
        ("sales_blocked", lambda c: c | {"options": ["ON", "OFF"]}),  # not a binary sensor key
        ("numbers_left", lambda c: c | {"qos": 3}),
    ],
)
def test_the_schema_refuses_what_home_assistant_refuses(object_id: str, spoil: Any) -> None:
    topic = next(t for t, _ in discovery_messages(**BOX) if t.split("/")[-2] == object_id)
    config = configs()[object_id]
    assert schema_errors(topic, config) == []
    assert schema_errors(topic, spoil(config)) != []


@pytest.mark.parametrize(
    "topic",
    [
        "homeassistant/sensor/shop 1/mode/config",
        "homeassistant/sensor/a/b/c/mode/config",
        "homeassistant/light/a/b/config",
    ],
)
def test_the_schema_refuses_a_discovery_topic_home_assistant_ignores(topic: str) -> None:
    assert schema_errors(topic, configs()["mode"]) != []


# --- the templates, rendered -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(scenarios()))
def test_every_template_renders_a_state_home_assistant_takes(name: str) -> None:
    payload = status_json(name)
    for key, config in configs().items():
        state = ha_state(config, payload)
        assert state is not None, key
        if "json_attributes_template" in config:
            assert attributes(config, payload), key


def states(name: str) -> dict[str, Any]:
    payload = status_json(name)
    return {key: ha_state(config, payload) for key, config in configs().items()}


def test_online() -> None:
    assert states("online") == {
        "mode": "online",
        "blocked_reason": UNKNOWN,
        "uplink": "ethernet",
        "shift": "open",
        "pending_documents": 0,
        "oldest_pending_age": UNKNOWN,
        "offline_session_minutes": 0,
        "offline_month_minutes": 0,
        "offline_session_limit_used": 0.0,
        "offline_month_limit_used": 0.0,
        "numbers_left": UNKNOWN,
        "ethernet_down_month_minutes": 95,
        "lte_down_month_minutes": 3,
        "server_down_month_minutes": 12,
        "offline_saved_month_minutes": 90,
        "printer": "ok",
        "modem_signal": -71,
        "certificate_days_left": 200,
        "last_sync": NOW - timedelta(minutes=5),
        "sales_blocked": False,
    }


def test_offline_minutes_are_shown_against_both_limits() -> None:
    got, box, payload = states("offline_with_limits"), configs(), status_json("offline_with_limits")
    assert (got["mode"], got["uplink"], got["printer"], got["sales_blocked"]) == (
        "offline",
        "lte",
        "paper_out",
        False,
    )
    assert (got["offline_session_minutes"], got["offline_month_minutes"]) == (1800, 9000)
    assert got["offline_session_limit_used"] == 83.3  # 30 h of 36
    assert got["offline_month_limit_used"] == 89.3  # 150 h of 168
    assert attributes(box["offline_session_minutes"], payload) == {"limit_minutes": 2160, "limit_hours": 36.0}
    assert attributes(box["offline_month_minutes"], payload) == {"limit_minutes": 10080, "limit_hours": 168.0}
    assert (got["numbers_left"], got["pending_documents"], got["oldest_pending_age"]) == (12, 40, 7200)
    assert attributes(box["numbers_left"], payload) == {"unlimited": False}


def test_uploading_is_still_offline() -> None:
    got = states("uploading")
    assert (got["mode"], got["pending_documents"], got["oldest_pending_age"], got["sales_blocked"]) == (
        "offline",
        5,
        600,
        False,
    )


def test_blocked() -> None:
    got = states("blocked")
    assert (got["mode"], got["sales_blocked"], got["uplink"], got["printer"]) == (
        "blocked",
        True,
        "none",
        "cover_open",
    )
    assert got["uplink"] != UNKNOWN  # "none" is an option (no uplink), not HA's 'None'
    assert got["blocked_reason"] == LONG_REASON[:255].strip()
    assert (got["offline_session_limit_used"], got["offline_month_limit_used"], got["numbers_left"]) == (
        100.0,
        100.0,
        0,
    )
    assert got["certificate_days_left"] == -3


def test_every_null_is_unknown() -> None:
    got, payload = states("all_null"), status_json("all_null")
    unknown = {
        "blocked_reason",
        "uplink",
        "oldest_pending_age",
        "numbers_left",
        "printer",
        "modem_signal",
        "certificate_days_left",
        "last_sync",
        *UPLINKS_MONTH,
    }
    assert {key for key, state in got.items() if state == UNKNOWN} == unknown
    assert (got["mode"], got["shift"], got["sales_blocked"]) == ("online", "closed", False)
    assert attributes(configs()["numbers_left"], payload) == {"unlimited": True}


def test_a_null_modem_and_an_unknown_limit_are_unknown_too() -> None:
    status = scenarios()["online"].to_dict()
    status["modem"] = None
    status["offline"] |= {"max_session_minutes": 0, "max_month_minutes": None}
    payload, box = json.dumps(status), configs()
    assert ha_state(box["modem_signal"], payload) == UNKNOWN
    assert ha_state(box["offline_session_limit_used"], payload) == UNKNOWN
    assert ha_state(box["offline_month_limit_used"], payload) == UNKNOWN


def test_ha_state_refuses_what_home_assistant_would_not_take() -> None:
    """The oracle bites: '' for a number, an unknown option, a naive timestamp or 'on' for ON fails."""
    box, payload = configs(), status_json("online")
    with pytest.raises(AssertionError):
        ha_state(box["pending_documents"] | {"value_template": "{{ '' }}"}, payload)
    with pytest.raises(AssertionError):
        ha_state(box["printer"] | {"value_template": "{{ 'jammed' }}"}, payload)
    with pytest.raises(AssertionError):
        ha_state(box["last_sync"] | {"value_template": "{{ '2026-11-25T10:00:00' }}"}, payload)
    with pytest.raises(AssertionError):
        ha_state(box["sales_blocked"] | {"value_template": "{{ 'on' }}"}, payload)


def test_the_uplinks_month_is_shown_with_its_month_and_unknown_before_the_first_decision() -> None:
    box = configs()
    online, undecided = status_json("online"), status_json("offline_with_limits")
    for key in UPLINKS_MONTH:
        assert attributes(box[key], online) == {"month": "2026-11"}, key
        assert ha_state(box[key], undecided) == UNKNOWN, key  # network present, its month not yet
        assert attributes(box[key], undecided) == {"month": None}, key
