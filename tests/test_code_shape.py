"""Keep the code on its seams: a long function or module says why it is long.

ruff's complexity rules (C901, PLR0912, PLR0915, in pyproject.toml) bound what a function may do; this
bounds its length: a function over 60 lines carries ``# long: <why>`` on a line just above its ``def``
(or on the def line), and a module of agent/ over 600 lines carries ``# long module: <why>`` in its
first 30 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 600
SOURCES = sorted([*ROOT.joinpath("agent").rglob("*.py"), *ROOT.joinpath("drivers").rglob("*.py")])


def _says_why(lines: list[str], first: int, last: int, marker: str) -> bool:
    """Whether a comment with the marker and a reason sits between lines first..last (1-based)."""
    for line in lines[max(0, first - 1) : last]:
        comment = line.partition("#")[2].strip()
        if comment.startswith(marker) and len(comment) > len(marker) + 3:
            return True
    return False


def long_functions_without_a_reason() -> list[str]:
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            top = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if length > MAX_FUNCTION_LINES and not _says_why(lines, top - 3, node.lineno, "long:"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def long_modules_without_a_reason() -> list[str]:
    found = []
    for path in SOURCES:
        if path.parts[len(ROOT.parts)] != "agent":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_MODULE_LINES and not _says_why(lines, 1, 30, "long module:"):
            found.append(f"{path.relative_to(ROOT)} ({len(lines)} lines)")
    return found


def test_every_long_function_says_why() -> None:
    assert long_functions_without_a_reason() == []


def test_every_long_module_in_agent_says_why() -> None:
    assert long_modules_without_a_reason() == []
