import importlib
import json
import pkgutil
from datetime import UTC, datetime, timedelta
from typing import Any

import segno

import agent
from agent.printing import to_print_lines
from agent.receipts import Layout, Pair, to_text, what_to_do
from agent.receipts.slip import QR_MAX_BYTES, QR_MAX_VERSION, layout_slip, qr_payload
from agent.secr import errors
from agent.secr.register import Mode, RegisterStatus
from agent.secr.signing.dstu.cades import DstuSigner
from agent.secr.signing.dstu.certificate import make_self_signed
from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.dstu4145 import generate_private_key
from agent.status import PRINTER_STATES, build_status, certificate_status
from agent.uplinks.policy import CAUSES
from drivers.printer import ReceiptPrinter
from tests.escpos_decode import Printed, decode

STATUS = {
    "mode": "blocked",
    "blocked_reason": "offline_session_limit",
    "shift": "open",
    "offline": {
        "session_minutes": 2160,
        "month_minutes": 3000,
        "max_session_minutes": 2160,
        "max_month_minutes": 10080,
        "numbers_left": None,
        "allowed": True,
    },
    "pending_documents": 42,
    "oldest_pending_age_s": 129600,
    "last_sync_at": None,
    "printer": "paper_out",
    "uplink": None,
    "modem": {"signal_dbm": None, "registered": None, "operator": None},
    "errors": [
        "the offline session has lasted 36 h 00 min, the limit is 36 h 00 min: no more offline documents"
    ],
    "version": "0.1.0",
}


def test_slip_says_what_a_technician_needs() -> None:
    text = to_text(
        layout_slip(
            STATUS,
            box_id="shop-12-till-1",
            fiscal_number="4000000001",
            printed_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
        )
    )
    for expected in (
        "СЛУЖБОВИЙ СТАН",
        "shop-12-till-1",
        "4000000001",
        "ПРОДАЖ ЗАБЛОКОВАНО",
        "offline_session_limit",
        "Сесія 36 год 00 хв з ліміту 36 год 00 хв",
        "За місяць 50 год 00 хв з ліміту 168 год 00 хв",
        "без обмежень",
        "Принтер немає паперу",
        "Не передано документів 42 найстаріший 36 год 00 хв",
        "Вивантажено ще ні",
        "no more offline documents",
        "1. 36 год офлайну вичерпано",
        "2. вставте рулон паперу",
    ):
        assert expected in " ".join(text.split()), expected  # wrapped lines joined
    assert all(len(line) <= 32 for line in text.splitlines())


def test_certificate_expiry_warns_two_weeks_ahead() -> None:
    now = datetime(2026, 11, 25, 10, tzinfo=UTC)
    curve = curve_by_m(257)
    d = generate_private_key(curve)
    cert = make_self_signed(
        curve,
        d,
        common_name="Касир",
        serial_number=1,
        not_before=now - timedelta(days=300),
        not_after=now + timedelta(days=10),
    )
    signer = DstuSigner(curve, d, cert, clock=lambda: now)
    cert_info = certificate_status(signer, now)
    assert cert_info is not None and cert_info["days_left"] == 10 and cert_info["qualified"]
    register = RegisterStatus(
        mode=Mode.ONLINE,
        blocked_reason=None,
        shift_open=False,
        shift_id=None,
        z_done=False,
        next_local_num=1,
        pending_documents=0,
        oldest_pending_at=None,
        offline_session_id=None,
        has_offline_seed=False,
        offline_allowed=True,
        session_minutes=0,
        month_minutes=0,
        max_session_minutes=2160,
        max_month_minutes=10080,
        numbers_left=None,
        warnings=[],
        problem=None,
        upload_error=None,
        last_sync_at=None,
        identity_known=True,
    )
    status = build_status(register, now=now, certificate=cert_info)
    assert any("expires in 10 days" in e for e in status["errors"])
    text = to_text(layout_slip(status, box_id="b", fiscal_number="1", printed_at=now))
    assert "expires in 10" in " ".join(text.split())


def _modem_lines(modem: dict[str, object]) -> list[str]:
    text = to_text(
        layout_slip(
            {**STATUS, "modem": modem},
            box_id="shop-12-till-1",
            fiscal_number="4000000001",
            printed_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
        )
    )
    return [line for line in text.splitlines() if "Модем" in line]


