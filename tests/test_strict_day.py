"""Issue 15's end-to-end day: the box's whole day registered by the strict emulator (qualified ДСТУ 4145
signatures with time stamps, the strict readings of docs/compliance.md) without a single refusal -- online,
then an outage with offline sales across a shift change and across midnight at a month's end, then the
upload, then online again.

Time is a FakeClock; the emulator's clock is moved with it (``POST /emulator/clock``) whenever the box
talks to it, as the real server's clock runs beside a shop's.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from agent.clock import KYIV, FakeClock
from tests.conftest import EmulatorHandle, card, cash, item
from tests.test_offline import Link
from tests.test_register import assert_emulator_numbering
from tests.test_strict import qualified_box, strict  # noqa: F401 - strict: the emulator fixture
from tests.test_strict_sessions import set_clock


def test_a_whole_day_across_a_shift_change_and_the_months_midnight(
    tmp_path: Path,
    strict: EmulatorHandle,  # noqa: F811 - the fixture imported above
) -> None:
    emulator = strict.emulator
    clock = FakeClock(datetime(2026, 11, 30, 9, 0, tzinfo=KYIV))
    set_clock(emulator, clock.now())
    box, stamps = qualified_box(tmp_path, strict, clock=clock, timeout_s=2)
    reg = box.register
    try:
        reg.start()
        # Morning, online: the first shift brings the offline range with it.
        reg.open_shift(cashier="Іваненко І. І.")
        bread = reg.sell([item("Хліб", "2", "28.50")], [cash("60.00")])
        reg.sell([item("Молоко", "1", "41.90")], [card("41.90")])
        reg.refund([item("Хліб", "1", "28.50")], [cash("28.50")], sale_fiscal_num=bread.fiscal_num)
        assert not bread.offline

        # The evening's outage: offline sales, the shift closed and a new one opened offline.
        clock.advance(hours=12)  # 21:00
        link = Link(box)
        link.cut()
        evening = [
            reg.sell([item("Сир", "0.347", "289.90")], [cash("110.00")]),
            reg.sell([item("Вода", "3", "15.25", tax=1)], [cash("45.75")]),
        ]
        deposit = reg.cash_in(Decimal("200.00"))
        assert all(r.offline for r in (*evening, deposit))
        clock.advance(hours=2, minutes=30)  # 23:30
        z, closed = reg.close_shift()
        assert z.offline and closed.offline
        clock.advance(minutes=15)  # 23:45: the next shift opens offline, before midnight
        reopened = reg.open_shift(cashier="Іваненко І. І.")
        late = reg.sell([item("Хліб", "1", "28.50")], [cash("28.50")])
        clock.advance(minutes=45)  # 00:30 on the 1st: the month turned offline
        coffee = reg.sell([item("Кава", "1", "95.00")], [cash("100.00")])
        night = [coffee, reg.refund([item("Кава", "1", "95.00")], [cash("95.00")], sale_fiscal_num=coffee.fiscal_num)]
        assert all(r.offline for r in (reopened, late, *night))

        # The link is back: the upload registers every offline document, none refused.
        clock.advance(minutes=30)  # 01:00
        set_clock(emulator, clock.now())
        link.restore()
        report = reg.go_online()
        assert report.went_online, report
        status = reg.status()
        assert status.pending_documents == 0 and status.errors == (), status
        assert status.blocked_reason is None

        # Online again for the rest of the night's shift, and its close.
        after = reg.sell([item("Вода", "1", "15.25")], [card("15.25")])
        assert not after.offline
        reg.close_shift()
        registered = assert_emulator_numbering(strict)
        offline_docs = [doc for doc in registered if doc["offline"]]
        # The 102; two sales and the cash-in (subtype 2); the Z (a ZRep has no type); the 101 and the 100;
        # the late sale, the coffee and its return (subtype 1); the 103 -- every one registered, in order.
        assert [(doc["doc_type"], doc["doc_subtype"]) for doc in offline_docs] == [
            (102, None), (0, 0), (0, 0), (0, 2), (None, None), (101, None), (100, None),
            (0, 0), (0, 0), (0, 1), (103, None),
        ]  # fmt: skip
        assert reg.status().pending_documents == 0
    finally:
        box.close()
        stamps.close()
