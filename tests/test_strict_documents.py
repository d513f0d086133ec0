"""Issue 15, documents: the emulator refuses each wrong document with the tax service's code and text (the
wrong one made by editing a good one's XML), the box's own documents pass, the official examples of the
kinds the box issues are judged as before, and the box's control numbers and hash chain agree with a
computation written here from the official text alone (fsko_evpz_doc.txt, «Розрахунок контрольного
числа», «Розрахунок гешу офлайн документа»). The table: docs/compliance.md."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from agent.clock import kyiv
from agent.emulator import Emulator, arithmetic, xmldoc
from agent.emulator.errors import FsError
from agent.emulator.offline import control_number
from tests.conftest import Box, EmulatorHandle, cash, item
from tests.emulator_helpers import OfflineSession, Tax, Till, ZPart
from tests.test_emulator import (
    client,
    emu,
    expect_error,
    good_zrep,
    make_till,
    offline_session,
    post_pck,
    ticket_of,
    till,
)
from tests.test_offline import Link

__all__ = ["client", "emu", "till"]  # the fixtures, used by name

#: beside the repository clone, as tests/test_documents.py has it, or above a worktree of it
EXAMPLES = next(
    (
        p / "shared/reference/examples"
        for p in Path(__file__).resolve().parents
        if (p / "shared/reference/examples").is_dir()
    ),
    Path("shared/reference/examples"),
)


@pytest.fixture
def lax(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "lax", lax_readings=True) as emulator:
        yield emulator


def edited(xml: bytes, old: str, new: str) -> bytes:
    text = xml.decode("cp1251")
    assert text.count(old) == 1, old
    return text.replace(old, new).encode("cp1251")


def opened(till: Till) -> Till:
    ticket_of(till.send(till.open_shift()))
    return till


# --- arithmetic ------------------------------------------------------------------------------------


def test_cost_is_amount_times_price(till: Till) -> None:
    bad = edited(opened(till).small_sale(), "<AMOUNT>1</AMOUNT>", "<AMOUNT>2</AMOUNT>")
    expect_error(till.post_doc(bad), 9, contains="COST 16.50 не дорівнює AMOUNT 2 × PRICE 16.50 = 33.00")
    ticket_of(till.send(till.small_sale()))


def test_a_row_letter_needs_its_tax_row(till: Till) -> None:
    bad = edited(opened(till).small_sale(), "<LETTERS>А</LETTERS>", "<LETTERS>АБ</LETTERS>")
    expect_error(till.post_doc(bad), 9, contains="літера «Б» з LETTERS «АБ» не має рядка податку")


def test_a_tax_row_needs_a_row_with_its_letter(till: Till) -> None:
    row = (
        '<ROW ROWNUM="2"><TYPE>0</TYPE><NAME>ПДВ</NAME><LETTER>В</LETTER><PRC>0.00</PRC><SIGN>false</SIGN>'
        "<TURNOVER>0.00</TURNOVER><SUM>0.00</SUM></ROW></CHECKTAX>"
    )
    bad = edited(opened(till).small_sale(), "</CHECKTAX>", row)
    expect_error(till.post_doc(bad), 9, contains="CHECKTAX літера «В»: жоден рядок CHECKBODY")


def test_change_is_provided_less_the_sum(till: Till) -> None:
    bad = edited(opened(till).sale(), "<REMAINS>82.34</REMAINS>", "<REMAINS>82.35</REMAINS>")
    expect_error(till.post_doc(bad), 9, contains="REMAINS 82.35 не дорівнює PROVIDED 400.00 − SUM 317.66")
    no_change = edited(
        till.small_sale(),
        "<SUM>16.50</SUM></ROW></CHECKPAY>",
        "<SUM>16.50</SUM><PROVIDED>16.50</PROVIDED><REMAINS>0.00</REMAINS></ROW></CHECKPAY>",
    )
    expect_error(till.post_doc(no_change), 9, contains="решта не зазначається, якщо вона відсутня")
    ticket_of(till.send(till.sale()))


def test_zrep_tax_bases_against_the_server(till: Till) -> None:
    opened(till)
    sale = ticket_of(till.send(till.sale()))
    ticket_of(till.send(till.refund(sale["ORDERTAXNUM"])))
    ticket_of(till.send(till.service_in()))
    ticket_of(till.send(till.service_out()))
    good = good_zrep(till)
    bad = edited(good, "<TURNOVER>397.16</TURNOVER>", "<TURNOVER>397.17</TURNOVER>")
    expect_error(till.post_doc(bad), 9, contains="ZREPREALIZ/TAXES літера «А» TURNOVER у звіті 397.17")
    ticket_of(till.send(good))


# --- registration data -----------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["POINTNM", "POINTADDR"])
def test_the_business_unit_is_the_registered_one(till: Till, tag: str) -> None:
    value = till.point_name if tag == "POINTNM" else till.point_address
    bad = edited(till.open_shift(), f"<{tag}>", f"<{tag}>Інший ")
    expect_error(till.post_doc(bad), 9, contains=f"Значення {tag} «Інший {value}» відрізняється")


# --- the readings ----------------------------------------------------------------------------------


def _cashed_16_49(till: Till, **kw: Any) -> bytes:
    """CHECKTOTAL/SUM 16.50 paid 16.49: within the emulator's one-kopeck tolerance, so the two readings of
    the control number's sum give different numbers."""
    return edited(
        till.small_sale(**kw), "<SUM>16.50</SUM></ROW></CHECKPAY>", "<SUM>16.49</SUM></ROW></CHECKPAY>"
    )