def test_the_modem_line_says_signal_or_that_the_modem_is_absent() -> None:
    none = dict.fromkeys(
        ("signal_dbm", "registered", "operator", "present", "sim", "roaming", "attached", "error")
    )
    assert _modem_lines(none) == []  # no modem configured: no line
    (line,) = _modem_lines({**none, "present": True, "operator": "Kyivstar", "signal_dbm": -77})
    assert " ".join(line.split()) == "Модем Kyivstar"
    (line,) = _modem_lines({**none, "present": False, "error": "modem on /dev/ttyUSB2: cannot be opened"})
    assert "немає" in line


def test_the_modem_lines_say_signal_and_registration() -> None:
    modem = {"signal_dbm": -77, "registered": True, "operator": "Kyivstar", "present": True, "roaming": False}
    lines = [" ".join(line.split()) for line in _slip_text({**STATUS, "modem": modem}).splitlines()]
    assert "сигнал -77 dBm" in lines and "реєстрація так" in lines
    lines = [
        " ".join(line.split())
        for line in _slip_text({**STATUS, "modem": {**modem, "roaming": True}}).splitlines()
    ]
    assert "реєстрація роумінг" in lines
    text = " ".join(_slip_text({**STATUS, "modem": {**modem, "registered": False}}).split())
    assert "реєстрація ні" in text and what_to_do.OTHER["modem_unregistered"] in text


def _slip_text(status: dict[str, Any], width_chars: int = 32) -> str:
    return to_text(
        layout_slip(
            status,
            box_id="shop-12-till-1",
            fiscal_number="4000000001",
            printed_at=datetime(2026, 12, 14, 10, tzinfo=UTC),
            width_chars=width_chars,
        )
    )


NETWORK: dict[str, Any] = {
    "cause": "ethernet_down",
    "message": "Ethernet is down (no cable link or no address); online over LTE.",
    "route_error": None,
    "month": {
        "month": "2026-12",
        "ethernet_down_minutes": 95,
        "lte_down_minutes": 3,
        "server_down_minutes": 12,
        "offline_saved_minutes": 90,
    },
}


def test_the_slip_gives_the_months_downtime_when_the_uplinks_are_on() -> None:
    for width in (32, 48):  # 58 and 80 mm paper
        lines = _slip_text({**STATUS, "uplink": "lte", "network": NETWORK}, width).splitlines()
        assert all(len(line) <= width for line in lines)
        start = lines.index("Простій за 12.2026:")
        got = [" ".join(line.split()) for line in lines[start : start + 5]]
        assert got == [
            "Простій за 12.2026:",
            "Ethernet 95 хв",
            "LTE 3 хв",
            "сервер ДПС 12 хв",
            "Офлайн зекономлено 90 хв",
        ]
    # a whole month of minutes still stays on its line, next to what it counts
    whole = {**NETWORK, "month": {**NETWORK["month"], "ethernet_down_minutes": 44640}}
    assert "  Ethernet" + " " * 14 + "44640 хв" in _slip_text({**STATUS, "network": whole}).splitlines()
    # uplinks off (network null): no such lines
    assert "Простій" not in _slip_text(STATUS) and "зекономлено" not in _slip_text(STATUS)



def _go_online_slip(report: dict[str, Any], width_chars: int = 32) -> list[str]:
    text = to_text(
        layout_slip(
            STATUS,
            box_id="shop-12-till-1",
            fiscal_number="4000000001",
            printed_at=datetime(2026, 12, 14, 10, tzinfo=UTC),
            width_chars=width_chars,
            go_online=report,
        )
    )
    lines = [line.strip() for line in text.splitlines()]
    assert all(len(line) <= width_chars for line in lines)
    # What the run did comes first, the status it left below it.
    assert lines.index("ВИХІД В ОНЛАЙН") < lines.index("ПРОДАЖ ЗАБЛОКОВАНО")
    return lines


def _value(lines: list[str], label: str) -> str:
    """The right-hand side of the slip's ``label`` pair."""
    (line,) = [line for line in lines if line.startswith(label)]
    return line[len(label) :].strip()


