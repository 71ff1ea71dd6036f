"""What the local service emulators share: a JSON-over-HTTP request handler (body limit, JSON object
bodies, bearer tokens, one error type answered as JSON), a server thread on loopback, and the
``serve until SIGTERM`` loop of their command lines. Each emulator keeps its routes and error shapes.

Only the standard library, so an emulator still runs wherever a plain Python does.
"""

from __future__ import annotations

import hmac
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


class HttpApiError(Exception):
    """An error a service answers with an HTTP status and a JSON body; each emulator shapes the body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class JsonRequestHandler(BaseHTTPRequestHandler):
    """One request of a JSON API: ``respond(method, path, query)`` answers it; an ``HttpApiError`` it
    raises is sent as its JSON body, any other exception as ``internal_error(exc)`` with status 500."""

    protocol_version = "HTTP/1.1"
    logger = log  # subclasses name their own module's logger
    json_type = "application/json"  # the Content-Type of JSON answers

    def log_message(self, format: str, *args: Any) -> None:
        self.logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            self.respond(method, path, url.query)
        except HttpApiError as exc:
            self.send_json(exc.status, exc.body())
        except Exception as exc:
            self.logger.exception("%s %s failed", method, path)
            self.send_json(500, self.internal_error(exc))

    def respond(self, method: str, path: str, query: str) -> None:
        raise NotImplementedError

    def internal_error(self, exc: Exception) -> dict[str, Any]:
        """The body of a 500 answer to an unexpected exception."""
        raise NotImplementedError

    def read_body(self, limit: int, too_large: Callable[[int], Exception]) -> bytes:
        """The request body; one over ``limit`` bytes is refused with ``too_large(length)`` unread
        (and the connection closed, as its bytes are still on it)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self.close_connection = True
            raise too_large(length)
        return self.rfile.read(length) if length else b""

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header; None for no header or another scheme."""
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None

    def send_bytes(self, status: int, data: bytes, ctype: str | None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status: int, payload: Any) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), self.json_type)


def same_secret(sent: str, expected: str) -> bool:
    """Whether a sent token is the expected one, compared in constant time."""
    return hmac.compare_digest(sent.encode(), expected.encode())


def json_object(
    raw: bytes, not_json: Callable[[], Exception], not_object: Callable[[], Exception]
) -> dict[str, Any] | None:
    """A request body parsed as a JSON object; None for an empty body."""
    if not raw.strip():
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise not_json() from None
    if not isinstance(parsed, dict):
        raise not_object()
    return parsed


class LocalService:
    """A service on ``host:port`` (0: a free port) keeping its files under ``root`` and accepting one
    bearer ``token``: a ``ThreadingHTTPServer`` served by a daemon thread; the emulators'
    ``start()``/``stop()`` and ``port``/``url`` are built on it."""

    what = "service"  # what the service is called in its errors

    def __init__(self, root: Path | str, token: str, host: str, port: int) -> None:
        if not token:
            raise ValueError(
                f"the {self.what} needs a non-empty token (clients send it as 'Authorization: Bearer <token>')"
            )
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.host = host
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _bind(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer((self.host, self._port), handler)
        self._httpd.daemon_threads = True

    def _serve_in_thread(self, name: str) -> None:
        assert self._httpd is not None, "_bind() first"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=name, daemon=True)
        self._thread.start()

    def _shutdown(self) -> None:
        """Stop serving and close the socket (requests in flight finish on their daemon threads)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(10)
            self._httpd = None

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Service(Protocol):
    port: int

    def stop(self) -> None: ...


def load_callable(spec: str, option: str, error: type[BaseException] = ValueError) -> Any:
    """The function named by ``MODULE:FUNCTION`` (an ``option`` of a command line)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise error(f"{option} {spec!r} must look like MODULE:FUNCTION")
    return getattr(importlib.import_module(module), name)


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def missing_token(option: str, env: str) -> int:
    """Say on stderr that the token is required; the exit status of a command line without one."""
    print(f"error: {option} (or {env}) is required", file=sys.stderr)
    return 2


def serve_until_signalled(
    service: _Service, banner: str, ready_file: Path | None, logger: logging.Logger, what: str
) -> int:
    """Print ``banner``, write the bound port to ``ready_file`` (atomically) and serve until SIGTERM
    or SIGINT, then stop ``service``; 0, a clean stop."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        logger.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(banner, flush=True)
    if ready_file:
        tmp = ready_file.with_name(ready_file.name + ".tmp")
        tmp.write_text(str(service.port))
        os.replace(tmp, ready_file)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        service.stop()
    logger.info("%s stopped", what)
    return 0
