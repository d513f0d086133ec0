"""Wiring: builds every part from the settings, runs the loops, stops cleanly."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from gpiozero.pins.mock import MockFactory

from agent.clock import Clock, SystemClock
from agent.config import Settings, describe_disabled, load_config
from agent.control import ControlServer, Handler, go_online_answer, slip_answer
from agent.ownership import own_state_dir
from agent.printing import PrintService
from agent.receipts import Layout
from agent.receipts.slip import layout_slip
from agent.secr.errors import FiscalBoxError, NeedsPerson, RetryLater, SignerError
from agent.secr.journal import Journal
from agent.secr.offline import Limits
from agent.secr.register import CashRegister
from agent.secr.server import FiscalServerClient
from agent.secr.signing import DevSigner, Signer
from agent.secr.signing.dstu.cades import DstuSigner
from agent.secr.signing.dstu.keystore import KeyContainerError, load_signer
from agent.secr.signing.tsp import TimeStampClient, tsp_url_from_certificate
from agent.status import build_status, certificate_status, write_status
from agent.till_api.app import ApiContext, create_app
from agent.till_api.auth import Sessions
from agent.till_api.server import ApiServer
from drivers.drawer import CashDrawer
from drivers.printer import ReceiptPrinter

log = logging.getLogger("fiscal-box")

JOURNAL_FILE = "journal.sqlite"
NOT_BUILT_YET = ("led", "button", "mqtt", "uplinks", "modem")


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


def build_register(settings: Settings, *, clock: Clock | None = None) -> CashRegister:
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
    )


def build_printing(settings: Settings) -> PrintService | None:
    """The printer and the drawer behind it, or None when the printer is disabled."""
    cfg = settings.printer
    if not cfg.enabled:
        return None
    port: str | int | None = (
        cfg.serial_port if cfg.kind == "serial" else cfg.tcp_port if cfg.kind == "network" else None
    )
    printer = ReceiptPrinter(
        cfg.kind,
        vendor_id=cfg.vendor_id,
        product_id=cfg.product_id,
        port=port,
        baudrate=cfg.baudrate,
        host=cfg.host,
        path=cfg.path,
        width_mm=cfg.width_mm,
        timeout_s=cfg.timeout_s,
        codepage=cfg.codepage,
    )
    drawer = None
    if settings.drawer.enabled:
        if settings.drawer.kind == "printer":
            drawer = CashDrawer("printer", printer=printer)
        else:
            factory = MockFactory() if settings.drawer.pin_factory == "mock" else None
            drawer = CashDrawer("gpio", pin=settings.drawer.pin, pin_factory=factory)
    return PrintService(printer, drawer)


def slip_layout(settings: Settings, status: dict[str, Any], width: int) -> Layout:
    return layout_slip(
        status,
        box_id=settings.box.id,
        fiscal_number=settings.registrar.fiscal_number,
        printed_at=SystemClock().now(),
        width_chars=width,
    )


def control_handlers(
    settings: Settings,
    register: CashRegister,
    printing: PrintService | None,
    status_now: Callable[[], dict[str, Any]],
) -> dict[str, Handler]:
    """What `fiscal-box status | go-online | slip` run inside the agent, on its own register and
    printer (the protocol: agent/control.py)."""
    return {
        "status": lambda _args: status_now(),
        "go_online": lambda _args: go_online_answer(register),
        "slip": lambda _args: slip_answer(printing, lambda width: slip_layout(settings, status_now(), width)),
    }


def run_agent(config_path: str | Path, *, stop: threading.Event | None = None) -> int:
    settings = load_config(config_path)
    # From here to exit this process is the journal's only writer (agent/ownership.py).
    with own_state_dir(settings.box.state_dir):
        return _run_owned(settings, stop or threading.Event())


def _run_owned(settings: Settings, stop: threading.Event) -> int:
    # Over 60 lines on purpose: the agent's whole life in order (build, start, serve, stop), so the
    # order in which parts come up and go down is read in one place.
    for line in describe_disabled(settings):
        log.info(line)
    for part in NOT_BUILT_YET:
        section = getattr(settings, part)
        if getattr(section, "enabled", False):
            log.info("%s: not active: this part is not built yet", part)
    clock = SystemClock()
    register = build_register(settings, clock=clock)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    try:
        register.start()
    except NeedsPerson as exc:
        log.error("%s", exc)
    printing = build_printing(settings)

    def status_now(errors: list[str] | None = None) -> dict[str, Any]:
        now = clock.now()
        return build_status(
            register.status(),
            now=now,
            errors=errors,
            printer=printing.status() if printing else None,
            certificate=certificate_status(register.signer, now),
        )

    api: ApiServer | None = None
    try:
        if settings.api.enabled:
            api = start_till_api(settings, register, clock, printing, status_now)
        # Last, so that a CLI that gets an answer finds every part of the agent up.
        control = ControlServer(
            settings.box.state_dir, control_handlers(settings, register, printing, status_now)
        ).start()
    except NeedsPerson:
        if api is not None:
            api.stop()
        if printing is not None:
            printing.close()
        register.close()
        raise
    log.info("fiscal-box running for register %s", settings.registrar.fiscal_number)
    tick = min(5.0, settings.offline.check_interval_s)
    while True:
        errors: list[str] = []
        try:
            register.maintain()
        except RetryLater as exc:
            errors.append(str(exc))
        except FiscalBoxError as exc:
            errors.append(str(exc))
            log.error("%s", exc)
        write_status(settings.box.state_dir, status_now(errors))
        if stop.wait(tick):
            break
    control.stop()
    if api is not None:
        api.stop()
    if printing is not None:
        printing.close()
    register.close()
    return 0


def start_till_api(
    settings: Settings,
    register: CashRegister,
    clock: Clock,
    printing: PrintService | None,
    status_now: Callable[[], dict[str, Any]],
) -> ApiServer:
    assert settings.api.license_key is not None  # required by the config while the API is enabled
    context = ApiContext(
        register=register,
        sessions=Sessions(settings.cashiers, clock, ttl_s=settings.api.token_ttl_s),
        license_key=settings.api.license_key,
        taxes={tax.code: tax for tax in settings.taxes},
        fiscal_number=settings.registrar.fiscal_number,
        clock=clock,
        box_status=status_now,
        printing=printing,
        slip=(lambda: slip_layout(settings, status_now(), printing.width)) if printing else None,
    )
    server = ApiServer(
        create_app(context),
        settings.api.host,
        settings.api.port,
        tls_cert_file=settings.api.tls_cert_file,
        tls_key_file=settings.api.tls_key_file,
    )
    try:
        server.start()
    except RuntimeError as exc:
        raise NeedsPerson(
            f"the till API cannot listen on {settings.api.listen}: {exc}",
            what_to_do="free that address (another program, or another fiscal-box?) or change [api] listen",
        ) from exc
    log.info("till API listening on %s", server.url)
    return server
