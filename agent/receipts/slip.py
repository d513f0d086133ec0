"""The technician's status slip: the status model (contract §5) on one strip of paper.

Every pair fits on one line at 32 columns (58 mm), so no figure wraps away from what it counts; the
status JSON's essential fields go into a QR code at the end (see ``qr_payload``), and each problem the
slip finds gets a short instruction (agent/receipts/what_to_do.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from agent.clock import KYIV
from agent.receipts import what_to_do
from agent.receipts.layout import Align, Blank, Layout, LayoutLine, Pair, Qr, Separator, Text, kyiv_time
from agent.uplinks.policy import CAUSES_UK

_MODES = {"online": "ОНЛАЙН", "offline": "ОФЛАЙН", "blocked": "ПРОДАЖ ЗАБЛОКОВАНО"}
_PRINTER = {
    "ok": "справний",
    "paper_out": "немає паперу",
    "cover_open": "відкрита кришка",
    "offline": "не відповідає",
    "error": "помилка",
}
_PRINTER_WARNING = {"paper_near_end": "папір закінчується"}
_UPLINKS = {"ethernet": "Ethernet", "lte": "LTE", "none": "немає"}
#: the slip warns of the certificate a month ahead (the status's own error comes at 14 days): getting a
#: new qualified certificate from the АЦСК and loading it onto the box takes a visit, best planned
CERTIFICATE_SLIP_DAYS: Final = 30

# The QR. drivers/printer.py prints it at 6 dots a module and error correction L (python-escpos's
# default, native or as an image with a one-module border); 58 mm paper has 384 dots, so a symbol of at
# most 64 modules fits: version 11 (61 modules, 366 dots; the paper's unprinted margins give the quiet
# zone). A version-11 L symbol holds 321 bytes, while the whole status JSON is well over 1 kB (version
# 20 and more, 3 dots a module: too fine for thermal paper and a phone). So the QR carries the
# essential fields, under the status's own names and nesting (a scanner reads a subset of the same
# JSON), added by importance while they fit; the 80 mm slip carries the same, so both papers agree.
QR_MAX_VERSION: Final = 11
QR_MAX_BYTES: Final = 321  # ISO/IEC 18004 byte-mode capacity of version 11 at level L
#: the status fields the QR may carry, most important first (a path into the status JSON); the box's
#: id is not a status field (MQTT has it in the topic) but says whose status a scanned code is
QR_FIELDS: Final[tuple[tuple[str, ...], ...]] = (
    ("box_id",),
    ("mode",),
    ("blocked_reason",),
    ("pending_documents",),
    ("oldest_pending_age_s",),
    ("offline", "session_minutes"),
    ("offline", "month_minutes"),
    ("offline", "numbers_left"),
    ("uplink",),
    ("printer",),
    ("printer_warning",),
    ("last_sync_at",),
    ("modem", "signal_dbm"),
    ("modem", "registered"),
    ("certificate", "days_left"),
    ("version",),
    ("updated_at",),  # the paper says when it was printed; this is when the state last changed
    ("offline", "max_session_minutes"),
    ("offline", "max_month_minutes"),
)


def _minutes(value: Any) -> str:
    if value is None:
        return "—"
    minutes = int(value)
    return f"{minutes // 60} год {minutes % 60:02d} хв"


def _age(seconds: Any) -> str:
    """``2 год 05 хв``: what a technician reads at a glance, where 7500 s needs arithmetic."""
    if seconds is None:
        return "—"
    return "менше 1 хв" if int(seconds) < 60 else _minutes(int(seconds) // 60)


def _when(value: Any, *, never: str = "—") -> str:
    """An ISO date-time of the status as Kyiv local time (the status is in UTC or any offset)."""
    if value is None:
        return never
    try:
        return kyiv_time(datetime.fromisoformat(str(value)))
    except ValueError:  # not ours to judge: show it as it came
        return str(value)


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "так" if value else "ні"
    return str(value)


def _month_lines(month: Mapping[str, Any]) -> list[Text | Pair]:
    """This month's downtime of each way to the server, and the offline time the failover saved: one
    pair a figure, so that a number never wraps away from what it counts on 58 mm paper."""
    year, _, number = str(month.get("month")).partition("-")
    return [
        Text(f"Простій за {number}.{year}:"),
        Pair("  Ethernet", f"{_shown(month.get('ethernet_down_minutes'))} хв"),
        Pair("  LTE", f"{_shown(month.get('lte_down_minutes'))} хв"),
        Pair("  сервер ДПС", f"{_shown(month.get('server_down_minutes'))} хв"),
        Pair("Офлайн зекономлено", f"{_shown(month.get('offline_saved_minutes'))} хв"),
    ]


def _network_lines(status: Mapping[str, Any], todo: list[str]) -> list[LayoutLine]:
    """The active uplink and its addresses (the other link's too: a technician can tell one without
    an address from one the server does not answer on), why, and this month's downtime."""
    uplink = status.get("uplink")
    lines: list[LayoutLine] = [Pair("Канал зв'язку", _UPLINKS.get(str(uplink), _shown(uplink)))]
    network = status.get("network")
    if not isinstance(network, dict):  # the uplinks are off in the config
        return lines
    addresses = network.get("addresses") or {}
    # the active link first, then the other: an address on the idle link is worth knowing too
    for link in sorted(addresses, key=lambda name: name != uplink):
        label = f"  IP {_UPLINKS.get(link, link)}"
        found = [str(a) for a in addresses[link]] or ["немає"]
        lines.extend(Pair(label, address) for address in found)  # each labelled: none reads as wrapped
    if network.get("cause"):
        cause = str(network["cause"])
        lines.append(Text(f"Причина: {CAUSES_UK.get(cause, cause)}"))  # type: ignore[call-overload]
        todo.append(what_to_do.instruction("network", cause))
    if network.get("route_error"):
        lines.append(Text(f"Маршрут не змінено: {network['route_error']}"))
        todo.append(what_to_do.OTHER["route_error"])
    if isinstance(network.get("month"), dict):
        lines.extend(_month_lines(network["month"]))
    return lines


