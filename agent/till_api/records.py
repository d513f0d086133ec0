"""The register's records as the routes answer them: read from the register, then shown by a view.

The one place the routes and the views meet the register's reading side, so a view never reads and a
route never builds JSON itself.
"""

from __future__ import annotations

from agent.secr import documents as docs
from agent.secr.register import Fiscalized
from agent.till_api import views
from agent.till_api.context import ApiContext
from agent.till_api.errors import ApiError
from agent.till_api.views import Json


def shift(ctx: ApiContext, shift_id: int, *, with_balance: bool = True) -> Json | None:
    view = ctx.register.shift_view(shift_id, with_figures=with_balance)
    if view is None:
        return None
    return views.shift_json(view, ctx.facts)


def open_shift(ctx: ApiContext) -> Json | None:
    """The open shift, or None (tills read None as "no shift", never a 404)."""
    view = ctx.register.shift_view()
    return shift(ctx, view.id) if view is not None and view.closed_at is None else None


def existing_shift(ctx: ApiContext, shift_id: int) -> Json:
    """A shift the register has just made or closed."""
    found = shift(ctx, shift_id)
    assert found is not None
    return found


def receipt_of(ctx: ApiContext, receipt_id: str) -> Fiscalized:
    result = ctx.register.get(receipt_id)
    if result is None or not isinstance(result.document, docs.Check):
        raise ApiError(404, "receipt.not_found", f"no receipt with id {receipt_id}")
    return result


def receipt(ctx: ApiContext, result: Fiscalized) -> Json:
    # The receipt's shift without its figures: those cost a parse of every document of the shift.
    assert result.shift_id is not None  # every check is made in a shift
    in_shift = shift(ctx, result.shift_id, with_balance=False)
    assert in_shift is not None
    return views.receipt_json(result, facts=ctx.facts, shift=in_shift)


def last_z_serial(ctx: ApiContext) -> int | None:
    """The local number of the last Z report: of the last shift, else of the one before (still open)."""
    last = ctx.register.shift_view()
    while last is not None:
        if last.z is not None:
            return last.z.local_num
        if last.closed_at is not None or last.id <= 1:
            return None
        last = ctx.register.shift_view(last.id - 1)
    return None


def cash_register(ctx: ApiContext) -> Json:
    status = ctx.register.status()
    return views.register_json(
        status,
        open_shift(ctx),
        facts=ctx.facts,
        testing=ctx.register.registrar.testing,
        last_z_serial=last_z_serial(ctx),
    )
