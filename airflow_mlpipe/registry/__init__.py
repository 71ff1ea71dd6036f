"""The pipeline registry: pipeline specs that DAGs are materialized from.

Entries are JSON files under ``$MLPIPE_HOME/registry/pipelines/`` (a shared volume in a multi-host
deployment), one per DAG: ``{"format", "dag_id", "kind", "spec", "created", "meta"}``. The registry
DAG file (``airflow_mlpipe.registry.dagfile``) turns each into an Airflow DAG.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.workspace import mlpipe_home, write_json_atomic
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.spec import SPEC_FORMAT

ENTRY_FORMAT = "mlpipe.registry-entry/1"
KINDS = ("experiment", "published")


def registry_root() -> Path:
    return mlpipe_home() / "registry"


class Registry:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else registry_root()
        self.pipelines = self.root / "pipelines"
        self.status = self.root / "status"

    def path(self, dag_id: str) -> Path:
        from airflow_mlpipe.storage.base import safe_segment

        if safe_segment(dag_id) != dag_id:
            raise UserErrorException(f"DAG id {dag_id!r} may only contain letters, digits, '.', '_' and '-'")
        return self.pipelines / f"{dag_id}.json"

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
        write_json_atomic(self.path(dag_id), entry)
        return entry

    def get(self, dag_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(dag_id).read_text())
        except FileNotFoundError:
            return None

    def entry_files(self) -> list[Path]:
        return sorted(self.pipelines.glob("*.json")) if self.pipelines.is_dir() else []

    def record_status(self, dag_id: str, error: str | None) -> None:
        """What the registry DAG file made of an entry: ``mlpipe`` and the tests read it back."""
        target = self.status / f"{dag_id}.json"
        if error is None:
            target.unlink(missing_ok=True)
        else:
            write_json_atomic(target, {"dag_id": dag_id, "error": error, "at": time.time()})

    def broken(self) -> dict[str, str]:
        if not self.status.is_dir():
            return {}
        return {p.stem: json.loads(p.read_text())["error"] for p in sorted(self.status.glob("*.json"))}
