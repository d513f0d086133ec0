from datetime import UTC, datetime

from agent.receipts import to_text
from agent.receipts.slip import layout_slip

STATUS = {
    "mode": "blocked",
    "blocked_reason": "offline_session_limit",
    "shift": "open",
    "offline": {
        "session_minutes": 2160,
        "month_minutes": 3000,
        "max_session_minutes": 2160,
        "max_month_minutes": 10080,
        "numbers_left": None,
        "allowed": True,
    },
    "pending_documents": 42,
    "oldest_pending_age_s": 129600,
    "last_sync_at": None,
    "printer": "paper_out",
    "uplink": None,
    "modem": {"signal_dbm": None, "registered": None, "operator": None},
    "errors": [
        "the offline session has lasted 36 h 00 min, the limit is 36 h 00 min: no more offline documents"
    ],
    "version": "0.1.0",
}


def test_slip_says_what_a_technician_needs() -> None:
    text = to_text(
        layout_slip(
            STATUS,
            box_id="shop-12-till-1",
            fiscal_number="4000000001",
            printed_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
        )
    )
    for expected in (
        "СЛУЖБОВИЙ СТАН",
        "shop-12-till-1",
        "4000000001",
        "ПРОДАЖ ЗАБЛОКОВАНО",
        "offline_session_limit",
        "36 год 00 хв / 36 год 00 хв",
        "без обмежень",
        "paper_out",
        "42",
        "no more offline documents",
    ):
        assert expected in " ".join(text.split()), expected  # wrapped lines joined
    assert all(len(line) <= 32 for line in text.splitlines())
