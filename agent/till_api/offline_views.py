"""The answers of the offline calls (cash-registers/go-offline, get-offline-codes-count,
get-offline-time), from the register's status: the box decides offline by itself."""

from __future__ import annotations

from typing import Any

from agent.secr.register import RegisterStatus

Json = dict[str, Any]


def go_offline_json(status: RegisterStatus) -> Json:
    # The law allows offline only while the server cannot be reached; the box decides that itself.
    message = (
        "the box is offline"
        if status.mode != "online"
        else "the box goes offline by itself when the fiscal server cannot be reached; the server answers now"
    )
    return {"status": "ok", "mode": status.mode.value, "message": message}


def offline_codes_count_json(status: RegisterStatus) -> Json:
    # EVPZ issues no codes in advance: the range is the session id and seed. Where the server gives
    # a finite reserve the count is real; otherwise the range is unlimited.
    left = status.numbers_left
    return {
        "available": left if left is not None else 1_000_000,
        "unlimited": left is None,
        "used": 0,
        "enough_offline_codes": status.blocked_reason is None and status.offline_allowed is not False,
    }


def offline_time_json(status: RegisterStatus) -> Json:
    return {
        "status": {"current": status.session_minutes * 60, "total": status.month_minutes * 60},
        "limits": {"session": status.max_session_minutes * 60, "month": status.max_month_minutes * 60},
        "sessions": [],
    }
