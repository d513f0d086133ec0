"""What the box remembers of its printer across restarts: that it answers status queries.

A printer that answered once and is silent now is switched off, and nothing is sent into it (see
drivers/printer.py). Learned anew at every start, that would leave one hole: the box restarting while the
printer is off would take its silence for a one-way cable and send the first receipts into the void. So the
first answer is written down in ``state_dir/printer.json``, keyed by the printer's address in the config
(another printer configured is learned afresh); ``[printer] answers_status`` in the config overrides it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from agent.config import PrinterConfig
from drivers.printer import ReceiptPrinter

log = logging.getLogger(__name__)

MEMORY_FILE = "printer.json"


def printer_key(cfg: PrinterConfig) -> str:
    """Which printer: its kind and address as the config gives them."""
    if cfg.kind == "serial":
        return f"serial:{cfg.serial_port}"
    if cfg.kind == "network":
        return f"network:{cfg.host}:{cfg.tcp_port}"
    if cfg.kind == "usb":
        ids = ":".join("*" if v is None else f"{v:04x}" for v in (cfg.vendor_id, cfg.product_id))
        return f"usb:{ids}"
    return f"{cfg.kind}:{cfg.path}"


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # unreadable or torn: learn again, as on a first start
        log.warning("%s: %s; the printer's answers are learned again", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def remembered_answers(state_dir: Path, key: str) -> bool | None:
    """True when this printer has answered status before (on any earlier run); None: not known."""
    return True if _read(state_dir / MEMORY_FILE).get(key) == {"answers_status": True} else None


class AnswerMemory:
    """A PrintService listener: once the printer has answered a status query, write it down (once)."""

    def __init__(self, printer: ReceiptPrinter, state_dir: Path, key: str, *, remembered: bool) -> None:
        """``remembered``: :func:`remembered_answers` said so at start (the file is not read again)."""
        self._printer = printer
        self._path = state_dir / MEMORY_FILE
        self._key = key
        self._written = remembered

    def __call__(self) -> None:
        if self._written or not self._printer.answers_status:
            return
        data = _read(self._path)
        data[self._key] = {"answers_status": True}
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._path)
        self._written = True
        log.info("printer %s answers status: remembered in %s", self._key, self._path)
