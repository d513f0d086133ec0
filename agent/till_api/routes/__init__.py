"""The till API's routers, one per OpenAPI tag; mounted under /api/v1 in this order."""

from __future__ import annotations

from fastapi import APIRouter

from agent.till_api.routes import box, cash_registers, cashier, organization, receipts, reports, shifts, tax

ROUTERS: tuple[APIRouter, ...] = (
    cashier.router,
    shifts.router,
    receipts.router,
    reports.router,
    tax.router,
    cash_registers.router,
    organization.router,
    box.router,
)
