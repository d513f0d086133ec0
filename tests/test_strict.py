"""A whole day with a qualified ДСТУ 4145 signer against the emulator in strict mode (online and offline),
and the emulator refusing the dev signer there."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import pytest

from agent.emulator import Emulator
from agent.secr.errors import CryptographyRejected
from agent.secr.signing.dstu.cades import DstuSigner, verify_cades
from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.identity import self_signed_identity
from tests.conftest import REGISTRAR, Box, EmulatorHandle, cash, item, post_json
from tests.test_offline import Link
from tests.test_register import assert_emulator_numbering


@pytest.fixture()
def strict(tmp_path: Path) -> EmulatorHandle:
    emulator = Emulator(tmp_path / "emulator", strict=True).start()
    post_json(f"{emulator.url}/emulator/registrars", REGISTRAR)
    handle = EmulatorHandle(emulator)
    yield handle  # type: ignore[misc]
    emulator.stop()


def test_a_qualified_day_online_and_offline(tmp_path: Path, strict: EmulatorHandle) -> None:
    d, certificate = self_signed_identity("Іваненко Іван Іванович")
    signer = DstuSigner(curve_by_m(257), d, certificate)
    box = Box(tmp_path / "box", strict.fs_url, signer=signer)
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
        assert verified.subject_key_id == signer.subject_key_id
    box.close()


def test_strict_mode_refuses_the_dev_signer(tmp_path: Path, strict: EmulatorHandle) -> None:
    box = Box(tmp_path / "box", strict.fs_url)
    with pytest.raises(CryptographyRejected, match="ДСТУ 4145"):
        box.register.start()  # its very first signed request is refused, with the reason
    assert box.journal.count() == 0
    box.close()
