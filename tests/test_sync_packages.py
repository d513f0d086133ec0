"""Offline packages (reference §4.8): how documents are cut into packages, how large one document may
be so that a package can always carry it, and a package the server refuses for its size."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agent.secr import documents as docs
from agent.secr import server as server_module
from agent.secr import upload as upload_module
from agent.secr.errors import DocumentTooLarge
from agent.secr.register import Mode
from agent.secr.server import frame_package
from agent.secr.signing import DevSigner
from agent.secr.signing.dstu.identity import dstu_signer_from_file
from agent.secr.sync import (
    MAX_REQUEST_BYTES,
    OFFLINE_MARK_ALLOWANCE,
    largest_document,
    largest_xml,
    package_prefix,
    signature_overhead,
    split_packages,
)
from tests.conftest import TAXES, Box, EmulatorHandle, cash, item
from tests.test_offline import Link
from tests.test_register import assert_emulator_numbering
from tests.test_till_api import LICENSE, TillApi


def test_splits_at_100_documents() -> None:
    packages = split_packages(list(range(250)), [1000] * 250)
    assert [len(p) for p in packages] == [100, 100, 50]


def test_splits_at_200_kb() -> None:
    sizes = [30_000] * 10
    packages = split_packages(list(range(10)), sizes)
    assert [len(p) for p in packages] == [6, 4]
    for package in packages:
        assert sum(sizes[i] + 4 for i in package) <= MAX_REQUEST_BYTES


def test_a_document_journaled_before_the_size_rule_still_goes_alone() -> None:
    # Never made since (see below); one an older box made is sent alone, so the server's refusal names it.
    assert package_prefix([300_000, 10]) == 1


@pytest.mark.parametrize("kind", ["dev", "dstu"])
def test_the_limit_is_what_one_package_really_carries(tmp_path: Path, kind: str) -> None:
    signer = (
        DevSigner.generate() if kind == "dev" else dstu_signer_from_file(tmp_path / "dstu.json", "Тест Касир")
    )
    envelope = signature = signature_overhead(signer.sign)  # the same signer signs documents and packages
    # The largest document (the offline one's XML at its limit, signed) in a package, signed again: the
    # request is within 200 KB, and not by much (the margin is DER lengths, not a guess).
    document = signer.sign(os.urandom(largest_xml(envelope, signature, offline=True)))
    assert len(document) <= largest_document(envelope)
    request = signer.sign(frame_package([document]))
    assert MAX_REQUEST_BYTES - 128 < len(request) <= MAX_REQUEST_BYTES
    # An online document leaves room for the offline mark it gets when it must be made again offline.
    assert largest_xml(envelope, signature, offline=False) == largest_xml(
        envelope, signature, offline=True
    ) - (OFFLINE_MARK_ALLOWANCE)


def lines_of_size(count: int, name_length: int) -> list[docs.Item]:
    return [item(name=f"{i:03d} " + "Т" * name_length, price="1.00") for i in range(count)]


def xml_size(box: Box, items: list[docs.Item]) -> int:
    head = docs.DocHead(
        uid=str(uuid.uuid4()), seller=box.register.seller(), when=box.register.clock.now(), order_num=99
    )
    return len(docs.render(docs.sale(head, items, [cash(f"{len(items)}.00")], TAXES)))


def test_an_oversized_document_is_never_made(box: Box, emulator: EmulatorHandle) -> None:
    """Issue 9, scenario 3: a 300-line sale, valid against the schema but larger than any package can
    carry, is refused before it is journaled, online and offline, with a 400 naming the limit; a sale at
    the limit is made offline and delivered in its package."""
    reg = box.register
    reg.open_shift()
    huge = lines_of_size(300, 900)
    counted = (box.journal.count(), box.journal.next_local_num())
    with pytest.raises(DocumentTooLarge, match=r"at most \d+ bytes") as online:
        reg.sell(huge, [cash("300.00")], request_id="huge")
    assert "make it as 2 receipts" in str(online.value)
    assert (box.journal.count(), box.journal.next_local_num()) == counted  # nothing journaled, no number used
    assert reg.status().blocked_reason is None
    # Through the till API: a 400 naming the limit, not a 409 "call support".
    api = TillApi(box)
    try:
        token = httpx.post(f"{api.url}/api/v1/cashier/signinPinCode", json={"pin_code": "1234"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "X-License-Key": LICENSE}
        goods = [
            {"good": {"code": str(i), "name": line.name, "price": 100, "tax": [1]}, "quantity": 1000}
            for i, line in enumerate(huge)
        ]
        answer = httpx.post(
            f"{api.url}/api/v1/receipts/sell",
            json={"goods": goods, "payments": [{"type": "CASH", "value": 30000}]},
            headers=headers,
        )
        assert answer.status_code == 400 and answer.json()["code"] == "document_too_large"
        assert "at most" in answer.json()["message"]
    finally:
        api.server.stop()
    assert (box.journal.count(), box.journal.next_local_num()) == counted
    # Offline: refused the same way, and no 102 is made for it.
    link = Link(box)
    link.cut()
    with pytest.raises(DocumentTooLarge):
        reg.sell(huge, [cash("300.00")])
    assert reg.status().mode == Mode.ONLINE and box.journal.count() == counted[0]
    # Just under the limit (one line less than would go over): made offline, and its package delivered.
    count = 1
    while xml_size(box, lines_of_size(count + 1, 900)) + 300 < largest_xml(
        box.client.package_envelope, signature_overhead(box.signer.sign), offline=False
    ):
        count += 1
    at_limit = reg.sell(lines_of_size(count, 900), [cash(f"{count}.00")])
    assert at_limit.offline
    link.restore()
    report = reg.go_online()
    assert report.went_online and report.documents_delivered == 3  # 102, the sale, 103
    assert len(assert_emulator_numbering(emulator)) == 4  # the open shift, 102, the sale, 103


def test_a_package_refused_for_its_size_is_sent_again_in_smaller_ones(
    box: Box, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server counts differently from the box: it refuses the package with HTTP 416 (reference §1.2).
    The box sends it again split, never unchanged."""
    reg = box.register
    reg.open_shift()
    link = Link(box)
    link.cut()
    for _ in range(30):
        reg.sell(lines_of_size(40, 200), [cash("40.00")])
    link.restore()
    # The box believes one package takes 10 MB; the emulator, like the server, takes 200 KB.
    real: Callable[..., list[list[object]]] = upload_module.split_packages
    monkeypatch.setattr(
        upload_module,
        "split_packages",
        lambda items, sizes, **limits: real(items, sizes, **{**limits, "max_bytes": 10 << 20}),
    )
    monkeypatch.setattr(server_module, "MAX_REQUEST_BYTES", 10 << 20)
    report = reg.go_online()
    assert report.went_online and report.documents_delivered == 32
    assert report.packages_sent >= 2
    assert len(assert_emulator_numbering(emulator)) == 33
