"""Offline mode as the law describes it, over real HTTP against the emulator, with an injected clock."""

from __future__ import annotations

import socket
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from agent.clock import KYIV, FakeClock
from agent.secr import documents as docs
from agent.secr import numbering
from agent.secr.errors import (
    NeverOnline,
    OfflineDocumentsRefused,
    OfflineMonthLimit,
    OfflineRangeExhausted,
    OfflineSessionLimit,
    ServerUnreachable,
)
from agent.secr.meta import Meta
from agent.secr.register import Fiscalized, Mode
from agent.secr.signing import DevSigner
from tests.conftest import REGISTRAR, Box, EmulatorHandle, cash, item, post_json
from tests.faults.proxy import Fault, FaultProxy
from tests.test_register import assert_emulator_numbering, run_harness
from tests.waiting import wait_for


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/fs"


class Link:
    """The box's uplink: cut makes the server refuse connections (nothing can arrive)."""

    def __init__(self, box: Box) -> None:
        self.box = box
        self.url = box.client.base_url
        self.dead = dead_url()

    def cut(self) -> None:
        self.box.client.base_url = self.dead

    def restore(self) -> None:
        self.box.client.base_url = self.url


def xml_head(emulator: EmulatorHandle, document: dict[str, object]) -> dict[str, str]:
    root = etree.fromstring(emulator.xml_of(document))  # type: ignore[arg-type]
    head = root.find("CHECKHEAD") if root.tag == "CHECK" else root.find("ZREPHEAD")
    assert head is not None
    return {child.tag: child.text or "" for child in head}


def test_outage_mid_shift_then_upload(obox: Box, emulator: EmulatorHandle, clock: FakeClock) -> None:
    reg = obox.register
    reg.open_shift(cashier="Тест")
    online = [reg.sell([item(price="10.00")], [cash("10.00")]) for _ in range(2)]
    link = Link(obox)
    link.cut()
    offline = []
    for i in range(5):
        clock.advance(minutes=3)
        offline.append(reg.sell([item(price=f"1{i}.50")], [cash(f"1{i}.50")]))
    assert all(r.offline and not r.delivered for r in offline)
    assert [r.local_num for r in offline] == [5, 6, 7, 8, 9]  # 4 is the 102
    session = {numbering.parse_offline_fiscal_number(r.fiscal_num)[0] for r in offline}
    assert len(session) == 1
    assert [numbering.parse_offline_fiscal_number(r.fiscal_num)[1] for r in offline] == [2, 3, 4, 5, 6]
    status = reg.status()
    assert status.mode == Mode.OFFLINE and status.pending_documents == 6 and status.session_minutes == 12
    # a return of an online sale, made offline
    refund = reg.refund([item(price="10.00")], [cash("10.00")], sale_fiscal_num=online[0].fiscal_num)
    assert refund.offline
    link.restore()
    report = reg.go_online()
    assert report.went_online and report.packages_sent == 1 and report.documents_delivered == 8
    assert reg.status().mode == Mode.ONLINE and reg.status().pending_documents == 0
    after = reg.sell([item()], [cash("10.00")])
    assert not after.offline
    z, _ = reg.close_shift()
    registered = assert_emulator_numbering(emulator)
    assert [d["doc_type"] for d in registered][3:12] == [102, 0, 0, 0, 0, 0, 0, 103, 0]
    assert all(d["offline"] for d in registered[3:11])
    zdoc = z.document
    assert isinstance(zdoc, docs.ZReport) and zdoc.realiz is not None and zdoc.ret is not None
    assert zdoc.realiz.orders_count == 8  # 2 online, 5 offline, 1 online after
    assert zdoc.realiz.sum == Decimal("20.00") + sum(Decimal(f"1{i}.50") for i in range(5)) + Decimal("10.00")
    assert zdoc.ret.orders_count == 1
    # the next session's range came with the last package
    assert reg.status().offline_session_id not in session


def test_lost_reply_is_revoked_in_the_102(tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock) -> None:
    box = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=0.5)
    box.register.start()
    box.register.open_shift()
    emulator.fault("slow", delay_s=1.5)  # the server registers the sale, but only after the box gave up
    sale = box.register.sell([item(price="42.00")], [cash("42.00")])
    assert sale.offline
    emulator.fault("none")
    wait_for(lambda: len(emulator.documents()) == 2, what="the delayed sale registered on the server")
    report = box.register.go_online()
    assert report.went_online and report.revoked_online_fiscal_num is not None
    registered = assert_emulator_numbering(emulator)
    lost = registered[1]
    assert (
        lost["doc_type"] == 0
        and lost["revoked"]
        and lost["fiscal_number"] == report.revoked_online_fiscal_num
    )
    assert xml_head(emulator, registered[2])["REVOKELASTONLINEDOC"] == "true"
    z, _ = box.register.close_shift()
    assert isinstance(z.document, docs.ZReport) and z.document.realiz is not None
    assert z.document.realiz.orders_count == 1 and z.document.realiz.sum == Decimal("42.00")
    box.close()