def _modem_lines(status: Mapping[str, Any], todo: list[str]) -> list[LayoutLine]:
    """The modem (when one is configured): operator, signal and whether the network took it."""
    modem = status.get("modem") or {}
    if modem.get("present") is False:  # configured, but its AT port cannot be opened: say so, not "— dBm"
        todo.append(what_to_do.OTHER["modem_absent"])
        lines: list[LayoutLine] = [Pair("Модем", "немає")]
        if modem.get("error"):
            lines.append(Text(f"  {modem['error']}"))
        return lines
    if not any(v is not None for v in modem.values()):  # no modem configured: no lines
        return []
    registered = modem.get("registered")
    if registered is False:
        todo.append(what_to_do.OTHER["modem_unregistered"])
    in_network = "роумінг" if registered and modem.get("roaming") else _shown(registered)
    lines = [
        Pair("Модем", _shown(modem.get("operator"))),
        Pair("  сигнал", f"{_shown(modem.get('signal_dbm'))} dBm"),
        Pair("  реєстрація", in_network),
    ]
    if modem.get("error"):
        lines.append(Text(f"  {modem['error']}"))
    return lines


def _mqtt_lines(status: Mapping[str, Any], todo: list[str]) -> list[LayoutLine]:
    """Whether the dashboards see the box (MQTT on)."""
    mqtt = status.get("mqtt")
    if not isinstance(mqtt, dict):
        return []
    if mqtt.get("connected"):
        return [Pair("MQTT", "з'єднано"), Text(f"  {_shown(mqtt.get('broker'))}")]
    todo.append(what_to_do.OTHER["mqtt_down"])
    return [
        Pair("MQTT", "немає зв'язку"),
        Text(f"  {_shown(mqtt.get('broker'))}"),
        Text(f"  {_shown(mqtt.get('error'))}"),
    ]


