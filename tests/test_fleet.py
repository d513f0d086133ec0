"""`fiscal-box fleet`: the pure reading, ordering and showing of the boxes' retained topics, then the
real command against a real mosquitto (anonymous, password, TLS, client certificate, --watch), and the
ACL the README gives for a fleet on one broker.

The states are real ``Snapshot(...).to_dict()`` JSON, so the reader keeps to the shape the boxes send.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.mqtt.fleet import (
    BLOCKED,
    COLUMNS,
    DOWN,
    OFFLINE,
    ONLINE,
    UNKNOWN,
    UPLOADING,
    BoxRow,
    age_text,
    box_topic,
    cells,
    order,
    parse_box,
    render_table,
    to_json,
)
from agent.mqtt.fleet_client import Fleet, FleetClient, broker_options, parse_broker
from agent.secr.errors import ConfigError
from agent.secr.register import Mode
from agent.status.snapshot import PrinterPart, Snapshot
from tests.mosquitto import PASSWORD, USER, Broker, Watcher, retained
from tests.test_status_model import register_status
from tests.waiting import wait_for

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CLI = [sys.executable, "-m", "agent.cli", "fleet"]
ROOT = Path(__file__).resolve().parents[1]


def state(
    at: datetime = NOW, *, printer: str | None = "ok", uplink: str | None = "ethernet", **register: Any
) -> bytes:
    """A box's state topic payload as the box makes it: a real snapshot's §5 JSON."""
    register.setdefault("last_sync_at", at - timedelta(minutes=3))
    snapshot = Snapshot(
        register=register_status(**register),
        at=at,
        printer=PrinterPart(printer) if printer is not None else None,
        uplink=uplink,
    )
    return json.dumps(snapshot.to_dict()).encode()


def offline(at: datetime = NOW, **register: Any) -> bytes:
    return state(at, **{"mode": Mode.OFFLINE, "offline_session_id": "S-1", **register})


def a_fleet(now: datetime) -> dict[str, tuple[bytes | None, bytes | None]]:
    """Every kind of box, as (availability, state); the keys are in the order the view must give."""
    return {
        "e-down": (b"offline", state(now - timedelta(hours=3, minutes=5))),
        "c-blocked": (
            b"online",
            offline(
                now,
                blocked_reason="session_limit",
                problem="the offline session has reached 36 h",
                session_minutes=2160,
                month_minutes=4000,
                pending_documents=41,
                oldest_pending_at=now - timedelta(hours=36),
            ),
        ),
        "f-nostate": (b"online", None),
        "g-broken": (b"online", b"{not json"),
        "b-near": (
            b"online",
            offline(
                now,
                session_minutes=1900,
                month_minutes=3000,
                numbers_left=12,
                warnings=["session_limit"],
                pending_documents=40,
                oldest_pending_at=now - timedelta(hours=31, minutes=40),
            ),
        ),
        "d-uploading": (
            b"online",
            state(
                now,
                mode=Mode.UPLOADING,
                session_minutes=612,
                month_minutes=1300,
                pending_documents=7,
                oldest_pending_at=now - timedelta(hours=10),
            ),
        ),
        "h-offline": (b"online", offline(now, session_minutes=100, month_minutes=200, printer=None)),
        "a-online": (b"online", state(now, uplink="lte")),
    }


def rows_of(fleet: dict[str, tuple[bytes | None, bytes | None]]) -> list[BoxRow]:
    return order(parse_box(box, availability, payload) for box, (availability, payload) in fleet.items())


# --- the pure part: reading --------------------------------------------------------------------------


def test_each_kind_of_box_reads_as_its_status() -> None:
    rows = {row.box_id: row for row in rows_of(a_fleet(NOW))}
    assert {box: row.status for box, row in rows.items()} == {
        "e-down": DOWN,
        "c-blocked": BLOCKED,
        "f-nostate": UNKNOWN,
        "g-broken": UNKNOWN,
        "b-near": OFFLINE,
        "d-uploading": UPLOADING,
        "h-offline": OFFLINE,
        "a-online": ONLINE,
    }
    near = rows["b-near"]
    assert (near.session_minutes, near.max_session_minutes, near.month_minutes, near.max_month_minutes) == (
        1900,
        2160,
        3000,
        10080,
    )
    assert near.numbers_left == 12 and near.warnings == ("session_limit",) and near.pending_documents == 40
    assert near.limit_share == pytest.approx(1900 / 2160)
    assert rows["c-blocked"].blocked_reason == "session_limit"
    assert rows["c-blocked"].errors == ("the offline session has reached 36 h",)
    assert rows["e-down"].mode == "online"  # what the dead box last said, kept for the note
    assert rows["e-down"].problems == () and rows["a-online"].problems == ()


def test_down_is_the_availability_whatever_the_state_says() -> None:
    """The broker's last will says offline; the retained state, made before the box died, says online."""
    row = parse_box("x", b"offline", state(NOW - timedelta(minutes=42)))
    assert row.status == DOWN and row.mode == "online"
    assert "gone: last state 42m ago, it said online" in cells(row, NOW)[-1]
    assert parse_box("x", b"offline", None).status == DOWN
    assert cells(parse_box("x", b"offline", None), NOW)[-1] == "gone: no state"
    # no availability at all (a box whose publisher does not send it): the state decides
    assert parse_box("x", None, state()).status == ONLINE


