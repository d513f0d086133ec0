"""The till API: the subset of Checkbox's API v1 that tills use (contract §3, docs/checkbox-compat.md),
as thin glue over the cash register.

The app is composed here; the parts live beside it: routes/ (one router per OpenAPI tag), access.py (the
licence key and the bearer token), errors.py (what an error answers), views.py (the JSON of the box's
records), convert.py (a request → the register's inputs), records.py (reading the register for a view),
limits.py (how large a request body may be).
"""

from __future__ import annotations

from fastapi import FastAPI

from agent import __version__
from agent.till_api import context, errors
from agent.till_api.context import API, ApiContext
from agent.till_api.errors import ApiError
from agent.till_api.limits import BodyLimit
from agent.till_api.routes import ROUTERS


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="fiscal-box till API",
        version=__version__,
        description="The subset of Checkbox's API v1 that tills use, served by the box itself.",
        openapi_url=f"{API}/openapi.json",
        responses=errors.RESPONSES,
        docs_url=f"{API}/docs",
        redoc_url=None,
    )
    context.install(app, ctx)
    errors.install(app)
    app.add_middleware(BodyLimit)
    for router in ROUTERS:
        # The routes themselves, not the router: since FastAPI 0.137 an included router stays a nested
        # node that every request searches (measured: about 0.5 ms per request on the box). Each route
        # carries all its settings, and the app uses no dependency overrides, which only included
        # routes would see.
        app.router.routes.extend(router.routes)
    return app


__all__ = ["API", "ApiContext", "ApiError", "create_app"]