def _offline_lines(offline: Mapping[str, Any]) -> list[LayoutLine]:
    """Used and allowed, a pair each: "36 год 00 хв / 168 год 00 хв" would not fit 32 columns."""
    return [
        Separator(),
        Text("ОФЛАЙН-РЕЖИМ", Align.CENTER, bold=True),
        Pair("Дозволено", _shown(offline.get("allowed"))),
        Pair("Сесія", _minutes(offline.get("session_minutes"))),
        Pair("  з ліміту", _minutes(offline.get("max_session_minutes"))),
        Pair("За місяць", _minutes(offline.get("month_minutes"))),
        Pair("  з ліміту", _minutes(offline.get("max_month_minutes"))),
        Pair(
            "Номерів залишилось",
            "без обмежень" if offline.get("numbers_left") is None else str(offline["numbers_left"]),
        ),
    ]


def _printer_lines(status: Mapping[str, Any], todo: list[str]) -> list[LayoutLine]:
    state = status.get("printer")
    lines: list[LayoutLine] = [Pair("Принтер", _PRINTER.get(str(state), _shown(state)))]
    if state is not None and state != "ok":
        todo.append(what_to_do.instruction("printer", str(state)))
    warning = status.get("printer_warning")  # another part of the status, when it is there
    if warning:
        lines.append(Pair("  увага", _PRINTER_WARNING.get(str(warning), str(warning))))
        todo.append(what_to_do.instruction("printer_warning", str(warning)))
    return lines


def _certificate_lines(status: Mapping[str, Any], todo: list[str]) -> list[LayoutLine]:
    """The signer's certificate: until when, and a warning a month ahead."""
    certificate = status.get("certificate")
    if not isinstance(certificate, dict):
        return []
    try:
        expires = datetime.fromisoformat(str(certificate.get("expires_at"))).astimezone(KYIV)
        until = expires.strftime("%d.%m.%Y")
    except ValueError:
        until = _shown(certificate.get("expires_at"))
    days_left = certificate.get("days_left")
    lines: list[LayoutLine] = [Separator(), Pair("Сертифікат діє до", until)]
    lines.append(Pair("  залишилось днів", _shown(days_left)))
    if certificate.get("qualified") is False:
        lines.append(Text("  тестовий ключ, не КЕП"))
    if isinstance(days_left, int) and days_left < 0:
        lines.append(Text("! СЕРТИФІКАТ ПРОСТРОЧЕНО", bold=True))
        todo.append(what_to_do.OTHER["certificate_expired"])
    elif isinstance(days_left, int) and days_left <= CERTIFICATE_SLIP_DAYS:
        lines.append(Text(f"! СЕРТИФІКАТ СПЛИВАЄ ЗА {days_left} ДН.", bold=True))
        todo.append(what_to_do.OTHER["certificate_expiring"])
    return lines


def _go_online_lines(report: Mapping[str, Any]) -> list[LayoutLine]:
    """What a Go Online run on the box itself did (the status button's long press, contract §1's
    go-online answer): the paper is the only screen a technician at the button has."""
    error = report.get("error")
    if report.get("went_online"):
        result = "перейшов в онлайн"
    elif error is None and report.get("mode") == "online":
        result = "вже онлайн"
    else:
        result = "не вдалося"
    reachable = report.get("reachable")
    lines: list[LayoutLine] = [
        Separator(),
        Text("ВИХІД В ОНЛАЙН", Align.CENTER, bold=True),
        Pair("Результат", result),
        Pair("Сервер ДПС", "—" if reachable is None else "відповідає" if reachable else "не відповідає"),
        Pair("Пакетів надіслано", _shown(report.get("packages_sent"))),
        Pair("Документів доставлено", _shown(report.get("documents_delivered"))),
    ]
    if report.get("revoked_online_fiscal_num"):
        revoked = report["revoked_online_fiscal_num"]
        lines.append(Text(f"Відкликано документ {revoked}: зроблено знову офлайн"))
    if error:
        lines.append(Text(f"• {error}"))
    return lines


