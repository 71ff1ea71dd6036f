"""Run files: what a step script stored with its run (``run.upload_file``, ``run.log_image``, its
``./outputs`` and ``./logs`` folders), uploaded once the script succeeded and verified by listing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError


def upload_run_files(store: Any, folder: Path, prefix: str) -> dict[str, Any] | None:
    """Upload ``folder`` under ``prefix``; ``{"path", "names": {name: size}}``, or None if empty."""
    local = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    if not local:
        return None
    listed = store.upload_dir(folder, prefix)
    remote = {f.path[len(prefix) + 1 :]: f.size for f in listed}
    if remote != local:
        raise DatastoreError(
            f"run files did not store completely at {store.location(prefix)} ({len(remote)} of {len(local)} match)"
        )
    return {"path": prefix, "names": local}
