"""`fiscal-box demo`: a scripted, self-contained story on loopback.

Starts the fiscal server emulator and a cash register against it (dev signer, journal in a temp dir),
then tells the story: open a shift, sell, return, cash in and out, storno; the server goes down in the
middle of a sale and the box sells on offline; the server comes back and the batch is uploaded; an X
report, the Z report (offline sales included) and the close. The receipts go to a file printer; the
offline LED (on gpiozero's mock pins, so any machine runs it) follows the status as it would on a Pi.
At the end it draws an online receipt, an offline one, the Z report and the status slip as PNG files
in the receipts directory, as they came out on the printer, and says where.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from agent.clock import SystemClock, kyiv
from agent.emulator import Emulator
from agent.printing import PrintService
from agent.receipts import Layout, layout_x_report, to_png, to_text
from agent.receipts.slip import layout_slip
from agent.secr import documents as docs
from agent.secr.journal import Journal
from agent.secr.register import CashRegister, Fiscalized, Registrar
from agent.secr.server import FiscalServerClient
from agent.secr.signing import DevSigner
from agent.status import PrinterPart, Snapshot, led_pattern
from drivers.drawer import CashDrawer
from drivers.led import LedPattern, StatusLed
from drivers.printer import ReceiptPrinter

DEMO_REGISTRAR: dict[str, Any] = {
    "fiscal_number": "4000000001",
    "local_number": 1,
    "tin": "34554362",
    "ipn": "345543620000",
    "org_name": 'ТОВ "ДЕМО МАГАЗИН"',
    "point_name": "Магазин «Біля дому»",
    "point_address": "м. Київ, вул. Прикладна, 1",
    "offline_allowed": True,
    "offline_reserve": None,
}

DEMO_TAXES = {
    1: docs.Tax(code=1, letter="А", rate=Decimal("20.00"), name="ПДВ"),
    2: docs.Tax(code=2, letter="Б", rate=Decimal("7.00"), name="ПДВ"),
}


def post_json(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


class Story:
    def __init__(self, out: TextIO, receipts_dir: Path) -> None:
        self.out = out
        self.receipts_dir = receipts_dir
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        self.out.write(f"[{time.monotonic() - self.started:6.2f}s] {text}\n")
        self.out.flush()

    def keep(self, label: str, result: Fiscalized) -> str:
        path = self.receipts_dir / f"{result.local_num:04d}-{label}.xml"
        path.write_bytes(result.xml)
        mode = "ОФЛАЙН" if result.offline else "ОНЛАЙН"
        total = f", {result.total:.2f} грн" if result.total is not None else ""
        at = kyiv(result.registered_at).strftime("%H:%M:%S")
        self.say(
            f"{label}: fiscal № {result.fiscal_num} (local {result.local_num}{total}) {mode} at {at} → {path.name}"
        )
        return result.fiscal_num


BREAD = docs.Item(name="Хліб житній", quantity=Decimal("2"), price=Decimal("28.50"), tax_codes=(1,))
ONE_BREAD = docs.Item(name="Хліб житній", quantity=Decimal("1"), price=Decimal("28.50"), tax_codes=(1,))
MILK = docs.Item(name="Молоко 2,5% 0,9 л", quantity=Decimal("1"), price=Decimal("41.90"), tax_codes=(1,))
APPLES = docs.Item(name="Яблука", quantity=Decimal("1.235"), price=Decimal("32.00"), tax_codes=(2,))
CASH = docs.Payment(form=docs.PayForm.CASH, name="ГОТІВКА", amount=Decimal("200.00"))
CARD = docs.Payment(
    form=docs.PayForm.CARD,
    name="КАРТКА",
    amount=Decimal("41.90"),
    payment_system="VISA",
    card_mask="4111********1111",
    auth_code="123456",
    rrn="000123456789",
)
CASHIER = "Іваненко І. І."
#: contract §5's LED codes as a technician reads them
LED_WORDS = {
    LedPattern.OFF: "off (online, all well)",
    LedPattern.SLOW_BLINK: "slow blink (offline, selling normally)",
    LedPattern.DOUBLE_FLASH: "double flash (uploading the offline documents)",
    LedPattern.FAST_BLINK: "fast blink (offline with a warning)",
    LedPattern.STEADY: "steady (sales blocked)",
}


class DemoShop:
    """The box of the story: a register on the emulator, its printer following the journal's queue."""

    def __init__(self, story: Story, base: Path, emulator: Emulator) -> None:
        self.story = story
        self.emulator = emulator
        self.paper = base / "printer.escpos"
        printer = ReceiptPrinter("file", path=self.paper, width_mm=58)
        signer = DevSigner.from_file(base / "box" / "dev-key.pem", common_name="Іваненко Іван Іванович")
        self.client = FiscalServerClient(emulator.fs_url, signer, timeout_s=5)
        self.journal = Journal(base / "box" / "journal.sqlite")
        self.led = StatusLed(17, pin_factory="mock")
        clock = SystemClock()
        self.clock = clock
        # What the story ends by drawing as pictures (see pictures()), kept as the story makes it.
        self.shown: dict[str, Fiscalized] = {}
        # The printer follows the journal's print queue, not the story: whatever the register makes
        # printable is printed, as it would be for a document made through the till API or the CLI.
        self.printing = PrintService(
            printer, CashDrawer("printer", printer=printer), journal=self.journal, clock=clock
        )
        self.register = CashRegister(
            journal=self.journal,
            server=self.client,
            signer=signer,
            registrar=Registrar(fiscal_number=str(DEMO_REGISTRAR["fiscal_number"])),
            taxes=DEMO_TAXES,
            clock=clock,
            # The register queues each printable document in its fiscal transaction and its
            # `fiscalized` event wakes the print worker.
            print_documents=True,
            events=self.printing.on_event,
        )

    def fault(self, mode: str) -> None:
        post_json(f"{self.emulator.url}/emulator/fault", {"mode": mode})

    def show_led(self) -> None:
        pattern = led_pattern(Snapshot(register=self.register.status(), at=self.clock.now()))
        self.led.show(pattern)
        self.story.say(f"  LED: {LED_WORDS[pattern]}")

    def morning(self) -> None:
        story, register = self.story, self.register
        register.start()
        seller = register.seller()
        story.say(f"box started: {seller.org_name}, {seller.point_name}; registration data from the server")
        story.keep("open-shift", register.open_shift(cashier=CASHIER))
        first = register.sell([BREAD, MILK, APPLES], [CASH], cashier=CASHIER)
        self.shown["online-receipt"] = first
        sale = story.keep("sale", first)
        story.keep("sale-card", register.sell([MILK], [CARD], cashier=CASHIER))
        back = docs.Payment(form=docs.PayForm.CASH, name="ГОТІВКА", amount=Decimal("28.50"))
        story.keep("return", register.refund([ONE_BREAD], [back], sale_fiscal_num=sale, cashier=CASHIER))
        story.keep("cash-in", register.cash_in(Decimal("500.00"), cashier=CASHIER))
        story.keep("cash-out", register.cash_out(Decimal("150.00"), cashier=CASHIER))
        story.keep(
            "sale", register.sell([BREAD], [docs.Payment(docs.PayForm.CASH, "ГОТІВКА", Decimal("57.00"))])
        )
        story.keep("storno", register.storno_last(cashier=CASHIER))
        self.show_led()

    def outage(self) -> None:
        story, register = self.story, self.register
        story.say("— the fiscal server goes down (emulator fault: connections dropped mid-request) —")
        self.fault("down")
        story.keep("sale-outage", register.sell([MILK], [CARD], cashier=CASHIER))
        story.say(
            "  the online attempt got no answer, so the box opened an offline session (102) with the range"
            " it holds and made the sale again offline"
        )
        offline_sales = [register.sell([BREAD, APPLES], [CASH], cashier=CASHIER) for _ in range(3)]
        for sale in offline_sales:
            story.keep("sale-offline", sale)
        self.shown["offline-receipt"] = offline_sales[-1]
        story.say("  an offline receipt as the printer gets it:")
        for line in to_text(self.printing.receipt_layout(offline_sales[-1])).splitlines():
            story.out.write(f"          | {line}\n")
        status = register.status()
        story.say(
            f"  status: {status.mode.value}, {status.pending_documents} documents waiting, offline"
            f" {status.session_minutes} of {status.max_session_minutes} min this session"
        )
        self.show_led()

    def back_online(self) -> None:
        story = self.story
        story.say("— the fiscal server is back —")
        self.fault("none")
        report = self.register.go_online()
        story.say(
            f"go online: {report.packages_sent} package(s), {report.documents_delivered} documents delivered"
            f" (the 103 closed the session); mode now {report.mode.value}"
        )
        if report.revoked_online_fiscal_num:
            story.say(
                f"  the online copy of the sale lost at the outage (fiscal № {report.revoked_online_fiscal_num})"
                " was revoked by the 102 (REVOKELASTONLINEDOC): the sale counts once"
            )
        self.show_led()
        story.keep("sale", self.register.sell([APPLES], [CASH], cashier=CASHIER))

    def evening(self) -> None:
        story, register, printing = self.story, self.register, self.printing
        x = register.x_report()
        printing.enqueue(
            layout_x_report(
                x.report,
                printed_at=x.report.head.when,
                width_chars=printing.width,
                shift_opened_at=x.opened_at,
            )
        )
        realiz = x.report.realiz
        story.say(
            f"X report (not fiscal): {x.receipts_count} receipts, sales {realiz.sum if realiz else Decimal(0):.2f} грн,"
            f" returns {x.report.ret.sum if x.report.ret else Decimal(0):.2f} грн"
        )
        z, close = register.close_shift(cashier=CASHIER)
        self.shown["z-report"] = z
        story.keep("z-report", z)
        story.keep("close-shift", close)

    def summary(self) -> None:
        story = self.story
        registered = get_json(
            f"{self.emulator.url}/emulator/documents?registrar={DEMO_REGISTRAR['fiscal_number']}"
        )
        revoked = sum(1 for d in registered if d.get("revoked"))
        story.say(
            f"the emulator holds {len(registered)} documents ({revoked} revoked), each local number once;"
            f" the journal {self.journal.count()}"
        )
        story.say(f"receipts (fiscal XML as registered) are in {story.receipts_dir}")
        printed = self.printing.drain()
        left = len(self.journal.unprinted())
        self.printing.close()
        story.say(
            f"the printer (a file printer here) got {self.paper.stat().st_size} bytes of ESC/POS in {self.paper}:"
            f" the receipts and the Z report from the journal's print queue, and the X report"
            + ("" if printed and not left else f" but {left} still queued ({self.printing.last_error})")
        )
        self.pictures()

    def pictures(self) -> None:
        """The online and the offline receipt, the Z report and the slip as PNGs, the paper's width."""
        story, printing = self.story, self.printing
        layouts: dict[str, Layout] = {name: printing.receipt_layout(r) for name, r in self.shown.items()}
        state, error, warning = printing.printer_state()
        printer = PrinterPart(state, error, warning) if state is not None else None
        status = Snapshot(register=self.register.status(), at=self.clock.now(), printer=printer).to_dict()
        layouts["slip"] = layout_slip(
            status,
            box_id="demo",
            fiscal_number=str(DEMO_REGISTRAR["fiscal_number"]),
            printed_at=self.clock.now(),
            width_chars=printing.width,
        )
        try:
            pictures = {name: to_png(layout) for name, layout in layouts.items()}
        except FileNotFoundError as exc:  # no monospaced Cyrillic font on this machine: the story stands
            story.say(f"no pictures of the receipts: {exc}")
            return
        story.say("pictures of the paper (PNG):")
        for name, png in pictures.items():
            path = story.receipts_dir / f"{name}.png"
            path.write_bytes(png)
            story.say(f"  {name}: {path}")

    def close(self) -> None:
        self.led.close()
        self.client.close()
        self.journal.close()


def run_demo(*, serve: bool = False, out: TextIO = sys.stdout, workdir: Path | None = None) -> int:
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fiscal-box-demo-"))
    receipts = base / "receipts"
    receipts.mkdir(parents=True, exist_ok=True)
    story = Story(out, receipts)
    story.say(f"fiscal-box demo — everything lives in {base}")
    with Emulator(base / "emulator") as emulator:
        story.say(f"fiscal server emulator listening on {emulator.fs_url}")
        post_json(f"{emulator.url}/emulator/registrars", DEMO_REGISTRAR)
        story.say(
            f"registrar {DEMO_REGISTRAR['fiscal_number']} registered with the emulator (offline allowed)"
        )
        shop = DemoShop(story, base, emulator)
        shop.morning()
        shop.outage()
        shop.back_online()
        shop.evening()
        shop.summary()
        if serve:
            story.say(f"serving: emulator at {emulator.url} — press Ctrl+C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        shop.close()
    story.say("demo finished")
    return 0
