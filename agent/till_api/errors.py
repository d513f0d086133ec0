"""Errors at the till API's boundary: every answer other than 200 is a JSON ErrorBody.

Bad input → 4xx naming what is wrong, a refusal of the register → 4xx with the cashier-facing message,
retry later → 503; never a 5xx for what a till sent. Every error is a JSON object because the SDK parses
error bodies as objects (docs/checkbox-compat.md §0.2): Starlette's own answers (404, 405, a body that is
not JSON) too, a body over the limit (413, limits.py), and a defect of the box itself (500).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.secr.errors import (
    BadInput,
    FiscalBoxError,
    InvalidInput,
    NeedsPerson,
    OutcomeUnknown,
    RetryLater,
    SalesBlocked,
    ShiftAlreadyOpen,
    ShiftNotOpen,
)
from agent.secr.register import DuplicateRequest
from agent.till_api import schemas

# Every operation may answer these, always as an ErrorBody (the till shows its message).
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.ErrorBody, "description": text}
    for status, text in (
        (400, "refused: bad input or the register's rules"),
        (401, "not signed in, or the token expired"),
        (403, "the licence key is missing or wrong"),
        (404, "not found"),
        (409, "refused by the box's state: sales blocked, printer, fiscal server"),
        (413, "the request body is too large"),
        (500, "an error of the box itself; a receipt is never made twice: retry with the same id"),
        (503, "retry later; receipt.outcome_unknown: retry with the same id"),
    )
}


class ApiError(Exception):
    """An answer other than 200: status, Checkbox-style code, message, optional detail rows."""

    def __init__(
        self, status: int, code: str, message: str, detail: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail or []


def error_body(code: str, message: str, detail: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"message": message, "code": code, "detail": detail or []}


def field_loc(name: str | None) -> list[str]:
    """The register names a field "goods[0].good.tax"; FastAPI's detail rows say ["body", "goods", "0", ...]."""
    if not name:
        return ["body"]
    return ["body", *str(name).replace("]", "").replace("[", ".").split(".")]


def from_box_error(exc: FiscalBoxError) -> ApiError:
    """The register's exception tree → HTTP: bad input 400, a refusal of the box 409, retry later 503."""
    text = str(exc)
    if isinstance(exc, DuplicateRequest):
        return ApiError(400, "receipt.already_exists", text)
    if isinstance(exc, ShiftNotOpen):
        return ApiError(400, "shift.not_opened", text)
    if isinstance(exc, ShiftAlreadyOpen):
        return ApiError(400, "shift.already_opened", text)
    if isinstance(exc, InvalidInput):
        loc = field_loc(exc.field)
        return ApiError(400, exc.code, text, [{"loc": loc, "msg": exc.message, "type": exc.code}])
    if isinstance(exc, BadInput):
        return ApiError(400, exc.code, text)
    if isinstance(exc, SalesBlocked):
        return ApiError(409, f"sales_blocked.{exc.reason}", text)
    if isinstance(exc, NeedsPerson):
        return ApiError(409, exc.code, text)
    if isinstance(exc, OutcomeUnknown):
        # 503 with Retry-After: a till (and the Checkbox SDK, which raises on any 5xx) treats it as "ask
        # again", which is what it must do — with the same id, never a new one, or the sale could count twice.
        return ApiError(
            503,
            "receipt.outcome_unknown",
            text,
            [{"loc": ["body", "id"], "msg": "retry with the same id", "type": exc.code}],
        )
    assert isinstance(exc, RetryLater)
    return ApiError(503, exc.code, text)


def validation_body(errors: Any) -> dict[str, Any]:
    """FastAPI's 422 rows, with a message that names the first fields (the till shows only the message).

    A list index in `loc` is written as text ("0"): Checkbox's description types `loc` as strings."""
    detail = [
        {
            "loc": [str(part) for part in e.get("loc", [])],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]
    fields = ", ".join(".".join(str(p) for p in d["loc"][1:]) or "body" for d in detail[:5])
    return error_body("validation_error", f"invalid request: {fields}", detail)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.code, exc.message, exc.detail), status_code=exc.status)


async def _box_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FiscalBoxError)
    err = from_box_error(exc)
    headers = {"Retry-After": "5"} if err.status == 503 else None
    return JSONResponse(
        error_body(err.code, err.message, err.detail), status_code=err.status, headers=headers
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_body(exc.errors()), status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers (no such path, a method not allowed) as the same JSON body."""
    assert isinstance(exc, StarletteHTTPException)
    body = error_body(f"http.{exc.status_code}", str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
    """What no other handler took: a defect of the box. Still the JSON body a till can read (the SDK
    parses every error as an object), never a text page; the traceback goes to the log."""
    return JSONResponse(
        error_body(
            "internal_error",
            f"internal error in the box ({type(exc).__name__}): retry with the same id, a receipt is never"
            " made twice; if it repeats, call support",
        ),
        status_code=500,
        # Starlette re-raises the exception after this answer and uvicorn then closes the connection: said
        # so, a till's keep-alive client opens a new one, where it would otherwise send its next request
        # (a sale, perhaps) into the closed one and get a reset instead of an answer.
        headers={"Connection": "close"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(FiscalBoxError, _box_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
