"""The technician's status slip: the status model (contract §5) on one strip of paper."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agent.receipts.layout import Align, Blank, Layout, Pair, Separator, Text, kyiv_time
from agent.uplinks.policy import CAUSES_UK

_MODES = {"online": "ОНЛАЙН", "offline": "ОФЛАЙН", "blocked": "ПРОДАЖ ЗАБЛОКОВАНО"}


def _minutes(value: Any) -> str:
    if value is None:
        return "—"
    minutes = int(value)
    return f"{minutes // 60} год {minutes % 60:02d} хв"


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


def _links(status: Mapping[str, Any]) -> list[Text | Pair]:
    """The uplink (with this month's downtime when the uplinks are on), the modem (when there is one)
    and whether the dashboards see the box (MQTT on)."""
    lines: list[Text | Pair] = [Pair("Канал зв'язку", _shown(status.get("uplink")))]
    network = status.get("network")
    if isinstance(network, dict):  # the uplinks are on
        if network.get("cause"):
            cause = str(network["cause"])
            lines.append(Pair("Причина", CAUSES_UK.get(cause, cause)))  # type: ignore[call-overload]
        if network.get("route_error"):
            lines.append(Pair("Маршрут", f"не змінено: {network['route_error']}"))
        if isinstance(network.get("month"), dict):
            lines.extend(_month_lines(network["month"]))
    modem = status.get("modem") or {}
    if modem.get("present") is False:  # configured, but its AT port cannot be opened: say so, not "— dBm"
        lines.append(Pair("Модем", "немає"))
    elif any(v is not None for v in modem.values()):
        lines.append(Pair("Модем", f"{_shown(modem.get('operator'))} {_shown(modem.get('signal_dbm'))} dBm"))
    mqtt = status.get("mqtt")
    if isinstance(mqtt, dict):
        seen = "з'єднано" if mqtt.get("connected") else f"немає зв'язку: {_shown(mqtt.get('error'))}"
        lines.append(Pair("MQTT", f"{_shown(mqtt.get('broker'))} {seen}"))
    return lines


def _offline_lines(offline: Mapping[str, Any]) -> list[Text | Pair | Separator]:
    return [
        Separator(),
        Text("ОФЛАЙН-РЕЖИМ", Align.CENTER, bold=True),
        Pair("Дозволено", _shown(offline.get("allowed"))),
        Pair(
            "Сесія",
            f"{_minutes(offline.get('session_minutes'))} / {_minutes(offline.get('max_session_minutes'))}",
        ),
        Pair(
            "За місяць",
            f"{_minutes(offline.get('month_minutes'))} / {_minutes(offline.get('max_month_minutes'))}",
        ),
        Pair(
            "Номерів залишилось",
            "без обмежень" if offline.get("numbers_left") is None else str(offline["numbers_left"]),
        ),
    ]


def _go_online_lines(report: Mapping[str, Any]) -> list[Text | Pair | Separator]:
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
    lines: list[Text | Pair | Separator] = [
        Separator(),
        Text("ВИХІД В ОНЛАЙН", Align.CENTER, bold=True),
        Pair("Результат", result),
        Pair("Сервер ДПС", "—" if reachable is None else "відповідає" if reachable else "не відповідає"),
        Pair("Пакетів надіслано", _shown(report.get("packages_sent"))),
        Pair("Документів доставлено", _shown(report.get("documents_delivered"))),
    ]
    if report.get("revoked_online_fiscal_num"):
        lines.append(Text(f"Відкликано документ {report['revoked_online_fiscal_num']}: зроблено знову офлайн"))
    if error:
        lines.append(Text(f"• {error}"))
    return lines


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
    out.add(
        Separator(),
        Text(
            _MODES.get(str(status.get("mode")), str(status.get("mode"))), Align.CENTER, bold=True, double=True
        ),
    )
    if status.get("blocked_reason"):
        out.add(Pair("Причина", str(status["blocked_reason"])))
    out.add(
        Pair("Зміна", "відкрита" if status.get("shift") == "open" else "закрита"),
        Pair("Не передано документів", _shown(status.get("pending_documents"))),
        Pair("Найстаріший, с", _shown(status.get("oldest_pending_age_s"))),
        Pair("Остання передача", _shown(status.get("last_sync_at"))),
        *_offline_lines(status.get("offline") or {}),
        Separator(),
        Pair("Принтер", _shown(status.get("printer"))),
        *_links(status),
    )
    errors = list(status.get("errors") or [])
    if errors:
        out.add(Separator(), Text("ПОМИЛКИ", Align.CENTER, bold=True))
        for error in errors:
            out.add(Text(f"• {error}"))
    out.add(Blank())
    return out