def test_worst_first_then_the_nearer_limit_then_the_id() -> None:
    fleet = a_fleet(NOW)
    assert [row.box_id for row in rows_of(fleet)] == list(fleet)
    # the same rank: the larger share of the nearer limit first (here the month's), then by id
    month = parse_box("z-month", b"online", offline(session_minutes=10, month_minutes=9000))
    session = parse_box("y-session", b"online", offline(session_minutes=1500, month_minutes=1500))
    tie_b = parse_box("tie-b", b"online", offline(session_minutes=5))
    tie_a = parse_box("tie-a", b"online", offline(session_minutes=5))
    assert [r.box_id for r in order([tie_b, session, tie_a, month])] == [
        "z-month",
        "y-session",
        "tie-a",
        "tie-b",
    ]
    # errors count as warnings do: an offline box whose uploads fail is looked at before a quiet one
    failing = parse_box("w-fails", b"online", offline(errors=["the server refused the package"]))
    assert order([month, failing])[0] is failing
    assert failing.rank < month.rank


# --- the pure part: showing --------------------------------------------------------------------------


def by_box(rows: list[BoxRow], now: datetime) -> dict[str, dict[str, str]]:
    return {row.box_id: dict(zip(COLUMNS, cells(row, now), strict=True)) for row in rows}


def test_the_cells_of_every_status() -> None:
    later = NOW + timedelta(minutes=10)  # the view is read a while after the states were made
    shown = by_box(rows_of(a_fleet(NOW)), later)
    assert shown["b-near"] == {
        "BOX": "b-near",
        "STATUS": "offline",
        "UPLINK": "ethernet",
        "OFFLINE": "1900/2160 min session, 3000/10080 min month",
        "NUMBERS LEFT": "12",
        "PENDING": "40, oldest 1d 7h",  # 31 h 40 m when made, 31 h 50 m now
        "LAST SYNC": "13m ago",
        "PRINTER": "ok",
        "NOTE": "warnings: session_limit",
    }
    assert shown["d-uploading"]["OFFLINE"] == "612/2160 min session, 1300/10080 min month"
    assert shown["d-uploading"]["PENDING"] == "7, oldest 10h 10m"
    assert shown["d-uploading"]["STATUS"] == "uploading"
    assert shown["c-blocked"]["NOTE"] == "blocked: session_limit; error: the offline session has reached 36 h"
    assert shown["e-down"]["NOTE"] == "gone: last state 3h 15m ago, it said online"
    assert shown["a-online"]["UPLINK"] == "lte" and shown["a-online"]["NOTE"] == ""
    assert shown["f-nostate"] == {
        **dict.fromkeys(COLUMNS, "-"),
        "BOX": "f-nostate",
        "STATUS": "unknown",
        "NOTE": "no state yet",
    }
    assert shown["g-broken"]["NOTE"] == "the state is not JSON: '{not json'"


def test_nulls_read_as_what_they_mean() -> None:
    """uplink null: not built yet; printer null: none; numbers_left null: unlimited; no sync yet: never."""
    payload = state(uplink=None, printer=None, last_sync_at=None, numbers_left=None, pending_documents=0)
    row = parse_box("n", b"online", payload)
    shown = dict(zip(COLUMNS, cells(row, NOW), strict=True))
    assert (
        shown["UPLINK"],
        shown["PRINTER"],
        shown["NUMBERS LEFT"],
        shown["LAST SYNC"],
        shown["PENDING"],
    ) == (
        "-",
        "none",
        "unlimited",
        "never",
        "0",
    )
    assert row.problems == ()
    data = to_json([row], NOW)[0]
    assert data["uplink"] is None and data["printer"] is None and data["numbers_left"] is None
    assert data["last_sync_at"] is None and data["oldest_pending_age_s"] is None


