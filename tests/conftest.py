"""Shared fixtures: a real HTTP server on the loopback interface, and an isolated data cache."""

from __future__ import annotations

import dataclasses
import http.server
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest


class _QuietServer(http.server.ThreadingHTTPServer):
    """The test server, silent when a client hangs up mid-download (as the download tests
    make clients do): socketserver would print the traceback to stderr, where it lands in
    whichever test is running then, e.g. one that asserts nothing is written there."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclasses.dataclass
class Route:
    content: bytes
    #: Failure modes for successive requests, consumed in order; then `content` is served.
    #: "drop" (reset mid-body), "short" (clean close before Content-Length), or an HTTP status.
    failures: list = dataclasses.field(default_factory=list)
    ranges: bool = True  # honour Range requests with 206
    chunk_delay: float = 0.0  # seconds between 64 KiB chunks (to make downloads slow)


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 whose routes can misbehave on purpose."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append((self.path, self.headers.get("Range")))
                    route = server.routes.get(self.path)
                    failure = route.failures.pop(0) if route and route.failures else None
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                if isinstance(failure, int):
                    self.send_response(failure)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, start = route.content, 0
                range_header = self.headers.get("Range")
                if route.ranges and range_header and failure is None:
                    start = int(range_header.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if failure in ("drop", "short"):
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    if failure == "drop":  # RST instead of FIN: a connection reset
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    self.close_connection = True
                    return
                for i in range(0, len(payload), 1 << 16):
                    self.wfile.write(payload[i : i + (1 << 16)])
                    if route.chunk_delay:
                        self.wfile.flush()
                        time.sleep(route.chunk_delay)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval (0.5 s by default).
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def add(self, path: str, content: bytes, **kwargs) -> str:
        self.routes[path] = Route(content, **kwargs)
        return self.url(path)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty data cache, also exported as $MITDL_DATA for subprocesses."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MITDL_DATA", str(root))
    return root