def _claim(status: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    """The status's value at ``path``, and whether it is there at all (a part that is null has no
    fields to claim; a field another agent version lacks is left out, never made up)."""
    value: Any = status
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return False, None
        value = value[key]
    return True, value


def qr_payload(status: Mapping[str, Any], box_id: str) -> str:
    """Compact JSON of ``box_id`` and the ``QR_FIELDS`` of ``status`` that fit ``QR_MAX_BYTES``, under
    the status's names and nesting. ASCII only (``\\u`` escapes): a scanner reads plain ASCII the same
    whatever character set it guesses for the QR's bytes."""
    source = {"box_id": box_id, **status}
    payload: dict[str, Any] = {}

    def encoded(data: Mapping[str, Any]) -> str:
        return json.dumps(data, ensure_ascii=True, separators=(",", ":"))

    for path in QR_FIELDS:
        present, value = _claim(source, path)
        if not present:
            continue
        trial = json.loads(encoded(payload))  # a deep copy, to undo a field that does not fit
        node = trial
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        # A field that does not fit is left out, and the smaller ones after it may still go in.
        if len(encoded(trial).encode("ascii")) <= QR_MAX_BYTES:
            payload = trial
    return encoded(payload)


def layout_slip(
    status: Mapping[str, Any],
    *,
    box_id: str,
    fiscal_number: str,
    printed_at: datetime,
    width_chars: int = 32,
    go_online: Mapping[str, Any] | None = None,
) -> Layout:
    """The slip of ``status``; with ``go_online`` (a go-online answer) what that run did comes first,
    and the status below is the one it left."""
    out = Layout(width_chars)
    todo: list[str] = []  # what to do, in the order the slip meets the problems
    out.add(
        Text("СЛУЖБОВИЙ СТАН", Align.CENTER, bold=True, double=True),
        Text("НЕФІСКАЛЬНИЙ ДОКУМЕНТ", Align.CENTER),
        Separator(),
        Pair("Пристрій", box_id),
        Pair("ФН ПРРО", fiscal_number),
        Pair("Версія", _shown(status.get("version"))),
        Pair("Надруковано", kyiv_time(printed_at)),
    )
    if go_online is not None:
        out.add(*_go_online_lines(go_online))
    mode = str(status.get("mode"))
    out.add(Separator(), Text(_MODES.get(mode, mode), Align.CENTER, bold=True, double=True))
    if status.get("blocked_reason"):
        reason = str(status["blocked_reason"])
        out.add(Text(f"Причина: {reason}"))
        todo.append(what_to_do.instruction("blocked", reason))
    out.add(
        Pair("Зміна", "відкрита" if status.get("shift") == "open" else "закрита"),
        Pair("Не передано документів", _shown(status.get("pending_documents"))),
        Pair("  найстаріший", _age(status.get("oldest_pending_age_s"))),
        # "Остання передача" and a date-time with seconds would not fit 32 columns together
        Pair("Вивантажено", _when(status.get("last_sync_at"), never="ще ні")),
        *_offline_lines(status.get("offline") or {}),
        Separator(),
        *_printer_lines(status, todo),
        *_network_lines(status, todo),
        *_modem_lines(status, todo),
        *_mqtt_lines(status, todo),
        *_certificate_lines(status, todo),
    )
    errors = list(status.get("errors") or [])
    if errors:
        out.add(Separator(), Text("ПОМИЛКИ", Align.CENTER, bold=True))
        out.add(*(Text(f"• {error}") for error in errors))
    steps = list(dict.fromkeys(todo))  # one instruction once, though two problems ask for it
    if steps:
        out.add(Separator(), Text("ЩО РОБИТИ", Align.CENTER, bold=True))
        out.add(*(Text(f"{n}. {step}") for n, step in enumerate(steps, 1)))
    out.add(Separator(), Text("Стан у QR (JSON)", Align.CENTER), Qr(qr_payload(status, box_id)), Blank())
    return out
