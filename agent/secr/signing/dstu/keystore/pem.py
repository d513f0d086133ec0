"""PEM armour: key files may be PEM, and a PEM key file may also carry the certificate (a bundle)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from .errors import MalformedContainer

_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


def _pem_blocks(data: bytes) -> Iterator[tuple[str, bytes]]:
    for match in _PEM_RE.finditer(data):
        try:
            body = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except binascii.Error as exc:
            raise MalformedContainer(
                f"PEM block {match.group(1).decode()} is not valid base64: {exc}"
            ) from exc
        yield match.group(1).decode(), body


def _is_pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN ")


def _pem(der: bytes, label: str) -> bytes:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    body = "\n".join(lines)
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()
