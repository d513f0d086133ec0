"""The failover policy (agent/uplinks/policy.py): observation sequences in, decisions out, explicit times."""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest

from agent.config import UplinksConfig
from agent.events import EventKind
from agent.status.snapshot import UPLINKS
from agent.uplinks import policy
from agent.uplinks.policy import (
    CAUSES,
    CAUSES_UK,
    Accrual,
    Cause,
    Decision,
    Failover,
    LinkObservation,
    MonthLedger,
    UplinkPolicy,
    initial_state,
    month_key,
    step,
)

CFG = UplinksConfig()  # hold_down_s 30, failed_probes 2

# What one look at a link saw: the kernel's carrier and address, and the probe through the link.
LOOKS: dict[str, tuple[bool, bool, bool | None]] = {
    "ok": (True, True, True),
    "fail": (True, True, False),
    "up": (True, True, None),  # carrier and address, not probed yet
    "nocarrier": (False, False, None),
    "noaddr": (True, False, None),
}


def look(kind: str, at: float) -> LinkObservation:
    carrier, address, probe_ok = LOOKS[kind]
    return LinkObservation(carrier, address, probe_ok, at)


# (time, primary's look or None, backup's look or None)
Step = tuple[float, str | None, str | None]


def feed(
    steps: list[Step], config: UplinksConfig = CFG, policy: UplinkPolicy | None = None
) -> list[Decision]:
    policy = policy or UplinkPolicy(config)
    return [
        policy.observe(
            t,
            primary=look(p, t) if p else None,
            backup=look(b, t) if b else None,
        )
        for t, p, b in steps
    ]


def switches(decisions: list[Decision]) -> list[Failover]:
    return [d.failover for d in decisions if d.failover is not None]


# --- every cause --------------------------------------------------------------------------------

CASES: list[tuple[str, list[Step], str, bool, Cause | None, str]] = [
    # name, observations, then the last decision's active, offline, cause and route
    ("all well", [(0, "ok", "ok")], "ethernet", False, None, "primary"),
    (
        "no carrier on eth0",
        [(0, "ok", "ok"), (1, "nocarrier", None)],
        "lte",
        False,
        "ethernet_down",
        "backup",
    ),
    (
        "eth0 lost its address",
        [(0, "ok", "ok"), (1, "noaddr", None)],
        "lte",
        False,
        "ethernet_down",
        "backup",
    ),
    (
        "eth0 up, server silent through it",
        [(0, "ok", "ok"), (1, "fail", None), (1.5, "fail", None)],
        "lte",
        False,
        "ethernet_no_route",
        "backup",
    ),
    ("one lost probe is a hiccup", [(0, "ok", "ok"), (1, "fail", None)], "ethernet", False, None, "primary"),
    ("no modem link", [(0, "ok", "ok"), (1, None, "nocarrier")], "ethernet", False, "lte_down", "primary"),
    (
        "modem up, no mobile data",
        [(0, "ok", "ok"), (1, None, "fail"), (1.5, None, "fail")],
        "ethernet",
        False,
        "lte_no_route",
        "primary",
    ),
    (
        "both up, neither answers: the tax service",
        [(0, "ok", "ok"), (1, "fail", "fail"), (1.5, "fail", "fail")],
        "none",
        True,
        "server_down",
        "primary",
    ),
    ("both down", [(0, "nocarrier", "nocarrier")], "none", True, "ethernet_down", "primary"),
    (
        "eth0 down, LTE up without data: no switch",
        [(0, "ok", "ok"), (1, None, "fail"), (1.5, "nocarrier", "fail")],
        "none",
        True,
        "ethernet_down",
        "primary",
    ),
    (
        "eth0 down, LTE not probed yet: no switch to an unproven link",
        [(0, "nocarrier", "up")],
        "none",
        True,
        "ethernet_down",
        "primary",
    ),
    ("nothing observed yet: no evidence, not offline", [], "ethernet", False, None, "primary"),
    (
        "eth0 up, not probed yet: not offline on no evidence",
        [(0, "up", None)],
        "ethernet",
        False,
        None,
        "primary",
    ),
]


