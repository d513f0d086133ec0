"""The Z report checked against the server's draft of it before it is sent (``LastShiftTotals``).

The official text («Реєстрація Z-звіту і закриття зміни», items 1-2): «Сервер формує проект Z-звіту за
запитом ПРРО ... Отриманий проект Z-звіту має бути перевірений, може бути змінений. Кількість запитів для
формування проекту Z-звіту необмежена. ПРРО (самостійно або на основі проекту, отриманого від Фіскального
Сервера) створює XML документ Z-звіту». The box makes its Z from its own journal and checks it against the
draft («має бути перевірений»): a figure that differs is explained to a person, naming both figures, and
nothing is journaled or sent. Our strict reading: "may be changed" is the client's freedom to build its
own Z, not a licence to send one the server's totals contradict.

Only online and only when the server answers: offline there is no draft to ask for (the Z goes in the
session's package and the server checks it then); a server that does not answer the query leaves the Z to
its usual path (sent, or made offline when the server is down).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.secr import documents as docs
from agent.secr.errors import NeedsPerson, RetryLater
from agent.secr.server import FiscalServerClient

log = logging.getLogger(__name__)

_CENT = Decimal("0.01")


class ZReportDiffers(NeedsPerson):
    """The Z report the journal gives differs from the server's draft (``LastShiftTotals``)."""

    code = "z_report_differs"

    def __init__(self, message: str, *, differences: list[str], what_to_do: str | None = None) -> None:
        super().__init__(message, what_to_do=what_to_do)
        self.differences = differences


def _money(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)).quantize(_CENT)
    except (InvalidOperation, ValueError):
        return None


def _pay_figures(name: str, ours: docs.ZPay | None, theirs: Any) -> list[tuple[str, Any, Any]]:
    server: Mapping[str, Any] = theirs if isinstance(theirs, Mapping) else {}
    figures: list[tuple[str, Any, Any]] = [
        (
            f"{name}.Sum",
            ours.sum.quantize(_CENT) if ours else Decimal("0.00"),
            _money(server.get("Sum")) or Decimal("0.00"),
        ),
        (f"{name}.OrdersCount", ours.orders_count if ours else 0, int(server.get("OrdersCount") or 0)),
    ]
    forms = server.get("PayForm")
    if isinstance(forms, list):
        theirs_forms = {
            int(f["PayFormCode"]): _money(f.get("Sum"))
            for f in forms
            if isinstance(f, Mapping) and "PayFormCode" in f
        }
        # By code, as the server totals them: the Z may carry one code under two names (КАРТКА, Картка).
        ours_forms: dict[int, Decimal] = {}
        for p in ours.pay_forms if ours else ():
            ours_forms[p.form] = ours_forms.get(p.form, Decimal("0.00")) + p.sum.quantize(_CENT)
        for code in sorted(set(theirs_forms) | set(ours_forms)):
            figures.append(
                (
                    f"{name}.PayForm[{code}].Sum",
                    ours_forms.get(code, Decimal("0.00")),
                    theirs_forms.get(code) or Decimal("0.00"),
                )
            )
    return figures


def differences(z: docs.ZReport, totals: Mapping[str, Any]) -> list[str]:
    """Each figure of the Z that is not the draft's, as "name: box X, server Y"."""
    figures = _pay_figures("Real", z.realiz, totals.get("Real")) + _pay_figures(
        "Ret", z.ret, totals.get("Ret")
    )
    for name, ours in (("ServiceInput", z.service_input), ("ServiceOutput", z.service_output)):
        figures.append(
            (name, (ours or Decimal("0")).quantize(_CENT), _money(totals.get(name)) or Decimal("0.00"))
        )
    return [f"{name}: box {ours}, server {theirs}" for name, ours, theirs in figures if ours != theirs]


def check(server: FiscalServerClient, fiscal_number: str, z: docs.ZReport) -> None:
    """Raise ``ZReportDiffers`` when the server's draft contradicts the Z about to be journaled."""
    try:
        reply = server.last_shift_totals(fiscal_number)
    except RetryLater as exc:
        log.warning("the server's draft Z report could not be read (the Z goes unchecked): %s", exc)
        return
    totals = (reply or {}).get("Totals")
    if not isinstance(totals, Mapping):
        return  # 204, or no open shift on the server: the Z's own refusal (code 5) says so
    found = differences(z, totals)
    if found:
        raise ZReportDiffers(
            "the Z report differs from the fiscal server's totals of the shift (LastShiftTotals): "
            + "; ".join(found),
            differences=found,
            what_to_do="nothing was sent; compare the shift's receipts with the tax cabinet and call support",
        )


__all__ = ["ZReportDiffers", "check", "differences"]
