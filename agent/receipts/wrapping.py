"""Line breaking shared by every renderer of a layout (text, HTML, PNG, the printer's conversion), so
that they all break a receipt's lines in the same places.

A long name or address is carried over to the next line, never cut (a cut requisite is a missing one,
reference §6.0), and the value of a ``label .... value`` pair stays on a line with its label's words.
"""

from __future__ import annotations

import textwrap


def wrap(text: str, width: int) -> list[str]:
    """Break at spaces; a word longer than the line is split, never dropped."""
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    out = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)
    return out or [""]


def pair_lines(label: str, value: str, width: int) -> list[str]:
    """Lines of a two-column pair: the value right-aligned on the label's last line.

    When that line has no room for it, its last words move down to a line of their own with the value,
    so a number never stands alone, away from what it is; the value takes a line (or lines) to itself
    only when no word of the label fits beside it.
    """
    if len(label) + 1 + len(value) <= width:
        return [label + " " * (width - len(label) - len(value)) + value]
    lines = wrap(label, width)
    room = width - 1 - len(value)
    if len(lines[-1]) > room >= 1:
        # whole words only: a word split to make room would read as two
        moved = textwrap.wrap(lines[-1], room, break_long_words=False, break_on_hyphens=False)
        if moved and len(moved[-1]) <= room:
            lines[-1:] = moved
    last = lines[-1]
    if len(last) + 1 + len(value) <= width:
        lines[-1] = last + " " * (width - len(last) - len(value)) + value
    else:
        lines.extend(v.rjust(width) for v in wrap(value, width))
    return lines


__all__ = ["pair_lines", "wrap"]
