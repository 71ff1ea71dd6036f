"""What a PipelineRun and a StepRun share, Azure ML v1 style: tags, properties and run files.

Tags and properties given at submission travel in the DAG run's conf; those added later are kept
in a small JSON document per run on the workspace's default datastore (no shared filesystem
needed). Run files are the step's task log (``azureml-logs/70_driver_log.txt``, as v1 named it)
and the files a script uploaded (``run.upload_file``, ``run.log_image``, its ``./outputs``
folder), stored on a datastore by the step operator and listed in the step's XCom result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.operators.run_records import stored_files
from airflow_mlpipe.storage.base import safe_segment

DRIVER_LOG = "azureml-logs/70_driver_log.txt"
__all__ = ["DRIVER_LOG", "RunBase", "stored_files"]  # stored_files: shared with the plugin


class RunBase:
    """Subclasses set ``workspace`` and ``client`` and implement the hooks at the end."""

    workspace: Any
    client: Any

    # --- tags and properties ----------------------------------------------------------------

    def _meta_path(self) -> str:
        dag_id, run_id, task = self._meta_key()
        return f"mlpipe/runmeta/{safe_segment(dag_id)}/{safe_segment(run_id)}/{safe_segment(task or '_run')}.json"

    def _meta_store(self) -> Any:
        return self.workspace.get_default_datastore().store

    def _stored_meta(self) -> dict[str, Any]:
        raw = self._meta_store().read_bytes(self._meta_path())
        return json.loads(raw) if raw else {"tags": {}, "properties": {}}

    def _write_meta(self, meta: dict[str, Any]) -> None:
        self._meta_store().write_bytes(self._meta_path(), json.dumps(meta, sort_keys=True).encode())

    def get_tags(self) -> dict[str, str]:
        return {**self._initial_tags(), **self._stored_meta()["tags"]}

    def tag(self, key: str, value: str | None = None) -> None:
        """Add or change one tag (v1: ``run.tag``); a tag without a value is an empty string."""
        if not isinstance(key, str) or not key:
            raise UserErrorException(f"run {self.id}: a tag key must be a non-empty string, got {key!r}")
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, str]) -> None:
        meta = self._stored_meta()
        meta["tags"].update({str(k): "" if v is None else str(v) for k, v in tags.items()})
        self._write_meta(meta)

    def get_properties(self) -> dict[str, str]:
        return {**self._initial_properties(), **self._stored_meta()["properties"]}

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add properties; as in v1 they are immutable, so changing an existing one is an error."""
        current = self.get_properties()
        clash = sorted(k for k, v in properties.items() if k in current and current[k] != str(v))
        if clash:
            raise UserErrorException(
                f"run {self.id}: properties {clash} are already set and cannot change; use tags for values that change"
            )
        meta = self._stored_meta()
        meta["properties"].update({str(k): str(v) for k, v in properties.items()})
        self._write_meta(meta)

    # --- files ------------------------------------------------------------------------------

    def get_file_names(self) -> list[str]:
        return sorted(self._files())

    def download_file(
        self,
        name: str,
        output_file_path: str | os.PathLike[str] | None = None,
        _validate_checksum: bool = False,
    ) -> None:
        """Download one run file to ``output_file_path`` (a file path or folder; default: here)."""
        files = self._files()
        if name not in files:
            raise UserErrorException(f"run {self.id} has no file {name!r}; it has {sorted(files)}")
        target = Path(output_file_path or Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        self._fetch(files[name], target)

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | os.PathLike[str] | None = None,
        output_paths: list[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: float | None = None,
    ) -> list[str]:
        """Download the run files whose names start with ``prefix`` into ``output_directory``."""
        files = self._files()
        chosen = sorted(n for n in files if not prefix or n.startswith(prefix))
        if output_paths is not None and len(output_paths) != len(chosen):
            raise UserErrorException(
                f"run {self.id}: {len(output_paths)} output_paths for {len(chosen)} file(s) {chosen}"
            )
        out = Path(output_directory or ".")
        written = []
        for i, name in enumerate(chosen):
            rel = name if append_prefix or not prefix else name[len(prefix) :].lstrip("/")
            target = Path(output_paths[i]) if output_paths is not None else out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            self._fetch(files[name], target)
            written.append(str(target))
        return written

    def _fetch(self, source: Any, target: Path) -> None:
        if callable(source):  # a log, read from Airflow
            target.write_text(source())
            return
        from airflow_mlpipe.definitions.datastore import Datastore

        Datastore.get(self.workspace, source["datastore"]).store.download_file(source["path"], target)

    # --- hooks ------------------------------------------------------------------------------

    id: str

    def _meta_key(self) -> tuple[str, str, str | None]:
        raise NotImplementedError

    def _initial_tags(self) -> dict[str, str]:
        return {}

    def _initial_properties(self) -> dict[str, str]:
        return {}

    def _files(self) -> dict[str, Any]:
        """Run file name -> {"datastore", "path"} of a stored file, or a function giving a log's text."""
        raise NotImplementedError
