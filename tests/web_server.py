"""A loopback HTTP file server for tests: real ETags, HEAD, 304s, and switchable faults.

``serve_folder(folder)`` starts a ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) serving the
files under ``folder`` and stops it on exit, joining every thread it started. Faults are switched
on the yielded ``FolderServer`` while it runs:

    with serve_folder(tmp_path, etags=False) as server:
        server.fail_next(2)            # the next 2 requests answer 500
        server.cut_next(1)             # the next GET sends half its body, then closes
        requests.get(server.url("iris.csv"))
        assert server.requests[-1] == ("GET", "/iris.csv")
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.server
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit


class FolderServer:
    """The running server's state, its request log and the switches for faults."""

    def __init__(self, folder: Path, *, etags: bool = True, head: bool = True):
        self.folder = Path(folder).resolve()
        self.etags = etags
        self.head = head
        self.requests: list[tuple[str, str]] = []  # (method, path with query) in arrival order
        self.headers: list[dict[str, str]] = []  # the request headers, same order
        self._fail: list[int] = []  # statuses for the next requests
        self._cut = 0  # how many of the next bodies are cut short
        self.delay = 0.0  # seconds to wait before answering
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self.port = 0

    # --- switches ---------------------------------------------------------------------------

    def url(self, name: str = "", *, query: str = "", userinfo: str = "") -> str:
        """The URL of ``name`` (a path relative to the folder; quoted here)."""
        auth = f"{userinfo}@" if userinfo else ""
        tail = f"?{query}" if query else ""
        return f"http://{auth}127.0.0.1:{self.port}/{quote(name)}{tail}"

    def set_etags(self, on: bool = True) -> None:
        """Send ETag headers (and honour If-None-Match) or not."""
        self.etags = on

    def refuse_head(self, refuse: bool = True) -> None:
        """Answer HEAD with 405 Method Not Allowed, as some servers and signed URLs do."""
        self.head = not refuse

    def fail_next(self, n: int, status: int = 500) -> None:
        """The next ``n`` requests (any method) answer ``status`` with a short error body."""
        with self._lock:
            self._fail.extend([status] * n)

    def cut_next(self, n: int = 1) -> None:
        """The next ``n`` GETs of a file promise its full Content-Length, send half, and close."""
        with self._lock:
            self._cut += n

    def set_delay(self, seconds: float) -> None:
        """Wait this long before answering each request (to trigger client read timeouts)."""
        self.delay = seconds

    def clear(self) -> None:
        """Forget the request log."""
        with self._lock:
            self.requests.clear()
            self.headers.clear()

    def count(self, method: str, name: str | None = None) -> int:
        """How many requests with ``method`` (for ``name``, when given) arrived."""
        path = None if name is None else "/" + quote(name)
        return sum(
            1 for m, p in list(self.requests) if m == method and (path is None or p.split("?")[0] == path)
        )

    # --- used by the handler ----------------------------------------------------------------

    def _record(self, method: str, path: str, headers: dict[str, str]) -> tuple[int | None, bool]:
        with self._lock:
            self.requests.append((method, path))
            self.headers.append(headers)
            status = self._fail.pop(0) if self._fail else None
            cut = False
            if status is None and method == "GET" and self._cut > 0:
                self._cut -= 1
                cut = True
            return status, cut


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    state: FolderServer  # set on the per-server subclass

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def setup(self) -> None:
        super().setup()
        with self.state._lock:
            self.state._conns.add(self.connection)

    def finish(self) -> None:
        with self.state._lock:
            self.state._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _plain(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _answer(self, body: bool) -> None:
        st = self.state
        status, cut = st._record(self.command, self.path, dict(self.headers.items()))
        if st.delay:
            time.sleep(st.delay)
        if status is not None:
            return self._plain(status, f"injected failure {status}\n")
        if not body and not st.head:
            return self._plain(405, "HEAD not allowed\n", {"Allow": "GET"})
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        file = (st.folder / rel).resolve()
        if not rel or not file.is_relative_to(st.folder) or not file.is_file():
            return self._plain(404, f"no file {rel!r}\n")
        data = file.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        headers = {"Last-Modified": email.utils.formatdate(os.stat(file).st_mtime, usegmt=True)}
        if st.etags:
            headers["ETag"] = etag
            asked = [t.strip() for t in self.headers.get("If-None-Match", "").split(",") if t.strip()]
            if etag in asked or "*" in asked:
                self.send_response(304)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                return None
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) + (max(1, len(data)) if cut else 0)))
        for k, v in headers.items():
            self.send_header(k, v)
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if not body:
            return None
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return None
        self.wfile.write(data)
        return None


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the request threads
    block_on_close = True

    def handle_error(self, request: object, client_address: object) -> None:
        # a client that hangs up (read timeout, reset keep-alive connection) is not a server error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve_folder(folder: str | os.PathLike[str], **options: bool) -> Iterator[FolderServer]:
    """Serve ``folder`` on 127.0.0.1 until the block ends. Options: ``etags`` (default True),
    ``head`` (default True; False refuses HEAD with 405)."""
    state = FolderServer(Path(folder), **options)
    handler = type("FolderHandler", (_Handler,), {"state": state})
    server = _Server(("127.0.0.1", 0), handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        # kept-alive client connections would hold their request threads in readline(): end them
        with state._lock:
            conns = list(state._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join(timeout=10)