def _session_with(till: Till, total: str) -> OfflineSession:
    session = offline_session(opened(till))
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    # The control number has four digits: one seed and second in ten thousand gives both sums the same
    # number, and the test would prove nothing. Move the sale a second on until the readings differ.
    assert till.when is not None
    while True:
        when = kyiv(till.when)
        numbers = {
            control_number(
                session.seed,
                f"{when:%d%m%Y}",
                f"{when:%H%M%S}",
                str(till.next_local),
                till.fiscal_number,
                str(till.desk),
                amount,
                session.prev_hash,
            )
            for amount in ("16.49", "16.50")
        }
        if len(numbers) == 2:
            break
        till.when += timedelta(seconds=1)
    session.add(lambda **kw: _cashed_16_49(till, **kw), chained=True, total=total)
    return session


@pytest.mark.parametrize("strict", [True, False])
def test_the_control_number_takes_checktotal_sum(
    emu: Emulator, lax: Emulator, client: httpx.Client, strict: bool
) -> None:
    till = make_till(emu if strict else lax, client)
    r = post_pck(till, _session_with(till, "16.49").package())  # the CHECKPAY rows' sum
    if strict:
        expect_error(r, 10, contains="контрольне число")
    else:
        assert r.status_code == 200, r.text
    other = make_till(emu if strict else lax, client, fiscal_number="4000000002")
    other.fiscal_number = "4000000002"
    assert post_pck(other, _session_with(other, "16.50").package()).status_code == 200


@pytest.mark.parametrize("strict", [True, False])
def test_the_hash_is_of_the_signed_block(
    emu: Emulator, lax: Emulator, client: httpx.Client, strict: bool
) -> None:
    till = make_till(emu if strict else lax, client)
    session = offline_session(opened(till))
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    first = till.small_sale  # its XML is what a lax reading would hash
    xml_of_first: list[bytes] = []

    def remember(**kw: Any) -> bytes:
        xml_of_first.append(first(**kw))
        return xml_of_first[0]

    session.add(remember, chained=True, total="16.50")
    session.prev_hash = hashlib.sha256(xml_of_first[0]).hexdigest()
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    r = post_pck(till, session.package())
    if strict:
        expect_error(r, 10, contains="підписаного блоку")
    else:
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("strict", [True, False])
def test_shift_documents_take_part_in_the_chain(
    emu: Emulator, lax: Emulator, client: httpx.Client, strict: bool
) -> None:
    till = make_till(emu if strict else lax, client)
    session = offline_session(opened(till))
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    zpart = ZPart("16.50", 1, [(0, "ГОТІВКА", "16.50")], [Tax("А", "20.00", "16.50", "2.75")])
    session.add(lambda **kw: till.zrep(realiz=zpart, **kw), chained=True)
    session.add(lambda **kw: till.close_shift(**kw), chained=False)  # the reading that leaves it out
    r = post_pck(till, session.package())
    if strict:
        expect_error(r, 10, contains="Відсутній обов'язковий PREVDOCHASH")
    else:
        assert r.status_code == 200, r.text


# --- the official examples -------------------------------------------------------------------------

