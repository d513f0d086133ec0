"""The one status model (contract §5). The same dict feeds `fiscal-box status`, the till API, MQTT,
the LED and the slip. Parts not built yet report null, never a made-up value."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from agent import __version__
from agent.secr.register import RegisterStatus

STATUS_FILE = "status.json"


def build_status(
    register: RegisterStatus,
    *,
    now: datetime,
    errors: list[str] | None = None,
    last_sync_at: datetime | None = None,
) -> dict[str, Any]:
    problems = list(errors or [])
    if register.problem:
        problems.insert(0, register.problem)
    blocked = register.problem is not None
    oldest_age = (
        max(0, int((now - register.oldest_pending_at).total_seconds()))
        if register.oldest_pending_at
        else None
    )
    return {
        "mode": "blocked" if blocked else "online",
        "blocked_reason": register.problem,
        "uplink": None,
        "shift": "open" if register.shift_open else "closed",
        "offline": {
            "session_minutes": 0,
            "month_minutes": None,
            "max_session_minutes": None,
            "max_month_minutes": None,
            "numbers_left": None,
        },
        "pending_documents": register.pending_documents,
        "oldest_pending_age_s": oldest_age,
        "last_sync_at": last_sync_at.isoformat() if last_sync_at else None,
        "printer": None,
        "modem": {"signal_dbm": None, "registered": None, "operator": None},
        "errors": problems,
        "version": __version__,
        "updated_at": now.isoformat(),
        "next_local_num": register.next_local_num,
        "offline_session_id": register.offline_session_id,
    }


def write_status(state_dir: Path, status: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a file."""
    path = state_dir / STATUS_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(status, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