def test_the_table_lines_up_and_ends_with_a_summary() -> None:
    rows = rows_of(a_fleet(NOW))
    lines = render_table(rows, NOW, where="fiscal-box/ on mqtt:1883").splitlines()
    assert lines[0].split()[:3] == ["BOX", "STATUS", "UPLINK"]
    assert [line.split()[0] for line in lines[1:-1]] == [row.box_id for row in rows]
    status_at = lines[0].index("STATUS")
    assert all(line[status_at:].split()[0] == row.status for line, row in zip(lines[1:-1], rows, strict=True))
    assert lines[-1] == "8 boxes: 1 down, 1 blocked, 2 unknown, 2 offline, 1 uploading, 1 online"
    assert render_table([], NOW, where="fiscal-box/ on mqtt:1883") == (
        "no box has published under fiscal-box/ on mqtt:1883 yet"
    )


def test_the_json_has_the_fields_as_data_and_the_raw_state() -> None:
    fleet = a_fleet(NOW)
    later = NOW + timedelta(minutes=10)
    data = to_json(rows_of(fleet), later)
    json.dumps(data)  # all of it serializable
    assert [item["box_id"] for item in data] == list(fleet)
    near = data[4]
    assert near["box_id"] == "b-near"
    assert {key: near[key] for key in near if key != "state"} == {
        "box_id": "b-near",
        "status": "offline",
        "availability": "online",
        "mode": "offline",
        "blocked_reason": None,
        "uplink": "ethernet",
        "shift": "open",
        "session_minutes": 1900,
        "max_session_minutes": 2160,
        "month_minutes": 3000,
        "max_month_minutes": 10080,
        "limit_share": round(1900 / 2160, 4),
        "numbers_left": 12,
        "warnings": ["session_limit"],
        "pending_documents": 40,
        "oldest_pending_age_s": (31 * 60 + 50) * 60,
        "last_sync_at": (NOW - timedelta(minutes=3)).isoformat(),
        "printer": "ok",
        "errors": [],
        "updated_at": NOW.isoformat(),
        "state_age_s": 600,
        "problems": [],
    }
    assert near["state"] == json.loads(fleet["b-near"][1] or b"")
    assert data[2]["state"] is None and data[2]["problems"] == ["no state yet"]
    assert data[3]["state"] == "{not json" and data[3]["status"] == "unknown"
    assert data[0]["status"] == "down" and data[0]["availability"] == "offline"


def _snapshot_with(**changes: Any) -> bytes:
    data = json.loads(state())
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = data
        for parent in parents:
            target = target[parent]
        target[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("availability", "payload", "said"),
    [
        (b"online", None, "no state yet"),
        (b"online", b"\xff\xfe{", "the state is not UTF-8 text"),
        (b"online", b"", "the state is not JSON: ''"),
        (b"online", b"<html>" + b"x" * 100, "the state is not JSON: '<html>xxxxxxxxx"),
        (b"online", b"[1, 2]", "the state is a JSON list, not the status object"),
        (b"online", b'"online"', "the state is a JSON str, not the status object"),
        (b"online", b"null", "the state is a JSON NoneType, not the status object"),
        (b"online", b"{}", "the state has no mode"),
        (b"online", b'{"mode": "asleep"}', "the state's mode 'asleep' is unknown"),
        (b"online", _snapshot_with(mode=3), "state.mode is not a text: 3"),
        (
            b"online",
            _snapshot_with(pending_documents="7"),
            'state.pending_documents is not a whole number: "7"',
        ),
        (
            b"online",
            _snapshot_with(pending_documents=True),
            "state.pending_documents is not a whole number: true",
        ),
        (b"online", _snapshot_with(offline="none"), 'state.offline is not an object: "none"'),
        (
            b"online",
            _snapshot_with(offline__session_minutes=1.5),
            "state.offline.session_minutes is not a whole",
        ),
        (b"online", _snapshot_with(errors="oops"), 'state.errors is not a list: "oops"'),
        (b"online", _snapshot_with(updated_at="yesterday"), "state.updated_at is not an ISO time: yesterday"),
        (b"online", _snapshot_with(last_sync_at=12), "state.last_sync_at is not a text: 12"),
        (b"maybe", state(), "availability is 'maybe', not online or offline"),
        (b"\xff", state(), "availability is '\ufffd', not online or offline"),
    ],
)
def test_a_payload_not_as_expected_still_gets_its_line_saying_so(
    availability: bytes, payload: bytes | None, said: str
) -> None:
    row = parse_box("odd", availability, payload)
    assert any(problem.startswith(said) for problem in row.problems), row.problems
    line = render_table([row], NOW).splitlines()[1]
    assert line.startswith("odd ") and said[:30] in line
    assert json.loads(json.dumps(to_json([row], NOW)))[0]["problems"] == list(row.problems)


