"""The unit file is valid: `systemd-analyze verify` exits 0 even on warnings, so stderr must be empty."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "fiscal-box.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    # ExecStart must exist for verify: point a copy at an executable that does.
    unit = tmp_path / "fiscal-box.service"
    unit.write_text(UNIT.read_text().replace("/opt/fiscal-box/.venv/bin/fiscal-box", "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
