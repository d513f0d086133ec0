"""Offline packages (reference §4.8): how offline documents are cut into packages. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

MAX_DOCUMENTS = 100
MAX_REQUEST_BYTES = 200 * 1024
# The outer envelope adds the sender's signature and certificate around the frames: keep room for it.
ENVELOPE_ALLOWANCE = 4 * 1024
FRAME_HEADER = 4

T = TypeVar("T")


def package_prefix(
    sizes: Sequence[int],
    *,
    max_documents: int = MAX_DOCUMENTS,
    max_bytes: int = MAX_REQUEST_BYTES - ENVELOPE_ALLOWANCE,
) -> int:
    """How many of the next documents (by their signed sizes, in order) fit in one package.

    Always at least one: a single document larger than a package is sent alone and the server
    says what it thinks of it, rather than the box stalling forever."""
    total = 0
    count = 0
    for size in sizes[:max_documents]:
        if count and total + FRAME_HEADER + size > max_bytes:
            break
        total += FRAME_HEADER + size
        count += 1
    return count


def split_packages(items: Sequence[T], sizes: Sequence[int], **limits: int) -> list[list[T]]:
    packages: list[list[T]] = []
    start = 0
    while start < len(items):
        count = package_prefix(sizes[start:], **limits)
        packages.append(list(items[start : start + count]))
        start += count
    return packages
