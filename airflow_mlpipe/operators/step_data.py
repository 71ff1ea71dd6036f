"""The data half of the step protocol: materialize inputs on the worker; store outputs under a path no
other run writes, verify them, publish them to a named destination and register them as datasets.
Mixed into StepOperator (base.py)."""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError, StepFailedError, UserErrorException
from airflow_mlpipe.operators.reuse_steps import RUN_FILE_KINDS
from airflow_mlpipe.operators.run_records import experiment_name, step_run_id
from airflow_mlpipe.reuse.fingerprint import content_hash, hash_folder
from airflow_mlpipe.storage import open_store
from airflow_mlpipe.storage.base import glob_match, safe_segment


@dataclass
class StepRun:
    """What one execution of a step works with."""

    workdir: Path
    parameters: dict[str, Any]
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> materialized input
    outputs: dict[str, Path] = field(default_factory=dict)  # output name -> local folder
    metrics: dict[str, Any] = field(default_factory=dict)
    parent_metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parent_tags: dict[str, str] = field(default_factory=dict)
    # run files the script stores (upload_file, log_image, ./outputs): the step's and its pipeline run's
    files_dirs: dict[str, Path] = field(default_factory=dict)


def upload_verified(store: Any, folder: Path, prefix: str, what: str) -> dict[str, int]:
    """Upload ``folder`` under ``prefix`` and check by listing that every file arrived whole;
    returns relative path -> size. ``what`` names the data in the error."""
    local = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    listed = store.upload_dir(folder, prefix)
    remote = {f.path[len(prefix) + 1 :]: f.size for f in listed}
    if remote != local:
        raise DatastoreError(
            f"{what} did not store completely at {store.location(prefix)} "
            f"({len(remote)} of {len(local)} files match)"
        )
    return local


def compute_path(base: Path, path_on_compute: str | None, step: str) -> Path:
    """Where an input or output lives on the worker: ``base``, or ``path_on_compute`` inside it."""
    if not path_on_compute:
        return base
    rel = Path(path_on_compute.lstrip("/"))
    if ".." in rel.parts:
        raise StepFailedError(f"step {step!r}: path_on_compute {path_on_compute!r} may not contain '..'")
    return base / rel


def destination_path(template: str, run_id: str, output_name: str) -> str:
    """A named destination with v1's placeholders filled in."""
    return template.replace("{run-id}", safe_segment(run_id)).replace("{output-name}", output_name)


