"""The running agent: every part built from the settings and connected, the main loop, a clean stop.

Who feeds whom (docs/architecture.md has the picture):

- the register publishes its events (``fiscalized``, ``went_offline``, ...) to the event stream and
  tells listeners when its status may have changed;
- the event stream feeds the log and the print worker (a ``fiscalized`` event wakes it; the journal's
  print queue says what to print);
- the status model is fed by one coordinator per source — the register's (on every change it
  announces, and every ``REGISTER_REFRESH_S`` for the minutes that pass) and the printer's (on every
  change the print worker sees; the worker asks an idle printer on its own timer) and the modem's
  (its health over the AT port every ``MODEM_REFRESH_S``) — and by the main
  loop's errors; it publishes ``blocked``/``unblocked`` and feeds status.json, ``GET box/status``, the
  control channel and the slip, and the offline LED (a subscriber of its own, agent/status/led.py);
- the status button (agent/button.py) runs the control channel's own ``slip`` and ``go_online`` on a
  thread of its own, one at a time.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from agent.builders import (
    build_button,
    build_led,
    build_modem,
    build_printing,
    build_register,
    slip_layout,
)
from agent.button import ButtonActions
from agent.clock import Clock, SystemClock
from agent.config import Settings, describe_disabled, load_config
from agent.control import ControlServer, Handler, go_online_answer, slip_answer
from agent.mqtt.box import BoxMqtt
from agent.ownership import own_state_dir
from agent.printing import PrintService
from agent.secr.errors import FiscalBoxError, JournalUnavailable, NeedsPerson, RetryLater
from agent.secr.results import RegisterStatus
from agent.status import (
    CertificatePart,
    Coordinator,
    EventStream,
    LedIndicator,
    NetworkPart,
    StatusFile,
    StatusModel,
    log_events,
)
from agent.status.modem import MODEM_REFRESH_S, ModemReporter
from agent.till_api.app import ApiContext, create_app
from agent.till_api.auth import Sessions
from agent.till_api.server import ApiServer
from agent.uplinks.ledger import LEDGER_FILE, UplinkLedger
from agent.uplinks.monitor import UplinkMonitor
from agent.uplinks.policy import Decision
from drivers.button import StatusButton
from drivers.led import StatusLed
from drivers.modem import Modem

log = logging.getLogger("fiscal-box")

NOT_BUILT_YET: tuple[str, ...] = ()
#: the register's part of the status is read again at least this often: offline minutes pass without
#: any document being made
REGISTER_REFRESH_S = 30.0
#: a burst of sales asks for one status read, not one per sale
REGISTER_REFRESH_COOLDOWN_S = 0.25


class Agent:
    """The parts of a running box. ``start()`` brings them up in order, ``close()`` takes them down in
    the reverse order; in between ``tick()`` is the main loop's body."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.events = EventStream()
        self._log = log_events(self.events, logging.getLogger("fiscal-box.events"))
        self.register = build_register(settings, clock=clock, events=self.events.publish)
        self.printing: PrintService | None = None
        self.api: ApiServer | None = None
        self.control: ControlServer | None = None
        self.mqtt: BoxMqtt | None = None
        self._coordinators: list[Coordinator[Any]] = []
        self._register_part: Coordinator[Any] | None = None
        self._removers: list[Any] = []
        self.status: StatusModel | None = None
        self.led: StatusLed | None = None
        self.button: StatusButton | None = None
        self._button_actions: ButtonActions | None = None
        self.modem: Modem | None = None
        self.uplinks: UplinkMonitor | None = None
        self.uplink_ledger: UplinkLedger | None = None
        self._started = False  # the register's start-up has run (it may have left a problem)
        self._start_error: str | None = None
        self._journal_fault: JournalUnavailable | None = None

    def start(self) -> None:
        self._start_register()
        self._start_status()
        self._start_led()
        self._start_printing()
        self._start_button()
        self._start_modem()
        self._start_uplinks()
        self._start_mqtt()
        if self.settings.api.enabled:
            self.api = start_till_api(self)
        # Last, so that a CLI that gets an answer finds every part of the agent up.
        self.control = ControlServer(self.settings.box.state_dir, control_handlers(self)).start()

    def _start_register(self) -> None:
        """The register's start-up, again from the loop until it has run: whatever it meets must not end
        the agent, or systemd restarts it in a loop and the shop cannot sell at all, not even offline."""
        try:
            self.register.start()
        except JournalUnavailable as exc:
            # The journal cannot be written now (full, locked): start-up runs again once it can.
            self._start_failed(str(exc))
            return
        except NeedsPerson as exc:
            # The register keeps the problem and refuses to sell; status and the slip say why.
            log.error("%s", exc)
        except FiscalBoxError as exc:
            self._start_failed(str(exc))
            return
        except Exception as exc:
            self._start_failed(f"internal error at start-up: {type(exc).__name__}: {exc} -- call support", exc)
            return
        if self._start_error is not None:
            log.info("the register's start-up has run")
        self._start_error = None
        self._started = True

    def _start_failed(self, error: str, exc: Exception | None = None) -> None:
        if error != self._start_error:  # every tick retries: the same failure is logged once
            if exc is not None:
                log.error("the register's start-up failed; retrying from the loop", exc_info=exc)
            else:
                log.warning("the register's start-up did not finish (%s); retrying from the loop", error)
        self._start_error = error

    def _start_status(self) -> None:
        register = self.register
        model = StatusModel(self.clock, register.status(), events=self.events.publish)
        self.status = model
        model.set_certificate(CertificatePart.from_signer(register.signer, self.clock.now()))
        model.subscribe(StatusFile(self.settings.box.state_dir), name="status.json")

        def register_read(status: RegisterStatus) -> None:
            model.set_register(status)
            if self.uplinks is not None:  # the server out of reach for the signatures' sake, not the links'
                self.uplinks.signing(status.signing_error is None)

        register_part = Coordinator(
            "register",
            register.status,
            register_read,
            interval_s=REGISTER_REFRESH_S,
            cooldown_s=REGISTER_REFRESH_COOLDOWN_S,
        )
        self._register_part = register_part
        self._coordinators.append(register_part.start())
        self._removers.append(register.add_listener(register_part.request_refresh))

    def _start_led(self) -> None:
        """The offline LED follows the status model. One that cannot be opened (no GPIO chip on a laptop,
        a pin in use) is said once and left out: the till must never stop because of the LED."""
        try:
            led = build_led(self.settings)
        except Exception as exc:  # LedError, or whatever else the GPIO stack meets
            log.warning("led: not active: %s", exc)
            return
        if led is None:
            return
        self.led = led
        assert self.status is not None
        self.status.subscribe(LedIndicator(led), name="led")

    def _start_printing(self) -> None:
        printing = build_printing(
            self.settings, journal=self.register.journal, clock=self.clock, events=self.events.publish
        )
        if printing is None:
            return
        self.printing = printing
        self._removers.append(self.events.subscribe(printing.on_event, name="printing"))
        model = self.status
        assert model is not None

        def push(value: tuple[str | None, str | None, str | None]) -> None:
            if value[0] is not None:  # None: not asked yet; the worker asks at once
                model.set_printer(*value)

        printer_part = Coordinator("printer", printing.printer_state, push, interval_s=None)
        self._coordinators.append(printer_part.start())
        self._removers.append(printing.add_listener(printer_part.request_refresh))

    def _start_button(self) -> None:
        """The status button, after printing (both its actions end on paper): a short press is the
        control channel's ``slip``, a long one its ``go_online`` and a slip with the result. One that
        cannot be opened is said once and left out, as the LED: the till must never stop for it."""
        if not self.settings.button.enabled:
            return
        settings, handlers = self.settings, control_handlers(self)

        def result_slip(report: Mapping[str, Any]) -> dict[str, Any]:
            return slip_answer(
                self.printing,
                lambda width: slip_layout(settings, self.status_dict(), width, go_online=dict(report)),
            )

        actions = ButtonActions(
            slip=lambda: handlers["slip"]({}),
            go_online=lambda: handlers["go_online"]({}),
            result_slip=result_slip,
        )
        try:
            self.button = build_button(settings, on_short=actions.short_press, on_long=actions.long_press)
        except Exception as exc:  # ButtonError, or whatever else the GPIO stack meets
            log.warning("button: not active: %s", exc)
            actions.close()
            return
        self._button_actions = actions

    def _close_button(self) -> None:
        """First of all: no press starts anything more, and the action in hand finishes on a register
        and a printer that are still open."""
        if self.button is not None:
            self.button.close()
        if self._button_actions is not None:
            self._button_actions.close()

    def _start_modem(self) -> None:
        """The modem's health into the status every ``MODEM_REFRESH_S``. health() never raises and opens
        the port itself, so a modem unplugged or missing only shows absent (and is logged once)."""
        modem = build_modem(self.settings)
        if modem is None:
            return
        self.modem = modem
        assert self.status is not None
        reporter = ModemReporter(self.status.set_modem)
        self._coordinators.append(
            Coordinator("modem", modem.health, reporter, interval_s=MODEM_REFRESH_S).start()
        )

    def _start_uplinks(self) -> None:
        """Ethernet first, LTE when Ethernet does not reach the server: the monitor's verdict (the active
        uplink, the cause) into the status, each switch onto the event stream."""
        if not self.settings.uplinks.enabled:
            return
        model = self.status
        assert model is not None
        ledger = self.uplink_ledger = UplinkLedger(self.settings.box.state_dir / LEDGER_FILE, self.clock)
        was = "none"  # the active uplink of the previous decision

        def decided(decision: Decision) -> None:
            nonlocal was
            # Decisions come from the monitor's own thread, started below: self.uplinks is set by then.
            route_error = self.uplinks.route_error if self.uplinks is not None else None
            addresses = dict(self.uplinks.addresses) if self.uplinks is not None else {}
            message = decision.message if decision.cause else None
            month = ledger.record(decision.accrued)
            model.set_network(
                decision.active, NetworkPart(decision.cause, message, route_error, month, addresses)
            )
            if decision.active not in (was, "none"):
                # A new way to the server: an offline register goes online now, not at its next probe.
                self.register.network_changed()
            was = decision.active

        self.uplinks = UplinkMonitor(
            self.settings.uplinks,
            self.settings.fiscal_server.url,
            clock=self.clock,
            on_decision=decided,
            events=self.events.publish,
        )
        self.uplinks.start()
        self.register.use_uplinks(self.uplinks)

    def _start_mqtt(self) -> None:
        """Dashboards are a convenience: a broker that is down or a password file that cannot be read
        must never stop the till, so the agent says why and sells on without MQTT."""
        if not self.settings.mqtt.enabled:
            return
        assert self.status is not None
        handlers = control_handlers(self)
        try:
            self.mqtt = BoxMqtt(
                self.settings,
                self.clock,
                handlers={
                    "go_online": lambda: handlers["go_online"]({}),
                    "slip": lambda: handlers["slip"]({}),
                    "state": self.status_dict,
                },
            ).start(self.status, self.events)
        except NeedsPerson as exc:
            log.error("%s; running without MQTT", exc)

    def status_dict(self) -> dict[str, Any]:
        """The §5 status for a reader who asks (the CLI, GET box/status, the slip): the register's part read
        again first, so that a till sees its own sale in it. Subscribers are pushed every change anyway."""
        assert self.status is not None and self._register_part is not None
        self._register_part.refresh()
        return self.status.snapshot().to_dict()

    def tick(self) -> None:
        errors: list[str] = []
        if not self._started:
            self._start_register()
            if self._start_error is not None:
                errors.append(self._start_error)
        try:
            self.register.maintain()
        except RetryLater as exc:
            errors.append(str(exc))
        except FiscalBoxError as exc:
            errors.append(str(exc))
            log.error("%s", exc)
        except Exception as exc:
            # The loop is what probes and uploads: it must outlive a surprise, and say what it met.
            log.exception("the agent's loop met an unexpected error")
            errors.append(f"internal error in the agent's loop: {type(exc).__name__}: {exc} -- call support")
        self._watch_journal()
        invalid = self.register.server.invalid_reply
        if invalid is not None and str(invalid) not in errors:
            # Taken for an unreachable server, which is legal and quiet; this one needs looking at.
            errors.append(str(invalid))
        assert self.status is not None
        self.status.set_agent_errors(errors)

    def _watch_journal(self) -> None:
        """A journal that could not be written (full, locked) is tried again here, so that the status
        says when selling can resume; a change either way is read into the status at once."""
        journal = self.register.journal
        try:
            journal.recheck()
        except Exception:  # the loop must outlive its own checks
            log.exception("checking the journal failed")
        if journal.fault is not self._journal_fault and self._register_part is not None:
            self._register_part.request_refresh()
        self._journal_fault = journal.fault

    def close(self) -> None:
        self._close_button()
        if self.control is not None:
            self.control.stop()
        if self.api is not None:
            self.api.stop()
        if self.mqtt is not None:
            self.mqtt.close()
        if self.uplinks is not None:
            self.register.use_uplinks(None)
            self.uplinks.close()
        if self.uplink_ledger is not None:  # after the monitor, which feeds it
            self.uplink_ledger.close()
        for remove in self._removers:
            remove()
        for coordinator in self._coordinators:
            coordinator.close()
        if self.printing is not None:
            self.printing.close()
        if self.modem is not None:  # after its coordinator: no health() runs any more
            self.modem.close()
        self.register.close()
        if self.status is not None:
            self.status.close()
        if self.led is not None:  # after the model: its subscriber shows nothing more
            self.led.close()
        self._log()
        self.events.close()


