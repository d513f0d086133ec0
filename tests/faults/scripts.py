"""The till's days the sweep replays: which documents a day makes, and where the server goes away.

Every script ends with the shift closed; the sweep then delivers and prints what is left
(``Shop.settle``) before the invariants are read.
"""

from __future__ import annotations

from tests.faults.proxy import Fault
from tests.faults.shop import Step, sale

OFFLINE_SALES_FOR_TWO_PACKAGES = 104  # a package carries at most 100 documents (reference §4.8)


def online_day() -> list[Step]:
    """Every kind of document the box makes online: open, sale, return, cash in/out, storno, Z, close."""
    first = sale("12.34")
    return [
        Step("open"),  # 0
        first,  # 1
        Step("refund", "12.34", of=first.request_id),  # 2
        Step("cash_in", "100.00"),  # 3
        Step("cash_out", "30.00"),  # 4
        sale("7.77"),  # 5
        Step("storno"),  # 6: cancels 5
        sale("3.21"),  # 7
        Step("close"),  # 8: the Z, then the close-shift document
    ]


#: the step of each kind in ``online_day``
ONLINE_KINDS = {"open": 0, "sale": 1, "return": 2, "cash_in": 3, "cash_out": 4, "storno": 6, "close": 8}


def outage_day() -> list[Step]:
    """The server goes away mid-shift: the sale in flight is set aside and made again offline (102), more
    are made offline, the server comes back, the box delivers (the lost one revoked, 103) and goes on."""
    first = sale("10.00")
    return [
        Step("open"),  # 0
        first,  # 1
        Step("server", mode="down"),  # 2
        sale("11.00"),  # 3: the online attempt fails; 102; made offline
        sale("12.00"),  # 4: offline
        Step("refund", "10.00", of=first.request_id),  # 5: offline
        Step("cash_in", "50.00"),  # 6: offline
        Step("server", mode="none"),  # 7
        Step("go_online"),  # 8: the lost sale delivered and revoked in the 102, the 103, the package
        sale("13.00"),  # 9: online
        Step("close"),  # 10
    ]


def long_outage_day(sales: int = OFFLINE_SALES_FOR_TWO_PACKAGES) -> list[Step]:
    """An outage long enough that its session goes in two packages."""
    return [
        Step("open"),
        Step("server", mode="down"),
        *(sale(f"{1 + i % 50}.{i % 100:02d}") for i in range(sales)),
        Step("server", mode="none"),
        Step("go_online"),
        Step("close"),
    ]


OUTAGE_GO_ONLINE = 8  # the step of outage_day that delivers the session


def long_outage_go_online(sales: int = OFFLINE_SALES_FOR_TWO_PACKAGES) -> int:
    return sales + 3


def insert(script: list[Step], index: int, *steps: Step) -> list[Step]:
    """``steps`` before the step at ``index`` (which moves on by ``len(steps)``)."""
    return [*script[:index], *steps, *script[index:]]


def lost_reply_then_outage(kind: str) -> list[Step]:
    """The online day; the server registers the ``kind`` document, its reply is lost and the link goes down
    (scenario 2 of issue 9); the box goes on as the law lets it, the link returns, the box delivers."""
    index = ONLINE_KINDS[kind]
    day = online_day()
    if kind == "open":
        # The offline range comes with the first open shift's reply (issue 15, «Ідентифікатор офлайн сесії
        # надається Сервером у відповідь на документ «Відкриття зміни»»): a box whose very first shift
        # lost it has no range and may not sell offline. The scenario is the next morning's shift.
        day = [Step("open"), sale("1.00"), Step("close"), *day]
        index += 3
    lose = Step("proxy", fault=Fault("lose-then-down", paths=("/fs/doc",)))
    after = [Step("proxy", fault=Fault()), Step("go_online")]
    if kind != "close":
        after.insert(0, sale("4.56"))  # one more while the link is down
    return insert(insert(day, index + 1, *after), index, lose)


__all__ = [
    "ONLINE_KINDS",
    "OUTAGE_GO_ONLINE",
    "insert",
    "long_outage_day",
    "long_outage_go_online",
    "lost_reply_then_outage",
    "online_day",
    "outage_day",
]
