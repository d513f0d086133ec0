"""The fiscal server emulator over real HTTP: protocol, rules and error codes, faults, control surface."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from agent.emulator import Emulator
from agent.emulator.offline import build_package, control_number, split_package
from agent.emulator.xmldoc import schema
from agent.secr.signing.cms import verify_attached
from agent.secr.signing.dev import DevSigner
from tests.emulator_helpers import OfflineSession, Tax, Till, ZPart

FN = "4000000001"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "state") as emulator:
        yield emulator


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def make_till(emu: Emulator, client: httpx.Client, *, chief: bool = True, **registration: Any) -> Till:
    """``chief``: the till's key is a senior cashier's, so TransactionsRegistrarState shows it the
    Offline… fields with no shift open too (issue 15: otherwise only the open shift's opener sees them)."""
    till = Till(client, emu.fs_url)
    if chief:
        registration.setdefault("chief_cashiers", [till.signer.subject_key_id])
    r = client.post(emu.url + "/emulator/registrars", json=till.registration(**registration))
    assert r.status_code == 200, r.text
    return till


@pytest.fixture
def till(emu: Emulator, client: httpx.Client) -> Till:
    return make_till(emu, client)


def ticket_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    verified = verify_attached(response.content)
    root = etree.fromstring(verified.content)
    assert schema("ticket").validate(etree.ElementTree(root)), schema("ticket").error_log
    return {str(el.tag): el.text or "" for el in root}


def error_of(response: httpx.Response) -> tuple[int, str]:
    text = response.content.decode("utf-8")
    first, _, rest = text.partition("\r\n")
    assert first.startswith("Код помилки: "), text
    return int(first.split()[2]), rest


def expect_error(response: httpx.Response, code: int, status: int = 400, contains: str = "") -> str:
    assert response.status_code == status, (response.status_code, response.text)
    got, text = error_of(response)
    assert got == code, text
    assert contains in text, text
    return text


def good_zrep(till: Till) -> bytes:
    return till.zrep(
        realiz=ZPart(
            "417.66",
            1,
            [(0, "ГОТІВКА", "317.66"), (1, "КАРТКА", "100.00")],
            [Tax("А", "20.00", "397.16", "66.19"), Tax("Б", "7.00", "20.50", "1.34")],
        ),
        ret=ZPart("20.50", 1, [(0, "ГОТІВКА", "20.50")], [Tax("Б", "7.00", "20.50", "1.34")]),
        service_in="100.58",
        service_out="200.35",
    )


# --- the whole online shift ----------------------------------------------------------------------------


def test_full_online_shift(emu: Emulator, client: httpx.Client, till: Till) -> None:
    opened = ticket_of(till.send(till.open_shift()))
    assert opened["ORDERNUM"] == "1" and opened["ERRORCODE"] == "0" and opened["VER"] == "1"
    state = till.state()
    assert opened["OFFLINESESSIONID"] == str(state["OfflineSessionId"])
    assert opened["OFFLINESEED"] == state["OfflineSeed"] and len(state["OfflineSeed"]) == 15
    assert 3 <= len(str(state["OfflineSessionId"])) <= 7
    assert state["ShiftState"] == 1 and state["OpenShiftFiscalNum"] == opened["ORDERTAXNUM"]
    assert state["SubjectKeyId"] == till.signer.subject_key_id and state["FirstLocalNum"] == 1

    sale = ticket_of(till.send(till.sale()))
    assert int(sale["ORDERTAXNUM"]) > int(opened["ORDERTAXNUM"])
    ticket_of(till.send(till.refund(sale["ORDERTAXNUM"])))
    ticket_of(till.send(till.service_in()))
    ticket_of(till.send(till.service_out()))
    extra = ticket_of(till.send(till.small_sale()))
    storno = ticket_of(till.send(till.storno(extra["ORDERTAXNUM"])))

    totals = till.cmd("LastShiftTotals", NumFiscal=FN).json()
    assert totals["ShiftState"] == 1 and totals["ZRepPresent"] is False
    real, ret = totals["Totals"]["Real"], totals["Totals"]["Ret"]
    assert (real["Sum"], real["OrdersCount"], ret["Sum"], ret["OrdersCount"]) == (417.66, 1, 20.5, 1)
    assert {p["PayFormCode"]: p["Sum"] for p in real["PayForm"]} == {0: 317.66, 1: 100.0}
    assert {t["Letter"]: t["Sum"] for t in real["Tax"]} == {"А": 66.19, "Б": 1.34}
    assert totals["Totals"]["ServiceInput"] == 100.58 and totals["Totals"]["ServiceOutput"] == 200.35

    info = till.cmd("DocumentInfoByLocalNum", NumFiscal=FN, NumLocal=6).json()
    assert info["NumFiscal"] == extra["ORDERTAXNUM"] and info["Storned"] is True and info["DocClass"] == 0
    assert (info["CheckDocType"], info["CheckDocSubType"]) == (0, 0)
    storno_info = till.cmd("DocumentInfoByLocalNum", NumFiscal=FN, NumLocal=7).json()
    assert storno_info["NumFiscal"] == storno["ORDERTAXNUM"] and storno_info["CheckDocSubType"] == 5

    z = ticket_of(till.send(good_zrep(till)))
    assert till.state()["ZRepPresent"] is True
    closed = ticket_of(till.send(till.close_shift()))
    state = till.state()
    assert state["ShiftState"] == 0 and state["NextLocalNum"] == 10 and state["OpenShiftFiscalNum"] is None

    # the stored documents can be fetched back, signed by the server
    fetched = till.cmd("Check", signed=False, RegistrarNumFiscal=FN, NumFiscal=sale["ORDERTAXNUM"])
    assert fetched.status_code == 200
    assert b"417.66" in verify_attached(fetched.content).content
    original = till.cmd("Check", RegistrarNumFiscal=FN, NumFiscal=sale["ORDERTAXNUM"], Original=True)
    assert verify_attached(original.content).subject_key_id == till.signer.subject_key_id
    zfetched = till.cmd("ZRep", RegistrarNumFiscal=FN, NumFiscal=z["ORDERTAXNUM"])
    assert zfetched.status_code == 200 and verify_attached(zfetched.content).content.startswith(b"<?xml")
    assert till.cmd("Check", RegistrarNumFiscal=FN, NumFiscal="999").status_code == 204
    assert till.cmd("DocumentInfoByLocalNum", NumFiscal=FN, NumLocal=99).status_code == 204

    shifts = till.cmd(
        "Shifts", NumFiscal=FN, From="2000-01-01T00:00:00+02:00", To="2100-01-01T00:00:00+02:00"
    )
    [shift] = shifts.json()["Shifts"]
    assert shift["OpenShiftFiscalNum"] == opened["ORDERTAXNUM"]
    assert (shift["ZRepFiscalNum"], shift["CloseShiftFiscalNum"]) == (z["ORDERTAXNUM"], closed["ORDERTAXNUM"])
    docs = till.cmd("Documents", NumFiscal=FN, ShiftId=shift["ShiftId"]).json()["Documents"]
    assert [d["NumLocal"] for d in docs] == list(range(1, 10))
    assert docs[7]["DocClass"] == "ZRep" and docs[7]["CheckDocType"] is None  # the text's names

    listed = client.get(emu.url + "/emulator/documents", params={"registrar": FN}).json()
    assert [d["local_number"] for d in listed] == list(range(1, 10))
    assert listed[1]["doc_class"] == "CHECK" and (listed[1]["doc_type"], listed[1]["doc_subtype"]) == (0, 0)
    assert listed[7]["doc_class"] == "ZREP" and listed[7]["doc_type"] is None
    assert listed[1]["offline"] is False and listed[1]["offline_session_id"] is None
    assert base64.b64decode(listed[1]["xml_base64"]).decode("cp1251").count("Куряче Стегно") == 1
    assert verify_attached(base64.b64decode(listed[1]["signed_base64"])).content == base64.b64decode(
        listed[1]["xml_base64"]
    )
    datetime.fromisoformat(listed[0]["received_at"])


def test_every_reply_carries_processing_time(emu: Emulator, client: httpx.Client, till: Till) -> None:
    for r in (
        till.cmd("ServerState", signed=False),
        till.send(till.open_shift()),
        client.get(emu.url + "/emulator/state"),
        client.post(emu.fs_url + "/nothing"),
    ):
        assert float(r.headers["X-Emulator-Time-Ms"]) >= 0


# --- refusals ------------------------------------------------------------------------------------------


def test_wrong_local_number(till: Till) -> None:
    till.next_local = 5
    text = expect_error(till.post_doc(till.open_shift()), 7)
    assert "5" in text and "1" in text


def test_sale_without_open_shift(till: Till) -> None:
    expect_error(till.post_doc(till.sale()), 5)


def test_second_open_shift_names_the_holder(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    text = expect_error(till.post_doc(till.open_shift()), 4)
    assert FN in text and till.signer.subject_key_id in text


def test_close_without_zrep(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    ticket_of(till.send(till.small_sale()))
    expect_error(till.post_doc(till.close_shift()), 6)


def test_second_zrep(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    ticket_of(till.send(till.zrep()))
    expect_error(till.post_doc(till.zrep()), 8)


def test_schema_invalid_names_element_and_line(till: Till) -> None:
    xml = till.open_shift().replace(b"<VER>1</VER>", b"<VER>1</VER><BOGUS>1</BOGUS>")
    text = expect_error(till.post_doc(xml), 9)
    assert "BOGUS" in text and "рядок" in text
    expect_error(till.post_doc(b"<CHECK><oops"), 9, contains="рядок")
    bad_money = till.small_sale().replace(b"<SUM>16.50</SUM>", b"<SUM>16.5</SUM>", 1)
    expect_error(till.post_doc(bad_money), 9, contains="SUM")


def test_broken_signature(till: Till, client: httpx.Client) -> None:
    signed = bytearray(till.signer.sign(till.open_shift()))
    signed[-5] ^= 0xFF  # inside the signature value
    r = client.post(
        till.fs_url + "/doc", content=bytes(signed), headers={"Content-Type": "application/octet-stream"}
    )
    expect_error(r, 12)
    r = client.post(
        till.fs_url + "/doc", content=b"not a cms", headers={"Content-Type": "application/octet-stream"}
    )
    expect_error(r, 12)


def test_content_type_and_size(till: Till, client: httpx.Client) -> None:
    signed = till.signer.sign(till.open_shift())
    assert (
        client.post(till.fs_url + "/doc", content=signed, headers={"Content-Type": "text/xml"}).status_code
        == 415
    )
    big = till.signer.sign(b"x" * (201 * 1024))
    r = client.post(till.fs_url + "/doc", content=big, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 416


def test_unknown_registrar(till: Till) -> None:
    till.fiscal_number = "4000000999"
    expect_error(till.post_doc(till.open_shift()), 1, status=404)


def test_closed_registrar(emu: Emulator, client: httpx.Client, till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    client.post(emu.url + "/emulator/registrars", json={"fiscal_number": FN, "closed": True})
    expect_error(till.post_doc(till.small_sale()), 1, contains="скасовано")
    ticket_of(till.send(till.zrep()))  # closing the open shift is still allowed
    ticket_of(till.send(till.close_shift()))
    expect_error(till.post_doc(till.open_shift()), 1)
    assert till.state()["Closed"] is True


def test_registration_data_must_match(till: Till) -> None:
    expect_error(till.post_doc(till.open_shift(TIN="12345678")), 3)
    expect_error(till.post_doc(till.open_shift(ORGNM="ТОВ Інша")), 9, contains="реєстраційних даних")
    expect_error(till.post_doc(till.open_shift(IPN="111111111111")), 9, contains="реєстраційних даних")
    expect_error(till.post_doc(till.open_shift(CASHDESKNUM=7)), 9, contains="реєстраційних даних")


def test_storno_only_of_the_last_document(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    first = ticket_of(till.send(till.small_sale()))
    ticket_of(till.send(till.small_sale()))
    expect_error(
        till.post_doc(till.storno(first["ORDERTAXNUM"])), 9, contains="Сторнуватись може лише останній"
    )


def test_storno_of_a_shift_document(till: Till) -> None:
    opened = ticket_of(till.send(till.open_shift()))
    expect_error(till.post_doc(till.storno(opened["ORDERTAXNUM"])), 9, contains="Сторнуватись")


def test_return_of_a_nonexistent_check(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    expect_error(till.post_doc(till.refund("123456789")), 9, contains="123456789")
    # a sale of another registrar is not ours to check
    ticket_of(till.send(till.refund("123456789", ORDERRETCASHREGNUM="4000000555")))


def test_wrong_zrep_totals(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    ticket_of(till.send(till.small_sale()))
    text = expect_error(
        till.post_doc(till.zrep(realiz=ZPart("16.00", 1, [(0, "ГОТІВКА", "16.00")]))),
        9,
        contains="ZREPREALIZ/SUM",
    )
    assert "16.50" in text
    text = expect_error(till.post_doc(till.zrep(realiz=ZPart("16.50", 2))), 9, contains="ORDERSCNT")
    text = expect_error(
        till.post_doc(till.zrep(realiz=ZPart("16.50", 1, [(1, "КАРТКА", "16.50")]))), 9, contains="PAYFORMS"
    )
    ok = ZPart("16.50", 1, [(0, "ГОТІВКА", "16.50")], [Tax("А", "20.00", "16.50", "2.75")])
    expect_error(till.post_doc(till.zrep(realiz=ok, service_in="1.00")), 9, contains="SERVICEINPUT")
    ticket_of(till.send(till.zrep(realiz=ok)))


def test_inconsistent_sums(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    bad_total = till.small_sale().replace(b"<CHECKTOTAL><SUM>16.50", b"<CHECKTOTAL><SUM>17.50")
    expect_error(till.post_doc(bad_total), 9, contains="CHECKPAY")
    bad_vat = till.small_sale().replace(b"<SUM>2.75</SUM>", b"<SUM>2.95</SUM>")
    expect_error(till.post_doc(bad_vat), 9, contains="ПДВ")


def test_testing_and_real_documents_do_not_mix(till: Till) -> None:
    till.testing = True
    ticket_of(till.send(till.open_shift()))
    assert till.state()["Testing"] is True
    till.testing = False
    expect_error(till.post_doc(till.small_sale()), 9, contains="тестов")


def test_offline_marks_on_an_online_document(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    expect_error(till.post_doc(till.small_sale(OFFLINE="true")), 9, contains="OFFLINE")
    expect_error(till.post_doc(till.small_sale(ORDERTAXNUM="1.2.3")), 9, contains="ORDERTAXNUM")


def test_only_the_shift_holder_and_registered_operators_sign(
    emu: Emulator, client: httpx.Client, till: Till
) -> None:
    ticket_of(till.send(till.open_shift()))
    stranger = DevSigner.generate("Петренко Петро")
    expect_error(till.post_doc(till.small_sale(), signer=stranger), 2, status=401)
    client.post(emu.url + "/emulator/registrars", json={"fiscal_number": FN, "operators": ["abcdef"]})
    expect_error(till.post_doc(till.small_sale()), 2, status=401)


def test_strict_mode_refuses_dev_signatures(tmp_path: Path, client: httpx.Client) -> None:
    with Emulator(tmp_path / "strict", strict=True) as emu:
        till = make_till(emu, client)
        expect_error(till.post_doc(till.open_shift()), 12, contains="ДСТУ 4145")


# --- commands and transport ----------------------------------------------------------------------------


def test_commands_and_transport(emu: Emulator, client: httpx.Client, till: Till) -> None:
    r = till.cmd("ServerState", signed=False)
    assert r.status_code == 200 and "UID" in r.json()
    datetime.fromisoformat(r.json()["Timestamp"])
    expect_error(till.cmd("NoSuchCommand"), 11)
    expect_error(till.cmd("TransactionsRegistrarState"), 11)
    assert till.cmd("TransactionsRegistrarState", NumFiscal="4000000999").status_code == 204
    # the state needs a signature (issue 15: «Запит повинен містити JSON, засвідчений КЕП користувача»)
    expect_error(till.cmd("TransactionsRegistrarState", signed=False, NumFiscal=FN), 12)  # CryptographyError
    state = till.cmd("TransactionsRegistrarState", NumFiscal=FN, IncludeTaxObject=True).json()
    assert state["NextLocalNum"] == 1 and state["OfflineSupported"] is True and state["Closed"] is False
    assert state["TaxObject"]["Tin"] == till.tin and state["TaxObject"]["OrgName"] == till.org_name
    assert state["TaxObject"]["TransactionsRegistrars"][0]["NumFiscal"] == int(FN)
    objects = till.cmd("Objects").json()["TaxObjects"]
    assert objects[0]["Name"] == till.point_name
    assert till.cmd("LastShiftTotals", NumFiscal=FN).status_code == 204
    assert client.post(emu.fs_url + "/nothing", content=b"{}").status_code == 403
    assert client.post(emu.url + "/elsewhere", content=b"{}").status_code == 403
    assert client.get(emu.fs_url + "/cmd").status_code == 405
    r = client.post(emu.fs_url + "/cmd", content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_gzip_body(emu: Emulator, client: httpx.Client, till: Till) -> None:
    import gzip

    signed = till.signer.sign(till.open_shift())
    r = client.post(
        emu.fs_url + "/doc",
        content=gzip.compress(signed),
        headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
    )
    ticket_of(r)


# --- faults --------------------------------------------------------------------------------------------


def set_fault(emu: Emulator, client: httpx.Client, **fault: Any) -> None:
    r = client.post(emu.url + "/emulator/fault", json=fault)
    assert r.status_code == 200, r.text


def test_fault_down_and_error500(emu: Emulator, client: httpx.Client, till: Till) -> None:
    set_fault(emu, client, mode="down", count=1)
    with pytest.raises(httpx.TransportError):
        till.post_doc(till.open_shift())
    assert till.state()["NextLocalNum"] == 1  # nothing processed, and count=1 is used up
    set_fault(emu, client, mode="error500")
    assert till.post_doc(till.open_shift()).status_code == 500
    assert till.cmd("ServerState").status_code == 500
    set_fault(emu, client, mode="none")
    assert till.state()["NextLocalNum"] == 1
    ticket_of(till.send(till.open_shift()))


def test_fault_slow(emu: Emulator, client: httpx.Client, till: Till) -> None:
    set_fault(emu, client, mode="slow", delay_s=0.3, count=1)
    started = time.monotonic()
    ticket_of(till.send(till.open_shift()))
    assert time.monotonic() - started >= 0.3  # a lower bound: a loaded machine only makes it longer
    # count=1 is used up: the fault is off, so the next request is not held (no upper bound on time)
    assert client.get(emu.url + "/emulator/fault").json()["mode"] == "none"
    assert till.state()["NextLocalNum"] == 2


def test_fault_drop_reply_registers_then_drops(emu: Emulator, client: httpx.Client, till: Till) -> None:
    set_fault(emu, client, mode="drop-reply")
    with pytest.raises(httpx.TransportError):
        till.post_doc(till.open_shift())
    # /cmd still answers, so the till can reconcile: the document was registered
    assert till.state()["NextLocalNum"] == 2
    info = till.cmd("DocumentInfoByLocalNum", NumFiscal=FN, NumLocal=1).json()
    assert info["CheckDocType"] == 100
    set_fault(emu, client, mode="none")


def test_fault_drop_reply_then_down(emu: Emulator, client: httpx.Client, till: Till) -> None:
    """A lost reply followed by an outage: the document is registered, then nothing answers."""
    set_fault(emu, client, mode="drop-reply", count=1, then="down")
    with pytest.raises(httpx.TransportError):
        till.post_doc(till.open_shift())
    with pytest.raises(httpx.TransportError):
        till.state()
    set_fault(emu, client, mode="none")
    assert till.state()["NextLocalNum"] == 2
    r = client.post(emu.url + "/emulator/fault", json={"mode": "drop-reply", "then": "down"})
    assert r.status_code == 400 and r.json()["field"] == "then"  # without a count it would never follow


def test_fault_reject_next(emu: Emulator, client: httpx.Client, till: Till) -> None:
    set_fault(emu, client, mode="reject-next")
    assert till.state()["NextLocalNum"] == 1  # /cmd is not affected
    expect_error(till.post_doc(till.open_shift()), 9)
    ticket_of(till.send(till.open_shift()))
    assert client.get(emu.url + "/emulator/fault").json()["mode"] == "none"


def test_fault_bad_request(emu: Emulator, client: httpx.Client) -> None:
    r = client.post(emu.url + "/emulator/fault", json={"mode": "sideways"})
    assert r.status_code == 400 and r.json()["field"] == "mode"


# --- control surface -----------------------------------------------------------------------------------


def test_control_registrars(emu: Emulator, client: httpx.Client) -> None:
    r = client.post(emu.url + "/emulator/registrars", json={"fiscal_number": "4000000002"})
    assert r.status_code == 200
    body = r.json()
    assert body["tin"] and body["org_name"] and body["state"]["NextLocalNum"] == 1
    # no range before the first open shift (issue 15: it comes with that document's ticket)
    assert body["state"]["OfflineSessionId"] is None and body["state"]["OfflineSupported"] is True
    r = client.post(
        emu.url + "/emulator/registrars", json={"fiscal_number": "4000000002", "offline_allowed": False}
    )
    assert r.json()["state"]["OfflineSessionId"] is None and r.json()["state"]["OfflineSupported"] is False
    for bad in (
        {"fiscal_number": "40x"},
        {"fiscal_number": "1", "tin": "12"},
        {"fiscal_number": "1", "colour": 1},
        {"fiscal_number": "1", "local_number": 0},
        {"fiscal_number": "1", "offline_reserve": "many"},
    ):
        r = client.post(emu.url + "/emulator/registrars", json=bad)
        assert r.status_code == 400, bad
        assert r.json()["field"] in bad
    states = client.get(emu.url + "/emulator/state").json()
    assert [s["NumFiscal"] for s in states] == ["4000000002"]


def test_clock_offset_moves_registration_time(emu: Emulator, client: httpx.Client, till: Till) -> None:
    r = client.post(emu.url + "/emulator/clock", json={"offset_s": 86400 * 2})
    assert r.status_code == 200
    shifted = datetime.fromisoformat(r.json()["now"])
    assert (shifted - datetime.now(UTC)).total_seconds() > 86000
    ticket = ticket_of(till.send(till.open_shift()))
    assert ticket["ORDERDATE"] == f"{shifted:%d%m%Y}"


def test_restart_keeps_state(tmp_path: Path, client: httpx.Client) -> None:
    state_dir = tmp_path / "persist"
    with Emulator(state_dir) as emu:
        till = make_till(emu, client)
        opened = ticket_of(till.send(till.open_shift()))
        ticket_of(till.send(till.small_sale()))
        session = till.state()["OfflineSessionId"]
        set_fault(emu, client, mode="error500", count=5)
    with Emulator(state_dir) as emu:
        till.fs_url = emu.fs_url
        assert client.get(emu.url + "/emulator/fault").json()["count"] == 5
        set_fault(emu, client, mode="none")
        state = till.state()
        assert (state["NextLocalNum"], state["ShiftState"], state["OfflineSessionId"]) == (3, 1, session)
        assert state["OpenShiftFiscalNum"] == opened["ORDERTAXNUM"]
        docs = client.get(emu.url + "/emulator/documents", params={"registrar": FN}).json()
        assert [d["local_number"] for d in docs] == [1, 2]
        nxt = ticket_of(till.send(till.small_sale()))
        assert int(nxt["ORDERTAXNUM"]) > int(docs[-1]["fiscal_number"])


def test_run_as_a_module(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.emulator", "--listen", "127.0.0.1:0", "--state", str(tmp_path / "s")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        r = httpx.post(url + "/fs/cmd", json={"Command": "ServerState", "UID": "1"})
        assert r.status_code == 200 and r.json()["UID"] == "1"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# --- offline packages ----------------------------------------------------------------------------------


def test_control_number_official_vector() -> None:
    prev = "cdd68bb111f8993f3603f0179341571b35b73a07d5acee9b28fbfb714698e1b3"
    assert (
        control_number("179625192271939", "20082020", "142338", "10", "4000002411", "10", None, prev) == 4758
    )


def test_package_framing() -> None:
    assert build_package([b"one", b"two-two"]) == b"\x03\x00\x00\x00one\x07\x00\x00\x00two-two"
    assert split_package(build_package([b"one", b"two-two"])) == [b"one", b"two-two"]


def post_pck(till: Till, body: bytes) -> httpx.Response:
    return till.client.post(
        till.fs_url + "/pck", content=body, headers={"Content-Type": "application/octet-stream"}
    )


def offline_session(till: Till) -> OfflineSession:
    state = till.state()
    till.when = datetime.now(UTC).replace(microsecond=0)
    return OfflineSession(till, int(state["OfflineSessionId"]), str(state["OfflineSeed"]))


def test_offline_package(emu: Emulator, client: httpx.Client, till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    session.add(lambda **kw: till.sale(**kw), chained=True, total="417.66")
    r = post_pck(till, session.package())
    assert r.status_code == 200 and r.text == "OK"
    state = till.state()
    assert state["NextLocalNum"] == 5 and state["OfflineNextLocalNum"] == 4
    assert state["OfflineSessionId"] == session.session_id

    # the second package ends the session and hands out the next one
    session.signed.clear()
    session.add(lambda **kw: till.service_in(**kw), chained=True, total="100.58")
    session.add(lambda **kw: till.check_end(**kw), chained=True)
    r = post_pck(till, session.package())
    assert r.status_code == 200, r.text
    reply = r.json()
    state = till.state()
    assert state["OfflineSessionId"] == reply["OfflineSessionId"] != session.session_id
    assert state["OfflineSeed"] == str(reply["OfflineSeed"]) and state["OfflineNextLocalNum"] == 1
    assert state["NextLocalNum"] == 7

    docs = client.get(emu.url + "/emulator/documents", params={"registrar": FN}).json()
    offline = [d for d in docs if d["offline"]]
    assert [d["fiscal_number"].split(".")[:2] for d in offline] == [
        [str(session.session_id), str(n)] for n in range(1, 6)
    ]
    assert all(d["offline_seed"] == session.seed for d in offline)
    totals = till.cmd("LastShiftTotals", NumFiscal=FN).json()["Totals"]
    assert totals["Real"]["OrdersCount"] == 2 and totals["ServiceInput"] == 100.58


def test_offline_package_is_atomic_and_names_the_document(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="99.99")  # wrong control number
    text = expect_error(post_pck(till, session.package()), 10, contains="№ 2")
    assert "контрольне число" in text
    state = till.state()
    assert state["NextLocalNum"] == 2 and state["OfflineNextLocalNum"] == 1


def test_offline_package_checks_the_hash_chain(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    session.prev_hash = "0" * 64
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    expect_error(post_pck(till, session.package()), 10, contains="PREVDOCHASH")


def test_offline_package_wrong_session_and_limits(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    session.session_id += 1
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    expect_error(post_pck(till, session.package()), 10, contains="№ 0")
    too_many = till.signer.sign(build_package([b"x"] * 101))
    expect_error(post_pck(till, too_many), 10, contains="100")
    signed = bytearray(session.package())
    signed[-5] ^= 0xFF
    expect_error(post_pck(till, bytes(signed)), 12)


def test_json_helpers_are_plain(emu: Emulator, client: httpx.Client) -> None:
    # the control surface is JSON all the way, so shell tools can drive it
    r = client.get(emu.url + "/emulator/documents")
    assert r.headers["Content-Type"].startswith("application/json") and json.loads(r.text) == []


def test_stop_leaves_no_threads_or_port(tmp_path: Path) -> None:
    import socket
    import threading

    before = set(threading.enumerate())
    emu = Emulator(tmp_path / "t").start()
    host, port = emu.address
    idle = httpx.Client(timeout=5)  # a keep-alive connection left open across stop()
    assert idle.post(emu.fs_url + "/cmd", json={"Command": "ServerState"}).status_code == 200
    emu.stop()
    idle.close()
    assert set(threading.enumerate()) <= before
    with socket.socket() as s:
        # closed connections may linger in TIME_WAIT; what matters is that nobody listens any more
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))


def test_online_refused_while_an_offline_session_is_open(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    assert post_pck(till, session.package()).status_code == 200
    till.when = None
    expect_error(till.post_doc(till.small_sale()), 9, contains="103")
    session.signed.clear()
    till.when = session.till.when or datetime.now(UTC).replace(microsecond=0)
    session.add(lambda **kw: till.check_end(**kw), chained=True)
    assert post_pck(till, session.package()).status_code == 200
    till.when = None
    ticket_of(till.send(till.small_sale()))


def test_revoke_last_online_document(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    lost = ticket_of(till.send(till.small_sale()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(REVOKELASTONLINEDOC="true", **kw), chained=False)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    session.add(lambda **kw: till.check_end(**kw), chained=True)
    r = post_pck(till, session.package())
    assert r.status_code == 200 and set(r.json()) == {"OfflineSessionId", "OfflineSeed"}
    info = till.cmd("DocumentInfoByLocalNum", NumFiscal=FN, NumLocal=2).json()
    assert info["NumFiscal"] == lost["ORDERTAXNUM"] and info["Revoked"] is True
    assert till.cmd("LastShiftTotals", NumFiscal=FN).json()["Totals"]["Real"]["OrdersCount"] == 1


def test_revoking_an_open_shift_document_is_refused(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(REVOKELASTONLINEDOC="true", **kw), chained=False)
    expect_error(post_pck(till, session.package()), 10, contains="№ 0")


def test_revoking_a_storno_restores_the_check_it_cancelled(till: Till) -> None:
    """A storno is a check (financially significant, ФСКО ЕВПЗ note of 06.10.2023): it may be revoked, and
    the sale it cancelled counts again, so the storno made again offline is accepted."""
    ticket_of(till.send(till.open_shift()))
    sale = ticket_of(till.send(till.small_sale()))
    lost = ticket_of(till.send(till.storno(sale["ORDERTAXNUM"])))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(REVOKELASTONLINEDOC="true", **kw), chained=False)
    session.add(lambda **kw: till.storno(sale["ORDERTAXNUM"], **kw), chained=True)
    session.add(lambda **kw: till.check_end(**kw), chained=True)
    r = post_pck(till, session.package())
    assert r.status_code == 200, r.text
    info = till.cmd("DocumentInfoByLocalNum", NumFiscal=FN, NumLocal=3).json()
    assert info["NumFiscal"] == lost["ORDERTAXNUM"] and info["Revoked"] is True
    assert till.cmd("LastShiftTotals", NumFiscal=FN).json()["Totals"]["Real"]["OrdersCount"] == 0


def test_revoking_a_close_shift_document_is_refused(till: Till) -> None:
    ticket_of(till.send(till.open_shift()))
    ticket_of(till.send(till.zrep()))
    ticket_of(till.send(till.close_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(REVOKELASTONLINEDOC="true", **kw), chained=False)
    expect_error(post_pck(till, session.package()), 10, contains="CloseShift")


def test_shift_opened_and_closed_offline(till: Till) -> None:
    # the first shift online: it brings the range (issue 15)
    ticket_of(till.send(till.open_shift()))
    ticket_of(till.send(till.zrep()))
    ticket_of(till.send(till.close_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.open_shift(**kw), chained=False)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    zpart = ZPart("16.50", 1, [(0, "ГОТІВКА", "16.50")], [Tax("А", "20.00", "16.50", "2.75")])
    session.add(lambda **kw: till.zrep(realiz=zpart, **kw), chained=True)
    session.add(lambda **kw: till.close_shift(**kw), chained=True)  # after the first check: in the chain
    session.add(lambda **kw: till.check_end(**kw), chained=True)
    r = post_pck(till, session.package())
    assert r.status_code == 200, r.text
    state = till.state()
    assert state["ShiftState"] == 0 and state["NextLocalNum"] == 10


def test_offline_session_time_limit(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client, max_session_hours=1)
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    assert till.when is not None
    till.when = till.when.replace(microsecond=0) + timedelta(hours=2)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    expect_error(post_pck(till, session.package()), 10, contains="тривалість")


def test_offline_prohibited(emu: Emulator, client: httpx.Client) -> None:
    till = make_till(emu, client, offline_allowed=False)
    ticket = ticket_of(till.send(till.open_shift()))
    assert "OFFLINESESSIONID" not in ticket
    state = till.state()
    assert state["OfflineSessionId"] is None and state["OfflineSeed"] is None
    assert state["OfflineNextLocalNum"] is None and state["OfflineSupported"] is False


def test_control_surface_is_loopback_only(tmp_path: Path) -> None:
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outgoing address
        address = probe.getsockname()[0]
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    if address.startswith("127."):
        pytest.skip("no non-loopback address on this machine")
    with Emulator(tmp_path / "lan", listen=("0.0.0.0", 0)) as emu, httpx.Client(timeout=5) as c:
        port = emu.address[1]
        assert c.get(f"http://{address}:{port}/emulator/state").status_code == 403
        assert c.get(f"http://127.0.0.1:{port}/emulator/state").status_code == 200
        assert c.post(f"http://{address}:{port}/fs/cmd", json={"Command": "ServerState"}).status_code == 200
