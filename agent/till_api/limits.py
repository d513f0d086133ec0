"""How large a till's request may be: a body over ``MAX_BODY_BYTES`` is answered 413 with the JSON
ErrorBody, before anything reads it into memory (a box has little of it).

An answer given while the client is still sending makes the kernel reset the connection when it is
closed with unread data, and the till sees a reset instead of the answer: so the rest of the body is read
and thrown away first (up to ``DRAIN_BYTES``), unless the client waits for ``100 Continue`` and has sent
nothing yet.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from agent.till_api.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the largest receipt the box can make (about 200 KB as XML, see agent/secr/sync.py) is far smaller as
#: JSON, even with every letter \u-escaped: this leaves room and still bounds the memory a request takes
MAX_BODY_BYTES = 4 * 1024 * 1024
#: read and discarded at most, so that the 413 reaches the client instead of a reset
DRAIN_BYTES = 64 * 1024 * 1024


class BodyLimit:
    """Pure ASGI middleware: no cost beyond a header look-up for a request that declares a small body."""

    def __init__(self, app: App, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            # The server holds the client to its Content-Length (and refused one that is not a number).
            if not length.isdigit() or int(length) <= self.max_bytes:
                await self.app(scope, receive, send)
                return
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await self._drain(receive)
            await self._refuse(send)
            return
        if b"transfer-encoding" not in headers:  # HTTP/1.1: no length, no chunks, no body
            await self.app(scope, receive, send)
            return
        await self._chunked(scope, receive, send)

    async def _chunked(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body of unknown length is read here, up to the limit, and handed on whole."""
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body = bytes(message.get("body", b""))
            total += len(body)
            if total > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive)
                await self._refuse(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return whole

        await self.app(scope, replay, send)

    @staticmethod
    async def _drain(receive: Receive) -> None:
        drained = 0
        while drained < DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                "request.too_large",
                f"the request body is larger than {self.max_bytes} bytes, the most the box takes",
            ),
            ensure_ascii=False,
        ).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
