"""The emulator's HTTP server: routing, bearer-token auth, parameters and Databricks-shaped errors.

Routes are the paths the Databricks provider's hook calls (``/api/2.0/dbfs/*``, ``/api/2.0/workspace/*``,
``/api/2.x/clusters/*``, ``/api/2.1|2.2/jobs/runs/*``); any other path answers 501 NOT_IMPLEMENTED.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from airflow_mlpipe.emulators.databricks import ApiError, Params, invalid
from airflow_mlpipe.emulators.databricks.clusters import Clusters
from airflow_mlpipe.emulators.databricks.dbfs import Dbfs
from airflow_mlpipe.emulators.databricks.faults import ROUTE as FAULTS_ROUTE
from airflow_mlpipe.emulators.databricks.faults import Faults
from airflow_mlpipe.emulators.databricks.jobs import Jobs
from airflow_mlpipe.emulators.databricks.runs import KILL_GRACE, CommandBuilder
from airflow_mlpipe.emulators.databricks.workspace import Workspace
from airflow_mlpipe.emulators.http import JsonRequestHandler, LocalService, json_object, same_secret

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
Handler = Callable[[Params], Any]


class DatabricksEmulator(LocalService):
    """A Databricks REST API on loopback, backed by folders under ``root``; start() binds, stop() ends it."""

    what = "emulator"

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
        super().__init__(root, token, host, port)
        self.dbfs = Dbfs(self.root, mounts)
        self.workspace = Workspace(self.root)
        self.clusters = Clusters(clusters)
        self.jobs = Jobs(
            self.root, self.dbfs, self.workspace, self.clusters, command=command, kill_grace=kill_grace
        )
        self.faults = Faults()
        self.routes = self._routes()

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

    def start(self) -> DatabricksEmulator:
        """Bind the port and serve in a background thread."""
        emulator = self

        class _Handler(RequestHandler):
            server_emulator = emulator

        self._bind(_Handler)
        self.jobs.base_url = self.url
        self._serve_in_thread("databricks-emulator")
        log.info("Databricks emulator on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, kill every running job's process group and drop open DBFS streams."""
        self._shutdown()
        self.jobs.shutdown()
        self.clusters.stop()
        self.dbfs.close_all()


class RequestHandler(JsonRequestHandler):
    """One request: authenticate, parse parameters, dispatch, answer JSON."""

    server_emulator: DatabricksEmulator
    logger = log

    def respond(self, method: str, path: str, query: str) -> None:
        emulator = self.server_emulator
        body = self.read_body(
            MAX_BODY,
            lambda length: ApiError(
                400, "MAX_BLOCK_SIZE_EXCEEDED", f"The request body ({length} bytes) exceeds {MAX_BODY} bytes"
            ),
        )
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
        params = self._params(method, path, query, body)
        if params is None:
            return  # a multipart put was answered
        emulator.faults.check(path, params)
        result = handler(params)
        if isinstance(result, tuple):
            self.send_bytes(200, result[0], result[1])
        else:
            self.send_json(200, result)

    def internal_error(self, exc: Exception) -> dict[str, Any]:
        return {"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}

    def _authenticate(self, token: str) -> None:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        sent = self.bearer_token()
        if scheme.lower() == "basic":
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
        if sent is None or not same_secret(sent, token):
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
            self.send_json(200, self.server_emulator.dbfs.put_bytes(path_field, contents, overwrite))
            return None
        parsed = json_object(
            body,
            lambda: ApiError(400, "MALFORMED_REQUEST", f"Invalid JSON given in the body of {method} {path}"),
            lambda: ApiError(400, "MALFORMED_REQUEST", f"The body of {method} {path} must be a JSON object"),
        )
        data.update(parsed or {})
        return Params(data, f"{method} {path}")


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