def control_handlers(agent: Agent) -> dict[str, Handler]:
    """What `fiscal-box status | go-online | slip` run inside the agent, on its own register and
    printer (the protocol: agent/control.py)."""
    settings = agent.settings
    return {
        "status": lambda _args: agent.status_dict(),
        "go_online": lambda _args: go_online_answer(agent.register),
        "slip": lambda _args: slip_answer(
            agent.printing, lambda width: slip_layout(settings, agent.status_dict(), width)
        ),
    }


def run_agent(config_path: str | Path, *, stop: threading.Event | None = None) -> int:
    settings = load_config(config_path)
    # From here to exit this process is the journal's only writer (agent/ownership.py).
    with own_state_dir(settings.box.state_dir):
        return _run_owned(settings, stop or threading.Event())


def _run_owned(settings: Settings, stop: threading.Event) -> int:
    for line in describe_disabled(settings):
        log.info(line)
    for part in NOT_BUILT_YET:
        if getattr(getattr(settings, part), "enabled", False):
            log.info("%s: not active: this part is not built yet", part)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    agent = Agent(settings, SystemClock())
    try:
        agent.start()
        log.info("fiscal-box running for register %s", settings.registrar.fiscal_number)
        tick = min(5.0, settings.offline.check_interval_s)
        while True:
            agent.tick()
            if stop.wait(tick):
                break
    finally:
        agent.close()
    return 0


def start_till_api(agent: Agent) -> ApiServer:
    settings, printing = agent.settings, agent.printing
    assert settings.api.license_key is not None  # required by the config while the API is enabled
    context = ApiContext(
        register=agent.register,
        sessions=Sessions(settings.cashiers, agent.clock, ttl_s=settings.api.token_ttl_s),
        license_key=settings.api.license_key,
        taxes={tax.code: tax for tax in settings.taxes},
        fiscal_number=settings.registrar.fiscal_number,
        clock=agent.clock,
        box_status=agent.status_dict,
        printing=printing,
        slip=(lambda: slip_layout(settings, agent.status_dict(), printing.width)) if printing else None,
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
