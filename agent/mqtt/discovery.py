"""Home Assistant MQTT discovery: the retained config messages that make Home Assistant show a box. Pure.

``discovery_messages`` says what to publish (topic, JSON payload), each retained, on connect and whenever
Home Assistant says it started again; ``discovery_removals`` gives the same topics with empty payloads, what a
box publishes when discovery is turned off so that its entities go away. No client, no I/O: the MQTT client
publishes them.

Every entity reads the status JSON of contract §5 (``Snapshot.to_dict()``) from
``{topic_prefix}/{box_id}/state`` and is available while ``{topic_prefix}/{box_id}/availability`` says
``online`` (the last will says ``offline``). A null in that JSON is rendered as ``None``, the one value
Home Assistant's MQTT sensor and binary sensor take as "unknown" (see ``_value``).

Written against Home Assistant 2026.11.0 (its homeassistant/components/mqtt/{discovery,schemas,sensor,
binary_sensor}.py and components/sensor/const.py) and these pages:

- https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery -- the topic
  ``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`` (node_id and object_id of
  ``[a-zA-Z0-9_-]``), an empty retained payload removes the entity, ``origin`` is recommended;
- https://www.home-assistant.io/integrations/sensor.mqtt/ -- the sensor's keys, ``default_entity_id``
  (``object_id`` was deprecated in 2025.10 and removed in 2026.4), ``options`` only with device class
  ``enum``, a rendered ``'None'`` sets the sensor unknown;
- https://www.home-assistant.io/integrations/binary_sensor.mqtt/ -- ``payload_on``/``payload_off``;
- https://www.home-assistant.io/integrations/sensor/#device-class -- device classes and their units.

tests/reference/ha-mqtt-discovery.schema.json checks every payload against those rules.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_DISCOVERY_PREFIX: Final = "homeassistant"
#: what ``{topic_prefix}/{box_id}/availability`` says (contract §5), the payloads Home Assistant compares
PAYLOAD_AVAILABLE: Final = "online"
PAYLOAD_NOT_AVAILABLE: Final = "offline"
#: what the binary sensor's template renders; Home Assistant's own defaults for payload_on / payload_off
PAYLOAD_ON: Final = "ON"
PAYLOAD_OFF: Final = "OFF"

# The values of contract §5, in its order (the order Home Assistant lists them in):
# tests/test_ha_discovery.py checks they are the ones agent/status/snapshot.py knows.
MODES: Final = ("online", "offline", "blocked")
SHIFTS: Final = ("open", "closed")
UPLINKS: Final = ("ethernet", "lte", "none")
PRINTER_STATES: Final = ("ok", "paper_out", "cover_open", "offline", "error")

# What the discovery topic's node_id and object_id may be made of (mqtt/#discovery-topic; discovery.py's
# TOPIC_MATCHER): any other character makes Home Assistant ignore the message as an "illegal discovery topic".
_TOPIC_ID: Final = re.compile(r"[a-zA-Z0-9_-]+")
_NOT_TOPIC_ID: Final = re.compile(r"[^a-zA-Z0-9_-]+")
# Home Assistant subscribes to the state topic as given: a wildcard or a NUL in it would make the subscription
# something else or invalid (mqtt/util.py valid_subscribe_topic).
_NOT_IN_TOPIC: Final = re.compile(r"[+#\x00]")
# A state longer than this is dropped with a warning (homeassistant/const.py MAX_LENGTH_STATE_STATE).
_MAX_STATE_LENGTH: Final = 255


def _value(expr: str) -> str:
    """A value_template giving ``expr`` of the status JSON, or ``None`` where it is null.

    Home Assistant's MQTT sensor (mqtt/sensor.py ``_update_state``) sets its state to unknown when the
    template renders exactly ``None`` (``PAYLOAD_NONE``), before its numeric, ``options`` and timestamp
    checks, and the binary sensor does the same; the sensor.mqtt page says so for numeric sensors ("a 'None'
    value will set the sensor to an unknown state"), where an empty string is ignored instead (the old, stale
    value stays), and an empty string is no timestamp either. Jinja2 renders a null as ``None`` by itself;
    the template says it, so that it does not hang on Jinja2's str(None). ``none`` in lower case is not that
    value (it is an uplink's option, "no uplink"): Home Assistant compares case-sensitively.
    """
    return f"{{% set v = {expr} %}}{{{{ 'None' if v is none else v }}}}"


def _text(expr: str) -> str:
    """``_value`` for free text, cut to the length of a state Home Assistant keeps."""
    return f"{{% set v = {expr} %}}{{{{ 'None' if v is none else v[:{_MAX_STATE_LENGTH}] }}}}"


def _percent(used: str, limit: str) -> str:
    """How much of an offline limit is used, in percent; unknown when the limit is not known or zero."""
    return (
        f"{{% set used = value_json.offline.{used} %}}{{% set limit = value_json.offline.{limit} %}}"
        "{{ 'None' if used is none or not limit else (used * 100 / limit) | round(1) }}"
    )


def _limit_attributes(limit: str) -> str:
    """The limit an offline time is counted against, as the entity's attributes (it changes only when the
    configuration does, so the attributes do not churn: the sensor.mqtt page warns against ones that do)."""
    minutes = f"value_json.offline.{limit}"
    return f"{{{{ {{'limit_minutes': {minutes}, 'limit_hours': {minutes} / 60}} | tojson }}}}"


def _uplinks_month(key: str) -> str:
    """An expression of ``network.month`` (the uplinks' month, agent/uplinks/ledger.py), none while the
    uplinks are off or have not decided yet."""
    return f"value_json.network.month.{key} if value_json.network and value_json.network.month else none"


def _uplinks_minutes(key: str) -> str:
    return _value(_uplinks_month(key))


#: which Kyiv month the uplinks' minutes are of, as their attribute (it changes once a month)
_UPLINKS_MONTH_ATTRIBUTES: Final = f"{{{{ {{'month': {_uplinks_month('month')}}} | tojson }}}}"


@dataclass(frozen=True)
class Entity:
    """One entity of the box's device: what its discovery config says beyond the keys every entity has."""

    key: str  # the topic's object_id, and the tail of unique_id and default_entity_id
    component: str  # "sensor" or "binary_sensor"
    name: str
    value_template: str
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None
    options: tuple[str, ...] = ()
    entity_category: str | None = None
    icon: str | None = None
    attributes_template: str | None = None
    display_precision: int | None = None


_MEASUREMENT = "measurement"
# A total that starts from 0 again on the 1st of each month. Home Assistant reads a decrease of a
# total_increasing sensor as the start of a new meter cycle (developers.home-assistant.io/blog/2021/08/16/
# state_class_total; home-assistant/architecture discussion 761 names a meter read from 0 again on the
# 1st of every month as its case), so its statistics sum the growth across months; "measurement" would keep
# only a mean of a running total, and "total" would need last_reset, which the status does not carry.
# The minutes are rounded down and kept across restarts (agent/uplinks/ledger.py): they fall only when
# the month turns, or when the ledger was lost, which is a new cycle too.
_MONTH_TOTAL = "total_increasing"
_DIAGNOSTIC = "diagnostic"  # the only category a sensor may have: HA refuses "config" for it


def _uplinks_month_sensor(figure: str, name: str, icon: str, *, diagnostic: bool = True) -> Entity:
    """One of network.month's minutes as a duration sensor, its month as the attribute."""
    return Entity(
        f"{figure}_month_minutes",
        "sensor",
        name,
        _uplinks_minutes(f"{figure}_minutes"),
        device_class="duration",
        unit="min",
        state_class=_MONTH_TOTAL,
        entity_category=_DIAGNOSTIC if diagnostic else None,
        icon=icon,
        attributes_template=_UPLINKS_MONTH_ATTRIBUTES,
    )


ENTITIES: Final[tuple[Entity, ...]] = (
    Entity(
        "mode",
        "sensor",
        "Mode",
        _value("value_json.mode"),
        device_class="enum",
        options=MODES,
        icon="mdi:cash-register",
    ),
    Entity(
        "blocked_reason",
        "sensor",
        "Blocked reason",
        _text("value_json.blocked_reason"),
        entity_category=_DIAGNOSTIC,
        icon="mdi:cancel",
    ),
    Entity(
        "uplink",
        "sensor",
        "Uplink",
        _value("value_json.uplink"),
        device_class="enum",
        options=UPLINKS,
        icon="mdi:lan-connect",
    ),
    Entity(
        "shift",
        "sensor",
        "Shift",
        _value("value_json.shift"),
        device_class="enum",
        options=SHIFTS,
        icon="mdi:store-clock-outline",
    ),
    Entity(
        "pending_documents",
        "sensor",
        "Pending documents",
        _value("value_json.pending_documents"),
        state_class=_MEASUREMENT,
        icon="mdi:file-clock-outline",
    ),
    Entity(
        "oldest_pending_age",
        "sensor",
        "Oldest pending document age",
        _value("value_json.oldest_pending_age_s"),
        device_class="duration",
        unit="s",
        state_class=_MEASUREMENT,
    ),
    # Offline minutes against both of the law's limits (36 h a session, 168 h a month, or the box's lower
    # ones): the limit as attributes of the minutes, and how much of it is used as a sensor of its own.
    Entity(
        "offline_session_minutes",
        "sensor",
        "Offline session",
        _value("value_json.offline.session_minutes"),
        device_class="duration",
        unit="min",
        state_class=_MEASUREMENT,
        attributes_template=_limit_attributes("max_session_minutes"),
    ),
    Entity(
        "offline_month_minutes",
        "sensor",
        "Offline this month",
        _value("value_json.offline.month_minutes"),
        device_class="duration",
        unit="min",
        state_class=_MEASUREMENT,
        attributes_template=_limit_attributes("max_month_minutes"),
    ),
    Entity(
        "offline_session_limit_used",
        "sensor",
        "Offline session limit used",
        _percent("session_minutes", "max_session_minutes"),
        unit="%",
        state_class=_MEASUREMENT,
        display_precision=1,
        icon="mdi:gauge",
    ),
    Entity(
        "offline_month_limit_used",
        "sensor",
        "Offline month limit used",
        _percent("month_minutes", "max_month_minutes"),
        unit="%",
        state_class=_MEASUREMENT,
        display_precision=1,
        icon="mdi:gauge",
    ),
    # null is "unlimited": unknown as a number, and said plainly in an attribute
    Entity(
        "numbers_left",
        "sensor",
        "Offline numbers left",
        _value("value_json.offline.numbers_left"),
        state_class=_MEASUREMENT,
        icon="mdi:counter",
        attributes_template="{{ {'unlimited': value_json.offline.numbers_left is none} | tojson }}",
    ),
    # The uplinks' month (network.month): each way to the server down, and the offline time the failover
    # to LTE saved; the downtimes are a technician's, the time saved the shop's.
    _uplinks_month_sensor("ethernet_down", "Ethernet down this month", "mdi:ethernet-off"),
    _uplinks_month_sensor("lte_down", "LTE down this month", "mdi:signal-off"),
    _uplinks_month_sensor("server_down", "Tax server down this month", "mdi:server-off"),
    _uplinks_month_sensor("offline_saved", "Offline time saved this month", "mdi:swap-horizontal", diagnostic=False),
    Entity(
        "printer",
        "sensor",
        "Printer",
        _value("value_json.printer"),
        device_class="enum",
        options=PRINTER_STATES,
        icon="mdi:printer-pos",
    ),
    Entity(
        "modem_signal",
        "sensor",
        "Modem signal",
        _value("value_json.modem.signal_dbm if value_json.modem else none"),
        device_class="signal_strength",
        unit="dBm",
        state_class=_MEASUREMENT,
        entity_category=_DIAGNOSTIC,
    ),
    Entity(
        "certificate_days_left",
        "sensor",
        "Signing certificate days left",
        _value("value_json.certificate.days_left if value_json.certificate else none"),
        device_class="duration",
        unit="d",
        state_class=_MEASUREMENT,
        entity_category=_DIAGNOSTIC,
        icon="mdi:certificate-outline",
    ),
    Entity("last_sync", "sensor", "Last sync", _value("value_json.last_sync_at"), device_class="timestamp"),
    Entity(
        "sales_blocked",
        "binary_sensor",
        "Sales blocked",
        f"{{{{ '{PAYLOAD_ON}' if value_json.mode == 'blocked' else '{PAYLOAD_OFF}' }}}}",
        device_class="problem",
    ),
)


def node_id(box_id: str) -> str:
    """The ``<node_id>`` of the box's discovery topics; also the box's part of its unique_ids and of its
    device identifier.

    A box id made only of ``[a-zA-Z0-9_-]`` (every id the configuration accepts) is the node id as it is.
    In any other, each run of other characters becomes one ``_``, and ``-`` and the first 8 hex digits of the
    id's SHA-256 are added: "shop 1" and "shop/1" sanitize alike but get two nodes, and a sanitized id can
    equal a valid one only if that one was made up to look like it, hash and all.
    """
    if _TOPIC_ID.fullmatch(box_id):
        return box_id
    digest = hashlib.sha256(box_id.encode("utf-8")).hexdigest()[:8]
    return f"{_NOT_TOPIC_ID.sub('_', box_id)}-{digest}"


def _check_topic_part(what: str, value: str) -> None:
    if (
        not value
        or value.startswith("/")
        or value.endswith("/")
        or "//" in value
        or _NOT_IN_TOPIC.search(value)
    ):
        raise ValueError(
            f"{what} {value!r} cannot be part of an MQTT topic: it must not be empty, nor have an empty"
            " level, a '+', a '#' or a NUL"
        )


def _entity_id(entity: Entity, node: str) -> str:
    """A default_entity_id Home Assistant takes as it is: lower-case letters, digits and single "_"."""
    slug = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", node.lower())).strip("_")
    return f"{entity.component}." + "_".join(part for part in ("fiscal_box", slug, entity.key) if part)


def _topic(discovery_prefix: str, entity: Entity, node: str) -> str:
    return f"{discovery_prefix}/{entity.component}/{node}/{entity.key}/config"


@dataclass(frozen=True)
class _Box:
    node: str
    state_topic: str
    availability_topic: str
    device: dict[str, Any]
    origin: dict[str, str]


def _box(box_id: str, topic_prefix: str, version: str, fiscal_number: str | None) -> _Box:
    node = node_id(box_id)
    device: dict[str, Any] = {
        "identifiers": [f"fiscal-box:{node}"],
        "name": f"fiscal-box {box_id}",
        "manufacturer": "fiscal-box",
        "model": "ПРРО (software cash register)",
        "sw_version": version,
    }
    if fiscal_number:
        device["serial_number"] = fiscal_number  # the register's fiscal number: what the tax service knows
    return _Box(
        node=node,
        state_topic=f"{topic_prefix}/{box_id}/state",
        availability_topic=f"{topic_prefix}/{box_id}/availability",
        device=device,
        # mqtt/#discovery-payload: the origin is logged when the entity is discovered, for troubleshooting
        origin={"name": "fiscal-box", "sw_version": version},
    )


def _config(entity: Entity, box: _Box) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": entity.name,
        # unique_id: the entity's identity in Home Assistant (and needed for the device block to count);
        # ":" is in no node id nor key, so two boxes or two entities never share one
        "unique_id": f"fiscal-box:{box.node}:{entity.key}",
        "default_entity_id": _entity_id(entity, box.node),
        "state_topic": box.state_topic,
        "value_template": entity.value_template,
        "availability_topic": box.availability_topic,
        "payload_available": PAYLOAD_AVAILABLE,
        "payload_not_available": PAYLOAD_NOT_AVAILABLE,
        "device": box.device,
        "origin": box.origin,
    }
    optional = {
        "device_class": entity.device_class,
        "unit_of_measurement": entity.unit,
        "state_class": entity.state_class,
        "entity_category": entity.entity_category,
        "icon": entity.icon,
        "suggested_display_precision": entity.display_precision,
    }
    config.update({key: value for key, value in optional.items() if value is not None})
    if entity.options:
        config["options"] = list(entity.options)
    if entity.attributes_template is not None:
        config["json_attributes_topic"] = box.state_topic
        config["json_attributes_template"] = entity.attributes_template
    if entity.component == "binary_sensor":
        config["payload_on"] = PAYLOAD_ON
        config["payload_off"] = PAYLOAD_OFF
    return config


