"""The crash-point sweep: a real box process SIGKILLed at each point of a document's path, restarted on the
same journal and paper, the till's day finished (the unanswered request asked again with the same id);
then the same invariants every time (tests/faults/invariants.py).

The short sweep (``make test``) kills once at every point; the full one (``make faults``) at every point
for every document kind that meets it. A case that breaks the promise on today's code because of a defect
issue 9 names is marked ``xfail(strict=True)`` with the scenario it waits for, so it flips when the fix
lands.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.faults.conftest import FULL, ShopFactory
from tests.faults.harness import Crash
from tests.faults.invariants import PRINT_WINDOW, assert_promise_kept
from tests.faults.scripts import (
    ONLINE_KINDS,
    OUTAGE_GO_ONLINE,
    insert,
    long_outage_day,
    long_outage_go_online,
    lost_reply_then_outage,
    online_day,
    outage_day,
)
from tests.faults.shop import Step

Script = Callable[[], list[Step]]


@dataclass(frozen=True)
class Case:
    name: str
    script: Script
    crashes: tuple[Crash, ...]
    short: bool = False
    waits_for: str | None = None  # "issue 9 scenario N: ...": the defect that breaks it today


def _with(script: Script, index: int, step: Step) -> Script:
    return lambda: insert(script(), index, step)


def _online_cases() -> list[Case]:
    """Every point of an online document's path, at every kind of document."""
    cases = []
    for point in ("after_sign", "after_journal", "sent", "after_send", "after_registered", "answered"):
        for kind, index in ONLINE_KINDS.items():
            hits = (1, 2) if kind == "close" and point != "answered" else (1,)
            for hit in hits:
                label = kind if kind != "close" else ("z" if hit == 1 else "close")
                if point == "sent" and hit == 2:
                    continue  # the proxy holds the step's first document: the Z
                cases.append(
                    Case(f"{point}-{label}", online_day, (Crash(point, index, hit),), short=kind == "sale")
                )
    return cases


def _settlement_cases() -> list[Case]:
    """Inside the lost-reply settlement: asked in the request itself (the reply was lost on the way), and at
    the start after a crash."""
    cases = []
    for kind, index in ONLINE_KINDS.items():
        short = kind == "sale"
        # the server registers the document and drops the reply: the box asks, finds it, is killed there
        drop = _with(online_day, index, Step("server", mode="drop-reply", count=1))
        cases.append(
            Case(f"settle_found-lost-reply-{kind}", drop, (Crash("settle_found", index + 1),), short)
        )
        # the server closes before reading on: the box asks, finds nothing, is killed about to resend
        # (the close: the Z is checked against LastShiftTotals first, which takes the first refusal)
        down = _with(online_day, index, Step("server", mode="down", count=2 if kind == "close" else 1))
        cases.append(Case(f"settle_resend-lost-request-{kind}", down, (Crash("settle_resend", index + 1),)))
        # killed with the outcome unknown, then again while the start-up settles it
        cases.append(
            Case(
                f"settle_found-at-start-{kind}",
                online_day,
                (Crash("after_send", index), Crash("settle_found", "start")),
            )
        )
        cases.append(
            Case(
                f"settle_resend-at-start-{kind}",
                online_day,
                (Crash("after_journal", index), Crash("settle_resend", "start")),
                short,
            )
        )
    return cases


def _offline_cases() -> list[Case]:
    go = OUTAGE_GO_ONLINE
    cases = [
        Case("after_offline_begin", outage_day, (Crash("after_offline_begin", 3),), short=True),
        Case("after_sign-the-102", outage_day, (Crash("after_sign", 3, 2),)),
        Case("after_sign-offline-sale", outage_day, (Crash("after_sign", 3, 3),)),
        Case("answered-offline-sale", outage_day, (Crash("answered", 4),)),
        Case("lost_online_delivered", outage_day, (Crash("lost_online_delivered", go),), short=True),
        Case("after_revoke", outage_day, (Crash("after_revoke", go),), short=True),
        Case("after_offline_end", outage_day, (Crash("after_offline_end", go),), short=True),
        Case("after_package-the-last", outage_day, (Crash("after_package", go),), short=True),
        Case("package_marked-the-last", outage_day, (Crash("package_marked", go),)),
    ]
    for index, kind in ((3, "remade-sale"), (4, "sale"), (5, "return"), (6, "cash_in")):
        cases.append(
            Case(f"after_offline_doc-{kind}", outage_day, (Crash("after_offline_doc", index),), index == 4)
        )
    long_go = long_outage_go_online()
    for hit in (1, 2):
        cases.append(
            Case(
                f"after_package-{hit}-of-2",
                long_outage_day,
                (Crash("after_package", long_go, hit),),
                hit == 1,
            )
        )
        cases.append(
            Case(
                f"package_marked-{hit}-of-2",
                long_outage_day,
                (Crash("package_marked", long_go, hit),),
                hit == 1,
            )
        )
    cases.append(
        Case("after_offline_end-two-packages", long_outage_day, (Crash("after_offline_end", long_go),))
    )
    # in the middle of a package: the server has it (and registers it) while the box is killed waiting
    cases.append(Case("sent-package", outage_day, (Crash("sent", go, held="/fs/pck"),), short=True))
    for hit, label in ((1, "first"), (2, "second")):
        held = Crash("sent", long_go, hit, held="/fs/pck")
        cases.append(Case(f"sent-the-{label}-of-two-packages", long_outage_day, (held,)))
    return cases


def _print_cases() -> list[Case]:
    cases = []
    for point in ("print_taken", PRINT_WINDOW, "print_marked"):
        for hit in range(1, 7):
            cases.append(Case(f"{point}-{hit}", online_day, (Crash(point, "any", hit),), short=hit == 1))
        cases.append(Case(f"{point}-offline", outage_day, (Crash(point, "any", 3),)))
    return cases


def _lost_reply_cases() -> list[Case]:
    """A lost reply followed by an outage, for every kind the box issues (issue 9, scenario 2)."""
    return [
        Case(
            f"lost-reply-then-outage-{kind}",
            functools.partial(lost_reply_then_outage, kind),
            (),
            kind == "sale",
        )
        for kind in ONLINE_KINDS
    ]


CASES = [*_online_cases(), *_settlement_cases(), *_offline_cases(), *_print_cases(), *_lost_reply_cases()]
SWEPT = [case for case in CASES if FULL or case.short]


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.waits_for)] if case.waits_for else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in SWEPT])
def test_killed_at_a_crash_point_loses_nothing(shops: ShopFactory, case: Case) -> None:
    shop = shops(case.crashes)
    shop.run(case.script())
    final = shop.settle()
    assert [d.point for d in shop.deaths] == [c.point for c in case.crashes], "a crash point was not reached"
    outcome = assert_promise_kept(shop, final, waiting=case.waits_for is not None)
    if any(c.point == PRINT_WINDOW for c in case.crashes):
        # the one window no printer closes: the receipt on paper, its printed_at not committed; the next
        # run prints it again marked as a copy (the invariants refuse a second original)
        assert outcome.copies_after_window == 1, "the receipt killed in the print window was not copied"


def test_an_online_day_without_a_fault_keeps_the_promise(shops: ShopFactory) -> None:
    """The control: the same day and the same checks with nothing injected."""
    shop = shops()
    shop.run(online_day())
    assert_promise_kept(shop, shop.settle())
