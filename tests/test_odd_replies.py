"""Replies that are not the tax service's protocol, from real HTTP servers (issue 9, scenarios 4 and 6).

The emulator's ``garbage-200`` fault answers an HTML maintenance page with status 200 (after registering
what reached /doc or /pck); a tiny server in the test answers JSON of the wrong shape. Neither may stop the
box from selling as the law allows, nor end the agent's loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from agent.app import Agent
from agent.clock import SystemClock
from agent.config import load_config
from agent.secr import documents as docs
from agent.secr.journal import REGISTERED, REVOKED
from agent.secr.register import DuplicateRequest, Mode
from tests.conftest import Box, EmulatorHandle, cash, item
from tests.httpstub import Served
from tests.test_cli import write_config
from tests.test_register import assert_emulator_numbering


def test_a_200_with_garbage_takes_the_box_offline_and_the_lost_sale_counts_once(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    box = Box(tmp_path / "box", emulator.fs_url, timeout_s=2)
    reg = box.register
    reg.start()
    reg.open_shift()
    reg.sell([item(price="10.00")], [cash("10.00")])
    emulator.fault("garbage-200")  # a maintenance page: the server registers the sale, the box never hears
    during = reg.sell([item(price="42.00")], [cash("42.00")], request_id="during")
    assert during.offline and not during.delivered
    later = reg.sell([item(price="5.00")], [cash("5.00")])
    assert later.offline
    status = reg.status()
    assert status.mode == Mode.OFFLINE and status.blocked_reason is None and status.problem is None
    with pytest.raises(DuplicateRequest) as retried:  # the till retries: the same receipt, not a new one
        reg.sell([item(price="42.00")], [cash("42.00")], request_id="during")
    assert retried.value.result.fiscal_num == during.fiscal_num
    lost = box.journal.by_uid(emulator.documents()[-1]["uid"])  # type: ignore[arg-type]
    assert lost is not None and lost.local_num == 3  # the online sale the page answered
    emulator.fault("none")
    report = reg.go_online()
    assert report.went_online and report.revoked_online_fiscal_num is not None
    assert box.journal.document(lost.id).state == REVOKED  # type: ignore[union-attr]
    registered = assert_emulator_numbering(emulator)
    assert registered[2]["revoked"] and registered[2]["fiscal_number"] == report.revoked_online_fiscal_num
    assert all(box.journal.by_uid(d["uid"]).state in (REGISTERED, REVOKED) for d in registered)  # type: ignore[arg-type, union-attr]
    z, _ = reg.close_shift()
    assert isinstance(z.document, docs.ZReport) and z.document.realiz is not None
    assert z.document.realiz.orders_count == 3 and z.document.realiz.sum == Decimal("57.00")
    box.close()


class Proxy:
    """A real HTTP server in front of the emulator that answers one command with a body of its own."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.poison: tuple[bytes, bytes] | None = None  # (command name, the body answered instead)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                poison = proxy.poison
                # A signed command carries its JSON inside the CMS as it is: the name can be read there.
                if poison is not None and self.path.endswith("/cmd") and b'"Command": "%s"' % poison[0] in body:
                    status, content_type, answer = 200, "application/json", poison[1]
                else:
                    forwarded = httpx.post(
                        proxy.upstream + self.path[len("/fs") :],
                        content=body,
                        headers={"Content-Type": self.headers.get("Content-Type", "")},
                    )
                    status, answer = forwarded.status_code, forwarded.content
                    content_type = forwarded.headers.get("content-type", "")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.served = Served(Handler)
        self.url = self.served.url

    def close(self) -> None:
        self.served.close()


@pytest.fixture()
def proxy(emulator: EmulatorHandle) -> Iterator[Proxy]:
    front = Proxy(emulator.fs_url)
    yield front
    front.close()


WRONG_SHAPES = [
    pytest.param(b'{"NextLocalNum": "' + b"9" * 5000 + b'"}', "NextLocalNum", id="digits-no-counter-has"),
    pytest.param(
        b'{"ShiftState": 0, "NextLocalNum": 1, "OfflineSupported": true, "OfflineSessionId": 5008,'
        b' "OfflineSeed": 1, "OfflineSessionsMonthlyDuration": 1e300}',
        "OfflineSessionsMonthlyDuration",
        id="minutes-past-any-month",
    ),
    pytest.param(b"[1, 2, 3]", "not a JSON object", id="a-list"),
    pytest.param(b"[" * 50_000 + b"]" * 50_000, "not JSON", id="nested-past-the-parser"),
]


@pytest.mark.parametrize(("reply", "named"), WRONG_SHAPES)
def test_the_agent_starts_and_loops_through_replies_of_the_wrong_shape(
    tmp_path: Path, proxy: Proxy, reply: bytes, named: str
) -> None:
    config = load_config(write_config(tmp_path / "config.toml", proxy.url))
    first = Agent(config, SystemClock())
    first.start()  # a good server: the register learns who it is
    first.register.open_shift()
    first.close()
    proxy.poison = (b"TransactionsRegistrarState", reply)
    agent = Agent(config, SystemClock())
    try:
        agent.start()  # neither raises nor leaves the shop without sales (systemd would restart it in a loop)
        agent.tick()
        status = agent.status_dict()
        assert any(named in error for error in status["errors"]), status["errors"]
        sale = agent.register.sell([item()], [cash("10.00")])
        assert sale.fiscal_num and not sale.offline  # /doc answers as it should: the sale is online
        proxy.poison = None
        agent.tick()
        assert not any(named in error for error in agent.status_dict()["errors"])
    finally:
        agent.close()
