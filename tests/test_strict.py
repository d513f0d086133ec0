"""A whole day with a qualified ДСТУ 4145 signer against the emulator in strict mode (online and offline),
and the emulator refusing the dev signer there."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.emulator import Emulator
from agent.secr.errors import CryptographyRejected
from agent.secr.signing.dstu.cades import DstuSigner, verify_cades
from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.identity import self_signed_identity
from agent.secr.signing.dstu.keystore import PrivateKey, encode_pkcs8
from agent.secr.signing.tsp import TimeStampClient
from tests.conftest import REGISTRAR, Box, EmulatorHandle, cash, item, post_json
from tests.test_cli import CLI, free_port, write_config
from tests.test_offline import Link
from tests.test_register import assert_emulator_numbering
from tests.waiting import wait_for


@pytest.fixture()
def strict(tmp_path: Path) -> EmulatorHandle:
    emulator = Emulator(tmp_path / "emulator", strict=True).start()
    post_json(f"{emulator.url}/emulator/registrars", REGISTRAR)
    handle = EmulatorHandle(emulator)
    yield handle  # type: ignore[misc]
    emulator.stop()


def qualified_signer() -> DstuSigner:
    """A DSTU 4145 signer with a self-signed certificate: what the strict emulator takes for qualified."""
    d, certificate = self_signed_identity("Іваненко Іван Іванович")
    return DstuSigner(curve_by_m(257), d, certificate)


def qualified_box(tmp_path: Path, strict: EmulatorHandle, **box_options: Any) -> tuple[Box, TimeStampClient]:
    """A box signing with :func:`qualified_signer`, its online documents time-stamped by the emulator's TSA
    through the client returned beside it (the caller closes both)."""
    signer = qualified_signer()
    stamps = TimeStampClient(f"{strict.url}/tsa")
    box = Box(
        tmp_path / "box",
        strict.fs_url,
        signer=signer,
        online_signer=lambda data: signer.sign(data, time_stamper=stamps.stamp),
        **box_options,
    )
    return box, stamps


def test_a_qualified_day_online_and_offline(tmp_path: Path, strict: EmulatorHandle) -> None:
    box, stamps = qualified_box(tmp_path, strict)
    box.register.start()
    reg = box.register
    reg.open_shift(cashier="Іваненко І. І.")
    reg.sell([item(price="12.50")], [cash("12.50")])
    link = Link(box)
    link.cut()
    offline = reg.sell([item(price="7.00")], [cash("10.00")])
    assert offline.offline
    reg.cash_in(Decimal("100.00"))
    link.restore()
    assert reg.go_online().went_online
    reg.close_shift()
    registered = assert_emulator_numbering(strict)
    assert len(registered) == 8  # open, sale, 102, sale, cash in, 103, Z, close
    for document in registered:
        verified = verify_cades(base64.b64decode(document["signed_base64"]))
        assert verified.subject_key_id == box.signer.subject_key_id
        # online documents carry their signature-time-stamp; offline ones go without (§1.3)
        assert (verified.time_stamp_token is not None) == (not document["offline"])
    stamps.close()
    box.close()


def test_strict_mode_refuses_an_online_document_without_a_time_stamp(
    tmp_path: Path, strict: EmulatorHandle
) -> None:
    box = Box(tmp_path / "box", strict.fs_url, signer=qualified_signer())
    box.register.start()
    with pytest.raises(CryptographyRejected, match="позначку часу"):
        box.register.open_shift()
    box.close()


def test_strict_mode_refuses_the_dev_signer(tmp_path: Path, strict: EmulatorHandle) -> None:
    box = Box(tmp_path / "box", strict.fs_url)
    with pytest.raises(CryptographyRejected, match="ДСТУ 4145"):
        box.register.start()  # its very first signed request is refused, with the reason
    assert box.journal.count() == 0
    box.close()


def test_the_agent_with_a_qualified_key_container(tmp_path: Path, strict: EmulatorHandle) -> None:
    """`fiscal-box run` with [signer] kind = "dstu4145" (PKCS#8 + certificate) against the strict emulator."""
    d, certificate = self_signed_identity("Іваненко Іван Іванович")
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.cer"
    key_file.write_bytes(encode_pkcs8(PrivateKey(curve_by_m(257), d), pem=True))
    cert_file.write_bytes(certificate)
    port = free_port()
    config = write_config(
        tmp_path / "config.toml",
        strict.fs_url,
        api_port=port,
        **{
            "[offline]": f'[signer]\nkind = "dstu4145"\nkey_file = "{key_file}"\ncertificate_file = "{cert_file}"\n'
            f'tsp_url = "{strict.url}/tsa"\n[offline]'
        },
    )
    agent = subprocess.Popen([*CLI, "run", "--config", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        wait_for((tmp_path / "state" / "status.json").exists, what="the agent's status.json")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
            token = api.post("/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).json()[
                "access_token"
            ]
            api.headers.update({"Authorization": f"Bearer {token}", "X-License-Key": "test-key"})
            assert api.post("/api/v1/shifts", json={}).status_code == 202
            body = {
                "goods": [
                    {"good": {"code": "1", "name": "Хліб", "price": 2850, "tax": [1]}, "quantity": 2000}
                ],
                "payments": [{"type": "CASH", "value": 5700}],
            }
            sale = api.post("/api/v1/receipts/sell", json=body)
            assert sale.status_code == 201, sale.text
            status = api.get("/api/v1/box/status").json()
            assert status["certificate"]["qualified"] is True and status["certificate"]["days_left"] > 3000
    finally:
        os.kill(agent.pid, signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    assert agent.returncode == 0, stderr
    signed = [verify_cades(base64.b64decode(d["signed_base64"])) for d in strict.documents()]
    assert len(signed) == 2 and all(v.certificate.der == certificate for v in signed)
    assert all(v.time_stamp_token is not None for v in signed)  # online documents carry their time-stamp


def test_a_bad_key_container_stops_the_agent_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_bytes(b"not a key")
    config = write_config(
        tmp_path / "config.toml",
        "http://127.0.0.1:1/fs",
        **{"[offline]": f'[signer]\nkind = "dstu4145"\nkey_file = "{tmp_path / "key.pem"}"\n[offline]'},
    )
    result = subprocess.run(
        [*CLI, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "signer.key_file" in result.stderr and "Traceback" not in result.stderr