class StepData:
    """Needs of the operator: ``step``, ``pipeline``, ``task_id``, ``log``."""

    step: dict[str, Any]
    pipeline: dict[str, Any]
    task_id: str
    log: Any

    def datastore_store(self, name: str, where: str) -> Any:
        spec = self.pipeline["datastores"].get(name)
        if spec is None:
            raise DatastoreError(
                f"step {self.task_id!r}: {where} is on datastore {name!r}, which this step's workspace "
                f"does not define (known: {sorted(self.pipeline['datastores'])})"
            )
        return open_store(spec)

    # --- inputs ----------------------------------------------------------------------------

    def check_registered_inputs(self) -> None:
        """A registered dataset version reads the data it was registered with, or the step fails."""
        from airflow_mlpipe.definitions.registered import check_pinned

        self._pinned_fingerprints: dict[str, str] = {}  # what the check read, for the reuse fingerprint
        for inp in self.step["inputs"]:
            if inp["kind"] == "dataset":
                try:
                    now = check_pinned(inp["dataset"], self.pipeline["datastores"])
                except UserErrorException as exc:
                    raise StepFailedError(f"step {self.task_id!r}: input {inp['name']!r}: {exc}") from None
                if now is not None:
                    self._pinned_fingerprints[inp["name"]] = now

    def materialize_inputs(self, context: Any, run: StepRun, names: set[str] | None = None) -> None:
        """Download the inputs (those in ``names``, if given) into ``run.workdir/inputs``."""
        for inp in self.step["inputs"]:
            if names is not None and inp["name"] not in names:
                continue
            target = compute_path(
                run.workdir / "inputs" / inp["name"], inp.get("path_on_compute"), self.task_id
            )
            if inp["mode"] == "mount":
                self.log.info("input %s: mount is served as a download on Airflow workers", inp["name"])
            if inp["kind"] == "pipeline_data":
                run.inputs[inp["name"]] = self._upstream_input(context, inp, target)
            elif inp["kind"] == "dataset":
                ds = inp["dataset"]
                files, path = self._download_entries(ds["paths"], target, inp["name"])
                self.log.info("input %s: %d file(s) of a %s dataset", inp["name"], len(files), ds["type"])
                if ds["type"] == "tabular" and inp["mode"] == "direct":
                    run.inputs[inp["name"]] = tabular_input(target, files, ds["options"])
                else:
                    run.inputs[inp["name"]] = {"kind": "path", "path": str(path)}
            elif inp["kind"] == "datastore_path":
                _, path = self._download_entries(
                    [{"datastore": inp["datastore"], "path": inp["path"]}], target, inp["name"]
                )
                run.inputs[inp["name"]] = {"kind": "path", "path": str(path)}
            else:  # pragma: no cover - the spec builder only writes the kinds above
                raise StepFailedError(f"step {self.task_id!r}: unknown input kind {inp['kind']!r}")

    def _download_entries(
        self, entries: list[dict[str, str]], target: Path, name: str
    ) -> tuple[list[Path], Path]:
        """Download datastore paths and URLs into ``target``. The path the script gets: the file
        itself when there is one entry and it names one file (v1's rule), else the folder."""
        files: list[Path] = []
        single: Path | None = None
        for entry in entries:
            if "url" in entry:
                from airflow_mlpipe.definitions.dataset import web_cache_dir
                from airflow_mlpipe.storage import web

                got = web.download(entry["url"], target, web_cache_dir())
                files.append(got)
                single = got
                continue
            store = self.datastore_store(entry["datastore"], f"input {name!r}")
            resolved = store.resolve(entry["path"])
            if not resolved:
                raise StepFailedError(
                    f"step {self.task_id!r}: input {name!r}: nothing found at {store.location(entry['path'])}"
                )
            got_files = store.download_resolved(resolved, target)
            files += got_files
            single = got_files[0] if store.names_one_file(entry["path"], resolved) else None
        target.mkdir(parents=True, exist_ok=True)
        return files, single if (single is not None and len(entries) == 1) else target

    def _upstream_input(self, context: Any, inp: dict[str, Any], target: Path) -> dict[str, Any]:
        loc = self.upstream_output(context, inp["data"])
        target.mkdir(parents=True, exist_ok=True)
        files = []
        if loc["files"]:
            files = self.datastore_store(loc["datastore"], inp["name"]).download(loc["path"], target)
        self.log.info("input %s: %s file(s) from step %s", inp["name"], loc["files"], loc["producer"])
        if inp.get("tabular") is not None:
            return tabular_input(target, files, inp["tabular"])
        if not self.pipeline["data"].get(inp["data"], {}).get("is_directory", True):
            # a single-file output: the consumer gets the file, as its producer wrote it
            if len(files) != 1:
                raise StepFailedError(
                    f"step {self.task_id!r}: input {inp['name']!r} is a single-file PipelineData "
                    f"(is_directory=False) but {len(files)} files were stored"
                )
            return {"kind": "path", "path": str(files[0])}
        return {"kind": "path", "path": str(target)}

    def upstream_output(self, context: Any, data_name: str) -> dict[str, Any]:
        """Where the producing step stored PipelineData ``data_name`` in this DAG run.

        Fingerprinting and materializing both need it: the XCom is pulled once per execution.
        """
        known = getattr(self, "_upstream_results", None)
        if known is not None and data_name in known:
            return known[data_name]
        loc = self._pull_upstream_output(context, data_name)
        if known is not None:
            known[data_name] = loc
        return loc

    def _pull_upstream_output(self, context: Any, data_name: str) -> dict[str, Any]:
        from airflow_mlpipe.spec import task_id_for

        producer = self.pipeline["data"].get(data_name, {}).get("producer")
        candidates = [task_id_for(producer)] if producer else sorted(self.upstream_task_ids)
        for task_id in candidates:
            result = context["ti"].xcom_pull(task_ids=task_id, key="return_value")
            if isinstance(result, dict) and data_name in (result.get("outputs") or {}):
                return {**result["outputs"][data_name], "producer": task_id}
        raise StepFailedError(
            f"step {self.task_id!r}: no result for input PipelineData {data_name!r} from "
            f"{'step ' + repr(producer) if producer else 'any upstream task'}; did that step succeed in this run?"
        )

    # --- outputs ---------------------------------------------------------------------------

    def prepare_outputs(self, run: StepRun) -> None:
        for out in self.step["outputs"]:
            folder = compute_path(
                run.workdir / "outputs" / out["name"], out.get("path_on_compute"), self.task_id
            )
            folder.mkdir(parents=True)
            run.outputs[out["name"]] = folder

    def output_prefix(self, context: Any, name: str) -> str:
        """A location no other run, task or try writes."""
        ti = context["ti"]
        return "/".join(
            [
                "mlpipe/runs",
                safe_segment(ti.dag_id),
                safe_segment(ti.run_id),
                safe_segment(ti.task_id),
                f"try{ti.try_number}-{uuid.uuid4().hex[:8]}",
                name,
            ]
        )

    def store_outputs(
        self, context: Any, run: StepRun, names: set[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Store each output (those in ``names``, if given) under a path no other run writes and
        verify it; then copy it to its named destination, if it has one. Consumers and the reuse
        cache read the first copy."""
        stored: dict[str, dict[str, Any]] = {}
        for out in self.step["outputs"]:
            if names is not None and out["name"] not in names:
                continue
            data = self.pipeline["data"][out["name"]]
            local = run.outputs[out["name"]]
            if data.get("source_globs"):
                keep_matching(local, data["source_globs"])
            store = self.datastore_store(data["datastore"], f"output {out['name']!r}")
            prefix = self.output_prefix(context, out["name"])
            output_hash = content_hash(hash_folder(local))
            what = f"step {self.task_id!r}: output {out['name']!r}"
            local_files = upload_verified(store, local, prefix, what)
            size = sum(local_files.values())
            self.log.info(
                "output %s: stored %d file(s), %d bytes at %s",
                out["name"],
                len(local_files),
                size,
                store.location(prefix),
            )
            stored[out["name"]] = {
                "datastore": data["datastore"],
                "path": prefix,
                "files": len(local_files),
                "bytes": size,
                "content_hash": output_hash,
            }
            if data.get("destination"):
                dest = destination_path(
                    data["destination"], f"{context['ti'].run_id}_{self.task_id}", out["name"]
                )
                listed = store.publish_dir(local, dest, overwrite=bool(data.get("overwrite")))
                if {f.path[len(dest) + 1 :]: f.size for f in listed} != local_files:
                    raise DatastoreError(f"{what} did not publish completely to {store.location(dest)}")
                self.log.info("output %s: published to %s", out["name"], store.location(dest))
                stored[out["name"]]["destination"] = dest
        return stored

    def register_outputs(self, context: Any, result: dict[str, Any]) -> None:
        """``register_on_complete``: register each such output as a dataset version (the latest
        version again when its definition and data are unchanged, e.g. when the step was reused)."""
        for name, loc in result["outputs"].items():
            data = self.pipeline["data"].get(name, {})
            reg = data.get("register")
            if not reg:
                continue
            from airflow_mlpipe.definitions.registered import register_spec
            from airflow_mlpipe.reuse.decide import registry_datastore

            read_as = data.get("read_as") or {"type": "file", "options": {}}
            path = loc.get("destination") or loc["path"]
            if read_as["options"].get("path_glob"):
                path = posixpath.join(path, read_as["options"]["path_glob"])
            options = {k: v for k, v in read_as["options"].items() if k != "path_glob"}
            spec = {
                "type": read_as["type"],
                "paths": [{"datastore": loc["datastore"], "path": path}],
                "options": options,
            }
            ds_name = registry_datastore(self.pipeline)
            if ds_name is None:
                raise StepFailedError(
                    f"step {self.task_id!r}: register_on_complete needs the workspace's default datastore"
                )
            ti = context["ti"]
            record = register_spec(
                None,
                reg["name"],
                spec,
                self.pipeline["datastores"],
                reg.get("description"),
                reg.get("tags"),
                create_new_version=True,
                store=self.datastore_store(ds_name, "the dataset registry"),
                run_id=step_run_id(ti),
            )
            loc["registered"] = {k: record[k] for k in ("name", "version", "id")}
            self.log.info(
                "output %s: registered as dataset %s version %s", name, record["name"], record["version"]
            )

    def run_context_doc(
        self,
        context: Any,
        inputs: dict[str, Any],
        outputs: dict[str, str],
        parameters: dict[str, Any],
        files: dict[str, str],
    ) -> dict[str, Any]:
        """What a script's ``Run.get_context()`` reads: ids, inputs, outputs, parameters, and where
        it writes metrics (``files["metrics"]``) and run files (``files["files"]``,
        ``files["parent_files"]``), as paths the script sees."""
        from airflow_mlpipe.reuse.decide import registry_datastore

        ti = context["ti"]
        return {
            "run_id": step_run_id(ti),
            "step": self.step["name"],
            "experiment": experiment_name(context),
            "parent_run_id": f"{ti.dag_id}/{ti.run_id}",
            "input_datasets": inputs,
            "output_datasets": outputs,
            "parameters": parameters,
            "metrics_file": files["metrics"],
            "files_dir": files["files"],
            "parent_files_dir": files["parent_files"],
            "workspace": {
                "datastores": self.pipeline["datastores"],
                "default_datastore": registry_datastore(self.pipeline),
            },
        }

    def default_datastore(self) -> str | None:
        """The pipeline's default datastore (where its reuse cache and run files live)."""
        return (self.pipeline.get("reuse") or {}).get("datastore")

    def store_run_files(self, context: Any, run: StepRun) -> dict[str, Any]:
        """Store the run files the script left (``run.upload_file``, ``run.log_image``, its ./outputs
        and ./logs; see client/run_base.py) on the pipeline's default datastore, under a path no
        other run, task or try writes; list them for the result."""
        ds_name = self.default_datastore()
        if ds_name is None:
            return {}
        store = self.datastore_store(ds_name, "the run files")
        found = {}
        for kind in RUN_FILE_KINDS:
            folder = run.files_dirs.get(kind)
            if folder is None or not folder.is_dir():
                continue  # the script stored none
            prefix = self.output_prefix(context, f"_{kind}")
            names = upload_verified(store, folder, prefix, f"step {self.task_id!r}: run files")
            if names:
                found[kind] = {"datastore": ds_name, "path": prefix, "names": names}
                self.log.info("run files: stored %s", ", ".join(sorted(names)))
        return found


def keep_matching(folder: Path, globs: list[str]) -> None:
    """Remove the files of ``folder`` that match none of ``globs`` (``as_upload(source_globs=...)``)."""
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not any(glob_match(p.relative_to(folder).as_posix(), g) for g in globs):
            p.unlink()


def tabular_input(folder: Path, files: list[Path], options: dict[str, Any]) -> dict[str, Any]:
    """A tabular input for the script's run context: its files (those matching the options'
    ``path_glob``, if any) and how to read them."""
    glob = options.get("path_glob")
    chosen = [f for f in files if glob is None or glob_match(Path(f).relative_to(folder).as_posix(), glob)]
    return {
        "kind": "tabular",
        "path": str(folder),
        "files": sorted(str(f) for f in chosen),
        "options": {k: v for k, v in options.items() if k != "path_glob"},
    }
