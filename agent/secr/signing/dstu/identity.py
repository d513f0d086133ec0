"""A ДСТУ 4145 key with a self-signed certificate kept in one file (mode 0600), created on first use.

For the emulator's qualified ticket seal and for tests: a real key container is loaded by keystore."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.secr.signing.dstu.cades import DstuSigner
from agent.secr.signing.dstu.certificate import make_self_signed
from agent.secr.signing.dstu.curve import Curve, curve_by_m
from agent.secr.signing.dstu.dstu4145 import generate_private_key
from agent.secr.signing.secret_file import write_secret

CertificateMaker = Callable[[Curve, int, str], bytes]


def _self_signed(curve: Curve, d: int, common_name: str, days: int = 3650) -> bytes:
    now = datetime.now(UTC)
    return make_self_signed(
        curve,
        d,
        common_name=common_name,
        serial_number=secrets.randbits(63),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=days),
    )


def self_signed_identity(common_name: str, *, m: int = 257, days: int = 3650) -> tuple[int, bytes]:
    curve = curve_by_m(m)
    d = generate_private_key(curve)
    return d, _self_signed(curve, d, common_name, days)


def identity_from_file(
    path: str | os.PathLike[str],
    common_name: str,
    *,
    m: int = 257,
    make_certificate: CertificateMaker = _self_signed,
) -> tuple[Curve, int, bytes]:
    """The key and certificate kept in ``path`` (JSON, mode 0600), made on first use."""
    path = Path(path)
    if not path.exists():
        curve = curve_by_m(m)
        d = generate_private_key(curve)
        certificate = make_certificate(curve, d, common_name)
        record = {"m": m, "d": format(d, "x"), "certificate": certificate.hex()}
        write_secret(path, json.dumps(record).encode("utf-8"))
    data = json.loads(path.read_text(encoding="utf-8"))
    return curve_by_m(int(data["m"])), int(data["d"], 16), bytes.fromhex(data["certificate"])


def dstu_signer_from_file(path: str | os.PathLike[str], common_name: str, *, m: int = 257) -> DstuSigner:
    return DstuSigner(*identity_from_file(path, common_name, m=m))
