"""The emulator's HTTP server: routing, bearer-token auth, parameters and Databricks-shaped errors.

Routes are the paths the Databricks provider's hook calls (``/api/2.0/dbfs/*``, ``/api/2.0/workspace/*``,
``/api/2.x/clusters/*``, ``/api/2.1|2.2/jobs/runs/*``); any other path answers 501 NOT_IMPLEMENTED.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hmac
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from airflow_mlpipe.emulators.databricks import ApiError, Params, invalid
from airflow_mlpipe.emulators.databricks.clusters import Clusters
from airflow_mlpipe.emulators.databricks.dbfs import Dbfs
from airflow_mlpipe.emulators.databricks.faults import ROUTE as FAULTS_ROUTE
from airflow_mlpipe.emulators.databricks.faults import Faults
from airflow_mlpipe.emulators.databricks.jobs import Jobs
from airflow_mlpipe.emulators.databricks.runs import KILL_GRACE, CommandBuilder
from airflow_mlpipe.emulators.databricks.workspace import Workspace

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
Handler = Callable[[Params], Any]


class DatabricksEmulator:
    """A Databricks REST API on loopback, backed by folders under ``root``; start() binds, stop() ends it."""

    def __init__(
        self,
        root: Path | str,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        mounts: dict[str, str] | None = None,
        clusters: dict[str, str] | None = None,
        command: CommandBuilder | None = None,
        *,
        kill_grace: float = KILL_GRACE,
    ) -> None:
        if not token:
            raise ValueError(
                "the emulator needs a non-empty token (clients send it as 'Authorization: Bearer <token>')"
            )
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.host = host
        self._port = port
        self.dbfs = Dbfs(self.root, mounts)
        self.workspace = Workspace(self.root)
        self.clusters = Clusters(clusters)
        self.jobs = Jobs(
            self.root, self.dbfs, self.workspace, self.clusters, command=command, kill_grace=kill_grace
        )
        self.faults = Faults()
        self.routes = self._routes()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _routes(self) -> dict[tuple[str, str], Handler]:
        d, w, c, j = self.dbfs, self.workspace, self.clusters, self.jobs
        routes: dict[tuple[str, str], Handler] = {}
        for method, name, fn in (
            ("POST", "put", d.put), ("POST", "create", d.create), ("POST", "add-block", d.add_block),
            ("POST", "close", d.close), ("GET", "read", d.read), ("GET", "get-status", d.get_status),
            ("GET", "list", d.list), ("POST", "mkdirs", d.mkdirs), ("POST", "delete", d.delete),
            ("POST", "move", d.move),
        ):  # fmt: skip
            routes[(method, f"/api/2.0/dbfs/{name}")] = fn
        for method, name, fn in (
            ("POST", "import", w.import_), ("GET", "export", w.export), ("GET", "get-status", w.get_status),
            ("GET", "list", w.list), ("POST", "mkdirs", w.mkdirs), ("POST", "delete", w.delete),
        ):  # fmt: skip
            routes[(method, f"/api/2.0/workspace/{name}")] = fn
        for version in ("2.0", "2.1"):
            routes[("GET", f"/api/{version}/clusters/get")] = c.get
            routes[("POST", f"/api/{version}/clusters/start")] = c.start
            routes[("GET", f"/api/{version}/clusters/list")] = c.list
        for version in ("2.1", "2.2"):
            for method, name, fn in (
                ("POST", "submit", j.submit), ("GET", "get", j.get), ("GET", "get-output", j.get_output),
                ("POST", "cancel", j.cancel), ("GET", "list", j.list), ("POST", "delete", j.delete),
            ):  # fmt: skip
                routes[(method, f"/api/{version}/jobs/runs/{name}")] = fn
        routes[("POST", FAULTS_ROUTE)] = self.faults.add
        return routes

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DatabricksEmulator:
        """Bind the port and serve in a background thread."""
        emulator = self

        class _Handler(RequestHandler):
            server_emulator = emulator

        self._httpd = ThreadingHTTPServer((self.host, self._port), _Handler)
        self._httpd.daemon_threads = True
        self.jobs.base_url = self.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="databricks-emulator", daemon=True
        )
        self._thread.start()
        log.info("Databricks emulator on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, kill every running job's process group and drop open DBFS streams."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(10)
            self._httpd = None
        self.jobs.shutdown()
        self.clusters.stop()
        self.dbfs.close_all()

    def __enter__(self) -> DatabricksEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RequestHandler(BaseHTTPRequestHandler):
    """One request: authenticate, parse parameters, dispatch, answer JSON."""

    server_emulator: DatabricksEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        emulator = self.server_emulator
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            body = self._body()
            self._authenticate(emulator.token)
            handler = emulator.routes.get((method, path))
            if handler is None:
                if any(p == path for _, p in emulator.routes):
                    raise ApiError(405, "ENDPOINT_NOT_FOUND", f"{method} is not allowed on {path}")
                raise ApiError(
                    501,
                    "NOT_IMPLEMENTED",
                    f"{method} {path} is not implemented by the mlpipe Databricks emulator",
                )
            params = self._params(method, path, url.query, body)
            if params is None:
                return  # a multipart put was answered
            emulator.faults.check(path, params)
            result = handler(params)
            if isinstance(result, tuple):
                self._send(200, result[0], result[1])
            else:
                self._send_json(200, result)
        except ApiError as exc:
            self._send_json(exc.status, exc.body())
        except Exception as exc:
            log.exception("%s %s failed", method, path)
            self._send_json(500, {"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiError(
                400, "MAX_BLOCK_SIZE_EXCEEDED", f"The request body ({length} bytes) exceeds {MAX_BODY} bytes"
            )
        return self.rfile.read(length) if length else b""

    def _authenticate(self, token: str) -> None:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        sent = None
        if scheme.lower() == "bearer":
            sent = value.strip()
        elif scheme.lower() == "basic":
            try:
                sent = base64.b64decode(value.strip()).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                sent = None
        if not header:
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "Credential was not sent or was of an unsupported type for this API. "
                "Send the emulator's token as 'Authorization: Bearer <token>'.",
            )
        if sent is None or not hmac.compare_digest(sent.encode(), token.encode()):
            raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")

    def _params(self, method: str, path: str, query: str, body: bytes) -> Params | None:
        ctype = self.headers.get("Content-Type") or ""
        data: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        if ctype.startswith("multipart/form-data"):
            if path != "/api/2.0/dbfs/put":
                raise invalid(f"{path} takes a JSON body, not multipart/form-data")
            fields = _multipart(ctype, body)
            contents = fields.get("contents")
            if contents is None:
                raise invalid("multipart dbfs/put needs a 'contents' part holding the file")
            path_field = fields.get("path", b"").decode()
            overwrite = fields.get("overwrite", b"false").decode().lower() == "true"
            self._send_json(200, self.server_emulator.dbfs.put_bytes(path_field, contents, overwrite))
            return None
        if body.strip():
            try:
                parsed = json.loads(body)
            except ValueError:
                raise ApiError(
                    400, "MALFORMED_REQUEST", f"Invalid JSON given in the body of {method} {path}"
                ) from None
            if not isinstance(parsed, dict):
                raise ApiError(400, "MALFORMED_REQUEST", f"The body of {method} {path} must be a JSON object")
            data.update(parsed)
        return Params(data, f"{method} {path}")

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _multipart(ctype: str, body: bytes) -> dict[str, bytes]:
    """The named parts of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_payload(decode=True) or b""
    return fields
