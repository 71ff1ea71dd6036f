"""Data of a DatabricksStep as Databricks sees it: inputs and outputs bound to DBFS locations.

A datastore the Databricks workspace has mounted (the compute target's ``mounts``) is read and
written in place, through its ``/mnt/...`` path. Any other input is staged to DBFS under the
attempt's folder, and any other output is written there and copied back to its datastore after
the run. Mixed into DatabricksStepOperator.
"""

from __future__ import annotations

import json
import posixpath
import time
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.hooks.databricks import dbfs_uri, fuse_path
from airflow_mlpipe.operators.step_data import StepRun
from airflow_mlpipe.reuse.fingerprint import content_hash, hash_folder
from airflow_mlpipe.storage.base import safe_segment

PROGRESS_EVERY = 5.0  # seconds between progress lines while staging or copying back
CONTEXT_FILE = "run_context.json"
METRICS_FILE = "metrics.jsonl"


def attempt_root(ti: Any) -> str:
    """The DBFS folder of one task's Databricks attempts: a path no other DAG run or task uses."""
    return "/".join(
        ["/mlpipe/runs", safe_segment(ti.dag_id), safe_segment(ti.run_id), safe_segment(ti.task_id)]
    )


class _Progress:
    """Logs bytes moved every few seconds and at the end."""

    def __init__(self, log: Any, what: str, total: int):
        self.log, self.what, self.total, self.done = log, what, total, 0
        self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        if time.monotonic() - self.last >= PROGRESS_EVERY:
            self.last = time.monotonic()
            self.report()

    def report(self) -> None:
        self.log.info(
            "%s: %.1f of %.1f MB (%.0f%%)",
            self.what,
            self.done / 1e6,
            self.total / 1e6,
            100 * self.done / max(self.total, 1),
        )