#: the kinds the box issues (tests/test_documents.py, SUPPORTED) and how the strict emulator judges them
ACCEPTED = [
    "check01(Знижки).xml",
    "check01(Два податки).xml",
    "check01(Заокруглення).xml",
    "check01(Службове внесення).xml",
    "check01(Службова видача).xml",
    "check01(Сторно).xml",
    "check01(Відкриття зміни).xml",
    "check01(Закриття зміни).xml",
    "check01(Початок офлайн сесії).xml",
    "check01(Завершення офлайн сесії).xml",
    "zrep01(Товар).xml",
    "zrep01(Податки).xml",
    "zrep01(Типи оплати).xml",
]
#: refused before issue 15 already, by xmldoc.check_sums: their sums are illustrative, not consistent
REFUSED = {
    "check01(Товар).xml": "TURNOVER 2583.78 не дорівнює сумі COST 298.16",
    "check01(Сплата сертифікатом частини суми).xml": "TURNOVER 2583.78 не дорівнює сумі COST 298.16",
    "check01(Повернення).xml": "CHECKTOTAL/SUM 23.44 не дорівнює сумі форм оплати",
    # the two known faulty ones (test_documents.test_known_faulty_examples_are_reported_clearly)
    "check01(Ломбард).xml": "UNITCD",
    "check01(Часткова сплата Передплата Заокруглення).xml": "не є коректним",
}


def _judge(name: str) -> None:
    doc = xmldoc.parse((EXAMPLES / name).read_bytes())
    xmldoc.check_sums(doc)
    arithmetic.check_document(doc.xml)


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="official examples not found")
def test_official_examples_under_the_strict_rules() -> None:
    for name in ACCEPTED:
        _judge(name)
    for name, why in REFUSED.items():
        with pytest.raises(FsError) as caught:
            _judge(name)
        assert caught.value.code == 9 and why in caught.value.text, (name, caught.value.text)


# --- the box's own documents, against a computation from the text ----------------------------------


def _crc_control(parts: list[str]) -> int:
    """«Від текстового рядку розраховується геш за алгоритмом CRC32 … як десяткове беззнаковое число. Із
    розрахованого гешу беруться 4 молодші розряди … Якщо … 0, призначається значення 1»; the DamienG class
    the text points at gives the CRC's bytes big-endian, read back little-endian (the worked example's
    0xbddbbda6 → 4758)."""
    crc = zlib.crc32(",".join(parts).encode("ascii"))
    value = int.from_bytes(crc.to_bytes(4, "big"), "little")
    return value % 10000 or 1


def test_the_worked_example_by_the_text() -> None:
    parts = [
        "179625192271939",
        "20082020",
        "142338",
        "10",
        "4000002411",
        "10",
        "cdd68bb111f8993f3603f0179341571b35b73a07d5acee9b28fbfb714698e1b3",
    ]
    assert _crc_control(parts) == 4758 == control_number(*parts[:6], None, parts[6])


def _head(xml: bytes) -> tuple[str, dict[str, str], etree._Element]:
    root = etree.fromstring(xml)
    head = root.find("CHECKHEAD") if root.tag == "CHECK" else root.find("ZREPHEAD")
    assert head is not None
    return str(root.tag), {str(c.tag): c.text or "" for c in head}, root


def test_the_box_numbers_and_chains_as_the_text_says(obox: Box, emulator: EmulatorHandle) -> None:
    reg = obox.register
    reg.open_shift()
    reg.sell([item(price="5.00")], [cash("5.00")])
    link = Link(obox)
    link.cut()
    reg.sell([item(price="7.00")], [cash("7.00")])
    reg.cash_in(Decimal("10.00"))
    reg.close_shift()
    reg.open_shift()
    reg.sell([item(price="3.00")], [cash("3.00")])
    link.restore()
    assert reg.go_online().went_online  # the strict emulator took every document
    offline = [d for d in emulator.documents() if d["offline"]]
    assert [d["doc_type"] for d in offline] == [102, 0, 0, None, 101, 100, 0, 103]
    prev: str | None = None  # the last chained document's hash; none before the first settlement one
    for d in offline:
        signed = base64.b64decode(d["signed_base64"])
        tag, head, root = _head(base64.b64decode(d["xml_base64"]))
        doc_type = None if tag == "ZREP" else int(head["DOCTYPE"])
        is_mark = doc_type in (102, 103)
        want_prev = None if doc_type == 102 else prev
        assert (head.get("PREVDOCHASH") or None) == want_prev, d
        parts = [
            d["offline_seed"],
            head["ORDERDATE"],
            head["ORDERTIME"],
            head["ORDERNUM"],
            head["CASHREGISTERNUM"],
            head["CASHDESKNUM"],
        ]
        total = root.findtext("CHECKTOTAL/SUM") if tag == "CHECK" else None
        if total is not None:
            parts.append(total)
        if want_prev is not None:
            parts.append(want_prev)
        assert int(head["ORDERTAXNUM"].split(".")[2]) == _crc_control(parts), d
        settlement = tag == "ZREP" or doc_type == 0
        if not is_mark and (settlement or prev is not None):
            prev = hashlib.sha256(signed).hexdigest()  # «блок документа … засвідчений КЕП»
