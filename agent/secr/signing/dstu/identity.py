"""A ДСТУ 4145 key with a self-signed certificate kept in one file (mode 0600), created on first use.

For the emulator's qualified ticket seal and for tests: a real key container is loaded by keystore."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.secr.signing.dstu.cades import DstuSigner
from agent.secr.signing.dstu.certificate import make_self_signed
from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.dstu4145 import generate_private_key


def self_signed_identity(common_name: str, *, m: int = 257, days: int = 3650) -> tuple[int, bytes]:
    curve = curve_by_m(m)
    d = generate_private_key(curve)
    now = datetime.now(UTC)
    certificate = make_self_signed(
        curve,
        d,
        common_name=common_name,
        serial_number=secrets.randbits(63),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=days),
    )
    return d, certificate


def dstu_signer_from_file(path: str | os.PathLike[str], common_name: str, *, m: int = 257) -> DstuSigner:
    path = Path(path)
    if not path.exists():
        d, certificate = self_signed_identity(common_name, m=m)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"m": m, "d": format(d, "x"), "certificate": certificate.hex()}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    return DstuSigner(curve_by_m(int(data["m"])), int(data["d"], 16), bytes.fromhex(data["certificate"]))