def test_session_limit_warns_refuses_and_sells_again_online(obox: Box, clock: FakeClock) -> None:
    reg = obox.register
    reg.open_shift()
    link = Link(obox)
    link.cut()
    reg.sell([item()], [cash("10.00")])
    clock.advance(hours=28)
    reg.sell([item()], [cash("10.00")])
    assert reg.status().warnings == ()
    clock.advance(hours=1)  # 29 h: past 80 % of 36 h
    reg.sell([item()], [cash("10.00")])
    assert "session_limit" in reg.status().warnings
    warned = [e.detail for e in obox.recorder.events if e.kind == "limit_warning"]
    assert [w["warning"] for w in warned] == ["session_limit"]  # once, not on every receipt
    reg.sell([item()], [cash("10.00")])
    assert len([1 for e in obox.recorder.events if e.kind == "limit_warning"]) == 1
    clock.advance(hours=7)  # 36 h
    count = obox.journal.count()
    with pytest.raises(OfflineSessionLimit, match="36 h"):
        reg.sell([item()], [cash("10.00")])
    assert obox.journal.count() == count
    assert reg.status().blocked_reason == "offline_session_limit"
    link.restore()
    assert reg.go_online().went_online
    assert not reg.sell([item()], [cash("10.00")]).offline


def test_month_limit_refuses_until_next_month(obox: Box, clock: FakeClock) -> None:
    reg = obox.register
    reg.open_shift()
    link = Link(obox)
    for _ in range(4):  # 4 sessions of 35 h = 140 h
        link.cut()
        reg.sell([item()], [cash("10.00")])
        clock.advance(hours=35)
        reg.sell([item()], [cash("10.00")])
        link.restore()
        assert reg.go_online().went_online
        clock.advance(hours=1)
    assert reg.status().month_minutes == 140 * 60
    link.cut()
    reg.sell([item()], [cash("10.00")])
    clock.advance(hours=27)
    reg.sell([item()], [cash("10.00")])
    assert "month_limit" in reg.status().warnings
    clock.advance(hours=1)  # 168 h this month
    with pytest.raises(OfflineMonthLimit, match="this month"):
        reg.sell([item()], [cash("10.00")])
    link.restore()
    assert reg.go_online().went_online
    clock.set(datetime(2026, 12, 1, 0, 30, tzinfo=KYIV))  # a new month counts afresh
    link.cut()
    assert reg.sell([item()], [cash("10.00")]).offline
    assert reg.status().month_minutes == 0


def test_reserve_used_up(tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock) -> None:
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, "offline_reserve": 5})
    box = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2)
    box.register.start()
    assert box.register.status().numbers_left == 4
    box.register.open_shift()
    link = Link(box)
    link.cut()
    box.register.sell([item()], [cash("10.00")])  # 102 is 1, this is 2
    box.register.sell([item()], [cash("10.00")])
    box.register.sell([item()], [cash("10.00")])
    assert box.register.status().numbers_left == 0  # 5 is kept for the 103
    with pytest.raises(OfflineRangeExhausted):
        box.register.sell([item()], [cash("10.00")])
    assert box.register.status().blocked_reason == "offline_range_exhausted"
    link.restore()
    assert box.register.go_online().went_online
    box.close()


def test_a_box_that_was_never_online_cannot_sell(tmp_path: Path) -> None:
    box = Box(tmp_path / "box", dead_url(), timeout_s=1)
    box.register.start()  # the server is unreachable: not fatal
    with pytest.raises(NeverOnline, match="never"):
        box.register.open_shift()
    assert box.journal.count() == 0
    box.close()


def test_offline_prohibited_is_known_from_the_start(tmp_path: Path, emulator: EmulatorHandle) -> None:
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, "offline_allowed": False})
    box = Box(tmp_path / "box", emulator.fs_url)
    box.register.start()
    assert box.register.status().offline_allowed is False
    box.close()