def test_a_field_it_cannot_read_shows_a_question_mark_not_a_guess() -> None:
    row = parse_box("odd", b"online", _snapshot_with(offline="none", pending_documents="7", last_sync_at=1))
    shown = dict(zip(COLUMNS, cells(row, NOW), strict=True))
    assert shown["OFFLINE"] == "?/? min session, ?/? min month"
    assert shown["NUMBERS LEFT"] == "?"  # not "unlimited": the box did not say null
    assert shown["PENDING"] == "?" and shown["LAST SYNC"] == "?"
    assert row.status == ONLINE  # the mode could be read


def test_box_topic_takes_only_a_box_s_two_topics() -> None:
    assert box_topic("fiscal-box", "fiscal-box/shop-1/state") == ("shop-1", "state")
    assert box_topic("fiscal-box", "fiscal-box/shop-1/availability") == ("shop-1", "availability")
    assert box_topic("acme/ua/fiscal-box", "acme/ua/fiscal-box/shop-1/state") == ("shop-1", "state")
    for topic in (
        "fiscal-box/shop-1/events",
        "fiscal-box/shop-1/command/state",
        "other/shop-1/state",
        "fiscal-box//state",
    ):
        assert box_topic("fiscal-box", topic) is None


def test_the_fleet_keeps_the_latest_and_forgets_a_cleared_box() -> None:
    fleet = Fleet("fb")
    assert fleet.receive("fb/a/availability", b"online") and fleet.receive("fb/a/state", state())
    assert not fleet.receive("fb/a/state", state())  # the same again (a reconnect) changes nothing
    assert not fleet.receive("fb/a/events", b"{}")
    version = fleet.version
    assert [row.box_id for row in fleet.rows()] == ["a"] and fleet.rows()[0].status == ONLINE
    assert fleet.receive("fb/a/state", b"")  # the retained state cleared: availability alone is left
    assert fleet.rows()[0].problems == ("no state yet",) and fleet.version == version + 1
    assert fleet.receive("fb/a/availability", b"")  # both cleared: the box was taken out of service
    assert fleet.rows() == []


def test_age_text() -> None:
    assert [age_text(s) for s in (-5, 0, 59, 60, 3599, 3600, 3660 * 3, 86400 * 2 + 3600 * 4 + 59)] == [
        "0s",
        "0s",
        "59s",
        "1m",
        "59m",
        "1h 00m",
        "3h 03m",
        "2d 4h",
    ]


def test_broker_address_and_options_are_checked_before_any_connection(tmp_path: Path) -> None:
    assert parse_broker("mqtt.example.com", tls=False) == ("mqtt.example.com", 1883)
    assert parse_broker("mqtt.example.com", tls=True) == ("mqtt.example.com", 8883)
    assert parse_broker("10.0.0.5:1884", tls=True) == ("10.0.0.5", 1884)
    assert parse_broker("[::1]:1884", tls=False) == ("::1", 1884)
    assert parse_broker("[::1]", tls=False) == ("::1", 1883)
    assert parse_broker("::1", tls=False) == ("::1", 1883)
    for bad in ("", ":1883", "host:", "host:0", "host:65536", "host:port", "[::1", "[::1]x", "a b:1"):
        with pytest.raises(ConfigError, match="--broker"):
            parse_broker(bad, tls=False)
    missing = tmp_path / "nope.password"
    with pytest.raises(ConfigError, match=f"--password-file {missing}: no such file"):
        broker_options("h", username="u", password_file=missing)
    with pytest.raises(ConfigError, match="--password-file needs --username"):
        broker_options("h", password_file=missing)
    with pytest.raises(ConfigError, match="add --tls"):
        broker_options("h", ca_file=missing)
    with pytest.raises(ConfigError, match="go together"):
        broker_options("h", tls=True, cert_file=missing)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        broker_options("h", username="u", password_file=tmp_path / "empty")
    (tmp_path / "password").write_text("s3cret\n")
    options = broker_options("h", username="u", password_file=tmp_path / "password", prefix="/acme/fb/")
    assert (options.password, options.prefix, options.address) == ("s3cret", "acme/fb", "h:1883")


# --- the command against a real mosquitto ------------------------------------------------------------


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker.start() as started:
        yield started


@pytest.fixture()
def prefix() -> str:
    """A prefix of the test's own: the module's broker keeps every other test's retained boxes."""
    return f"fleet-{uuid.uuid4().hex[:10]}"


def publish_fleet(broker: Broker, prefix: str, fleet: dict[str, tuple[bytes | None, bytes | None]]) -> None:
    """Retain each box's topics as its publisher would (QoS 1: the broker has them once acknowledged)."""
    watcher = Watcher(broker, f"{prefix}/#")
    try:
        for box, (availability, payload) in fleet.items():
            if availability is not None:
                watcher.publish(f"{prefix}/{box}/availability", availability, retain=True)
            if payload is not None:
                watcher.publish(f"{prefix}/{box}/state", payload, retain=True)
    finally:
        watcher.close()


