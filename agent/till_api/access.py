"""Who may call the till API: the box's licence key, and a signed-in cashier's bearer token."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

import jwt
from fastapi import Depends, Header

from agent.till_api.auth import Session
from agent.till_api.context import ApiContext, Ctx
from agent.till_api.errors import ApiError


def check_license(ctx: ApiContext, key: str | None) -> None:
    if key is None:
        raise ApiError(403, "license_key.missing", "the X-License-Key header is required")
    if not secrets.compare_digest(key.encode(), ctx.license_key.encode()):
        raise ApiError(403, "license_key.invalid", "the X-License-Key does not match this box")


def session(
    ctx: Ctx,
    authorization: Annotated[str | None, Header()] = None,
    x_license_key: Annotated[str | None, Header()] = None,
) -> Session:
    check_license(ctx, x_license_key)
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "auth.unauthorized", "sign in first: the Authorization: Bearer token is missing")
    try:
        claims = jwt.decode(authorization[7:].strip(), ctx.jwt_secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        claims = {}
    found = ctx.sessions.get(str(claims.get("sid", "")))
    if found is None:
        raise ApiError(401, "auth.unauthorized", "the token is unknown or has expired: sign in again")
    return found


Authed = Annotated[Session, Depends(session)]


def issue_token(ctx: ApiContext, s: Session) -> dict[str, Any]:
    # Tills may decode the token (checkbox-sdk's token_data does): a real JWT around the session.
    claims = {"sub": s.cashier_id, "sid": s.token, "iat": int(time.time())}
    return {
        "type": "bearer",
        "token_type": "bearer",
        "access_token": jwt.encode(claims, ctx.jwt_secret, "HS256"),
    }