def test_shifts_opened_and_closed_offline(obox: Box, emulator: EmulatorHandle, clock: FakeClock) -> None:
    reg = obox.register
    reg.open_shift()
    reg.sell([item(price="5.00")], [cash("5.00")])
    link = Link(obox)
    link.cut()
    reg.sell([item(price="7.00")], [cash("7.00")])
    z1, close1 = reg.close_shift()
    assert z1.offline and close1.offline
    assert isinstance(z1.document, docs.ZReport) and z1.document.realiz is not None
    assert z1.document.realiz.sum == Decimal("12.00") and z1.document.realiz.orders_count == 2
    clock.advance(hours=1)
    opened = reg.open_shift()
    assert opened.offline
    reg.sell([item(price="3.00")], [cash("3.00")])
    reg.cash_in(Decimal("100.00"))
    storno_target = reg.sell([item(price="1.00")], [cash("1.00")])
    storno = reg.storno_last()
    assert storno.offline and storno.document.storno_num == storno_target.fiscal_num  # type: ignore[union-attr]
    z2, _ = reg.close_shift()
    assert isinstance(z2.document, docs.ZReport) and z2.document.realiz is not None
    assert z2.document.realiz.sum == Decimal("3.00") and z2.document.service_input == Decimal("100.00")
    link.restore()
    report = reg.go_online()
    assert report.went_online
    registered = assert_emulator_numbering(
        emulator
    )  # the emulator checked both Z reports against its own totals
    assert [d["doc_type"] for d in registered if d["offline"]] == [
        102,
        0,
        None,
        101,
        100,
        0,
        0,
        0,
        0,
        None,
        101,
        103,
    ]


def test_packages_split_at_100_documents(obox: Box, emulator: EmulatorHandle) -> None:
    reg = obox.register
    reg.open_shift()
    link = Link(obox)
    link.cut()
    for _ in range(230):
        reg.sell([item()], [cash("10.00")])
    link.restore()
    report = reg.go_online()
    assert report.went_online and report.packages_sent == 3 and report.documents_delivered == 232
    assert len(assert_emulator_numbering(emulator)) == 233


def test_packages_split_at_200_kb(obox: Box, emulator: EmulatorHandle) -> None:
    reg = obox.register
    reg.open_shift()
    link = Link(obox)
    link.cut()
    big = [item(name=f"Товар з дуже довгою назвою номер {i} " + "х" * 100, price="1.00") for i in range(60)]
    sizes = []
    for _ in range(30):
        sale = reg.sell(big, [cash("60.00")])
        sizes.append(len(obox.journal.document(sale.entry_id).signed))  # type: ignore[union-attr]
    assert sum(sizes) > 2 * 200 * 1024  # so at least three packages by size, far below 100 documents
    link.restore()
    report = reg.go_online()
    assert report.went_online and report.packages_sent >= 3
    assert len(assert_emulator_numbering(emulator)) == 33


