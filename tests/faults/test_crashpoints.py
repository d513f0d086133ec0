"""``CRASHPOINTS`` (agent/secr/context.py) is the one list of crash points: every name in it is in the code
once, as a one-line ``crashpoint("name")`` call, the code has no point the list lacks, and the sweep has a
case for every one of them, in its short form too (the sweep's cases assert that their points were
reached)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from agent.secr.context import CRASHPOINTS
from tests.faults.harness import HARNESS_POINTS
from tests.faults.test_sweep import CASES

AGENT = Path(__file__).resolve().parents[2] / "agent"
CALL = re.compile(r"""crashpoint\(\s*["']([a-z_]+)["']\s*\)""")


def points_in_code() -> Counter[str]:
    found: Counter[str] = Counter()
    for path in sorted(AGENT.rglob("*.py")):
        found.update(CALL.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_listed_point_is_in_the_code_once_and_no_other() -> None:
    found = points_in_code()
    assert set(found) == set(CRASHPOINTS), set(found) ^ set(CRASHPOINTS)
    assert [name for name, n in found.items() if n > 1] == []
    assert len(set(CRASHPOINTS)) == len(CRASHPOINTS)


def test_every_point_has_a_case_in_the_short_and_the_full_sweep() -> None:
    everything = set(CRASHPOINTS) | set(HARNESS_POINTS)
    full = {c.point for case in CASES for c in case.crashes}
    short = {c.point for case in CASES if case.short for c in case.crashes}
    assert full == everything, full ^ everything
    assert short == everything, short ^ everything
