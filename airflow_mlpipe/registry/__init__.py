"""The pipeline registry: pipeline specs that DAGs are materialized from.

Entries are JSON records ``pipelines/<dag_id>.json``, one per DAG: ``{"format", "dag_id", "kind",
"spec", "created", "meta"}``, in the deployment's registry store (registry/location.py: the folder
``$MLPIPE_HOME/registry`` in the embedded mode, the workspace's default datastore in a multi-host
deployment). The registry DAG file (``airflow_mlpipe.registry.dagfile``) turns each into a DAG and
records what it could not build in ``status/<dag_id>.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.location import open_registry
from airflow_mlpipe.registry.records import Records
from airflow_mlpipe.spec import SPEC_FORMAT
from airflow_mlpipe.storage.base import Store
from airflow_mlpipe.storage.local import LocalStore

ENTRY_FORMAT = "mlpipe.registry-entry/1"
KINDS = ("experiment", "published")
PIPELINES = "pipelines"
STATUS = "status"


class Registry:
    """Registry entries in ``root``: None = the deployment's registry, a folder path, or a Store."""

    def __init__(self, root: str | Path | Store | None = None):
        self.store = open_registry(root)
        self.records = Records(self.store)
        # what to pass another registry class for the same records: the folder, else the store
        self.root: Path | Store = self.store.root if isinstance(self.store, LocalStore) else self.store

    def path(self, dag_id: str) -> str:
        from airflow_mlpipe.storage.base import safe_segment

        if safe_segment(dag_id) != dag_id:
            raise UserErrorException(f"DAG id {dag_id!r} may only contain letters, digits, '.', '_' and '-'")
        return f"{PIPELINES}/{dag_id}.json"

    def put(
        self, dag_id: str, spec: dict[str, Any], kind: str = "experiment", meta: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if kind not in KINDS:
            raise UserErrorException(f"registry entry kind must be one of {KINDS}, got {kind!r}")
        if spec.get("format") != SPEC_FORMAT:
            raise UserErrorException(
                f"registry entry {dag_id!r}: not a pipeline spec of format {SPEC_FORMAT!r}"
            )
        entry = {
            "format": ENTRY_FORMAT,
            "dag_id": dag_id,
            "kind": kind,
            "spec": spec,
            "created": time.time(),
            "meta": dict(meta or {}),
        }
        self.records.write(self.path(dag_id), entry)  # a whole new entry: no read-modify-write
        return entry

    def get(self, dag_id: str) -> dict[str, Any] | None:
        return self.records.read(self.path(dag_id))

    def record_status(self, dag_id: str, error: str | None) -> None:
        """What the registry DAG file made of an entry: ``mlpipe`` and the tests read it back."""
        target = f"{STATUS}/{dag_id}.json"
        if error is None:
            self.store.delete(target)
        else:
            self.records.write(target, {"dag_id": dag_id, "error": error, "at": time.time()})

    def broken(self) -> dict[str, str]:
        return {r["dag_id"]: r["error"] for r in self.records.read_all(STATUS)}
