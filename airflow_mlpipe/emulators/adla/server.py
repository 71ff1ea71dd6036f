"""The service's HTTP side: ADLA's job routes, api-version and bearer-token checks, JSON bodies and
ADLA-shaped errors (``{"error": {"code", "message"}}``).

Routes (each needs ``?api-version=2016-11-01`` and ``Authorization: Bearer <token>``):
``PUT /jobs/{id}`` (create), ``GET /jobs/{id}``, ``POST /jobs/{id}/CancelJob``, ``GET /jobs``.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_mlpipe.emulators.adla import ApiError
from airflow_mlpipe.emulators.adla.jobs import Jobs, Runner

log = logging.getLogger(__name__)

API_VERSIONS = ("2016-11-01",)
MAX_BODY = 16 * 1024 * 1024
_JOB = re.compile(r"^/jobs/(?P<id>[^/]+)$")
_CANCEL = re.compile(r"^/jobs/(?P<id>[^/]+)/CancelJob$", re.IGNORECASE)


class AdlaService:
    """An ADLA job API on ``host:port`` (0: a free port) whose jobs read and write under ``root``;
    ``start()`` serves in a background thread, ``stop()`` cancels running jobs and stops."""

    def __init__(
        self,
        root: Path | str,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        runner: Runner | None = None,
    ) -> None:
        if not token:
            raise ValueError(
                "the service needs a non-empty token (clients send 'Authorization: Bearer <token>')"
            )
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.host = host
        self._port = port
        self.jobs = Jobs(self.root, runner)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> AdlaService:
        service = self

        class _Handler(RequestHandler):
            adla = service

        self._httpd = ThreadingHTTPServer((self.host, self._port), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="adla-service", daemon=True)
        self._thread.start()
        log.info("ADLA job service on %s, data root %s", self.url, self.root)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(10)
            self._httpd = None
        self.jobs.shutdown()

    def __enter__(self) -> AdlaService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dispatch(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        if path == "/jobs":
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on /jobs")
            return 200, self.jobs.list()
        match = _CANCEL.match(path)
        if match:
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
            self.jobs.cancel(match["id"])
            return 200, None
        match = _JOB.match(path)
        if match:
            if method == "PUT":
                return 200, self.jobs.create(match["id"], body or {})
            if method == "GET":
                return 200, self.jobs.get(match["id"])
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
        raise ApiError(404, "NotFound", f"{method} {path} is not a route of the ADLA job API")


class RequestHandler(BaseHTTPRequestHandler):
    adla: AdlaService
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

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
            raw = self._body()
            self._authenticate()
            self._check_api_version(url.query)
            body = None
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise ApiError(
                        400, "InvalidRequestContent", f"the body of {method} {path} is not JSON"
                    ) from None
                if not isinstance(body, dict):
                    raise ApiError(
                        400, "InvalidRequestContent", f"the body of {method} {path} must be a JSON object"
                    )
            status, payload = self.adla.dispatch(method, path, body)
            self._send(status, payload)
        except ApiError as exc:
            self._send(exc.status, exc.body())
        except Exception as exc:
            log.exception("%s %s failed", method, path)
            self._send(500, ApiError(500, "InternalServerError", f"{type(exc).__name__}: {exc}").body())

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiError(
                413, "RequestEntityTooLarge", f"the body ({length} bytes) exceeds {MAX_BODY} bytes"
            )
        return self.rfile.read(length) if length else b""

    def _authenticate(self) -> None:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if not header or scheme.lower() != "bearer":
            raise ApiError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or is not 'Bearer <token>'.",
            )
        if not hmac.compare_digest(value.strip().encode(), self.adla.token.encode()):
            raise ApiError(401, "InvalidAuthenticationToken", "The access token is invalid.")

    @staticmethod
    def _check_api_version(query: str) -> None:
        given = parse_qs(query).get("api-version")
        if not given:
            raise ApiError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if given[0] not in API_VERSIONS:
            raise ApiError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version {given[0]!r} is not supported; supported versions: {', '.join(API_VERSIONS)}",
            )

    def _send(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