REPORT: dict[str, Any] = {
    "reachable": True,
    "went_online": True,
    "packages_sent": 1,
    "documents_delivered": 3,
    "mode": "online",
    "error": None,
    "revoked_online_fiscal_num": None,
    "pending_documents": 0,
}


def test_the_slip_says_what_go_online_did() -> None:
    for width in (32, 48):  # 58 and 80 mm paper
        lines = _go_online_slip(REPORT, width)
        assert _value(lines, "Результат") == "перейшов в онлайн"
        assert _value(lines, "Сервер ДПС") == "відповідає"
        assert (_value(lines, "Пакетів надіслано"), _value(lines, "Документів доставлено")) == ("1", "3")
    already = _go_online_slip({**REPORT, "went_online": False, "documents_delivered": 0, "packages_sent": 0})
    assert _value(already, "Результат") == "вже онлайн"
    down = _go_online_slip(
        {**REPORT, "reachable": False, "went_online": False, "mode": "offline", "error": "connection refused"}
    )
    assert (_value(down, "Результат"), _value(down, "Сервер ДПС")) == ("не вдалося", "не відповідає")
    assert "• connection refused" in down
    revoked = _go_online_slip({**REPORT, "revoked_online_fiscal_num": "123456"})
    assert "Відкликано документ 123456: зроблено знову офлайн" in " ".join(revoked)
    # A run that could not even start (the journal locked, say) has no answer of the server's to show.
    failed = _go_online_slip({"went_online": False, "error": "the journal is locked"})
    assert (_value(failed, "Результат"), _value(failed, "Сервер ДПС")) == ("не вдалося", "—")


def test_a_plain_slip_has_no_go_online_part() -> None:
    assert "ВИХІД В ОНЛАЙН" not in _slip_text(STATUS)


# --- the whole slip on paper, both widths ----------------------------------------------------------

FULL: dict[str, Any] = {
    **STATUS,
    "offline": {**STATUS["offline"], "numbers_left": 1234},
    "uplink": "lte",
    "network": {**NETWORK, "addresses": {"ethernet": [], "lte": ["10.64.3.7/30", "100.64.0.9/10"]}},
    "oldest_pending_age_s": 7500,
    "last_sync_at": "2026-12-14T08:00:00.123456+00:00",
    "printer_warning": "paper_near_end",
    "modem": {
        "signal_dbm": -101,
        "registered": True,
        "operator": "Kyivstar",
        "present": True,
        "sim": "ready",
        "roaming": False,
        "attached": True,
        "error": None,
    },
    "certificate": {
        "subject": "Касир Тестовий",
        "key_id": "ab" * 16,
        "qualified": True,
        "expires_at": "2027-01-01T00:00:00+00:00",
        "days_left": 17,
    },
    "mqtt": {"broker": "mqtt.example:8883", "connected": False, "error": "connection refused"},
    "updated_at": "2026-12-14T10:00:00.654321+00:00",
    "next_local_num": 7,
}


def _printed(status: dict[str, Any], width_mm: int) -> tuple[Layout, Printed]:
    """The slip as the printer gets it (CP1251, so every Ukrainian letter reads back as written)."""
    printer = ReceiptPrinter("dummy", width_mm=width_mm, codepage="CP1251")
    layout = layout_slip(
        status,
        box_id="shop-12-till-1",
        fiscal_number="4000000001",
        printed_at=datetime(2026, 12, 14, 10, tzinfo=UTC),
        width_chars=printer.width,
    )
    printer.print_lines(to_print_lines(layout, printer.columns))
    return layout, decode(printer.output)


