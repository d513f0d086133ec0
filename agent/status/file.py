"""status.json in state_dir: what `fiscal-box status` and `slip` read when they cannot ask the agent.

The only module of the package that touches the disk. Written only when the state changed, so an SD
card is not rewritten every few seconds by a box that is idle; atomically (tmp + os.replace), so a
reader never sees half a file; without fsync, as it is not fiscal data and is rewritten on the next change.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.status.snapshot import Snapshot

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"


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


class StatusFile:
    """A status subscriber: ``model.subscribe(StatusFile(state_dir))``.

    The model delivers changes only; this also compares with what it last wrote, so that it writes on
    change whoever calls it. A write that fails is logged and tried again with the next change.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        age_resolution_s: int = 60,
        write: Callable[[Path, dict[str, Any]], None] = write_status,
    ) -> None:
        self.state_dir = state_dir
        self.writes = 0
        self._age_resolution_s = age_resolution_s
        self._write = write
        self._lock = threading.Lock()
        self._written: dict[str, Any] | None = None

    def __call__(self, snapshot: Snapshot) -> None:
        key = snapshot.change_key(self._age_resolution_s)
        with self._lock:
            if key == self._written:
                return
            try:
                self._write(self.state_dir, snapshot.to_dict())
            except OSError as exc:
                log.warning("could not write %s in %s: %s", STATUS_FILE, self.state_dir, exc)
                return
            self._written = key
            self.writes += 1
