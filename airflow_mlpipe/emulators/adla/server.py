"""The service's HTTP side: ADLA's job routes, api-version and bearer-token checks, JSON bodies and
ADLA-shaped errors (``{"error": {"code", "message"}}``).

Routes (each needs ``?api-version=2016-11-01`` and ``Authorization: Bearer <token>``):
``PUT /jobs/{id}`` (create), ``GET /jobs/{id}``, ``POST /jobs/{id}/CancelJob``, ``GET /jobs``.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from airflow_mlpipe.emulators.adla import ApiError
from airflow_mlpipe.emulators.adla.jobs import Jobs, Runner
from airflow_mlpipe.emulators.adla.paths import DataRoot, LocalRoot, StoreRoot
from airflow_mlpipe.emulators.http import JsonRequestHandler, LocalService, json_object, same_secret

log = logging.getLogger(__name__)

API_VERSIONS = ("2016-11-01",)
MAX_BODY = 16 * 1024 * 1024
_JOB = re.compile(r"^/jobs/(?P<id>[^/]+)$")
_CANCEL = re.compile(r"^/jobs/(?P<id>[^/]+)/CancelJob$", re.IGNORECASE)


class AdlaService(LocalService):
    """An ADLA job API on ``host:port`` (0: a free port) whose jobs read and write under ``root``, or
    the ``datastore`` given instead (a StoreRoot: a workspace datastore through its backend);
    ``start()`` serves in a background thread, ``stop()`` cancels running jobs and stops."""

    def __init__(
        self,
        root: Path | str | None,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        runner: Runner | None = None,
        datastore: StoreRoot | None = None,
    ) -> None:
        if (root is None) == (datastore is None):
            raise ValueError("give the service a data root folder or a datastore, not both or neither")
        self._own_root = root is None  # a datastore's service keeps no files of its own
        super().__init__(
            tempfile.mkdtemp(prefix="mlpipe-adla-svc-") if root is None else root, token, host, port
        )
        self.data: DataRoot = datastore or LocalRoot(self.root)
        self.jobs = Jobs(self.data, runner)

    def start(self) -> AdlaService:
        service = self

        class _Handler(RequestHandler):
            adla = service

        self._bind(_Handler)
        self._serve_in_thread("adla-service")
        log.info("ADLA job service on %s, data root %s", self.url, self.data)
        return self

    def stop(self) -> None:
        self._shutdown()
        self.jobs.shutdown()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

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


class RequestHandler(JsonRequestHandler):
    """One request: authenticate, check the api-version, parse the JSON body, dispatch, answer JSON."""

    adla: AdlaService
    logger = log
    json_type = "application/json; charset=utf-8"

    def respond(self, method: str, path: str, query: str) -> None:
        raw = self.read_body(
            MAX_BODY,
            lambda length: ApiError(
                413, "RequestEntityTooLarge", f"the body ({length} bytes) exceeds {MAX_BODY} bytes"
            ),
        )
        self._authenticate()
        self._check_api_version(query)
        body = json_object(
            raw,
            lambda: ApiError(400, "InvalidRequestContent", f"the body of {method} {path} is not JSON"),
            lambda: ApiError(
                400, "InvalidRequestContent", f"the body of {method} {path} must be a JSON object"
            ),
        )
        status, payload = self.adla.dispatch(method, path, body)
        if payload is None:
            self.send_bytes(status, b"", None)
        else:
            self.send_json(status, payload)

    def internal_error(self, exc: Exception) -> dict[str, Any]:
        return ApiError(500, "InternalServerError", f"{type(exc).__name__}: {exc}").body()

    def _authenticate(self) -> None:
        sent = self.bearer_token()
        if sent is None:
            raise ApiError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or is not 'Bearer <token>'.",
            )
        if not same_secret(sent, self.adla.token):
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
