"""Render a typical 15-line online receipt and send it to python-escpos's Dummy printer (the bytes a
printer would get): the median and p99 in milliseconds of layout + ESC/POS + "send", at 58 and 80 mm.
Target (issue 13): median under 10 ms. The document is the parsed registered XML, as the print worker
prints from; signing and the journal are not in the figure (bench/online_receipt.py has those).

usage: python bench/print_receipt.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.printing import to_print_lines
from agent.receipts import layout_receipt
from agent.secr import documents as docs
from bench.common import percentile, timed
from drivers.printer import ReceiptPrinter
from tests.test_receipts import TAXES, head

GOODS = [
    "Хліб білий", "Молоко 2,5% 900 г", "Масло вершкове 82%", "Яйця курячі С1, 10 шт", "Сир твердий",
    "Ковбаса варена", "Яблука Голден", "Банани", "Цукор 1 кг", "Борошно вищий ґатунок", "Олія соняшникова",
    "Кава мелена 250 г", "Чай чорний", "Печиво вівсяне", "Вода мінеральна 1,5 л",
]  # fmt: skip


def receipt() -> docs.Document:
    items = [
        docs.Item(name=name, quantity=Decimal(1 + i % 3), price=Decimal(f"{10 + 7 * i}.{i % 10}0"), tax_codes=(1,))
        for i, name in enumerate(GOODS)
    ]
    total = sum((item.quantity * item.price for item in items), Decimal(0))
    sale = docs.sale(head(2), items, [docs.Payment(form=0, name="ГОТІВКА", amount=total)], TAXES)
    return docs.parse(docs.render(sale))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    document = receipt()
    for width_mm in (58, 80):
        printer = ReceiptPrinter("dummy", width_mm=width_mm)

        def one(printer: ReceiptPrinter = printer) -> None:
            layout = layout_receipt(document, offline=False, fiscal_num="1384554129", width_chars=printer.width)
            printer.print_lines(to_print_lines(layout, printer.columns))

        timed(20, one)  # warm: the first print loads python-escpos's capabilities
        ms = timed(args.runs, one)
        print(
            f"15-line receipt, {width_mm} mm, layout + ESC/POS to the Dummy printer: median"
            f" {statistics.median(ms):.2f} ms, p99 {percentile(ms, 99):.2f} ms over {args.runs} (target: median < 10 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