def fleet_cli(
    broker: Broker, *args: str | Path, listener: str = "anonymous"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--broker", f"127.0.0.1:{broker.port(listener)}", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def table_boxes(stdout: str) -> list[str]:
    """The box ids of a table's lines, in order (the header and the summary left out)."""
    return [line.split()[0] for line in stdout.strip().splitlines()[1:-1]]


def password_file(tmp_path: Path, password: str = PASSWORD, name: str = "mqtt.password") -> Path:
    path = tmp_path / name
    path.write_text(password + "\n", encoding="utf-8")
    return path


def test_the_fleet_once_one_line_per_box_worst_first(broker: Broker, prefix: str) -> None:
    fleet = a_fleet(datetime.now(UTC))
    publish_fleet(broker, prefix, fleet)
    # not the fleet's: another prefix, and a box's other topics under this one
    publish_fleet(broker, f"{prefix}-other", {"stranger": (b"online", state())})
    Watcher(broker).publish(f"{prefix}/a-online/events", b'{"kind": "went_online"}')

    result = fleet_cli(broker, "--prefix", prefix)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert table_boxes(result.stdout) == list(fleet)
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert re.search(r"^e-down +down .* gone: last state 3h 0[5-6]m ago, it said online$", lines["e-down"])
    assert "1900/2160 min session, 3000/10080 min month" in lines["b-near"]
    assert "612/2160 min session, 1300/10080 min month" in lines["d-uploading"]
    assert " uploading " in lines["d-uploading"] and " blocked " in lines["c-blocked"]
    assert lines["f-nostate"].endswith("no state yet")
    assert lines["g-broken"].endswith("the state is not JSON: '{not json'")
    assert result.stdout.strip().splitlines()[-1] == (
        "8 boxes: 1 down, 1 blocked, 2 unknown, 2 offline, 1 uploading, 1 online"
    )


def test_the_fleet_as_json(broker: Broker, prefix: str) -> None:
    fleet = a_fleet(datetime.now(UTC))
    publish_fleet(broker, prefix, fleet)

    result = fleet_cli(broker, "--prefix", prefix, "--json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [item["box_id"] for item in data] == list(fleet)
    by_id = {item["box_id"]: item for item in data}
    for box, (_availability, payload) in fleet.items():
        if box != "g-broken":
            assert by_id[box]["state"] == (json.loads(payload) if payload else None)
    assert by_id["g-broken"]["state"] == "{not json"
    near = by_id["b-near"]
    assert (near["status"], near["session_minutes"], near["max_session_minutes"], near["numbers_left"]) == (
        "offline",
        1900,
        2160,
        12,
    )
    assert by_id["e-down"]["status"] == "down" and by_id["e-down"]["state_age_s"] >= 3 * 3600 + 5 * 60


def test_an_empty_prefix_says_so_and_exits_0(broker: Broker, prefix: str) -> None:
    result = fleet_cli(broker, "--prefix", prefix, "--wait", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"no box has published under {prefix}/ on 127.0.0.1:{broker.port()} yet"
    assert json.loads(fleet_cli(broker, "--prefix", prefix, "--json").stdout) == []


BOX_THAT_DIES = textwrap.dedent(
    """
    import sys, time
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    port, prefix, box, state = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.stdin.buffer.read()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=box, protocol=mqtt.MQTTv311)
    client.will_set(f"{prefix}/{box}/availability", "offline", qos=1, retain=True)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    client.publish(f"{prefix}/{box}/state", state, qos=1, retain=True).wait_for_publish(10)
    client.publish(f"{prefix}/{box}/availability", "online", qos=1, retain=True).wait_for_publish(10)
    print("up", flush=True)
    time.sleep(600)
    """
)


def test_a_box_killed_shows_as_down_though_its_state_says_online(broker: Broker, prefix: str) -> None:
    """SIGKILL: the box says nothing more; the broker publishes its last will, and only that tells."""
    watcher = Watcher(broker, f"{prefix}/#")
    box = subprocess.Popen(
        [sys.executable, "-c", BOX_THAT_DIES, str(broker.port()), prefix, "till-9"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=False,
    )
    try:
        assert box.stdin is not None and box.stdout is not None
        box.stdin.write(state(datetime.now(UTC)))
        box.stdin.close()
        assert box.stdout.readline() == b"up\n"
        alive = fleet_cli(broker, "--prefix", prefix)
        assert table_boxes(alive.stdout) == ["till-9"] and " online " in alive.stdout.splitlines()[1]
    finally:
        box.kill()
        box.wait(10)
    watcher.wait(f"{prefix}/till-9/availability", lambda m: m.payload == b"offline")
    watcher.close()

    result = fleet_cli(broker, "--prefix", prefix)

    line = result.stdout.splitlines()[1]
    assert re.match(r"till-9 +down .* gone: last state \d+s ago, it said online$", line), line


def test_the_password_listener(broker: Broker, prefix: str, tmp_path: Path) -> None:
    publish_fleet(broker, prefix, {"a": (b"online", state(datetime.now(UTC)))})
    good = password_file(tmp_path)
    result = fleet_cli(
        broker, "--prefix", prefix, "--username", USER, "--password-file", good, listener="password"
    )
    assert result.returncode == 0, result.stderr
    assert table_boxes(result.stdout) == ["a"]

    wrong = password_file(tmp_path, "not-the-password", "wrong.password")
    refused = fleet_cli(broker, "--username", USER, "--password-file", wrong, listener="password")
    assert refused.returncode == 1 and refused.stdout == ""
    assert f"refused the credentials of user {USER!r}" in refused.stderr
    assert "check --username and --password-file" in refused.stderr

    anonymous = fleet_cli(broker, listener="password")
    assert anonymous.returncode == 1
    assert "refused an anonymous client" in anonymous.stderr and "--username" in anonymous.stderr


def test_usage_errors_exit_2_naming_what_is_wrong(broker: Broker, tmp_path: Path) -> None:
    missing = tmp_path / "no-such.password"
    result = fleet_cli(broker, "--username", USER, "--password-file", missing, listener="password")
    assert result.returncode == 2 and f"--password-file {missing}: no such file" in result.stderr
    for address, said in (
        ("127.0.0.1:port", "the port must be a number"),
        ("127.0.0.1:0", "from 1 to 65535"),
    ):
        bad = subprocess.run(
            [*CLI, "--broker", address], capture_output=True, text=True, timeout=60, cwd=ROOT
        )
        assert bad.returncode == 2 and f"--broker {address!r}" in bad.stderr and said in bad.stderr
    no_key = fleet_cli(broker, "--tls", "--cert-file", broker.ca_file)
    assert no_key.returncode == 2 and "--cert-file and --key-file go together" in no_key.stderr
    no_broker = subprocess.run([*CLI], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert no_broker.returncode == 2 and "--broker" in no_broker.stderr
    assert "Traceback" not in result.stderr + no_key.stderr + no_broker.stderr


def test_a_broker_that_cannot_be_reached_exits_1_saying_so(broker: Broker) -> None:
    broker_port = broker.port()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [*CLI, "--broker", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 1
    assert f"cannot reach the MQTT broker at 127.0.0.1:{port}" in result.stderr and "refused" in result.stderr
    assert "Traceback" not in result.stderr and broker_port != port


def test_tls_with_the_broker_s_ca(broker: Broker, prefix: str, tmp_path: Path) -> None:
    publish_fleet(broker, prefix, {"a": (b"online", state(datetime.now(UTC)))})
    login = ("--username", USER, "--password-file", password_file(tmp_path))
    result = fleet_cli(
        broker, "--prefix", prefix, "--tls", "--ca-file", broker.ca_file, *login, listener="tls"
    )
    assert result.returncode == 0, result.stderr
    assert table_boxes(result.stdout) == ["a"]

    untrusted = fleet_cli(broker, "--prefix", prefix, "--tls", *login, listener="tls")
    assert untrusted.returncode == 1
    assert "does not trust" in untrusted.stderr and "--ca-file" in untrusted.stderr

    plain = fleet_cli(broker, "--prefix", prefix, *login, listener="tls")
    assert plain.returncode == 1 and "--tls" in plain.stderr


def test_tls_with_a_client_certificate(broker: Broker, prefix: str) -> None:
    publish_fleet(broker, prefix, {"a": (b"online", state(datetime.now(UTC)))})
    cert, key = broker.client_cert("fleet")
    tls = ("--prefix", prefix, "--tls", "--ca-file", broker.ca_file)
    result = fleet_cli(broker, *tls, "--cert-file", cert, "--key-file", key, listener="mtls")
    assert result.returncode == 0, result.stderr
    assert table_boxes(result.stdout) == ["a"]

    without = fleet_cli(broker, *tls, listener="mtls")
    assert without.returncode == 1 and "--cert-file and --key-file" in without.stderr


def start_watch(broker: Broker, prefix: str, out: Path, *args: str) -> subprocess.Popen[bytes]:
    with out.open("wb") as stdout:
        return subprocess.Popen(
            [*CLI, "--broker", f"127.0.0.1:{broker.port()}", "--prefix", prefix, "--watch", *args],
            stdout=stdout,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )


def stop_watch(process: subprocess.Popen[bytes], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    try:
        code = process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.stderr is not None
    return code, process.stderr.read().decode()


def test_watch_reprints_the_table_on_every_change_until_sigterm(
    broker: Broker, prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    publish_fleet(broker, prefix, {"a": (b"online", state(now)), "b": (b"online", state(now))})
    out = tmp_path / "out.txt"
    process = start_watch(broker, prefix, out)
    try:
        wait_for(lambda: "2 boxes: 2 online" in out.read_text(), what="the first table")
        # b goes offline near its limit, then a dies: each change is a new table
        publish_fleet(
            broker, prefix, {"b": (None, offline(now, session_minutes=2000, warnings=["session_limit"]))}
        )
        wait_for(lambda: "2 boxes: 1 offline, 1 online" in out.read_text(), what="b offline")
        publish_fleet(broker, prefix, {"a": (b"offline", None)})
        wait_for(lambda: "2 boxes: 1 down, 1 offline" in out.read_text(), what="a down")
    finally:
        code, stderr = stop_watch(process, signal.SIGTERM)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    tables = out.read_text().strip().split("\n\n")
    assert len(tables) == 3
    assert table_boxes(tables[-1]) == ["a", "b"]  # the down box first
    assert "2000/2160 min session" in tables[-1] and "warnings: session_limit" in tables[-1]


def test_watch_json_prints_one_document_per_line_until_ctrl_c(
    broker: Broker, prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    publish_fleet(broker, prefix, {"a": (b"online", state(now))})
    out = tmp_path / "out.jsonl"
    process = start_watch(broker, prefix, out, "--json")

    def documents() -> list[Any]:
        return [json.loads(line) for line in out.read_text().splitlines() if line.endswith("]")]

    try:
        wait_for(lambda: len(documents()) == 1, what="the first document")
        publish_fleet(broker, prefix, {"a": (None, state(now, mode=Mode.UPLOADING, pending_documents=3))})
        wait_for(lambda: len(documents()) == 2, what="the second document")
    finally:
        code, stderr = stop_watch(process, signal.SIGINT)
    assert code == 0, stderr
    first, second = documents()
    assert [box["status"] for box in first] == ["online"]
    assert [(box["status"], box["pending_documents"]) for box in second] == [("uploading", 3)]


# --- the README's ACL ----------------------------------------------------------------------------------

ACL_MARK = "<!-- tests/test_fleet.py starts a mosquitto with exactly the block below and checks it -->"
BOX_USERS = {"shop-1-till-1": "box-1-password", "shop-2-till-1": "box-2-password"}
ACL_USERS = {**BOX_USERS, "fleet": "fleet-password", "ops": "ops-password", "homeassistant": "ha-password"}


def readme_acl() -> str:
    """The acl_file of README.md's "A fleet on one broker", as it is written there."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ACL_MARK in text, "README.md lost the ACL block this test checks"
    block = text.split(ACL_MARK, 1)[1].split("```\n")[1]
    assert "pattern write fiscal-box/%u/state" in block
    return block


@pytest.fixture(scope="module")
def acl_broker() -> Iterator[Broker]:
    with Broker.start(users=ACL_USERS, acl=readme_acl()) as started:
        yield started


def signed_in(broker: Broker, user: str, *topics: str) -> Watcher:
    """A client of ``user`` on the password listener, where the ACL applies."""
    return Watcher(broker, *topics, listener="password", credentials=(user, ACL_USERS[user]))


def test_the_readme_acl_lets_a_box_write_only_under_its_own_id(acl_broker: Broker) -> None:
    everything = Watcher(acl_broker, "fiscal-box/#", "homeassistant/#")  # the anonymous listener: no ACL
    box = signed_in(acl_broker, "shop-1-till-1")
    forged = [
        "fiscal-box/shop-2-till-1/state",
        "fiscal-box/shop-2-till-1/availability",
        "fiscal-box/shop-2-till-1/command/result",
        "fiscal-box/shop-1-till-1/command/go_online",  # only ops sends commands, not a box to itself
        "homeassistant/sensor/shop-2-till-1/mode/config",
        "homeassistant/status",
    ]
    own = [
        "fiscal-box/shop-1-till-1/availability",
        "fiscal-box/shop-1-till-1/state",
        "fiscal-box/shop-1-till-1/events",
        "fiscal-box/shop-1-till-1/command/result",
        "homeassistant/sensor/shop-1-till-1/mode/config",
    ]
    try:
        for topic in forged:  # first: whatever the broker lets through comes before the box's own
            box.publish(topic, b"forged", retain=True)
        for topic in own:
            box.publish(topic, b"mine", retain=not topic.endswith(("events", "result")))
        everything.wait(own[-1])
        everything.sync()
        heard = [m for m in everything.messages() if not m.topic.startswith("watcher-sync/")]
        assert [(m.topic, m.payload) for m in heard] == [(topic, b"mine") for topic in own]
        assert retained(acl_broker, "fiscal-box/shop-2-till-1/#") == {}
    finally:
        box.close()
        everything.close()


def test_the_readme_acl_lets_a_box_read_its_own_commands_and_home_assistant_s_status(
    acl_broker: Broker,
) -> None:
    box = signed_in(
        acl_broker,
        "shop-1-till-1",
        "fiscal-box/+/command/#",
        "fiscal-box/shop-2-till-1/state",
        "homeassistant/status",
    )
    ops = signed_in(acl_broker, "ops")
    homeassistant = signed_in(acl_broker, "homeassistant")
    try:
        ops.publish("fiscal-box/shop-2-till-1/command/slip", b"{}")  # another box's: never heard
        ops.publish("fiscal-box/shop-2-till-1/state", b"forged by ops")  # ops may only send commands
        ops.publish("fiscal-box/shop-1-till-1/command/go_online", b"{}")
        homeassistant.publish("homeassistant/status", b"online")
        box.wait("homeassistant/status")
        assert [m.topic for m in box.messages() if not m.topic.startswith("watcher-sync/")] == [
            "fiscal-box/shop-1-till-1/command/go_online",
            "homeassistant/status",
        ]
    finally:
        for client in (box, ops, homeassistant):
            client.close()


def test_the_readme_acl_lets_the_fleet_user_read_every_box_and_write_none(
    acl_broker: Broker, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    for box_id in BOX_USERS:
        box = signed_in(acl_broker, box_id)
        box.publish(f"fiscal-box/{box_id}/availability", b"online", retain=True)
        box.publish(f"fiscal-box/{box_id}/state", offline(now, session_minutes=30), retain=True)
        box.close()
    fleet = signed_in(acl_broker, "fleet")
    fleet.publish("fiscal-box/shop-1-till-1/availability", b"offline", retain=True)  # dropped
    fleet.close()
    secret = password_file(tmp_path, ACL_USERS["fleet"])

    result = fleet_cli(acl_broker, "--username", "fleet", "--password-file", secret, listener="password")

    assert result.returncode == 0, result.stderr
    assert table_boxes(result.stdout) == list(BOX_USERS)
    assert all(" offline " in line for line in result.stdout.splitlines()[1:-1])


# --- the client's own robustness -----------------------------------------------------------------------


def test_a_callback_that_raises_does_not_end_the_client(
    broker: Broker, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """paho's network thread ends at a callback's exception: the fleet view would hear nothing more."""

    class Touchy(Fleet):
        def receive(self, topic: str, payload: bytes) -> bool:
            if payload == b"boom":
                raise RuntimeError("boom")
            return super().receive(topic, payload)

    client = FleetClient(broker_options(f"127.0.0.1:{broker.port()}", prefix=prefix), Touchy(prefix))
    client.open()
    publisher = Watcher(broker)
    try:
        publisher.publish(f"{prefix}/a/state", b"boom")
        publisher.publish(f"{prefix}/b/state", state())
        wait_for(lambda: [row.box_id for row in client.fleet.rows()] == ["b"], what="b after a's boom")
    finally:
        publisher.close()
        client.close()
    assert "failed (the client goes on)" in caplog.text and "RuntimeError: boom" in caplog.text


def test_watch_survives_a_broker_restart(broker: Broker, prefix: str, tmp_path: Path) -> None:
    """paho reconnects by itself; the subscription is made again and the changes come again."""
    publish_fleet(broker, prefix, {"a": (b"online", state(datetime.now(UTC)))})
    out = tmp_path / "out.txt"
    process = start_watch(broker, prefix, out)
    try:
        wait_for(lambda: "1 box: 1 online" in out.read_text(), what="the first table")
        broker.restart()  # forgets every retained message (persistence false): the view keeps a
        publish_fleet(broker, prefix, {"b": (b"online", offline(datetime.now(UTC)))})
        wait_for(
            lambda: "2 boxes: 1 offline, 1 online" in out.read_text(), timeout=60, what="b after the restart"
        )
    finally:
        code, stderr = stop_watch(process, signal.SIGTERM)
    assert code == 0
    assert f"lost the connection to the broker at 127.0.0.1:{broker.port()}; reconnecting" in stderr
    assert "subscribed again" in stderr and "Traceback" not in stderr