def discovery_messages(
    *,
    box_id: str,
    topic_prefix: str,
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX,
    version: str,
    fiscal_number: str | None = None,
) -> list[tuple[str, str]]:
    """(topic, JSON payload) of every entity's discovery config, to be published retained.

    The same arguments give the same messages, byte for byte (keys sorted), so publishing them again on every
    reconnect changes nothing in Home Assistant. Raises ValueError for a box id or prefix that cannot be part
    of a topic Home Assistant subscribes to.
    """
    _check_topic_part("the box id", box_id)
    _check_topic_part("the topic prefix", topic_prefix)
    _check_topic_part("the discovery prefix", discovery_prefix)
    box = _box(box_id, topic_prefix, version, fiscal_number)
    return [
        (
            _topic(discovery_prefix, entity, box.node),
            json.dumps(_config(entity, box), ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        )
        for entity in ENTITIES
    ]


def discovery_removals(
    *, box_id: str, discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
) -> list[tuple[str, str]]:
    """The same topics as ``discovery_messages`` with empty payloads, to be published retained.

    An empty retained payload removes the discovered entity and clears the retained config at the broker;
    Home Assistant removes the device too once none of its entities is left (mqtt/#discovery-payload).
    """
    _check_topic_part("the box id", box_id)
    _check_topic_part("the discovery prefix", discovery_prefix)
    node = node_id(box_id)
    return [(_topic(discovery_prefix, entity, node), "") for entity in ENTITIES]
