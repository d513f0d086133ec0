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
CERTIFICATE_WARNING_DAYS = 14


def certificate_status(signer: object, now: datetime) -> dict[str, Any] | None:
    """Who signs and until when: a qualified certificate must be renewed before it runs out."""
    certificate = getattr(signer, "certificate", None)
    if certificate is None:
        return None
    not_after = getattr(certificate, "not_after", None) or getattr(certificate, "not_valid_after_utc", None)
    if not isinstance(not_after, datetime):
        return None
    return {
        "subject": getattr(signer, "subject_name", None),
        "key_id": getattr(signer, "subject_key_id", None),
        "qualified": type(signer).__name__ != "DevSigner",
        "expires_at": not_after.isoformat(),
        "days_left": (not_after - now).days,
    }


def build_status(
    register: RegisterStatus,
    *,
    now: datetime,
    errors: list[str] | None = None,
    printer: str | None = None,
    certificate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    problems = [*register.errors, *(errors or [])]
    if certificate is not None and certificate["days_left"] <= CERTIFICATE_WARNING_DAYS:
        problems.append(
            f"the signing certificate of {certificate['subject']} expires in {certificate['days_left']} days"
            f" ({certificate['expires_at']}): renew it"
        )
    if register.problem and register.problem not in problems:
        problems.insert(0, register.problem)
    oldest_age = (
        max(0, int((now - register.oldest_pending_at).total_seconds()))
        if register.oldest_pending_at
        else None
    )
    return {
        # Contract §5 knows online | offline | blocked; uploading is still offline until the last package.
        "mode": "blocked"
        if register.blocked_reason
        else ("online" if register.mode == "online" else "offline"),
        "blocked_reason": register.blocked_reason,
        "uplink": None,
        "shift": "open" if register.shift_open else "closed",
        "offline": {
            "session_minutes": register.session_minutes,
            "month_minutes": register.month_minutes,
            "max_session_minutes": register.max_session_minutes,
            "max_month_minutes": register.max_month_minutes,
            "numbers_left": register.numbers_left,
            "allowed": register.offline_allowed,
            "session_id": register.offline_session_id,
            "warnings": register.warnings,
            "uploading": register.mode == "uploading",
        },
        "pending_documents": register.pending_documents,
        "oldest_pending_age_s": oldest_age,
        "last_sync_at": register.last_sync_at.isoformat() if register.last_sync_at else None,
        "printer": printer,
        "modem": {"signal_dbm": None, "registered": None, "operator": None},
        "certificate": certificate,
        "errors": problems,
        "version": __version__,
        "updated_at": now.isoformat(),
        "next_local_num": register.next_local_num,
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
