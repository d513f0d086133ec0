"""Building the box's parts from the settings: signer, register, printer, LED, button, modem. The agent
(agent/app.py) and the CLI commands that run without an agent (agent/commands.py) build them the same way."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gpiozero.pins.mock import MockFactory

from agent.clock import Clock, SystemClock
from agent.config import Settings
from agent.events import EventSink
from agent.printer_memory import AnswerMemory, printer_key, remembered_answers
from agent.printing import PrintService
from agent.receipts import Layout
from agent.receipts.slip import layout_slip
from agent.secr.errors import SignerError
from agent.secr.journal import Journal
from agent.secr.offline import Limits
from agent.secr.register import CashRegister
from agent.secr.server import FiscalServerClient
from agent.secr.signing import DevSigner, Signer
from agent.secr.signing.dstu.cades import DstuSigner
from agent.secr.signing.dstu.keystore import KeyContainerError, load_signer
from agent.secr.signing.tsp import TimeStampClient, tsp_url_from_certificate
from drivers.button import StatusButton
from drivers.drawer import CashDrawer
from drivers.led import StatusLed
from drivers.modem import Modem
from drivers.printer import ReceiptPrinter

log = logging.getLogger("fiscal-box")

JOURNAL_FILE = "journal.sqlite"
#: how often the print worker asks an idle printer its state (the status model's printer part)
PRINTER_STATUS_EVERY_S = 10.0


def build_signer(settings: Settings) -> Signer:
    cfg = settings.signer
    if cfg.kind == "dev":
        return DevSigner.from_file(cfg.key_file)
    password = None
    if cfg.password_file is not None:
        try:
            password = cfg.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SignerError(
                f"signer.password_file {cfg.password_file} cannot be read: {exc.strerror}",
                what_to_do="check the path and that the file is readable by the box",
            ) from exc
    try:
        return load_signer(cfg.key_file, password=password, certificate_file=cfg.certificate_file)
    except KeyContainerError as exc:
        raise SignerError(f"signer.key_file {cfg.key_file}: {exc}", what_to_do="fix the [signer] section") from exc


def build_online_signer(settings: Settings, signer: Signer) -> Callable[[bytes], bytes] | None:
    """Online documents carry a qualified signature-time-stamp from the TSP named in the config or in
    the signer's certificate; without one the real server refuses them, so the box says so at start."""
    if not isinstance(signer, DstuSigner):
        return None
    url = settings.signer.tsp_url or tsp_url_from_certificate(signer.certificate.der)
    if url is None:
        log.warning(
            "signer: no time-stamp server (TSP) in the config or the certificate: online documents go"
            " without a signature-time-stamp, which the tax service's server refuses; set [signer] tsp_url"
        )
        return None
    client = TimeStampClient(url, timeout_s=settings.fiscal_server.timeout_s)
    log.info("online documents are time-stamped by %s", url)
    return lambda data: signer.sign(data, time_stamper=client.stamp)


def build_register(
    settings: Settings, *, clock: Clock | None = None, events: EventSink | None = None
) -> CashRegister:
    """The register on the state_dir's journal. Documents are queued for paper whenever a printer is
    configured, also when no agent runs (a lost reply that `fiscal-box go-online` settles is printed by
    the agent at its next start)."""
    signer = build_signer(settings)
    client = FiscalServerClient(
        settings.fiscal_server.url,
        signer,
        timeout_s=settings.fiscal_server.timeout_s,
        connect_timeout_s=settings.fiscal_server.connect_timeout_s,
    )
    return CashRegister(
        journal=Journal(settings.box.state_dir / JOURNAL_FILE),
        server=client,
        signer=signer,
        registrar=settings.registrar,
        taxes={tax.code: tax for tax in settings.taxes},
        clock=clock or SystemClock(),
        limits=Limits(
            max_session=timedelta(hours=settings.offline.max_session_hours),
            max_month=timedelta(hours=settings.offline.max_month_hours),
            warn_at_percent=settings.offline.warn_at_percent,
        ),
        check_interval_s=settings.offline.check_interval_s,
        probe_budget_s=settings.offline.probe_budget_ms / 1000,
        online_signer=build_online_signer(settings, signer),
        events=events,
        print_documents=settings.printer.enabled,
        clock_tolerance_s=settings.fiscal_server.clock_tolerance_s,
    )


