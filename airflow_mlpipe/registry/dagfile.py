"""Materialize one Airflow DAG per registry entry and per schedule record.

The registry DAG file that ``mlpipe up`` puts in its DAG bundle is two lines::

    from airflow_mlpipe.registry.dagfile import registry_dags
    globals().update(registry_dags())

Each parse lists the registry once (names and etags) and takes record bodies from a per-host
cache keyed by etag (registry/parse_cache.py): an unchanged registry costs one list request and
no write. A broken entry is logged, recorded in the registry's ``status/`` folder (only when its
error changed), and skipped: the other pipelines' DAGs still appear.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from airflow_mlpipe.registry import ENTRY_FORMAT, PIPELINES, STATUS, Registry
from airflow_mlpipe.registry.parse_cache import BodyCache
from airflow_mlpipe.registry.schedules import ScheduleRegistry
from airflow_mlpipe.storage.base import FileInfo, Store

log = logging.getLogger(__name__)

DAG_FILE_TEXT = '''"""airflow-mlpipe registry: one DAG per submitted or published pipeline and per schedule (written by `mlpipe up`)."""

from airflow_mlpipe.registry.dagfile import registry_dags

globals().update(registry_dags())
'''


def _folder(listing: dict[str, FileInfo], folder: str) -> dict[str, FileInfo]:
    """Record name (the file's stem) -> its info, for the records directly in ``folder``."""
    out = {}
    for path, info in listing.items():
        head, _, name = path.rpartition("/")
        if head == folder and name.endswith(".json"):
            out[name[: -len(".json")]] = info
    return out


def registry_dags(root: str | Path | Store | None = None) -> dict[str, Any]:
    registry = Registry(root)
    listing = {info.path: info for info in registry.store.list("")}  # the one request of a parse
    cache = BodyCache(registry.store)
    cache.prefetch(
        [i for i in listing.values() if i.path.rpartition("/")[0] in (PIPELINES, ScheduleRegistry.schedules)]
    )
    errors: dict[str, str | None] = {}
    dags: dict[str, Any] = {}
    for dag_id, info in sorted(_folder(listing, PIPELINES).items()):
        try:
            entry = cache.get(info)
            if entry is None:
                continue  # deleted since the listing
            dags[f"mlpipe_registry_{dag_id}"] = entry_dag(entry, dag_id)
        except Exception as exc:  # one broken entry must not hide the other pipelines
            errors[dag_id] = f"{type(exc).__name__}: {exc}"
            log.error("registry entry %s is broken and was skipped: %s", info.path, errors[dag_id])
        else:
            errors[dag_id] = None
    folder_root = str(root) if isinstance(root, (str, Path)) and str(root) else None
    dags.update(schedule_dags(registry, listing, cache, errors, folder_root))
    _record_statuses(registry, cache, _folder(listing, STATUS), errors)
    cache.prune()
    return dags


def entry_dag(entry: dict[str, Any], dag_id: str) -> Any:
    from airflow_mlpipe.translator import build_dag

    if entry.get("format") != ENTRY_FORMAT or entry.get("dag_id") != dag_id:
        raise ValueError(f"not a registry entry of format {ENTRY_FORMAT!r} for DAG {dag_id!r}")
    meta = entry.get("meta", {})
    continue_on_failure = bool(meta.get("continue_on_step_failure", False))
    tags = ["mlpipe-registry", f"mlpipe-{entry['kind']}", spec_tag(entry["spec"], continue_on_failure)]
    extra: dict[str, Any] = {}
    if entry["kind"] == "published":
        version = f" v{meta['version']}" if meta.get("version") else ""
        extra["dag_display_name"] = f"{meta.get('name', dag_id)}{version} (published)"
        extra["is_paused_upon_creation"] = False
    return build_dag(
        entry["spec"],
        dag_id,
        tags=tags,
        **extra,
        auto_register=False,
        continue_on_step_failure=continue_on_failure,
    )


def schedule_dags(
    registry: Registry,
    listing: dict[str, FileInfo],
    cache: BodyCache,
    errors: dict[str, str | None],
    folder_root: str | None,
) -> dict[str, Any]:
    """One DAG per schedule record (registry/schedule_dag.py); a broken one is recorded and skipped."""
    from airflow_mlpipe.registry.schedule_dag import schedule_dag
    from airflow_mlpipe.registry.schedules import SCHEDULE_FORMAT

    dags: dict[str, Any] = {}
    for stem, info in sorted(_folder(listing, ScheduleRegistry.schedules).items()):
        dag_id = f"schedule_{stem}"
        try:
            record = cache.get(info)
            if record is None:
                continue
            if record.get("format") != SCHEDULE_FORMAT or record.get("dag_id") != dag_id:
                raise ValueError(f"not a schedule record of format {SCHEDULE_FORMAT!r} for DAG {dag_id!r}")
            dags[f"mlpipe_registry_{dag_id}"] = schedule_dag(record, folder_root)
        except Exception as exc:  # one broken schedule must not hide the others
            errors[dag_id] = f"{type(exc).__name__}: {exc}"
            log.error("schedule %s is broken and was skipped: %s", info.path, errors[dag_id])
        else:
            errors[dag_id] = None
    return dags


def _record_statuses(
    registry: Registry, cache: BodyCache, stored: dict[str, FileInfo], errors: dict[str, str | None]
) -> None:
    """Write a status record only where it changes: a new or different error, or a fixed or deleted
    entry whose record is still there."""
    for dag_id, error in errors.items():
        held = stored.get(dag_id)
        if error is None:
            if held is not None:
                registry.record_status(dag_id, None)
            continue
        try:
            before = cache.get(held) if held is not None else None
        except ValueError:
            before = None
        if before is None or before.get("error") != error:
            registry.record_status(dag_id, error)
    for dag_id in set(stored) - set(errors):  # its entry is gone
        registry.record_status(dag_id, None)


def spec_tag(spec: dict[str, Any], continue_on_step_failure: bool = False) -> str:
    """A DAG tag naming the spec version and the failure setting it was built with, so a client
    can wait until Airflow serialized exactly that DAG."""
    from airflow_mlpipe.reuse.fingerprint import digest

    built = {"spec": spec, "continue_on_step_failure": True} if continue_on_step_failure else spec
    return f"mlpipe-spec-{digest(built)[:16]}"


def write_dag_file(folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "mlpipe_registry.py"
    if not target.exists() or target.read_text() != DAG_FILE_TEXT:
        target.write_text(DAG_FILE_TEXT)
    return target
