from datetime import UTC, datetime, timedelta
from typing import Any

from agent.receipts import to_text
from agent.receipts.slip import layout_slip
from agent.secr.register import Mode, RegisterStatus
from agent.secr.signing.dstu.cades import DstuSigner
from agent.secr.signing.dstu.certificate import make_self_signed
from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.dstu4145 import generate_private_key
from agent.status import build_status, certificate_status

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
        "36 год 00 хв / 36 год 00 хв",
        "без обмежень",
        "paper_out",
        "42",
        "no more offline documents",
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
    assert "Kyivstar -77 dBm" in line
    (line,) = _modem_lines({**none, "present": False, "error": "modem on /dev/ttyUSB2: cannot be opened"})
    assert "немає" in line


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
