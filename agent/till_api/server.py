"""Serve the till API with uvicorn in a background thread (the agent's loop keeps the main thread)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import uvicorn


class ApiServer:
    """uvicorn binds the address itself (`port=0` gives a free port, read back once it listens).

    Handing uvicorn a socket bound by us instead cost every request about 40 ms on this machine."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_cert_file: Path | None = None,
        tls_key_file: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._scheme = "https" if tls_cert_file else "http"
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            ssl_certfile=str(tls_cert_file) if tls_cert_file else None,
            ssl_keyfile=str(tls_key_file) if tls_key_file else None,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self._scheme}://{shown}:{self.port}"

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self._server.run, name="till-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the till API could not listen on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
