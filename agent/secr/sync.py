"""Offline packages (reference §4.8): how offline documents are cut into packages, and how large one
document may be so that a package can always carry it. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

MAX_DOCUMENTS = 100
# per request, uncompressed: «Розмір пакету даних, що надсилається, не може перевищувати 200 Kb» (fsko_evpz_doc.txt,
# «Обмеження»), read strictly as 200 000 bytes (docs/compliance.md; the emulator: agent/emulator/packages.py)
MAX_REQUEST_BYTES = 200_000
# The outer envelope adds the sender's signature and certificate around the frames: the default room for
# it when the signer's own is not measured (upload.py measures it).
ENVELOPE_ALLOWANCE = 4 * 1024
FRAME_HEADER = 4
#: the DER lengths of an envelope grow by a few bytes with its content (1 to 3 length bytes for each of
#: its nested wrappers), and a signature's encoding varies by a byte or two: measured on one byte, this
#: much is added
DER_SLACK = 32
#: what the offline mark adds to a document made again offline (ORDERTAXNUM, OFFLINE, PREVDOCHASH, under
#: 200 bytes): an online document may have to be re-made so when its reply is lost
OFFLINE_MARK_ALLOWANCE = 512

T = TypeVar("T")


def signature_overhead(sign: Callable[[bytes], bytes]) -> int:
    """What this signer's envelope adds to the bytes it signs, at most (measured once on one byte)."""
    return len(sign(b"\0")) - 1 + DER_SLACK


def package_room(envelope: int) -> int:
    """How many bytes of frames (length and document) one package carries under an envelope of this size."""
    return MAX_REQUEST_BYTES - envelope


def largest_document(envelope: int) -> int:
    """The largest signed document that fits one package alone."""
    return package_room(envelope) - FRAME_HEADER


def largest_xml(envelope: int, signature: int, *, offline: bool) -> int:
    """The largest document XML that, signed, fits one package alone. An online one leaves room for the
    offline mark, so that it can always be made again offline (and then fits) when its reply is lost."""
    return largest_document(envelope) - signature - (0 if offline else OFFLINE_MARK_ALLOWANCE)


def package_prefix(
    sizes: Sequence[int],
    *,
    max_documents: int = MAX_DOCUMENTS,
    max_bytes: int = MAX_REQUEST_BYTES - ENVELOPE_ALLOWANCE,
) -> int:
    """How many of the next documents (by their signed sizes, in order) fit in one package.

    Always at least one. A document larger than a package is never made (pipeline.journal_document
    refuses it); one journaled before that rule is sent alone, so that the server's refusal names it."""
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