def test_refused_package_is_kept_reported_and_resent(
    obox: Box, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    reg = obox.register
    reg.open_shift()
    link = Link(obox)
    link.cut()
    for _ in range(3):
        reg.sell([item()], [cash("10.00")])
    link.restore()
    post_json(f"{emulator.url}/emulator/registrars", {**REGISTRAR, "org_name": 'ТОВ "ІНША НАЗВА"'})
    with pytest.raises(OfflineDocumentsRefused) as info:
        reg.go_online()
    assert info.value.local_num is not None and "реєстраційних" in info.value.server_text
    status = reg.status()
    assert status.mode != Mode.ONLINE and status.pending_documents == 5  # 102, 3 sales, 103: all kept
    assert status.upload_error and str(info.value.local_num) in status.upload_error
    clock.advance(seconds=reg.check_interval_s + 1)
    assert any("still not delivered" in e for e in reg.status().errors)
    post_json(f"{emulator.url}/emulator/registrars", REGISTRAR)  # support fixed the registration data
    report = reg.go_online()
    assert report.went_online and report.documents_delivered == 5
    assert reg.status().upload_error is None
    assert len(assert_emulator_numbering(emulator)) == 6


def test_background_probe_brings_the_box_back(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    box = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2, auto_sync=True)
    box.register.start()
    box.register.open_shift()
    link = Link(box)
    link.cut()
    box.register.sell([item()], [cash("10.00")])
    link.restore()
    clock.advance(seconds=10)  # the last failed probe is no longer fresh
    sale = box.register.sell([item()], [cash("10.00")])
    # Issue 9, scenario 8: the probe found the server answering and the rest fits one package, so the
    # sale finished the session (103) first and was made online (it was made offline before).
    assert not sale.offline
    wait_for(lambda: box.register.status().mode == Mode.ONLINE, what="the upload the probe started")
    assert len(assert_emulator_numbering(emulator)) == 5
    box.close()


def test_a_slow_server_does_not_hold_offline_sales(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    """The probe before an offline document waits at most its budget: while the server holds its reply to
    every probe (and the probe's own timeout is longer than the test may take), three offline sales are
    made before any probe is answered."""
    with FaultProxy(emulator.fs_url) as proxy:
        box = Box(tmp_path / "box", proxy.fs_url, clock=clock, timeout_s=120, probe_budget_s=0.2)
        box.register.start()
        box.register.open_shift()
        link = Link(box)
        link.cut()
        box.register.sell([item()], [cash("10.00")])
        link.restore()
        proxy.set(Fault("hold-reply", paths=("/fs/cmd",)))
        clock.advance(seconds=10)
        sales: list[Fiscalized] = []

        def sell_three() -> None:
            for _ in range(3):
                sales.append(box.register.sell([item()], [cash("10.00")]))
                clock.advance(seconds=1)

        threading.Thread(target=sell_three, daemon=True).start()
        wait_for(lambda: len(sales) == 3, what="three offline sales while the server holds the probe's reply")
        assert all(sale.offline for sale in sales) and proxy.holding >= 1
        proxy.clear()
        proxy.release()
        box.close()


def test_offline_documents_carry_verifiable_numbers(obox: Box) -> None:
    reg = obox.register
    reg.open_shift()
    Link(obox).cut()
    first = reg.sell([item(price="12.34")], [cash("12.34")])
    second = reg.sell([item(price="5.00")], [cash("5.00")])
    for result in (first, second):
        doc = result.document
        assert isinstance(doc, docs.Check) and doc.head.offline is not None
        _session, _, control = numbering.parse_offline_fiscal_number(result.fiscal_num)
        seed = Meta(obox.journal).session_seed
        assert seed is not None
        assert control == numbering.control_number(
            seed=seed,
            when=doc.head.when,
            order_num=doc.head.order_num,
            cash_register_num=doc.head.seller.cash_register_num,
            cash_desk_num=doc.head.seller.cash_desk_num,
            total=docs.control_sum(doc),
            prev_doc_hash=doc.head.offline.prev_doc_hash,
        )
    assert first.document.head.offline.prev_doc_hash is None  # type: ignore[union-attr]
    first_signed = obox.journal.document(first.entry_id).signed  # type: ignore[union-attr]
    assert second.document.head.offline.prev_doc_hash == numbering.document_hash(first_signed)  # type: ignore[union-attr]


def test_upload_killed_half_way_resumes_without_duplicates(tmp_path: Path, emulator: EmulatorHandle) -> None:
    state = tmp_path / "box"
    assert run_harness(state, emulator.fs_url, "open").returncode == 0
    emulator.fault("down")
    made = run_harness(state, emulator.fs_url, "sell", "--count", "150")
    assert made.returncode == 0, made.stderr
    emulator.fault("none")
    killed = run_harness(state, emulator.fs_url, "go-online", "--crash", "after_package")
    assert killed.returncode == -9, killed.stderr
    first_package = len(emulator.documents())
    assert first_package > 2  # the server took the first package; the box never heard it did
    resumed = run_harness(state, emulator.fs_url, "go-online")
    assert resumed.returncode == 0, resumed.stderr
    registered = assert_emulator_numbering(emulator)  # continuous, each number once: no duplicates
    # open, the sale lost at the outage (delivered then revoked), 102, 150 sales, 103
    assert len(registered) == 154
    assert sum(1 for d in registered if d["revoked"]) == 1
    assert registered[-1]["doc_type"] == 103


def test_an_unreachable_time_stamp_service_makes_the_sale_offline(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    """Online documents need a time-stamp; when its service is gone the sale is made offline, not lost."""
    signer = DevSigner.generate()
    stamping = {"up": True}

    def online_signer(data: bytes) -> bytes:  # the signer plus a time-stamp service that may be down
        if not stamping["up"]:
            raise ServerUnreachable("the time-stamp service cannot be reached")
        return signer.sign(data)

    box = Box(
        tmp_path / "box",
        emulator.fs_url,
        clock=clock,
        timeout_s=2,
        signer=signer,
        online_signer=online_signer,
    )
    box.register.start()
    box.register.open_shift()
    stamping["up"] = False
    sale = box.register.sell([item()], [cash("10.00")])
    assert sale.offline
    assert box.journal.count(state="void") == 0  # nothing was journaled for the online attempt
    stamping["up"] = True
    assert box.register.go_online().went_online
    registered = assert_emulator_numbering(emulator)
    assert [d["doc_type"] for d in registered] == [100, 102, 0, 103]
    box.close()
