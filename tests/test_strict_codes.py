"""Issue 15, error codes and commands: the emulator as strict as the official text, the box following it
(docs/compliance.md has the table: rule, passage, where, these tests)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.demo import post_json
from agent.emulator import Emulator
from agent.emulator import server as emulator_server
from agent.emulator.packages import MAX_REQUEST_BYTES as EMULATOR_LIMIT
from agent.secr import sync
from agent.secr.codes import RegistrationDataChanged
from agent.secr.errors import (
    IdentityMismatch,
    JournalMismatch,
    OfflineDocumentsRefused,
    ServerRejected,
    ServerStateMismatch,
)
from agent.secr.replies import RegistrarState, TaxObject
from agent.secr.server import rejection
from agent.secr.signing.dev import DevSigner
from agent.secr.zcheck import ZReportDiffers
from tests.conftest import FISCAL_NUMBER, REGISTRAR, Box, EmulatorHandle, cash, item
from tests.emulator_helpers import Till
from tests.test_emulator import emu, expect_error, ticket_of
from tests.test_offline import Link
from tests.test_register import assert_emulator_numbering

__all__ = ["emu"]  # the fixture, used by name

# --- the emulator ----------------------------------------------------------------------------------


@pytest.fixture
def till(emu: Emulator) -> Iterator[Till]:
    with httpx.Client(timeout=10) as client:
        till = Till(client, emu.fs_url)
        operator = till.signer.subject_key_id
        client.post(emu.url + "/emulator/registrars", json=till.registration(operators=[operator]))
        yield till


def test_emulator_refuses_a_wrong_local_number_with_code_7(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    till.next_local = 5  # the server expects 2
    expect_error(till.post_doc(till.sale()), 7, contains="")


def test_emulator_signed_only_commands_are_refused_unsigned(till: Till) -> None:
    # «Запит повинен містити JSON, засвідчений КЕП користувача» (ZRep, Shifts, Documents, LastShiftTotals...)
    for name in ("ZRep", "ZRepExt", "LastShiftTotals", "Documents", "Shifts", "Objects", "Operators"):
        expect_error(till.cmd(name, signed=False, NumFiscal=FISCAL_NUMBER), 12, contains="засвідчене")
    # «Запит чека»/«Запит чека розширений»: «Запит повинен містити JSON.» — unsigned is fine
    assert till.cmd("Check", signed=False, RegistrarNumFiscal=FISCAL_NUMBER, NumFiscal="1").status_code == 204


def test_emulator_check_ext_answers_every_type_and_result_code(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    sale = ticket_of(till.send(till.sale()))["ORDERTAXNUM"]
    fn = till.fiscal_number

    def ext(num: str, kind: int, **extra: Any) -> dict[str, Any]:
        reply = till.cmd("CheckExt", signed=False, RegistrarNumFiscal=fn, NumFiscal=num, Type=kind, **extra)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    assert ext(sale, 0)["ResultCode"] == 0 and ext(sale, 0)["Data"] is None  # Availability
    original = base64.b64decode(ext(sale, 1)["Data"])
    assert original.startswith(b"<?xml") or b"<CHECK" in original  # OriginalXml
    assert base64.b64decode(ext(sale, 4)["Data"]).startswith(b"0")  # SignedBySenderXml: a DER CMS
    assert base64.b64decode(ext(sale, 3)["Data"]).decode("utf-8").startswith("Check ")  # Visualization
    assert ext(sale, 0, AcquireCabinetUrl=True)["CabinetUrl"]
    state = till.state()
    reserved = f"{state['OfflineSessionId']}.{state['OfflineNextLocalNum']}.1234"
    assert ext(reserved, 0)["ResultCode"] == 2  # OfflineNumberReserved
    assert ext("1.1.1", 0)["ResultCode"] == 3  # OfflineNumberNotReserved
    assert (
        ext("999999", 0)["ResultCode"] == 1 and ext("999999", 0, AcquireCabinetUrl=True)["CabinetUrl"] is None
    )
    missing = till.cmd("CheckExt", signed=False, RegistrarNumFiscal="4999999999", NumFiscal=sale, Type=0)
    assert missing.json()["ResultCode"] == 4  # TransactionsRegistrarNotRegistered
    expect_error(till.cmd("CheckExt", RegistrarNumFiscal=fn, NumFiscal=sale, Type=9), 11)
    zrep = till.cmd("ZRepExt", RegistrarNumFiscal=fn, NumFiscal=sale, Type=0).json()
    assert zrep["ResultCode"] == 1 and "CabinetUrl" not in zrep  # a check's number is no Z report


def test_emulator_operators_and_documents_as_the_text_gives_them(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    operators = till.cmd("Operators").json()
    assert operators["Tin"] == till.tin
    assert operators["Operators"] == [
        {"SubjectKeyId": till.signer.subject_key_id.lower(), "RegNum": None, "ChiefCashier": False}
    ]
    shift = till.state()["ShiftId"]
    [opened] = till.cmd("Documents", NumFiscal=till.fiscal_number, ShiftId=shift).json()["Documents"]
    assert (opened["DocClass"], opened["CheckDocType"]) == ("Check", "OpenShift")
    expect_error(
        till.cmd("Documents", NumFiscal=till.fiscal_number), 11
    )  # «або ShiftId, або OpenShiftFiscalNum»


def test_emulator_size_limit_is_200_000_bytes(till: Till, emu: Emulator) -> None:
    # «Розмір пакету даних, що надсилається, не може перевищувати 200 Kb» read as 200 000 bytes, both sides.
    assert EMULATOR_LIMIT == sync.MAX_REQUEST_BYTES == emulator_server.MAX_BODY == 200_000
    body = b"0" * (EMULATOR_LIMIT + 1)
    reply = till.client.post(
        emu.fs_url + "/pck", content=body, headers={"Content-Type": "application/octet-stream"}
    )
    assert reply.status_code == 416


# --- the box: codes 3-8 never latch the register ----------------------------------------------------


def _refuse_once(box: Box, monkeypatch: pytest.MonkeyPatch, code: int, name: str) -> None:
    real = box.client.send_document
    calls = {"n": 0}

    def send(signed: bytes) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise rejection(400, f"Код помилки: {code} {name}\r\nемулятор: відмова")
        return real(signed)

    monkeypatch.setattr(box.client, "send_document", send)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (4, "ShiftAlreadyOpened"),
        (5, "ShiftNotOpened"),
        (7, "CheckLocalNumberInvalid"),
        (8, "ZRepAlreadyRegistered"),
    ],
)
def test_a_refusal_the_journal_agrees_with_stops_that_document_only(
    box: Box, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, code: int, name: str
) -> None:
    reg = box.register
    reg.open_shift()
    _refuse_once(box, monkeypatch, code, name)
    with pytest.raises(ServerStateMismatch) as refused:
        reg.sell([item()], [cash("10.00")])
    assert refused.value.error_code == code
    sale = reg.sell([item()], [cash("10.00")])  # not latched: the next sale goes, with the same number
    assert sale.local_num == 2
    assert_emulator_numbering(emulator)


def test_a_real_drift_stops_sales_until_a_check_finds_it_resolved(
    obox: Box, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    reg = obox.register
    reg.open_shift()
    _refuse_once(obox, monkeypatch, 7, "CheckLocalNumberInvalid")
    real_state = obox.client.registrar_state
    drifted = {"on": True}

    def state(*args: Any, **kwargs: Any) -> RegistrarState | None:
        found = real_state(*args, **kwargs)
        if drifted["on"] and found is not None:
            return dataclasses.replace(found, next_local_num=(found.next_local_num or 0) + 3)
        return found

    monkeypatch.setattr(obox.client, "registrar_state", state)
    with pytest.raises(JournalMismatch, match="did not make"):
        reg.sell([item()], [cash("10.00")])
    with pytest.raises(JournalMismatch):
        reg.sell([item()], [cash("10.00")])  # stands while the drift does
    drifted["on"] = False  # a person put it right on the server's side
    clock.advance(seconds=61)
    reg._reconciler.retry_start()
    assert reg.sell([item()], [cash("10.00")]).local_num == 2  # no restart needed; no number skipped
    assert_emulator_numbering(emulator)


def test_code_3_reads_the_registration_data_again_and_the_retry_carries_them(
    box: Box, emulator: EmulatorHandle
) -> None:
    reg = box.register
    reg.open_shift()
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, "tin": "34554363"})
    with pytest.raises(RegistrationDataChanged):
        reg.sell([item()], [cash("10.00")])
    sale = reg.sell([item()], [cash("10.00")])
    assert sale.local_num == 2 and sale.document.head.seller.tin == "34554363"
    assert_emulator_numbering(emulator)


# --- the box: packages --------------------------------------------------------------------------------


def _offline_sales(box: Box, count: int) -> None:
    box.register.open_shift()
    link = Link(box)
    link.cut()
    for _ in range(count):
        box.register.sell([item()], [cash("10.00")])
    link.restore()


@pytest.mark.parametrize("then", ["refuse", "drop-reply"])
def test_a_package_accepted_in_part_resumes_from_offline_next_local_num(
    box: Box, emulator: EmulatorHandle, then: str
) -> None:
    _offline_sales(box, 6)  # the 102, six sales; the 103 is made on the way
    post_json(f"{emulator.url}/emulator/partial-package", {"accept": 3, "then": then})
    if then == "refuse":
        with pytest.raises(OfflineDocumentsRefused) as refused:
            box.register.go_online()
        assert "№ 3" in refused.value.server_text  # code 10 names the document (0-based)
    else:
        assert not box.register.go_online().went_online  # the reply was lost
    assert len(emulator.documents()) == 1 + 3  # the open shift and the package's first three
    report = box.register.go_online()  # sent again: from OfflineNextLocalNum, nothing twice, none skipped
    assert report.went_online and report.documents_delivered == 5  # four more of the first run, and the 103
    registered = assert_emulator_numbering(emulator)
    assert len(registered) == 1 + 1 + 6 + 1
    offline_n = [d["fiscal_number"].split(".")[1] for d in registered if d["offline"]]
    assert offline_n == [str(n) for n in range(1, 9)]


# --- the box: the Z report against LastShiftTotals ------------------------------------------------------


def test_a_z_report_that_differs_from_the_servers_totals_is_explained_not_sent(
    box: Box, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = box.register
    reg.open_shift()
    reg.sell([item(price="10.00")], [cash("10.00")])
    real = box.client.last_shift_totals

    def doctored(num_fiscal: str) -> dict[str, Any] | None:
        reply = real(num_fiscal)
        assert reply is not None
        reply["Totals"]["Real"]["Sum"] = 15.0
        return reply

    monkeypatch.setattr(box.client, "last_shift_totals", doctored)
    before = box.journal.next_local_num()
    with pytest.raises(ZReportDiffers, match=r"Real.Sum: box 10.00, server 15.00"):
        reg.close_shift()
    assert (
        box.journal.next_local_num() == before and len(emulator.documents()) == 2
    )  # nothing journaled, sent
    monkeypatch.setattr(box.client, "last_shift_totals", real)
    z, close = reg.close_shift()  # agreeing, it goes
    assert z.local_num == before and close.local_num == before + 1
    assert_emulator_numbering(emulator)


# --- the box: identity from the server ------------------------------------------------------------------


def test_an_odd_tax_object_value_is_never_journaled(box: Box) -> None:
    reg = box.register
    seller = reg.seller()
    odd = TaxObject(tin="", ipn="12-AB", org_name="  ", name="", address=seller.point_address)
    reg._reconciler.adopt_identity(RegistrarState(tax_object=odd, empty=False))
    assert reg.seller() == seller  # the known values stand
    reg.open_shift()  # and documents still go


def test_an_odd_tax_object_on_a_new_journal_needs_a_person(
    tmp_path: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = Box(tmp_path / "fresh", emulator.fs_url, signer=DevSigner.generate())
    real = fresh.client.registrar_state

    def state(*args: Any, **kwargs: Any) -> RegistrarState | None:
        found = real(*args, **kwargs)
        if found is None or found.tax_object is None:
            return found
        return dataclasses.replace(found, tax_object=dataclasses.replace(found.tax_object, tin="не номер"))

    monkeypatch.setattr(fresh.client, "registrar_state", state)
    try:
        with pytest.raises(IdentityMismatch, match="tin 'не номер'"):
            fresh.register.start()
        with pytest.raises(ServerRejected.__mro__[1]):  # NeedsPerson: sales refuse, nothing made
            fresh.register.open_shift()
    finally:
        fresh.close()
