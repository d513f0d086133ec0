"""A 15-line receipt sent over a serial line (a pseudo-terminal at 115200 baud) to tests/printer_sim.py, a
printer that answers status queries: what one receipt costs the print worker with the box's checks --
DLE EOT before, GS r 1 confirmation after -- and sent blind to a printer that never answers, the median
and p99 in milliseconds. The simulator prints instantly, so the figure is the box's and the line's share;
a real printer adds its own printing time to the confirmed figure (the worker waits for it; a sale never
does).

usage: python bench/print_confirmed.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.printing import to_print_lines
from agent.receipts import layout_receipt
from bench.common import percentile, timed
from bench.print_receipt import receipt
from drivers.printer import ReceiptPrinter
from tests.printer_sim import SimulatedPrinter


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    document = receipt()
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimulatedPrinter(Path(tmp) / "ttyUSB0")
        try:
            for answers, label in ((None, "asked and confirmed"), (False, "sent blind (no status)")):
                printer = ReceiptPrinter(
                    "serial", port=str(sim.path), baudrate=115200, width_mm=58, answers_status=answers
                )
                layout = layout_receipt(document, offline=False, fiscal_num="1384554129", width_chars=32)
                lines = to_print_lines(layout, printer.columns)
                timed(5, lambda p=printer, ls=lines: p.print_lines(ls))
                ms = timed(args.runs, lambda p=printer, ls=lines: p.print_lines(ls))
                printer.close()
                print(
                    f"15-line receipt, 58 mm, serial pty, {label}: median {statistics.median(ms):.2f} ms,"
                    f" p99 {percentile(ms, 99):.2f} ms over {args.runs}"
                )
            whole = sum(1 for sheet, _ in sim.receipts() if sheet.whole)
            print(f"whole receipts on the simulated paper: {whole} of {2 * (args.runs + 5)}")
        finally:
            sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