def _claimed(payload: dict[str, Any], status: dict[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    """The dotted paths the payload claims, each checked against the status at the same place."""
    claimed: list[str] = []
    for key, value in payload.items():
        here = (*path, key)
        if isinstance(value, dict):
            claimed += _claimed(value, status[key], here)
        else:
            assert key in status and status[key] == value, here
            claimed.append(".".join(here))
    return claimed


def test_the_printed_slip_fits_both_widths_and_its_qr_is_the_status() -> None:
    for width_mm, columns in ((58, 32), (80, 48)):
        layout, printed = _printed(FULL, width_mm)
        for text, align, _bold, double in printed.lines:
            assert len(text) <= (columns // 2 if double else columns), (width_mm, text)
            # A figure wrapped away from its label would start a line of its own, right-aligned.
            if align == "left" and text.startswith(" "):
                first = text.split()[0]
                assert not first[0].isdigit() and first[0] not in "-+", (width_mm, text)
        # ... and every pair is printed on one line, its label and its value together.
        lines = printed.texts
        for pair in (line for line in layout if isinstance(line, Pair)):
            assert any(t.startswith(pair.label) and t.endswith(pair.value) for t in lines), (width_mm, pair)
        joined = [" ".join(t.split()) for t in lines]
        for expected in (
            "Канал зв'язку LTE",
            "IP LTE 10.64.3.7/30",
            "IP LTE 100.64.0.9/10",
            "IP Ethernet немає",
            "Модем Kyivstar",
            "сигнал -101 dBm",
            "реєстрація так",
            "найстаріший 2 год 05 хв",
            "Вивантажено 14.12.2026 10:00:00",  # 08:00 UTC is 10:00 in Kyiv in December
            "Сертифікат діє до 01.01.2027",
            "залишилось днів 17",
            "увага папір закінчується",
            "Номерів залишилось 1234",
        ):
            assert expected in joined, (width_mm, expected)
        assert joined.index("ЩО РОБИТИ") < joined.index("Стан у QR (JSON)")
        assert joined.index("IP LTE 10.64.3.7/30") < joined.index("IP Ethernet немає")  # the active link first
        (data,) = printed.qr_data
        payload = json.loads(data)
        assert payload.pop("box_id") == "shop-12-till-1"
        claimed = _claimed(payload, FULL)
        # the headline fields always go in
        for field in ("mode", "blocked_reason", "pending_documents", "offline.session_minutes", "uplink"):
            assert field in claimed, field
        assert segno.make_qr(data, error="l", boost_error=False).version <= QR_MAX_VERSION
    assert _printed(FULL, 58)[1].qr_data == _printed(FULL, 80)[1].qr_data  # both papers carry the same


def test_the_qr_stays_printable_however_large_the_status() -> None:
    # the capacity the payload is held to is what segno says version 11 at level L holds
    assert segno.make_qr("x" * QR_MAX_BYTES, error="l", boost_error=False).version == QR_MAX_VERSION
    assert segno.make_qr("x" * (QR_MAX_BYTES + 1), error="l", boost_error=False).version > QR_MAX_VERSION
    huge = {**FULL, "errors": ["x" * 2000] * 5, "blocked_reason": "offline_documents_refused"}
    data = qr_payload(huge, "магазин-" * 3)  # a Cyrillic box id, escaped to ASCII
    assert data.isascii() and len(data) <= QR_MAX_BYTES
    payload = json.loads(data)
    assert payload.pop("box_id") == "магазин-" * 3
    assert "errors" not in payload and payload["blocked_reason"] == "offline_documents_refused"
    _claimed(payload, huge)
    # a part that is null, or a field this status lacks, is not claimed
    bare = {k: v for k, v in FULL.items() if k not in ("printer_warning", "certificate")}
    payload = json.loads(qr_payload({**bare, "modem": None}, "b"))
    assert "printer_warning" not in payload and "certificate" not in payload and "modem" not in payload
    # a box id too long for the code is left out like any field, and the code stays printable
    data = qr_payload(FULL, "x" * 400)
    assert len(data) <= QR_MAX_BYTES and "box_id" not in json.loads(data) and json.loads(data)["mode"]


def _joined(status: dict[str, Any], width: int = 32) -> str:
    return " ".join(_slip_text(status, width).split())


def test_the_certificate_is_warned_of_a_month_ahead() -> None:
    certificate = FULL["certificate"]
    calm = _joined({**STATUS, "certificate": {**certificate, "days_left": 31}})
    assert "Сертифікат діє до 01.01.2027" in calm and "СПЛИВАЄ" not in calm
    soon = _joined({**STATUS, "certificate": {**certificate, "days_left": 30}})
    assert "! СЕРТИФІКАТ СПЛИВАЄ ЗА 30 ДН." in soon and what_to_do.OTHER["certificate_expiring"] in soon
    gone = _joined({**STATUS, "certificate": {**certificate, "days_left": -2}})
    assert "ПРОСТРОЧЕНО" in gone and what_to_do.OTHER["certificate_expired"] in gone
    assert "Сертифікат" not in _joined(STATUS)  # no signer known: no certificate lines
    dev = _joined({**STATUS, "certificate": {**certificate, "days_left": 3000, "qualified": False}})
    assert "тестовий ключ, не КЕП" in dev


def test_a_printer_warning_is_shown_when_the_status_has_one() -> None:
    assert "увага" not in _joined(STATUS) and "увага" not in _joined({**STATUS, "printer_warning": None})
    near = _joined({**STATUS, "printer": "ok", "printer_warning": "paper_near_end"})
    assert "увага папір закінчується" in near and what_to_do.PRINTER_WARNING["paper_near_end"] in near
    other = _joined({**STATUS, "printer": "ok", "printer_warning": "head_hot"})
    assert "увага head_hot" in other and what_to_do.PRINTER_WARNING_ANY in other


def test_ages_and_dates_read_as_a_person_reads_them() -> None:
    assert "найстаріший менше 1 хв" in _joined({**STATUS, "oldest_pending_age_s": 30})
    assert "найстаріший 2 год 05 хв" in _joined({**STATUS, "oldest_pending_age_s": 7500})
    assert "найстаріший —" in _joined({**STATUS, "oldest_pending_age_s": None})
    summer = _joined({**STATUS, "last_sync_at": "2026-07-01T09:30:00+00:00"})
    assert "Вивантажено 01.07.2026 12:30:00" in summer  # Kyiv is UTC+3 in summer


def test_the_what_to_do_part_lists_each_instruction_once() -> None:
    # the blocked reason, the printer and the network, in the order the slip shows them
    status = {**STATUS, "printer": "offline", "network": {**NETWORK, "cause": "server_down"}}
    text = " ".join(_slip_text(status, 48).split())
    part = text[text.index("ЩО РОБИТИ") : text.index("Стан у QR (JSON)")]
    assert part == " ".join(
        [
            "ЩО РОБИТИ",
            "1. " + what_to_do.BLOCKED["offline_session_limit"],
            "2. " + what_to_do.PRINTER["offline"],
            "3. " + what_to_do.NETWORK["server_down"],
            "-" * 48,
            "",
        ]
    )
    # two reasons of a newer agent, both "call support": said once
    newer = {**STATUS, "blocked_reason": "tomorrows_reason", "network": {**NETWORK, "cause": "new_cause"}}
    assert _joined(newer, 48).count(what_to_do.UNKNOWN) == 1
    online = {**STATUS, "mode": "online", "blocked_reason": None, "printer": "ok", "errors": []}
    assert "ЩО РОБИТИ" not in _joined(online)


def _subclasses(cls: type) -> list[type]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _subclasses(direct))]


def test_every_reason_the_code_can_produce_has_an_instruction() -> None:
    # Every module of the box imported, so that an error class declared anywhere is seen.
    for module in pkgutil.walk_packages(agent.__path__, "agent."):
        importlib.import_module(module.name)
    # blocked_reason: a SalesBlocked's reason, or the code of the NeedsPerson problem that blocks
    reasons = set()
    for cls in _subclasses(errors.NeedsPerson):
        reasons.add(cls.code)
        if getattr(cls, "reason", None):
            reasons.add(cls.reason)
    assert {"offline_prohibited", "offline_session_limit", "disk_full", "signer_error"} <= reasons
    assert sorted(reasons - set(what_to_do.BLOCKED)) == []
    assert sorted(set(CAUSES) - set(what_to_do.NETWORK)) == []
    assert sorted(PRINTER_STATES - {"ok"} - set(what_to_do.PRINTER)) == []
    for table in what_to_do.TABLES.values():
        assert all(step and step == step.strip() for step in table.values())
    assert what_to_do.instruction("blocked", "a_reason_of_tomorrow") == what_to_do.UNKNOWN
