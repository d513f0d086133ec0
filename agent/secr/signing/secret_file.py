"""Writing a private key to disk: readable by the owner only from the first byte, complete or absent."""

from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: str | os.PathLike[str], data: bytes) -> None:
    """Written under a temporary name with mode 0600 from the start, synced, then renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
