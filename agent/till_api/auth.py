"""Cashier sessions for the till API: sign-in by login/password or PIN, bearer tokens that expire."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from agent.clock import Clock
from agent.config import Cashier


@dataclass(frozen=True)
class Session:
    token: str
    cashier: Cashier
    cashier_id: str  # stable UUID per login, as Checkbox gives cashiers ids
    expires_at: float  # clock.monotonic()


def cashier_id(cashier: Cashier) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fiscal-box:cashier:{cashier.login}"))


class Sessions:
    """Tokens live in memory: a restart of the box signs tills out, as a token expiry would."""

    def __init__(self, cashiers: Sequence[Cashier], clock: Clock, ttl_s: float) -> None:
        self._cashiers = list(cashiers)
        self._clock = clock
        self._ttl = ttl_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    @property
    def cashiers(self) -> tuple[Cashier, ...]:
        return tuple(self._cashiers)

    def sign_in_password(self, login: str, password: str) -> Session | None:
        for cashier in self._cashiers:
            if cashier.login == login and cashier.verify_password(password):
                return self._open(cashier)
        return None

    def sign_in_pin(self, pin: str) -> Session | None:
        for cashier in self._cashiers:
            if cashier.verify_pin(pin):
                return self._open(cashier)
        return None

    def _open(self, cashier: Cashier) -> Session:
        session = Session(
            token=secrets.token_urlsafe(32),
            cashier=cashier,
            cashier_id=cashier_id(cashier),
            expires_at=self._clock.monotonic() + self._ttl,
        )
        with self._lock:
            self._sessions[session.token] = session
        return session

    def get(self, token: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at <= self._clock.monotonic():
                del self._sessions[token]
                return None
            return session

    def sign_out(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)
