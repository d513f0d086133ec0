"""Talking to the Node.js reference peers (jkurwa, gost89) in tests/js: JSON requests on stdin, JSON answers
on stdout. Tests that need them skip, saying why, when Node.js or the npm packages are missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).parent / "js"


def run_peer(
    script: str, requests: list[dict[str, Any]], *, modules: tuple[str, ...] = ("jkurwa", "gost89")
) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the jkurwa cross-checks need Node.js")
    for module in modules:
        if not (JS_DIR / "node_modules" / module).is_dir():
            pytest.skip(
                f"tests/js/node_modules/{module} is missing: run `cd tests/js && npm install` (make test does)"
            )
    done = subprocess.run(
        [node, str(JS_DIR / script)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    return answers
