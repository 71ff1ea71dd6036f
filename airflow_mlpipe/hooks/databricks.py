"""DatabricksStepHook: the Databricks provider's DatabricksHook plus the DBFS and Workspace calls a
DatabricksStep needs (staging inputs, reading outputs back, fingerprinting a workspace notebook).

All network traffic goes through the provider's ``_do_api_call`` (its retries, auth and error
mapping); this module only adds typed methods for endpoints the provider has no method for.
"""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests
from airflow.providers.databricks.hooks.databricks import DatabricksHook, RunState

__all__ = ["DBFS_BLOCK", "DatabricksStepHook", "RunState", "dbfs_uri", "fuse_path"]

# DBFS API 2.0 endpoints (the provider's hook has none)
DBFS_CREATE = ("POST", "2.0/dbfs/create")
DBFS_ADD_BLOCK = ("POST", "2.0/dbfs/add-block")
DBFS_CLOSE = ("POST", "2.0/dbfs/close")
DBFS_PUT = ("POST", "2.0/dbfs/put")
DBFS_READ = ("GET", "2.0/dbfs/read")
DBFS_LIST = ("GET", "2.0/dbfs/list")
DBFS_STATUS = ("GET", "2.0/dbfs/get-status")
DBFS_MKDIRS = ("POST", "2.0/dbfs/mkdirs")
DBFS_DELETE = ("POST", "2.0/dbfs/delete")
WORKSPACE_EXPORT = ("GET", "2.0/workspace/export")

DBFS_BLOCK = 1024 * 1024  # the DBFS API's limit per add-block and per read
# the caller the step's hook and trigger name (Databricks sees it in the user agent; the plugin's
# listener tells the step's trigger from other operators' by it)
CALLER = "DatabricksStepOperator"


def dbfs_uri(path: str) -> str:
    """``/x/y`` -> ``dbfs:/x/y`` (what Spark and dbutils.fs take)."""
    return "dbfs:" + _plain(path)


def fuse_path(path: str) -> str:
    """``/x/y`` -> ``/dbfs/x/y`` (what a script's plain open() takes on a Databricks cluster)."""
    return "/dbfs" + _plain(path)


def _plain(path: str) -> str:
    if path.startswith("dbfs:"):
        path = path[len("dbfs:") :]
    return "/" + path.lstrip("/")


class DatabricksStepHook(DatabricksHook):
    """DatabricksHook with DBFS and Workspace export methods, for DatabricksStepOperator."""

    hook_name = "Databricks (airflow-mlpipe steps)"

    def __init__(self, databricks_conn_id: str, **kwargs: Any):
        kwargs.setdefault("caller", CALLER)
        super().__init__(databricks_conn_id, **kwargs)

    # --- DBFS ------------------------------------------------------------------------------

    def dbfs_upload(self, local: Path, path: str, progress: Callable[[int], None] | None = None) -> int:
        """Stream ``local`` to DBFS ``path`` in 1 MB blocks (create / add-block / close: the file
        appears whole or not at all). Returns the bytes written; ``progress`` gets each block's size."""
        handle = self._do_api_call(DBFS_CREATE, {"path": _plain(path), "overwrite": True})["handle"]
        written = 0
        with open(local, "rb") as fh:
            while block := fh.read(DBFS_BLOCK):
                self._do_api_call(
                    DBFS_ADD_BLOCK, {"handle": handle, "data": base64.b64encode(block).decode()}
                )
                written += len(block)
                if progress is not None:
                    progress(len(block))
        self._do_api_call(DBFS_CLOSE, {"handle": handle})
        return written

    def dbfs_put_bytes(self, path: str, data: bytes) -> None:
        """A small file (up to 1 MB) in one call."""
        self._do_api_call(
            DBFS_PUT, {"path": _plain(path), "contents": base64.b64encode(data).decode(), "overwrite": True}
        )

    def dbfs_read_chunks(self, path: str, size: int) -> Iterator[bytes]:
        """The bytes of DBFS file ``path`` (``size`` bytes long), 1 MB per call."""
        offset = 0
        while offset < size:
            got = self._do_api_call(DBFS_READ, {"path": _plain(path), "offset": offset, "length": DBFS_BLOCK})
            chunk = base64.b64decode(got.get("data", ""))
            if not chunk:
                raise OSError(f"DBFS read of {dbfs_uri(path)} ended at {offset} of {size} bytes")
            offset += len(chunk)
            yield chunk

    def dbfs_download(self, path: str, size: int, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "wb") as fh:
            for chunk in self.dbfs_read_chunks(path, size):
                fh.write(chunk)

    def dbfs_status(self, path: str) -> dict[str, Any] | None:
        """get-status of ``path``, or None when nothing is there."""
        try:
            return self._do_api_call(DBFS_STATUS, {"path": _plain(path)}, wrap_http_errors=False)
        except requests.HTTPError as exc:  # 404: RESOURCE_DOES_NOT_EXIST
            if exc.response is not None and exc.response.status_code == 404:
                return None
            raise

    def dbfs_files(self, path: str) -> dict[str, int]:
        """Every file under DBFS ``path`` (recursively): path relative to ``path`` -> size. A path
        that names one file gives {"": size}; nothing there gives {}."""
        root = _plain(path)
        status = self.dbfs_status(root)
        if status is None:
            return {}
        if not status.get("is_dir"):
            return {"": int(status.get("file_size", 0))}
        found: dict[str, int] = {}
        pending = [root]
        while pending:
            folder = pending.pop()
            for entry in self.dbfs_list(folder):
                if entry.get("is_dir"):
                    pending.append(entry["path"])
                else:
                    found[posixpath.relpath(entry["path"], root)] = int(entry.get("file_size", 0))
        return found

    def dbfs_list(self, path: str) -> list[dict[str, Any]]:
        """The entries (path, is_dir, file_size) directly in DBFS folder ``path``; [] when it is absent."""
        try:
            got = self._do_api_call(DBFS_LIST, {"path": _plain(path)}, wrap_http_errors=False)
        except requests.HTTPError as exc:  # 404: RESOURCE_DOES_NOT_EXIST
            if exc.response is not None and exc.response.status_code == 404:
                return []
            raise
        return got.get("files") or []

    def dbfs_mkdirs(self, path: str) -> None:
        self._do_api_call(DBFS_MKDIRS, {"path": _plain(path)})

    def dbfs_delete(self, path: str) -> None:
        self._do_api_call(DBFS_DELETE, {"path": _plain(path), "recursive": True})

    # --- Workspace -------------------------------------------------------------------------

    def export_notebook(self, path: str) -> bytes:
        """A workspace notebook's source (what reuse fingerprints: the code that would run)."""
        got = self._do_api_call(WORKSPACE_EXPORT, {"path": path, "format": "SOURCE"})
        return base64.b64decode(got.get("content", ""))

    # --- runs ------------------------------------------------------------------------------

    def task_run_output(self, run_id: int) -> dict[str, Any]:
        """runs/get-output of a submitted run's (single) task: a run submitted with tasks[] answers
        get-output only for its task runs."""
        run = self.get_run(run_id)
        tasks = run.get("tasks") or []
        target = tasks[0]["run_id"] if tasks else run_id
        return self.get_run_output(target)
