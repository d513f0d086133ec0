"""The agent on MQTT as it runs in a shop: `fiscal-box run` in its own process publishing to a real
mosquitto, killed with SIGKILL (the broker says its last will); remote actions refused unless
`[mqtt] commands = true` over an authenticated connection, and done with it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent as InProcessAgent
from agent.builders import slip_layout
from agent.clock import SystemClock
from agent.config import load_config
from agent.mqtt.discovery import ENTITIES as DISCOVERED
from agent.mqtt.topics import Topics
from agent.receipts.render import to_text
from agent.secr.errors import ConfigError
from tests.conftest import EmulatorHandle
from tests.mosquitto import PASSWORD, USER, Broker, Watcher, mosquitto_path, retained
from tests.test_cli import free_port, write_config
from tests.test_fleet import fleet_cli, table_boxes
from tests.test_ha_discovery import ha_state, schema_errors
from tests.test_owner import Agent, Till, agents
from tests.waiting import wait_for

__all__ = ["agents"]  # the fixture, from tests/test_owner.py

#: the discovery configs one box retains
ENTITIES = len(DISCOVERED)

pytestmark = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")

_prefixes = itertools.count(1)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker.start() as running:
        yield running


def mqtt_section(broker: Broker, prefix: str, *, listener: str = "anonymous", **keys: Any) -> dict[str, str]:
    """The write_config override that turns [mqtt] on against the test broker."""
    lines = ['host = "127.0.0.1"', f"port = {broker.port(listener)}", f'topic_prefix = "{prefix}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return {"[mqtt]\nenabled = false": "[mqtt]\n" + "\n".join(lines)}


def box_config(tmp_path: Path, emulator: EmulatorHandle, broker: Broker, box_id: str, prefix: str, **keys: Any) -> tuple[Path, int]:
    port = free_port()
    directory = tmp_path / box_id
    directory.mkdir(exist_ok=True)  # a box started again keeps its state_dir
    overrides = {'id = "test-box"': f'id = "{box_id}"', **mqtt_section(broker, prefix, **keys)}
    return write_config(directory / "config.toml", emulator.fs_url, api_port=port, **overrides), port


def test_the_running_agent_publishes_its_state_and_dies_with_its_last_will(
    tmp_path: Path, emulator: EmulatorHandle, broker: Broker, agents: list[Agent]
) -> None:
    topics = Topics(f"agent{next(_prefixes)}", "shop-7")
    watcher = Watcher(broker, f"{topics.base}/#")
    config, port = box_config(tmp_path, emulator, broker, "shop-7", topics.prefix)
    agent = Agent(config, config.parent / "state", tmp_path / "agent.log")
    agents.append(agent.wait_ready())
    watcher.wait(topics.availability, lambda m: m.text == "online")
    first = watcher.wait(topics.state).json()
    assert first["mode"] == "online" and first["shift"] == "closed"

    till = Till(port)
    till.open_shift()
    receipt = till.sell(1)
    watcher.wait(topics.state, lambda m: m.json()["shift"] == "open" and m.json()["next_local_num"] > first["next_local_num"] + 1)
    fiscalized = watcher.wait(topics.events, lambda m: m.json()["kind"] == "fiscalized" and m.json().get("fiscal_num") == receipt["fiscal_code"])
    assert not fiscalized.retain

    watcher.clear()
    agent.kill()  # SIGKILL: nothing of the agent says goodbye; the broker does, for it
    will = watcher.wait(topics.availability, lambda m: m.text == "offline")
    assert will.text == "offline"
    assert retained(broker, topics.availability)[topics.availability].text == "offline"
    # The retained state is the box's last word, not wiped: a dashboard sees what it was doing.
    assert json.loads(retained(broker, topics.state)[topics.state].payload)["shift"] == "open"
    watcher.close()


def test_a_clean_stop_retains_offline(
    tmp_path: Path, emulator: EmulatorHandle, broker: Broker, agents: list[Agent]
) -> None:
    topics = Topics(f"agent{next(_prefixes)}", "shop-8")
    config, _port = box_config(tmp_path, emulator, broker, "shop-8", topics.prefix)
    agent = Agent(config, config.parent / "state", tmp_path / "agent.log")
    agents.append(agent.wait_ready())
    wait_for(lambda: retained(broker, topics.availability).get(topics.availability), what="online")
    assert agent.stop() == 0
    assert retained(broker, topics.availability)[topics.availability].text == "offline"


# --- remote actions ------------------------------------------------------------------------------------


@pytest.fixture()
def make_agent(tmp_path: Path, emulator: EmulatorHandle, broker: Broker) -> Iterator[Any]:
    started: list[InProcessAgent] = []

    def make(box_id: str, prefix: str, **keys: Any) -> InProcessAgent:
        config, _port = box_config(tmp_path, emulator, broker, box_id, prefix, **keys)
        box = InProcessAgent(load_config(config), SystemClock())
        started.append(box)
        box.start()
        return box

    yield make
    for box in started:
        box.close()


def command(watcher: Watcher, topics: Topics, name: str, request_id: str) -> dict[str, Any]:
    watcher.publish(topics.command(name), json.dumps({"id": request_id}))
    answer = watcher.wait(topics.command_result, lambda m: m.json().get("id") == request_id)
    result: dict[str, Any] = answer.json()
    assert result["command"] == name and not answer.retain
    return result


def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "mqtt.password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return path


def test_remote_actions_are_refused_while_commands_are_off(
    tmp_path: Path, broker: Broker, make_agent: Any
) -> None:
    topics = Topics(f"cmd{next(_prefixes)}", "shop-9")
    box = make_agent("shop-9", topics.prefix, listener="password", username=USER, password_file=str(password_file(tmp_path)))
    watcher = Watcher(broker, f"{topics.base}/#")
    wait_for(lambda: box.mqtt is not None and box.mqtt.publisher.connected, what="the box on the broker")
    for name in ("go_online", "slip", "state"):
        result = command(watcher, topics, name, f"req-{name}")
        assert result["ok"] is False and result["kind"] == "refused"
        assert "[mqtt] commands = true" in result["error"]
    unknown = command(watcher, topics, "sell", "req-sell")
    assert unknown["ok"] is False and "unknown command" in unknown["error"]
    watcher.close()


def test_remote_actions_are_done_with_commands_on(tmp_path: Path, broker: Broker, make_agent: Any) -> None:
    topics = Topics(f"cmd{next(_prefixes)}", "shop-10")
    box = make_agent(
        "shop-10",
        topics.prefix,
        listener="password",
        username=USER,
        password_file=str(password_file(tmp_path)),
        commands=True,
    )
    watcher = Watcher(broker, f"{topics.base}/#")
    wait_for(lambda: box.mqtt is not None and box.mqtt.publisher.connected, what="the box on the broker")

    online = command(watcher, topics, "go_online", "r1")
    assert online["ok"] is True and online["result"]["reachable"] is True
    assert online["result"]["pending_documents"] == 0

    watcher.clear()
    state = command(watcher, topics, "state", "r2")
    assert state["ok"] is True and state["result"] == {"republished": True, "mode": "online"}
    assert watcher.wait(topics.state).json()["mode"] == "online"  # published again, to whoever listens

    slip = command(watcher, topics, "slip", "r3")  # this box has no printer: a person must enable one
    assert slip["ok"] is False and slip["kind"] == "needs_person" and "printer" in slip["error"]

    watcher.publish(topics.command("go_online"), b"not json")
    bad = watcher.wait(topics.command_result, lambda m: m.json().get("id") is None and m.json()["ok"] is False)
    assert "not JSON" in bad.json()["error"]
    watcher.close()


def test_commands_on_without_credentials_is_a_config_error(tmp_path: Path, emulator: EmulatorHandle, broker: Broker) -> None:
    config, _port = box_config(tmp_path, emulator, broker, "shop-11", "x", commands=True)
    with pytest.raises(ConfigError, match=r"mqtt\.commands = true: needs an authenticated connection"):
        load_config(config)


def test_the_agent_announces_itself_to_home_assistant(
    tmp_path: Path, broker: Broker, make_agent: Any
) -> None:
    topics = Topics(f"ha{next(_prefixes)}", "shop-12", discovery_prefix=f"ha{next(_prefixes)}")
    box = make_agent("shop-12", topics.prefix, discovery_prefix=topics.discovery_prefix)
    wait_for(lambda: box.mqtt is not None and box.mqtt.publisher.connected, what="the box on the broker")
    configs = wait_for(
        lambda: (r := retained(broker, f"{topics.discovery_prefix}/#")) and len(r) == ENTITIES and r,
        what=f"{ENTITIES} discovery configs",
    )
    state = retained(broker, topics.state)[topics.state].text
    for topic, message in configs.items():
        config = json.loads(message.payload)
        assert schema_errors(topic, config) == [], topic
        assert config["state_topic"] == topics.state
        assert config["availability_topic"] == topics.availability
        assert config["device"]["serial_number"] == box.settings.registrar.fiscal_number
        ha_state(config, state)  # fails where Home Assistant would not take the box's real state
    states = {t.split("/")[-2]: ha_state(json.loads(c.payload), state) for t, c in configs.items()}
    assert states["mode"] == "online" and states["sales_blocked"] is False and states["shift"] == "closed"
    assert states["pending_documents"] == 0 and states["offline_session_minutes"] == 0


def test_discovery_turned_off_removes_the_configs_the_box_left(
    tmp_path: Path, broker: Broker, make_agent: Any
) -> None:
    topics = Topics(f"ha{next(_prefixes)}", "shop-13", discovery_prefix=f"ha{next(_prefixes)}")
    other = make_agent("shop-16", topics.prefix, discovery_prefix=topics.discovery_prefix)
    first = make_agent("shop-13", topics.prefix, discovery_prefix=topics.discovery_prefix)
    wait_for(
        lambda: len(retained(broker, f"{topics.discovery_prefix}/#")) == 2 * ENTITIES, what="two boxes' configs"
    )
    first.close()
    # The same box restarted with discovery off: its entities go, the other box's stay.
    again = make_agent("shop-13", topics.prefix, discovery_prefix=topics.discovery_prefix, discovery=False)
    wait_for(lambda: again.mqtt is not None and again.mqtt.publisher.connected, what="the box on the broker")
    left = wait_for(
        lambda: (r := retained(broker, f"{topics.discovery_prefix}/#")) and len(r) == ENTITIES and r,
        what="only the other box's configs",
    )
    assert all("/shop-16/" in topic for topic in left)
    assert other.mqtt is not None and other.mqtt.publisher.connected


def test_the_status_and_the_slip_say_whether_the_dashboards_see_the_box(
    tmp_path: Path, broker: Broker, make_agent: Any
) -> None:
    topics = Topics(f"st{next(_prefixes)}", "shop-14")
    good = make_agent("shop-14", topics.prefix)
    wait_for(lambda: good.status_dict()["mqtt"]["connected"], what="connected in the status")
    assert good.status_dict()["mqtt"] == {
        "broker": f"127.0.0.1:{broker.port()}", "connected": True, "error": None,
    }
    published = wait_for(lambda: retained(broker, topics.state).get(topics.state)).json()
    assert published["mqtt"]["connected"] is True  # never the stale "not connected" of the outage

    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    refused = make_agent(
        "shop-15", topics.prefix, listener="password", username=USER, password_file=str(wrong)
    )
    mqtt = wait_for(lambda: (m := refused.status_dict()["mqtt"]) and m["error"] and m, what="the refusal")
    assert mqtt["connected"] is False and "refused" in mqtt["error"]
    text = to_text(slip_layout(refused.settings, refused.status_dict(), 32), 32)
    assert "MQTT" in text and "немає зв'язку" in text


def test_the_fleet_view_shows_three_running_boxes_and_the_one_killed(
    tmp_path: Path, emulator: EmulatorHandle, broker: Broker, agents: list[Agent]
) -> None:
    prefix = f"fleet{next(_prefixes)}"
    started = {}
    for box_id in ("shop-a", "shop-b", "shop-c"):
        config, port = box_config(tmp_path, emulator, broker, box_id, prefix)
        agent = Agent(config, config.parent / "state", tmp_path / f"{box_id}.log")
        agents.append(agent)
        started[box_id] = (agent, port)
    for agent, _port in started.values():
        agent.wait_ready()
    wait_for(
        lambda: len([t for t in retained(broker, f"{prefix}/+/state")]) == 3, what="three states retained"
    )
    till = Till(started["shop-b"][1])
    till.open_shift()
    till.sell(1)
    wait_for(
        lambda: json.loads(retained(broker, f"{prefix}/shop-b/state")[f"{prefix}/shop-b/state"].payload)["shift"] == "open",
        what="shop-b's open shift on the broker",
    )
    started["shop-c"][0].kill()
    wait_for(
        lambda: retained(broker, f"{prefix}/shop-c/availability")[f"{prefix}/shop-c/availability"].text == "offline",
        what="shop-c's last will",
    )
    result = fleet_cli(broker, "--prefix", prefix, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["box_id"] for row in rows] == ["shop-c", "shop-a", "shop-b"]  # the dead one first
    by_id = {row["box_id"]: row for row in rows}
    assert by_id["shop-c"]["status"] == "down"
    assert by_id["shop-a"]["status"] == by_id["shop-b"]["status"] == "online"
    assert by_id["shop-b"]["state"]["shift"] == "open" and by_id["shop-a"]["state"]["shift"] == "closed"
    table = fleet_cli(broker, "--prefix", prefix)
    assert table.returncode == 0, table.stderr
    assert table_boxes(table.stdout) == ["shop-c", "shop-a", "shop-b"]
    assert table.stdout.strip().splitlines()[-1].startswith("3 boxes: 1 down")
