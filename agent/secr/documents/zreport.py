"""The Z report (zrep01) of a shift, summed from the documents the caller hands in."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from agent.secr.errors import NotSupported

from .checks import _bad, _check_head, _check_no_revoke
from .model import Check, DocHead, DocSubType, DocType, PayFormTotal, TaxRow, ZPay, ZReport

_TaxKey = tuple[int, str, Decimal, bool]


class _ZAcc:
    """Sums one ZPay section from the documents' own rows, so the Z matches them to the kopeck."""

    def __init__(self) -> None:
        self.sum = Decimal("0.00")
        self.count = 0
        self.round_sum: Decimal | None = None
        self.no_round_sum = Decimal("0.00")  # reported only when some document was rounded
        self.forms: dict[tuple[int, str], Decimal] = {}
        self.taxes: dict[_TaxKey, list[TaxRow]] = {}
        # not in zrep01; for the till's report answers (Checkbox's discounts_sum, *_round_up/down)
        self.discounts = Decimal("0.00")
        self.charges = Decimal("0.00")
        self.round_up = Decimal("0.00")
        self.round_down = Decimal("0.00")

    def add(self, check: Check) -> None:
        self.count += 1
        self.sum += check.total if check.total is not None else Decimal("0.00")
        if check.round_sum is not None:
            self.round_sum = (self.round_sum or Decimal("0.00")) + check.round_sum
            # RNDSUM = NORNDSUM - SUM ("Заокруглення": -0.03 for 12.57 paid as 12.60): negative is up
            if check.round_sum < 0:
                self.round_up -= check.round_sum
            else:
                self.round_down += check.round_sum
        for line in check.lines:
            for part in (line.item.discount, line.share or Decimal("0.00")):
                if part > 0:
                    self.discounts += part
                else:
                    self.charges -= part
        if check.no_round_sum is not None:
            self.no_round_sum += check.no_round_sum
        else:
            self.no_round_sum += check.total if check.total is not None else Decimal("0.00")
        for pay in check.payments:
            key = (pay.form, pay.name)
            self.forms[key] = self.forms.get(key, Decimal("0.00")) + pay.amount
        for row in check.taxes:
            self.taxes.setdefault((row.type, row.letter, row.rate, row.included), []).append(row)

    def result(self) -> ZPay | None:
        if self.count == 0:
            return None
        taxes: list[TaxRow] = []
        for key in sorted(self.taxes, key=lambda k: (k[0], k[1], k[2], k[3])):
            rows = self.taxes[key]
            any_disc = any(r.turnover_discount is not None for r in rows)
            any_src = any(r.source_sum is not None for r in rows)
            turnover = sum((r.turnover for r in rows), Decimal("0.00"))

            def disc(r: TaxRow) -> Decimal:
                return r.turnover_discount if r.turnover_discount is not None else r.turnover

            def src(r: TaxRow) -> Decimal:
                return r.source_sum if r.source_sum is not None else disc(r)

            taxes.append(
                TaxRow(
                    type=key[0],
                    name=rows[0].name,
                    letter=key[1],
                    rate=key[2],
                    included=key[3],
                    turnover=turnover,
                    sum=sum((r.sum for r in rows), Decimal("0.00")),
                    source_sum=sum((src(r) for r in rows), Decimal("0.00")) if any_src else None,
                    turnover_discount=sum((disc(r) for r in rows), Decimal("0.00")) if any_disc else None,
                )
            )
        forms = tuple(
            PayFormTotal(form=k[0], name=k[1], sum=v)
            for k, v in sorted(self.forms.items(), key=lambda kv: kv[0])
        )
        return ZPay(
            sum=self.sum,
            orders_count=self.count,
            pay_forms=forms,
            taxes=tuple(taxes),
            round_sum=self.round_sum,
            no_round_sum=self.no_round_sum if self.round_sum is not None else None,
            discounts_sum=self.discounts,
            extra_charge_sum=self.charges,
            round_up=self.round_up,
            round_down=self.round_down,
        )


def z_report(head: DocHead, checks: Iterable[Check]) -> ZReport:
    """The shift's Z from its documents (the caller has already left out stornoed ones).

    Pay-form rows are summed per (code, name), as in the official example where prepayment and a gift
    certificate both use code 2 but stay separate rows.
    """
    _check_head(head)
    _check_no_revoke(head)
    realiz, ret = _ZAcc(), _ZAcc()
    service_in: Decimal | None = None
    service_out: Decimal | None = None
    for i, check in enumerate(checks):
        if not isinstance(check, Check):
            raise _bad(f"checks[{i}] must be a Check", f"checks[{i}]")
        if check.doc_type in (
            DocType.OPEN_SHIFT,
            DocType.CLOSE_SHIFT,
            DocType.OFFLINE_BEGIN,
            DocType.OFFLINE_END,
        ):
            continue
        if check.doc_type != DocType.SALE_GOODS:
            raise NotSupported(f"Z-report over DOCTYPE {int(check.doc_type)} documents not supported")
        sub = check.doc_subtype
        if sub in (None, DocSubType.CHECK_GOODS):
            realiz.add(check)
        elif sub == DocSubType.CHECK_RETURN:
            ret.add(check)
        elif sub in (DocSubType.SERVICE_DEPOSIT, DocSubType.ADDITIONAL_DEPOSIT):
            service_in = (service_in or Decimal("0.00")) + (check.total or Decimal("0.00"))
        elif sub == DocSubType.SERVICE_ISSUE:
            service_out = (service_out or Decimal("0.00")) + (check.total or Decimal("0.00"))
        # storno documents carry no sums; the stornoed document was already left out by the caller
    return ZReport(
        head=head,
        realiz=realiz.result(),
        ret=ret.result(),
        service_input=service_in,
        service_output=service_out,
    )
