"""cashier: sign-in by login and password or by PIN, sign-out, who is signed in, the open shift, the
signature status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from agent.till_api import models, pages, records, schemas, views
from agent.till_api.access import Authed, check_license, issue_token
from agent.till_api.context import API, Ctx
from agent.till_api.errors import RESPONSES, ApiError

router = APIRouter(prefix=API, tags=["cashier"], responses=RESPONSES)


# The licence key is optional at sign-in (the SDK sends it only when given one), checked when present.
@router.post("/cashier/signin", response_model=schemas.Token)
def signin(
    body: models.SignIn, ctx: Ctx, x_license_key: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    if x_license_key is not None:
        check_license(ctx, x_license_key)
    found = ctx.sessions.sign_in_password(body.login, body.password)
    if found is None:
        raise ApiError(401, "base.credentials", "wrong login or password")
    return issue_token(ctx, found)


@router.post("/cashier/signinPinCode", response_model=schemas.Token)
def signin_pin(
    body: models.SignInPin, ctx: Ctx, x_license_key: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    if x_license_key is not None:
        check_license(ctx, x_license_key)
    found = ctx.sessions.sign_in_pin(body.pin_code)
    if found is None:
        raise ApiError(401, "base.credentials", "wrong PIN code")
    return issue_token(ctx, found)


@router.post("/cashier/signout")
def signout(ctx: Ctx, s: Authed) -> dict[str, Any]:
    ctx.sessions.sign_out(s.token)
    return {}  # a JSON body, not a 204: the SDK parses the answer


@router.get("/cashier/me", response_model=schemas.DetailedCashier)
def me(ctx: Ctx, s: Authed) -> dict[str, Any]:
    return views.me_json(s, ctx.facts)


@router.get("/cashier/shift", response_model=schemas.Shift | None)
def cashier_shift(ctx: Ctx, _: Authed) -> dict[str, Any] | None:
    return records.open_shift(ctx)


@router.get("/cashier/check-signature", response_model=pages.CashierSignatureStatus)
def check_signature(ctx: Ctx, _: Authed) -> dict[str, Any]:
    return records.signature_status(ctx)
