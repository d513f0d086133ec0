"""The register asks the uplinks before it goes offline (agent/secr/context.py ``Uplinks``): a request
that failed in the second or two before the route moved to LTE is tried once more over the new way
instead of spending the offline budget while the server can be reached. Over real HTTP against the
emulator; the uplinks are a stand-in whose "failover" puts the box's link back (tests/netns.py and
tests/test_uplinks_agent_netns.py test the real monitor on real routing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.clock import FakeClock
from agent.emulator import Emulator
from agent.secr.errors import CryptographyRejected, ServerUnreachable
from agent.secr.meta import Mode
from agent.secr.signing import DevSigner
from tests.conftest import REGISTRAR, Box, EmulatorHandle, cash, item, post_json
from tests.test_offline import Link
from tests.test_register import assert_emulator_numbering
from tests.waiting import wait_for


class Uplinks:
    """Says what a real monitor would, running ``failover`` (the route moving) when it is asked."""

    def __init__(self, moved: bool, failover: Callable[[], None] = lambda: None) -> None:
        self.moved = moved
        self.failover = failover
        self.asked: list[float] = []

    def way_out(self, since: float) -> bool:
        self.asked.append(since)
        self.failover()
        return self.moved


def kinds(emulator: EmulatorHandle) -> list[tuple[int, bool]]:
    return [(d["doc_type"], d["offline"]) for d in emulator.documents()]


def test_a_sale_whose_way_died_goes_out_over_the_new_route_not_offline(
    obox: Box, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    reg = obox.register
    reg.open_shift()
    link = Link(obox)
    uplinks = Uplinks(True, link.restore)
    reg.use_uplinks(uplinks)
    link.cut()  # the gateway dies; the uplinks move the route once asked
    started = clock.monotonic()
    sale = reg.sell([item()], [cash("10.00")])
    assert not sale.offline and sale.fiscal_num is not None
    assert reg.status().mode == Mode.ONLINE
    assert uplinks.asked == [started]  # asked once, with the time the sale began
    assert kinds(emulator) == [(100, False), (0, False)]  # the shift and the sale: no 102, nothing offline
    assert_emulator_numbering(emulator)


def test_a_lost_reply_before_the_failover_is_settled_not_registered_twice(
    obox: Box, emulator: EmulatorHandle
) -> None:
    reg = obox.register
    reg.open_shift()
    emulator.fault("drop-reply")  # the server registers the sale; its answer dies with the old way
    reg.use_uplinks(Uplinks(True, lambda: emulator.fault("none")))
    sale = reg.sell([item()], [cash("10.00")])
    assert not sale.offline
    registered = assert_emulator_numbering(emulator)  # each local number once
    assert len(registered) == 2 and registered[-1]["fiscal_number"] == sale.fiscal_num


def test_no_way_out_goes_offline_at_once_as_before(obox: Box, emulator: EmulatorHandle) -> None:
    reg = obox.register
    reg.open_shift()
    uplinks = Uplinks(False)
    reg.use_uplinks(uplinks)
    Link(obox).cut()  # both links down: the uplinks know of no other way
    sale = reg.sell([item()], [cash("10.00")])
    assert sale.offline
    assert len(uplinks.asked) == 1
    # Offline, the next sale is checked by the register's own probe, not by asking the uplinks again.
    assert reg.sell([item()], [cash("10.00")]).offline
    assert len(uplinks.asked) == 1


def test_a_new_route_that_fails_too_is_tried_once_then_offline(obox: Box, emulator: EmulatorHandle) -> None:
    reg = obox.register
    reg.open_shift()
    uplinks = Uplinks(True)  # says the route moved, but the server is not reached over it either
    reg.use_uplinks(uplinks)
    Link(obox).cut()
    assert reg.sell([item()], [cash("10.00")]).offline
    assert len(uplinks.asked) == 1


def test_uplinks_that_fail_to_answer_cost_no_sale(obox: Box, emulator: EmulatorHandle) -> None:
    class Broken:
        def way_out(self, since: float) -> bool:
            raise RuntimeError("the monitor is gone")

    reg = obox.register
    reg.open_shift()
    reg.use_uplinks(Broken())
    Link(obox).cut()
    assert reg.sell([item()], [cash("10.00")]).offline  # legal: the range is there and no way is known


def test_a_new_way_to_the_server_takes_an_offline_register_online_at_once(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    box = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2, auto_sync=True)  # as the agent's
    reg = box.register
    reg.start()
    reg.open_shift()
    link = Link(box)
    link.cut()
    assert reg.sell([item()], [cash("10.00")]).offline
    link.restore()
    # The periodic probe is 10 minutes off (the clock is not moved); the uplinks' news is enough.
    reg.network_changed()
    wait_for(lambda: reg.status().mode == Mode.ONLINE, what="online after the uplinks found a way")
    assert [kind for kind, _ in kinds(emulator)][-1] == 103  # the offline session closed and delivered
    box.close()


# --- signing: why the server is not reached when the network is not to blame ----------------------------


def test_a_time_stamp_service_out_of_reach_is_told_as_signing_until_a_document_is_accepted(
    tmp_path: Path, emulator: EmulatorHandle, clock: FakeClock
) -> None:
    signer = DevSigner.generate()
    stamping = {"up": True}

    def online_signer(data: bytes) -> bytes:
        if not stamping["up"]:
            raise ServerUnreachable("the time-stamp service cannot be reached")
        return signer.sign(data)

    box = Box(tmp_path / "box", emulator.fs_url, clock=clock, timeout_s=2, signer=signer, online_signer=online_signer)
    reg = box.register
    reg.start()
    reg.open_shift()
    assert reg.status().signing_error is None
    stamping["up"] = False
    assert reg.sell([item()], [cash("10.00")]).offline
    status = reg.status()
    assert status.signing_error is not None and "time-stamp" in status.signing_error
    assert any("signing fails" in error for error in status.errors)
    stamping["up"] = True
    assert reg.go_online().went_online
    assert reg.status().signing_error is not None  # delivered offline documents prove no time-stamp
    assert not reg.sell([item()], [cash("10.00")]).offline
    assert reg.status().signing_error is None
    box.close()


def test_a_signature_the_server_refuses_is_told_as_signing(tmp_path: Path) -> None:
    with Emulator(tmp_path / "emulator", strict=True) as strict:  # qualified signatures only
        post_json(f"{strict.url}/emulator/registrars", REGISTRAR)
        box = Box(tmp_path / "box", strict.fs_url)  # the dev signer's
        try:
            with pytest.raises(CryptographyRejected):
                box.register.start()
                box.register.open_shift()
            error = box.register.status().signing_error
            assert error is not None and "signature" in error
        finally:
            box.close()
