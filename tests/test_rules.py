"""The register's pure rules, without I/O: what is left to refund of a sale, and when offline is refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from agent.secr import documents as docs
from agent.secr import offline, refunds
from agent.secr.errors import InvalidInput
from tests.conftest import TAXES, cash, item

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
SELLER = docs.Seller(
    tin="34554362", org_name='ТОВ "ТЕСТ"', point_name="Магазин", cash_desk_num=1, cash_register_num=4000000001
)


def head(n: int = 1) -> docs.DocHead:
    return docs.DocHead(uid=f"u-{n}", seller=SELLER, when=NOW, order_num=n)


def sale(*items: docs.Item) -> docs.Check:
    total = sum((i.price * i.quantity for i in items), Decimal(0))
    return docs.sale(head(), items, [cash(f"{total:.2f}")], TAXES)


def returned(sale_num: str, *items: docs.Item) -> docs.Check:
    total = sum((i.price * i.quantity for i in items), Decimal(0))
    return docs.refund(head(2), items, [cash(f"{total:.2f}")], TAXES, sale_num)


# --- refunds -----------------------------------------------------------------------------------------


def test_left_of_a_sale_counts_earlier_returns() -> None:
    sold = sale(item("Хліб", "2", "28.50"), item("Молоко", "1", "41.90"), item("Хліб", "1", "28.50"))
    left = refunds.left_of(sold, [returned("100", item("Хліб", "1", "28.50"))])
    assert left.quantities == {
        ("Хліб", Decimal("28.50")): Decimal("2"),
        ("Молоко", Decimal("41.90")): Decimal("1"),
    }
    assert left.total == Decimal("127.40") - Decimal("28.50")


def test_a_return_within_what_is_left_passes() -> None:
    left = refunds.left_of(sale(item("Хліб", "2", "28.50")), [])
    refunds.check_refund([item("Хліб", "2", "28.50")], [cash("57.00")], left, "100")


@pytest.mark.parametrize(
    ("goods", "paid", "field", "text"),
    [
        ([item("Сир", "1", "28.50")], "28.50", "goods[0]", "was not sold"),
        ([item("Хліб", "1", "30.00")], "30.00", "goods[0]", "was not sold"),  # sold at another price
        ([item("Хліб", "1", "28.50"), item("Хліб", "2", "28.50")], "28.50", "goods[1].quantity", "more than"),
        ([item("Хліб", "1", "28.50")], "60.00", "payments", "more than the 57.00 left"),
    ],
)
def test_a_return_beyond_the_sale_is_refused(
    goods: list[docs.Item], paid: str, field: str, text: str
) -> None:
    left = refunds.left_of(sale(item("Хліб", "2", "28.50")), [])
    with pytest.raises(InvalidInput, match=re.escape(text)) as info:
        refunds.check_refund(goods, [cash(paid)], left, "100")
    assert info.value.field == field


def test_earlier_returns_use_up_the_sale() -> None:
    sold = sale(item("Хліб", "2", "28.50"))
    left = refunds.left_of(sold, [returned("100", item("Хліб", "2", "28.50"))])
    with pytest.raises(InvalidInput, match="earlier returns counted"):
        refunds.check_refund([item("Хліб", "1", "28.50")], [cash("0.00")], left, "100")
    with pytest.raises(InvalidInput, match=re.escape("0.00 left")):
        refunds.check_refund([], [cash("1.00")], left, "100")


def test_only_a_sale_that_stands_can_be_returned() -> None:
    refunds.check_sale("100", found=True, stornoed=False)
    with pytest.raises(InvalidInput, match="no sale with fiscal number 100") as info:
        refunds.check_sale("100", found=False, stornoed=False)
    assert info.value.field == "related_receipt_id"
    with pytest.raises(InvalidInput, match="cancelled"):
        refunds.check_sale("100", found=True, stornoed=True)


# --- when offline is refused -------------------------------------------------------------------------

LIMITS = offline.Limits()


def decide(**changes: object) -> offline.Decision:
    given: dict[str, object] = {
        "prohibited": False,
        "has_range": True,
        "identity_known": True,
        "ledger": offline.Ledger(month="2026-11"),
        "now": NOW,
        "limits": LIMITS,
        "reserve": None,
        "next_number": 1,
        "numbers_needed": 2,
    }
    given.update(changes)
    return offline.decide(**given)  # type: ignore[arg-type]


def in_session(hours: float) -> offline.Ledger:
    return offline.Ledger(month="2026-11", session_began_at=NOW - timedelta(hours=hours))


def test_offline_allowed_with_a_range_and_the_registration_data() -> None:
    decision = decide()
    assert decision.refusal is None and decision.verdict is not None
    assert decision.verdict.numbers_left is None  # no reserve: unlimited


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"prohibited": True}, offline.PROHIBITED),
        ({"has_range": False}, offline.NEVER_ONLINE),
        ({"identity_known": False}, offline.NEVER_ONLINE),
        ({"ledger": in_session(36)}, "session_limit"),
        ({"ledger": offline.Ledger(month="2026-11", month_closed=timedelta(hours=168))}, "month_limit"),
        ({"reserve": 2, "next_number": 1}, "range_exhausted"),  # the 102 and the 103 would take both
    ],
)
def test_each_refusal(changes: dict[str, object], refusal: str) -> None:
    assert decide(**changes).refusal == refusal


def test_the_right_to_work_offline_comes_first_then_the_range_then_the_limits() -> None:
    assert decide(prohibited=True, has_range=False, ledger=in_session(40)).refusal == offline.PROHIBITED
    assert decide(has_range=False, ledger=in_session(40)).refusal == offline.NEVER_ONLINE
    refused = decide(ledger=in_session(40), reserve=1)
    assert refused.refusal == "session_limit"
    assert refused.verdict is not None and refused.verdict.session_used == timedelta(hours=40)


def test_numbers_needed_counts_the_102() -> None:
    # 3 numbers in the range: 102 + sale + 103 fits a new session, and one more sale inside it does not.
    assert decide(reserve=3, next_number=1, numbers_needed=2).refusal is None
    assert decide(reserve=3, next_number=2, numbers_needed=1).refusal is None
    assert decide(reserve=3, next_number=3, numbers_needed=1).refusal == "range_exhausted"


def test_a_session_just_under_the_limit_may_go_on() -> None:
    assert decide(ledger=in_session(35.9), numbers_needed=1).refusal is None
