"""The one status model (contract §5) and the event stream.

The same state feeds `fiscal-box status`, the till API, status.json, MQTT, the LED and the slip; the
same events feed the log, printing and MQTT. Producers set their part of the state on their own
cadence; consumers subscribe and run on threads of their own, never in the sale path.

Usage (what agent/app.py wires)::

    stream = EventStream()
    log_events(stream, logging.getLogger("fiscal_box.events"))
    register = CashRegister(..., events=stream.publish)
    model = StatusModel(clock, register.status(), events=stream.publish)
    model.set_certificate(CertificatePart.from_signer(register.signer, clock.now()))
    model.subscribe(StatusFile(state_dir), name="status.json")
    model.subscribe(LedIndicator(StatusLed(17)), name="led")   # the offline LED (agent/status/led.py)

    # the register's part: on every change it announces, and each 30 s for the minutes that pass
    register_part = Coordinator("register", register.status, model.set_register, interval_s=30).start()
    register.add_listener(register_part.request_refresh)
    # the printer's part, on a timer of its own
    printer_part = Coordinator(
        "printer", lambda: (printing.status(), printing.last_error),
        lambda value: model.set_printer(*value), interval_s=10,
    ).start()

    model.snapshot().to_dict()          # GET /api/v1/box/status, the slip
    unsubscribe = model.subscribe(cb)   # cb(snapshot) now, then on every change

``build_status``, ``certificate_status``, ``read_status`` and ``write_status`` are the one-call forms
that agent/app.py and the CLI used before the model; they give the same JSON.
"""

from agent.status.coordinator import Coordinator
from agent.status.delivery import Subscription
from agent.status.file import STATUS_FILE, StatusFile, read_status, write_status
from agent.status.led import LedIndicator, led_pattern
from agent.status.model import StatusModel
from agent.status.snapshot import (
    CERTIFICATE_WARNING_DAYS,
    PRINTER_STATES,
    UPLINKS,
    CertificatePart,
    ModemPart,
    MqttPart,
    NetworkMonth,
    NetworkPart,
    PrinterPart,
    Snapshot,
    build_status,
    certificate_status,
)
from agent.status.stream import EventStream, describe, log_events

__all__ = [
    "CERTIFICATE_WARNING_DAYS",
    "PRINTER_STATES",
    "STATUS_FILE",
    "UPLINKS",
    "CertificatePart",
    "Coordinator",
    "EventStream",
    "LedIndicator",
    "ModemPart",
    "MqttPart",
    "NetworkMonth",
    "NetworkPart",
    "PrinterPart",
    "Snapshot",
    "StatusFile",
    "StatusModel",
    "Subscription",
    "build_status",
    "certificate_status",
    "describe",
    "led_pattern",
    "log_events",
    "read_status",
    "write_status",
]
