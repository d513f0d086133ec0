"""A stand-in HTTP server on a free loopback port, served from its own thread (tests' fake fiscal servers
and relays: a reply of the wrong shape, a connection dropped mid-check)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Served:
    def __init__(self, handler: type[BaseHTTPRequestHandler], *, path: str = "/fs") -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
