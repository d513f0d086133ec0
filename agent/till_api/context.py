"""What the till API serves from: the register, the cashiers' sessions and the box's configuration.

The app keeps its context in `app.state`; routes get it through the `Ctx` dependency, so the routers are
plain module-level objects and one process can serve several boxes (the tests do).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from agent.clock import Clock
from agent.printing import PrintService
from agent.receipts import Layout
from agent.secr import documents as docs
from agent.secr.register import CashRegister
from agent.till_api.auth import Sessions
from agent.till_api.facts import BoxFacts
from agent.till_api.ids import IdScheme

API = "/api/v1"


@dataclass
class ApiContext:
    register: CashRegister
    sessions: Sessions
    license_key: str
    taxes: Mapping[int, docs.Tax]
    fiscal_number: str
    clock: Clock
    box_status: Callable[[], dict[str, Any]]
    jwt_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    printing: PrintService | None = None
    slip: Callable[[], Layout] | None = None  # the technician's slip, laid out for the printer
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports_lock: threading.Lock = field(default_factory=threading.Lock)
    ids: IdScheme = field(init=False, repr=False)
    _facts: BoxFacts | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.ids = IdScheme.of(self.fiscal_number)

    @property
    def facts(self) -> BoxFacts:
        """The box as Checkbox's records; made anew only when the registration data changes (learned
        from the server after a start without it)."""
        seller = self.register.seller()
        if self._facts is None or self._facts.seller != seller:
            self._facts = BoxFacts(
                ids=self.ids,
                fiscal_number=self.fiscal_number,
                seller=seller,
                since=self.register.records_since(),
                key_id=self.register.signer.subject_key_id or "",
                cashiers=self.sessions.cashiers,
                taxes=self.taxes,
            )
        return self._facts


def install(app: FastAPI, ctx: ApiContext) -> None:
    app.state.till = ctx


# async: FastAPI runs a sync dependency in its thread pool, a hop each request would pay for nothing.
async def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.till
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