def build_printing(
    settings: Settings,
    *,
    journal: Journal | None = None,
    clock: Clock | None = None,
    events: EventSink | None = None,
) -> PrintService | None:
    """The printer and the drawer behind it, or None when the printer is disabled. With ``journal`` it
    prints the journal's durable queue (the agent); without, only what it is handed (the CLI's slip)."""
    cfg = settings.printer
    if not cfg.enabled:
        return None
    port: str | int | None = (
        cfg.serial_port if cfg.kind == "serial" else cfg.tcp_port if cfg.kind == "network" else None
    )
    state_dir, key = settings.box.state_dir, printer_key(cfg)
    # The config's word first; without one, what an earlier run learned (True) or nothing yet (None).
    answers = cfg.answers_status if cfg.answers_status is not None else remembered_answers(state_dir, key)
    printer = ReceiptPrinter(
        cfg.kind,
        vendor_id=cfg.vendor_id,
        product_id=cfg.product_id,
        usb_in_ep=cfg.usb_in_ep,
        usb_out_ep=cfg.usb_out_ep,
        port=port,
        baudrate=cfg.baudrate,
        host=cfg.host,
        path=cfg.path,
        width_mm=cfg.width_mm,
        timeout_s=cfg.timeout_s,
        codepage=cfg.codepage,
        answers_status=answers,
    )
    drawer = None
    if settings.drawer.enabled:
        if settings.drawer.kind == "printer":
            drawer = CashDrawer("printer", printer=printer)
        else:
            factory = MockFactory() if settings.drawer.pin_factory == "mock" else None
            drawer = CashDrawer("gpio", pin=settings.drawer.pin, pin_factory=factory)
    service = PrintService(
        printer,
        drawer,
        journal=journal,
        clock=clock,
        events=events,
        status_every_s=PRINTER_STATUS_EVERY_S if journal is not None else None,
    )
    if journal is not None and cfg.answers_status is None:  # the agent learns; the CLI's slip only reads
        service.add_listener(AnswerMemory(printer, state_dir, key, remembered=answers is True))
    return service


def build_led(settings: Settings) -> StatusLed | None:
    """The offline LED, or None when ``[led] enabled = false``; drivers.led.LedError when its GPIO
    cannot be opened (no GPIO chip, the back-end missing, the pin in use)."""
    cfg = settings.led
    if not cfg.enabled:
        return None
    return StatusLed(cfg.pin, active_high=cfg.active_high, pin_factory=cfg.pin_factory)


def build_button(
    settings: Settings, *, on_short: Callable[[], None], on_long: Callable[[], None]
) -> StatusButton | None:
    """The status button, or None when ``[button] enabled = false``; drivers.button.ButtonError when its
    GPIO cannot be opened, as the LED's."""
    cfg = settings.button
    if not cfg.enabled:
        return None
    return StatusButton(
        cfg.pin,
        on_short=on_short,
        on_long=on_long,
        long_press_s=cfg.long_press_s,
        pull_up=cfg.pull_up,
        bounce_s=cfg.bounce_ms / 1000,
        pin_factory=cfg.pin_factory,
    )


def build_modem(settings: Settings) -> Modem | None:
    """The modem's AT port, or None when ``[modem] enabled = false``. Nothing is opened here: the first
    health() opens the port, so a modem that is not plugged in cannot fail the start. (``apn`` is the data
    connection's, which ModemManager brings up: the AT client only reads.)"""
    cfg = settings.modem
    if not cfg.enabled:
        return None
    return Modem(cfg.port, baudrate=cfg.baudrate)


def slip_layout(
    settings: Settings, status: dict[str, Any], width: int, *, go_online: dict[str, Any] | None = None
) -> Layout:
    """The status slip; with ``go_online`` (a go-online answer) it also says what that run did."""
    return layout_slip(
        status,
        box_id=settings.box.id,
        fiscal_number=settings.registrar.fiscal_number,
        printed_at=SystemClock().now(),
        width_chars=width,
        go_online=go_online,
    )
