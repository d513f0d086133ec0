from datetime import datetime
from decimal import Decimal

from agent.clock import KYIV
from agent.secr.numbering import (
    control_number,
    document_hash,
    offline_fiscal_number,
    parse_offline_fiscal_number,
)


def test_official_control_number_example() -> None:
    """Reference §9.1: the tax service's worked example gives 4758."""
    control = control_number(
        seed="179625192271939",
        when=datetime(2020, 8, 20, 14, 23, 38, tzinfo=KYIV),
        order_num=10,
        cash_register_num=4000002411,
        cash_desk_num=10,
        prev_doc_hash="cdd68bb111f8993f3603f0179341571b35b73a07d5acee9b28fbfb714698e1b3",
    )
    assert control == 4758
    assert offline_fiscal_number(5008, 3, control) == "5008.3.4758"


def test_sum_changes_the_control_number() -> None:
    base = dict(
        seed=1, when=datetime(2026, 1, 1, tzinfo=KYIV), order_num=1, cash_register_num=1, cash_desk_num=1
    )
    assert control_number(**base, total=Decimal("1.00")) != control_number(**base, total=Decimal("2.00"))  # type: ignore[arg-type]


def test_parse_and_hash() -> None:
    assert parse_offline_fiscal_number("82563.25.6127") == ("82563", 25, 6127)
    assert document_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
