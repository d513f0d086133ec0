"""Replies a real network meets, from a real HTTP server between the box and the emulator
(tests/faults/proxy.py), each in the middle of a real till's day and then the same invariants as the
crash sweep (tests/faults/invariants.py): JSON of the wrong shape, an HTML page with status 200 (before
and after the server took the document), an error after the server accepted part of a package, a session
id on the reply to a package without the 103.

A case that breaks the promise on today's code because of a defect that issue 9 names and another helper
fixes is marked ``xfail(strict=True)`` with that scenario, so it flips to a failure when the fix lands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.faults.conftest import ShopFactory
from tests.faults.invariants import assert_promise_kept
from tests.faults.proxy import Fault
from tests.faults.scripts import (
    OUTAGE_GO_ONLINE,
    insert,
    long_outage_day,
    long_outage_go_online,
    online_day,
    outage_day,
)
from tests.faults.shop import Shop, Step

ALL = ("/fs/cmd", "/fs/doc", "/fs/pck")
SALE = 1  # the first sale of online_day


@dataclass(frozen=True)
class Odd:
    name: str
    script: Callable[[Shop], list[Step]]
    waits_for: str | None = None


def _at(
    day: Callable[[], list[Step]], index: int, fault: Callable[[Shop], Fault]
) -> Callable[[Shop], list[Step]]:
    """``day`` with the fault set before its step ``index`` and cleared after it."""

    def script(shop: Shop) -> list[Step]:
        return insert(
            insert(day(), index + 1, Step("proxy", fault=Fault())), index, Step("proxy", fault=fault(shop))
        )

    return script


CASES = [
    Odd("wrong-json-on-every-command", _at(online_day, SALE, lambda _: Fault("wrong-json", ALL, count=4))),
    Odd(
        "html-200-instead-of-the-server",
        _at(online_day, SALE, lambda _: Fault("html-200", ALL, count=3)),
    ),
    Odd(
        "html-200-after-the-server-took-the-sale",
        _at(online_day, SALE, lambda _: Fault("html-200-after", ("/fs/doc",), count=1)),
    ),
    Odd(
        "error-after-part-of-the-package",
        _at(
            outage_day,
            OUTAGE_GO_ONLINE,
            lambda shop: Fault(
                "partial-package", ("/fs/pck",), count=1, keep=2, key=shop.state_dir / "dev-key.pem"
            ),
        ),
    ),
    Odd(
        "error-after-part-of-the-first-of-two-packages",
        _at(
            long_outage_day,
            long_outage_go_online(),
            lambda shop: Fault(
                "partial-package", ("/fs/pck",), count=1, keep=40, key=shop.state_dir / "dev-key.pem"
            ),
        ),
    ),
    Odd(
        "session-id-on-a-package-without-the-103",
        _at(
            long_outage_day, long_outage_go_online(), lambda _: Fault("session-on-ok", ("/fs/pck",), count=1)
        ),
    ),
]


def _param(case: Odd) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.waits_for)] if case.waits_for else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_an_odd_reply_loses_nothing(shops: ShopFactory, case: Odd) -> None:
    shop = shops()
    shop.run(case.script(shop))
    assert shop.proxy.seen.faulted, "the fault was never met"
    assert_promise_kept(shop, shop.settle(), waiting=case.waits_for is not None)
