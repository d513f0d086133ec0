"""What the technician should do, in a few Ukrainian words, for each reason the status can give.

One table per kind of reason, because the codes overlap across kinds (the printer's ``offline`` is not
the register's). tests/test_slip.py walks every reason the code can produce (the blocked reasons and
problem codes of agent/secr/errors.py, the uplinks' causes, the printer states) and checks that each
has an instruction here, so a new reason cannot reach the slip without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

#: ``blocked_reason``: the reasons of agent/secr/errors.py's SalesBlocked family, and the codes of the
#: other NeedsPerson errors, wherever they are declared (a latched start-up problem blocks with its code)
BLOCKED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "blocked": "продаж заблоковано: див. помилки, зверніться до підтримки",
        "sales_blocked": "продаж заблоковано: див. помилки, зверніться до підтримки",
        "needs_person": "потрібне втручання: див. помилки, зверніться до підтримки",
        "offline_prohibited": "офлайн заборонено: відновіть зв'язок з сервером ДПС (кабель, роутер, LTE)",
        "never_online": "ПРРО ще не був онлайн: підключіть інтернет і натисніть «Вийти в онлайн»",
        "offline_session_limit": "36 год офлайну вичерпано: відновіть зв'язок, документи підуть самі",
        "offline_month_limit": "168 год офлайну за місяць вичерпано: відновіть зв'язок з сервером ДПС",
        "offline_range_exhausted": "офлайн-номери закінчились: відновіть зв'язок, щоб отримати нові",
        "upload_in_progress": "зачекайте: передаються офлайн-документи; не вимикайте живлення",
        "offline_session_refused": "сервер відхилив офлайн-пакет: документи збережено, дзвоніть у підтримку",
        "offline_documents_refused": "сервер відхилив офлайн-документи: вони збережені, дзвоніть у підтримку",
        "journal_error": "журнал не записується: перевірте SD-карту, перезапустіть fiscal-box",
        "disk_full": "диск заповнено: звільніть місце на SD-карті",
        "journal_locked": "журнал зайнятий: зупиніть другий запущений fiscal-box",
        "state_dir_busy": "каталог стану зайнятий: зупиніть другий запущений fiscal-box",
        # fiscal-box fleet's own error, never a register's; listed so that no NeedsPerson lacks a line
        "fleet_failed": "брокер MQTT недоступний: перевірте адресу, пароль і мережу",
        "journal_mismatch": "журнал і сервер розходяться: нічого не видаляйте, зверніться до підтримки",
        "identity_mismatch": "дані реєстрації в конфігурації не як на сервері: виправте конфігурацію",
        "clock_off": "годинник розходиться з сервером ДПС: перевірте NTP і час системи",
        "signer_error": "ключ не завантажується: перевірте файл ключа і пароль",
        "registration_data_changed": "дані реєстрації змінено на сервері ДПС: надішліть документ ще раз",
        "z_report_differs": "Z-звіт не збігається з сервером ДПС: звірте чеки зміни в кабінеті, дзвоніть у підтримку",
        "time_stamp_error": "служба позначок часу АЦСК не відповідає: перевірте інтернет, зачекайте",
        "server_rejected": "сервер ДПС відхилив запит: див. помилки, зверніться до підтримки",
        "document_rejected": "сервер ДПС відхилив документ: зверніться до підтримки",
        "cryptography_rejected": "сервер відхилив підпис: перевірте ключ і сертифікат КЕП",
        "registrar_not_available": "ПРРО не знайдено або ключ без доступу: перевірте ФН і ключ у кабінеті",
        "registrar_closed": "реєстрацію ПРРО скасовано: зареєструйте ПРРО в Електронному кабінеті",
        "server_state_mismatch": "зміна або нумерація на сервері інша: зверніться до підтримки",
    }
)

#: ``network.cause``: agent/uplinks/policy.py's causes
NETWORK: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ethernet_down": "перевірте кабель Ethernet і роутер (лінк, DHCP)",
        "ethernet_no_route": "роутер без інтернету: перезапустіть роутер, перевірте провайдера",
        "lte_down": "перевірте модем, антену і SIM-картку",
        "lte_no_route": "немає мобільних даних: перевірте баланс і APN SIM-картки",
        "server_down": "сервер ДПС недоступний: чекайте, каса працює офлайн",
        "signing_failed": "помилка підпису: перевірте ключ і сертифікат КЕП",
    }
)

#: ``printer``: contract §5's printer states but ``ok``
PRINTER: Final[Mapping[str, str]] = MappingProxyType(
    {
        "paper_out": "вставте рулон паперу",
        "cover_open": "закрийте кришку принтера",
        "offline": "перевірте кабель і живлення принтера",
        "error": "вимкніть і увімкніть принтер; не допомогло: сервіс",
    }
)

#: ``printer_warning``: what the printer says before it stops (the status field is someone else's work
#: in progress; a warning not listed still gets ``PRINTER_WARNING_ANY``)
PRINTER_WARNING: Final[Mapping[str, str]] = MappingProxyType(
    {
        "paper_near_end": "папір закінчується: підготуйте новий рулон",
    }
)
PRINTER_WARNING_ANY: Final = "перевірте принтер"

#: what the slip itself finds in the status, beyond the reasons above
OTHER: Final[Mapping[str, str]] = MappingProxyType(
    {
        "certificate_expiring": "сертифікат КЕП спливає: отримайте новий і встановіть ключ на касу",
        "certificate_expired": "сертифікат КЕП прострочено: підпис не пройде, встановіть новий ключ",
        "modem_absent": "модем не відповідає: перевірте USB-кабель і живлення модема",
        "modem_unregistered": "модем не в мережі: перевірте SIM-картку, антену і покриття",
        "mqtt_down": "панель не бачить касу: перевірте адресу брокера MQTT і пароль",
        "route_error": "маршрут не змінено: fiscal-box потребує CAP_NET_ADMIN",
    }
)

#: a reason the tables do not know (a newer agent's status on an older slip): say who can help
UNKNOWN: Final = "зверніться до підтримки"

#: each table by the kind of reason it answers, for a caller that holds the kind as data
TABLES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "blocked": BLOCKED,
        "network": NETWORK,
        "printer": PRINTER,
        "printer_warning": PRINTER_WARNING,
        "other": OTHER,
    }
)


def instruction(kind: str, reason: str) -> str:
    """The instruction for ``reason`` of ``kind`` (a key of ``TABLES``); a general one when unknown."""
    table = TABLES[kind]
    if reason in table:
        return table[reason]
    return PRINTER_WARNING_ANY if kind in ("printer", "printer_warning") else UNKNOWN