class DatabricksData:
    """Needs of the operator: ``step``, ``pipeline``, ``task_id``, ``log``, ``target`` (the compute
    target's spec) and the StepData methods."""

    step: dict[str, Any]
    pipeline: dict[str, Any]
    task_id: str
    log: Any
    target: dict[str, Any]

    def mount_of(self, datastore: str) -> str | None:
        mount = (self.target.get("mounts") or {}).get(datastore)
        return "/" + mount.strip("/") if mount else None

    # --- inputs ----------------------------------------------------------------------------

    def _mounted_input(self, context: Any, inp: dict[str, Any]) -> str | None:
        """The DBFS path of an input on a mounted datastore (one path, no glob, no URL), else None."""
        if inp["kind"] == "pipeline_data":
            if inp.get("tabular") is not None:
                return None
            loc = self.upstream_output(context, inp["data"])
            entries = [{"datastore": loc["datastore"], "path": loc["path"]}]
            if not self.pipeline["data"].get(inp["data"], {}).get("is_directory", True):
                return None  # the consumer gets the one file: staging finds its name
        elif inp["kind"] == "dataset":
            entries = inp["dataset"]["paths"]
            if inp["dataset"]["type"] == "tabular":
                return None
        else:
            entries = [{"datastore": inp["datastore"], "path": inp["path"]}]
        if len(entries) != 1 or "url" in entries[0] or any(c in entries[0]["path"] for c in "*?["):
            return None
        mount = self.mount_of(entries[0]["datastore"])
        if mount is None or inp.get("path_on_compute"):
            return None
        return posixpath.join(mount, entries[0]["path"].strip("/"))

    def bind_inputs_remote(self, context: Any, hook: Any, attempt: str, run: StepRun) -> dict[str, str]:
        """Input name -> DBFS path (no scheme). Mounted inputs are read in place; the rest are
        downloaded to the worker and staged to ``attempt/inputs``."""
        located: dict[str, str] = {}
        to_stage: set[str] = set()
        for inp in self.step["inputs"]:
            mounted = self._mounted_input(context, inp)
            if mounted is not None:
                located[inp["name"]] = mounted
                self.log.info(
                    "input %s: read in place at %s (a mounted datastore)", inp["name"], dbfs_uri(mounted)
                )
            else:
                to_stage.add(inp["name"])
        if not to_stage:
            return located
        self.materialize_inputs(context, run, names=to_stage)
        local_root = run.workdir / "inputs"
        for name in sorted(to_stage):
            local_path = Path(run.inputs[name]["path"])
            located[name] = posixpath.join(attempt, "inputs", local_path.relative_to(local_root).as_posix())
            self.stage_folder(
                hook, local_root / name, posixpath.join(attempt, "inputs", name), f"input {name}"
            )
        return located

    def stage_folder(self, hook: Any, folder: Path, path: str, what: str) -> None:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        progress = _Progress(self.log, f"{what}: staging to DBFS", sum(p.stat().st_size for p in files))
        hook.dbfs_mkdirs(path)
        for p in files:
            hook.dbfs_upload(p, posixpath.join(path, p.relative_to(folder).as_posix()), progress)
        progress.report()
        self.log.info("%s: %d file(s) staged at %s", what, len(files), dbfs_uri(path))

    # --- outputs ---------------------------------------------------------------------------

    def bind_outputs_remote(self, hook: Any, attempt: str) -> dict[str, dict[str, Any]]:
        """Output name -> where the run writes it: in place on a mounted datastore under a path no
        other run writes, or in ``attempt/outputs``; ``path`` is what the step is given (a file
        path for a single-file output)."""
        bound = {}
        for out in self.step["outputs"]:
            name = out["name"]
            data = self.pipeline["data"][name]
            mount = self.mount_of(data["datastore"])
            if mount is not None and not data.get("destination") and not data.get("source_globs"):
                prefix = posixpath.join(attempt.strip("/"), "outputs", name)
                folder = posixpath.join(mount, prefix)
                entry = {"mounted": True, "datastore": data["datastore"], "prefix": prefix, "folder": folder}
            else:
                folder = posixpath.join(attempt, "outputs", name)
                entry = {"mounted": False, "folder": folder}
            entry["path"] = folder if data.get("is_directory", True) else posixpath.join(folder, name)
            hook.dbfs_mkdirs(folder)
            bound[name] = entry
        return bound

    def collect_outputs(self, context: Any, hook: Any, plan: dict[str, Any], run: StepRun) -> dict[str, Any]:
        """Verify each output by listing and store it: one written in place on a mounted datastore is
        read back for its content hash; one on DBFS is copied to its datastore, streaming."""
        stored: dict[str, Any] = {}
        copy_back: set[str] = set()
        for name, entry in plan["outputs"].items():
            local = run.workdir / "outputs" / name
            local.mkdir(parents=True)
            run.outputs[name] = local
            if entry["mounted"]:
                stored[name] = self._verify_mounted(name, entry, local)
                continue
            files = hook.dbfs_files(entry["folder"])
            progress = _Progress(self.log, f"output {name}: copying from DBFS", sum(files.values()))
            for rel, size in sorted(files.items()):
                hook.dbfs_download(posixpath.join(entry["folder"], rel), size, local / rel)
                progress(size)
            progress.report()
            copy_back.add(name)
        stored.update(self.store_outputs(context, run, names=copy_back))
        return stored

    def _verify_mounted(self, name: str, entry: dict[str, Any], local: Path) -> dict[str, Any]:
        store = self.datastore_store(entry["datastore"], f"output {name!r}")
        listed = store.list(entry["prefix"])
        if not listed and not self.pipeline["data"][name].get("is_directory", True):
            raise StepFailedError(
                f"step {self.task_id!r}: output {name!r} is a single-file output but the run wrote no file "
                f"at {entry['path']}"
            )
        for f in listed:  # read back: its content hash lets consumers reuse what did not change
            store.download_file(f.path, local / f.path[len(entry["prefix"]) + 1 :])
        size = sum(f.size for f in listed)
        self.log.info(
            "output %s: %d file(s), %d bytes written in place at %s",
            name,
            len(listed),
            size,
            store.location(entry["prefix"]),
        )
        return {
            "datastore": entry["datastore"],
            "path": entry["prefix"],
            "files": len(listed),
            "bytes": size,
            "content_hash": content_hash(hash_folder(local)),
        }

    # --- the run context a script's Run.get_context() reads on the cluster -------------------

    def run_context_file(
        self,
        context: Any,
        hook: Any,
        attempt: str,
        parameters: dict[str, Any],
        inputs: dict[str, str],
        outputs: dict[str, dict[str, Any]],
    ) -> str:
        doc = self.run_context_doc(
            context,
            {n: {"kind": "path", "path": fuse_path(p)} for n, p in inputs.items()},
            {n: fuse_path(o["path"]) for n, o in outputs.items()},
            parameters,
            {
                "metrics": fuse_path(posixpath.join(attempt, METRICS_FILE)),
                "files": fuse_path(posixpath.join(attempt, "files")),
                "parent_files": fuse_path(posixpath.join(attempt, "parent_files")),
            },
        )
        path = posixpath.join(attempt, CONTEXT_FILE)
        hook.dbfs_put_bytes(path, json.dumps(doc).encode())
        return path

    def collect_run_files(self, hook: Any, attempt: str, run: StepRun) -> None:
        """Metrics and run files the script wrote through Run.get_context() on the cluster."""
        from airflow_mlpipe.operators.run_records import read_metrics

        metrics = hook.dbfs_files(posixpath.join(attempt, METRICS_FILE))
        local = run.workdir / METRICS_FILE
        if "" in metrics:
            hook.dbfs_download(posixpath.join(attempt, METRICS_FILE), metrics[""], local)
        run.metrics, run.parent_metrics, run.tags, run.parent_tags = read_metrics(local)
        for kind in ("files", "parent_files"):
            folder = run.workdir / "run_files" / kind
            run.files_dirs[kind] = folder
            for rel, size in hook.dbfs_files(posixpath.join(attempt, kind)).items():
                hook.dbfs_download(posixpath.join(attempt, kind, rel), size, folder / rel)