@pytest.mark.parametrize(
    ("steps", "active", "offline", "cause", "route"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_observations_to_a_decision(
    steps: list[Step], active: str, offline: bool, cause: Cause | None, route: str
) -> None:
    decisions = feed([(-1.0, None, None), *steps])
    last = decisions[-1]
    assert (last.active, last.offline, last.cause, last.route) == (active, offline, cause, route)
    assert last.network_cause == cause
    assert last.active in UPLINKS
    assert (CAUSES[cause] if cause else "All is well") in last.message


def test_failing_over_is_one_record_with_the_cause() -> None:
    decisions = feed([(0, "ok", "ok"), (5, "nocarrier", None), (5.5, "nocarrier", "ok")])
    assert switches(decisions) == [Failover("ethernet", "lte", "ethernet_down", 5)]
    assert decisions[1].message == "Ethernet is down (no cable link or no address); online over LTE."


def test_failover_becomes_the_event_streams_failover_event() -> None:
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    event = Failover("ethernet", "lte", "ethernet_no_route", 12.0).event(at)
    assert event.kind is EventKind.FAILOVER and event.at == at
    assert event.to_json() == {
        "kind": "failover",
        "at": at.isoformat(),
        "from": "ethernet",
        "to": "lte",
        "cause": "ethernet_no_route",
    }


def test_every_cause_has_a_sentence_in_english_and_ukrainian() -> None:
    assert set(CAUSES) == set(CAUSES_UK) == set(get_args(Cause))
    assert all(text.strip() for text in [*CAUSES.values(), *CAUSES_UK.values()])


# --- how fast, and only once ----------------------------------------------------------------------


def test_a_silent_primary_is_left_at_the_second_failed_probe() -> None:
    # Normal probes are 30 s apart; the first failure asks for the next probe at the degraded cadence,
    # and the second, half a second (plus a probe's timeout) later, switches: within 1-3 s of the loss.
    decisions = feed([(0, "ok", "ok"), (30.0, "fail", None), (31.5, "fail", None)])
    assert decisions[1].probe_soon == ("primary",) and decisions[1].failover is None
    assert switches(decisions) == [Failover("ethernet", "lte", "ethernet_no_route", 31.5)]


def test_failed_probes_is_configurable() -> None:
    three = dataclasses.replace(CFG, failed_probes=3)
    steps: list[Step] = [(0, "ok", "ok"), (1, "fail", None), (1.5, "fail", None)]
    assert switches(feed(steps, three)) == []
    assert switches(feed([*steps, (2.0, "fail", None)], three))[0].at == 2.0


def test_a_cable_toggling_every_2_s_for_a_minute_moves_the_route_once() -> None:
    steps: list[Step] = []
    t = 0.0
    while t < 60:
        # LTE answers throughout; eth0's carrier goes every 2 s and comes back 2 s later, answering
        # every probe while it is there.
        cable_in = int(t // 2) % 2 == 1
        steps.append((t, "ok" if cable_in else "nocarrier", "ok"))
        t += 0.5
    decisions = feed(steps)
    assert switches(decisions) == [Failover("ethernet", "lte", "ethernet_down", 0)]
    assert all(d.active == "lte" and not d.offline for d in decisions)

    # The cable's last plug-in, at 58 s, holds (answering from then on): 30 s of answers later the box
    # is back on it.
    policy = UplinkPolicy(CFG)
    feed(steps, policy=policy)
    after = feed([(60 + i * 0.5, "ok", "ok") for i in range(70)], policy=policy)
    assert switches(after) == [Failover("lte", "ethernet", None, 88.0)]
    assert after[0].fail_back_at == 88.0
    assert after[0].message == (
        "Ethernet answers again, back to it in 28 s if it holds"
        " (left for: Ethernet is down (no cable link or no address)); online over LTE."
    )


def test_one_failed_probe_in_the_hold_down_starts_it_again() -> None:
    steps: list[Step] = [(0, "nocarrier", "ok"), (10, "ok", None), (25, "fail", None), (26, "ok", None)]
    decisions = feed([*steps, (55.5, "ok", None), (56, "ok", None)])
    assert [f.at for f in switches(decisions)] == [0, 56]


def test_hold_down_zero_fails_back_at_the_first_answer() -> None:
    decisions = feed([(0, "nocarrier", "ok"), (3, "ok", None)], dataclasses.replace(CFG, hold_down_s=0))
    assert [(f.to, f.at) for f in switches(decisions)] == [("lte", 0), ("ethernet", 3)]


def test_a_failing_backup_ends_the_hold_down_early() -> None:
    decisions = feed([(0, "nocarrier", "ok"), (10, "ok", None), (12, None, "nocarrier")])
    assert switches(decisions)[-1] == Failover("lte", "ethernet", "lte_down", 12)
    assert (decisions[-1].active, decisions[-1].offline, decisions[-1].cause) == (
        "ethernet",
        False,
        "lte_down",
    )


def test_both_failing_rests_the_route_on_the_primary_then_back_to_lte_when_it_answers() -> None:
    decisions = feed([(0, "nocarrier", "ok"), (5, None, "fail"), (5.5, None, "fail"), (8, None, "ok")])
    assert switches(decisions) == [
        Failover("ethernet", "lte", "ethernet_down", 0),
        Failover("lte", "ethernet", "lte_no_route", 5.5),
        Failover("ethernet", "lte", "ethernet_down", 8),
    ]
    assert (decisions[2].active, decisions[2].route, decisions[2].offline) == ("none", "primary", True)
    assert decisions[2].message.endswith("offline: no uplink reaches the fiscal server.")


def test_both_down_then_restored_in_stages() -> None:
    decisions = feed(
        [
            (0, "ok", "ok"),
            (100, "nocarrier", "nocarrier"),  # the shop's power strip: the switch and the modem
            (110, None, "up"),  # the modem attaches: not proven yet
            (110.5, None, "ok"),
            (120, "up", None),  # the switch is back
            *[(120.5 + i * 0.5, "ok", "ok") for i in range(61)],  # eth0 answers from 120.5 on
        ]
    )
    by_time = {d.at: d for d in decisions}
    assert (by_time[100].active, by_time[100].offline, by_time[100].cause) == ("none", True, "ethernet_down")
    assert by_time[110].offline and by_time[110].probe_soon == ("backup",)
    assert (by_time[110.5].active, by_time[110.5].offline, by_time[110.5].cause) == (
        "lte",
        False,
        "ethernet_down",
    )
    assert by_time[120].active == "lte" and by_time[120].probe_soon == ("primary",)
    assert by_time[150].active == "lte" and by_time[150].fail_back_at == 150.5
    assert (by_time[150.5].active, by_time[150.5].cause) == ("ethernet", None)
    assert [(f.to, f.cause, f.at) for f in switches(decisions)] == [
        ("lte", "ethernet_down", 110.5),
        ("ethernet", None, 150.5),
    ]
    total = Accrual(
        seconds=sum(d.accrued.seconds for d in decisions),
        ethernet_down_s=sum(d.accrued.ethernet_down_s for d in decisions),
        lte_down_s=sum(d.accrued.lte_down_s for d in decisions),
        saved_s=sum(d.accrued.saved_s for d in decisions),
    )
    # eth0 down 100..120; the modem 100..110; online over LTE while eth0 was down 110.5..120.
    assert total == Accrual(seconds=150.5, ethernet_down_s=20, lte_down_s=10, saved_s=9.5)


# --- signing ------------------------------------------------------------------------------------


def test_signing_failing_is_not_blamed_on_the_network() -> None:
    policy = UplinkPolicy(CFG)
    feed([(0, "ok", "ok")], policy=policy)
    failing = policy.observe(1, signing_ok=False)
    assert (failing.active, failing.offline, failing.cause, failing.network_cause) == (
        "ethernet",
        False,
        "signing_failed",
        None,
    )
    assert (
        failing.message
        == "Signing fails (the key or the certificate), not the network; online over Ethernet."
    )
    # The links' own trouble is still said, next to it; the route follows the links alone.
    both = policy.observe(2, primary=look("nocarrier", 2))
    assert (both.active, both.cause, both.network_cause) == ("lte", "signing_failed", "ethernet_down")
    assert both.failover == Failover("ethernet", "lte", "ethernet_down", 2)
    assert policy.observe(3, signing_ok=True).cause == "ethernet_down"


# --- purity -------------------------------------------------------------------------------------


def test_step_is_pure() -> None:
    state = initial_state(CFG)
    after, first = step(state, CFG, 5, primary=look("nocarrier", 5), backup=look("ok", 5))
    again, second = step(state, CFG, 5, primary=look("nocarrier", 5), backup=look("ok", 5))
    assert state == initial_state(CFG) and (after, first) == (again, second)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.active = "none"  # type: ignore[misc]


def test_the_links_are_named_from_the_config() -> None:
    state = initial_state(dataclasses.replace(CFG, primary="enp1s0", backup="wwan1"))
    assert (state.primary.name, state.primary.uplink, state.backup.name, state.backup.uplink) == (
        "enp1s0",
        "ethernet",
        "wwan1",
        "lte",
    )


# --- the month's accounting ---------------------------------------------------------------------


def test_month_key_is_kyivs_month() -> None:
    # 2026-11-30 22:30 UTC is already 00:30 on 1 December in Kyiv (UTC+2 in winter).
    assert month_key(datetime(2026, 11, 30, 22, 30, tzinfo=UTC)) == "2026-12"
    assert month_key(datetime(2026, 11, 30, 21, 59, tzinfo=UTC)) == "2026-11"


def test_ledger_splits_an_outage_at_the_kyiv_month_boundary() -> None:
    ledger = MonthLedger().add("ethernet", 3600, until=datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    assert ledger.month("2026-11") == {"ethernet": 1800, "lte": 0, "server": 0, "saved": 0}
    assert ledger.seconds("ethernet", "2026-12") == 1800
    # Ending exactly at midnight on the 1st: all of it is the month before.
    at_midnight = MonthLedger().add("lte", 600, until=datetime(2026, 11, 30, 22, 0, tzinfo=UTC))
    assert (at_midnight.seconds("lte", "2026-11"), at_midnight.seconds("lte", "2026-12")) == (600, 0)


def test_ledger_adds_up_and_spans_months() -> None:
    october_end = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)  # 1 November 00:00 in Kyiv (after DST)
    ledger = MonthLedger().add("saved", 40 * 86400, until=datetime(2026, 12, 1, 22, 0, tzinfo=UTC))
    assert ledger.seconds("saved", "2026-11") == 30 * 86400
    assert ledger.seconds("saved", "2026-12") == 86400
    assert ledger.seconds("saved", "2026-10") == 9 * 86400
    assert ledger.add("saved", 0, october_end) is ledger
    twice = ledger.add("saved", 60, october_end).add("saved", 60, october_end)
    assert twice.seconds("saved", "2026-10") == 9 * 86400 + 120


def test_ledger_fed_from_the_policys_accruals() -> None:
    policy = UplinkPolicy(CFG)
    ledger = MonthLedger()
    start = datetime(2026, 11, 30, 21, 50, tzinfo=UTC)  # 23:50 in Kyiv on 30 November
    for t, p, b in [(0.0, "ok", "ok"), (60.0, "nocarrier", None), (1260.0, "ok", None), (1290.0, "ok", None)]:
        decision = policy.observe(t, primary=look(p, t), backup=look(b, t) if b else None)
        # The caller reads the wall clock at each step; here it runs with the monotonic one.
        ledger = ledger.add_accrual(decision.accrued, until=start + timedelta(seconds=t))
    # eth0 down from 23:51 to 00:11: 9 minutes in November, 11 in December, all of it saved by LTE;
    # the 30 s of hold-down afterwards is not an outage.
    assert ledger.month("2026-11") == {"ethernet": 540, "lte": 0, "server": 0, "saved": 540}
    assert ledger.month("2026-12") == {"ethernet": 660, "lte": 0, "server": 0, "saved": 660}


def test_the_policy_module_imports_nothing_that_does_io() -> None:
    tree = ast.parse(Path(policy.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    # The clock module only for its Kyiv zone; no time, socket, subprocess or threading.
    assert imported <= {
        "__future__",
        "collections.abc",
        "dataclasses",
        "datetime",
        "types",
        "typing",
        "agent.clock",
        "agent.config",
        "agent.events",
    }


# --- the register's own failed requests ------------------------------------------------------------


def test_a_failed_request_of_the_register_counts_as_a_failed_probe() -> None:
    policy = UplinkPolicy(CFG)
    feed([(0, "ok", "ok")], policy=policy)
    failed_request = replace(look("fail", 1), failed_requests=1)  # a sale's request, then one silent probe
    decision = policy.observe(1, primary=failed_request, backup=look("ok", 1))
    assert decision.failover is not None and decision.failover.cause == "ethernet_no_route"
    assert decision.active == "lte"


def test_a_probe_that_answers_wipes_out_a_failed_request() -> None:
    policy = UplinkPolicy(CFG)
    feed([(0, "ok", "ok")], policy=policy)
    # The server refused or was slow for the register, and answers the probe: not the link's fault.
    decision = policy.observe(1, primary=replace(look("ok", 1), failed_requests=1), backup=look("ok", 1))
    assert decision.failover is None and decision.cause is None and decision.probe_soon == ()
    # A failed request alone, not probed yet: half the evidence, probed again soon.
    decision = policy.observe(2, primary=replace(look("up", 2), failed_requests=1))
    assert decision.failover is None and decision.probe_soon == ("primary",)


def test_no_switch_to_a_backup_whose_last_probe_failed_too() -> None:
    policy = UplinkPolicy(CFG)
    feed([(0, "ok", "ok")], policy=policy)
    # The primary has failed twice over (a request and a probe), the backup once: the server is going,
    # and moving the route would be no way round it.
    decision = policy.observe(1, primary=replace(look("fail", 1), failed_requests=1), backup=look("fail", 1))
    assert decision.failover is None and decision.route == "primary" and "backup" in decision.probe_soon
    decision = policy.observe(1.5, backup=look("fail", 1.5))
    assert decision.failover is None and decision.cause == "server_down" and decision.offline
