"""``Run.get_context()`` for step scripts: inputs, parameters, metrics.

Inside a step the operator points ``MLPIPE_RUN_CONTEXT`` at a JSON file; metrics go to a JSON-lines
file it reads back into the step's XCom result. A script run by hand gets an offline run whose
calls print. Imports nothing from Airflow: scripts pay only for what they use.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from airflow_mlpipe.tables import TabularInput

ENV_CONTEXT = "MLPIPE_RUN_CONTEXT"


def _plain(value: Any) -> Any:
    """JSON-safe metric values (numpy scalars and arrays included)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _remote_context_path() -> str | None:
    """On a Databricks cluster the step's run context comes as ``--MLPIPE_RUN_CONTEXT <path>`` (a
    script's arguments, beside v1's ``--AZUREML_RUN_ID`` ones) or as a notebook widget of that name."""
    import sys

    argv = sys.argv
    for i, arg in enumerate(argv[:-1]):
        if arg == f"--{ENV_CONTEXT}":
            return argv[i + 1]
    dbutils = getattr(sys.modules.get("__main__"), "dbutils", None)
    if dbutils is not None:
        try:
            return dbutils.widgets.get(ENV_CONTEXT) or None
        except Exception:  # no such widget: not a pipeline step
            return None
    return None


class _Experiment:
    def __init__(self, name: str, workspace_info: dict[str, Any] | None = None):
        self.name = name
        self._workspace_info = workspace_info
        self._workspace: Any = None

    @property
    def workspace(self) -> Any:
        """The pipeline's workspace: the worker's, with the datastores the pipeline was built with."""
        if self._workspace is None:
            from airflow_mlpipe.definitions.workspace import Workspace

            ws = Workspace.from_config()
            info = self._workspace_info
            if info:  # inside a step: the datastores of the pipeline's spec, as the operator sees them
                ws._datastore_specs = {n: dict(d) for n, d in info["datastores"].items()}
                ws._default_datastore = info["default_datastore"] or ws._default_datastore
                ws._in_deployment = True  # its datastores are opened here, with the worker's connections
            self._workspace = ws
        return self._workspace


def _copy_into(folder: str | None, name: str, source: Any) -> str | None:
    """Copy a file (a path or a binary stream) to ``folder/name``; None for an offline run."""
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"run file name {name!r} must be a relative path without '..'")
    if folder is None:
        return None
    target = Path(folder) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(source, "read"):
        with open(target, "wb") as fh:
            shutil.copyfileobj(source, fh)
    else:
        shutil.copyfile(os.fspath(source), target)
    return rel.as_posix()


class _MetricSink:
    scope = "step"

    def __init__(self, metrics_file: str | None, files_dir: str | None = None):
        self._file = metrics_file
        self._files_dir = files_dir
        self._local: dict[str, list[Any]] = {}

    def _record(self, kind: str, name: str, value: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"metric name must be a non-empty string, got {name!r}")
        value = _plain(value)
        self._local.setdefault(name, []).extend(value if kind == "list" else [value])
        line = json.dumps({"scope": self.scope, "kind": kind, "name": name, "value": value})
        if self._file is None:
            print(f"Attempted to log {kind} metric {name}:\n{value}")
            return
        with open(self._file, "a") as fh:
            fh.write(line + "\n")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        self._record("scalar", name, value)

    def log_list(self, name: str, value: list[Any], description: str = "") -> None:
        self._record("list", name, list(value))

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        self._record("row", name, kwargs)

    def log_table(self, name: str, value: dict[str, list[Any]], description: str = "") -> None:
        self._record("table", name, value)

    def tag(self, key: str, value: str | None = None) -> None:
        self._record("tag", key, "" if value is None else str(value))

    def upload_file(self, name: str, path_or_stream: Any) -> None:
        """Store a file with the run (v1: ``run.upload_file``); it is listed by ``get_file_names()``."""
        if _copy_into(self._files_dir, name, path_or_stream) is None:
            print(f"Attempted to upload file {name} from {path_or_stream}")

    def upload_files(self, names: list[str], paths: list[str], **kwargs: Any) -> None:
        for name, path in zip(names, paths, strict=True):
            self.upload_file(name, path)

    def upload_folder(self, name: str, path: str, **kwargs: Any) -> None:
        for file in sorted(Path(path).rglob("*")):
            if file.is_file():
                self.upload_file(f"{name.rstrip('/')}/{file.relative_to(path).as_posix()}", file)

    def log_image(self, name: str, path: Any = None, plot: Any = None, description: str = "") -> None:
        """Store an image with the run (a file, or a matplotlib figure/pyplot) under ``images/`` and
        log it as a metric naming that run file."""
        if (path is None) == (plot is None):
            raise ValueError(f"log_image({name!r}): give exactly one of path and plot")
        suffix = Path(os.fspath(path)).suffix if path is not None else ".png"
        file_name = f"images/{name}{suffix}"
        if plot is not None:
            import io

            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            buffer.seek(0)
            stored = _copy_into(self._files_dir, file_name, buffer)
        else:
            stored = _copy_into(self._files_dir, file_name, path)
        self._record("image", name, {"image": stored or file_name, "description": description})

    def set_tags(self, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self.tag(k, v)

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        folded = {k: v[0] if len(v) == 1 else v for k, v in self._local.items()}
        return {name: folded[name]} if name is not None and name in folded else folded

    def complete(self) -> None:
        pass

    def fail(self, error_details: Any = None) -> None:
        pass


class _ParentRun(_MetricSink):
    scope = "parent"

    def __init__(self, metrics_file: str | None, run_id: str, files_dir: str | None = None):
        super().__init__(metrics_file, files_dir)
        self.id = run_id


class Run(_MetricSink):
    """The run of the current step (Azure ML v1: ``Run.get_context()``)."""

    def __init__(self, context: dict[str, Any] | None = None):
        ctx = context or {}
        offline = context is None
        metrics_file = None if offline else ctx["metrics_file"]
        super().__init__(metrics_file, ctx.get("files_dir"))
        self.id = ctx.get("run_id") or f"OfflineRun_{uuid.uuid4()}"
        self.experiment = _Experiment(ctx.get("experiment", "offline"), ctx.get("workspace"))
        self.parent = _ParentRun(metrics_file, ctx.get("parent_run_id", self.id), ctx.get("parent_files_dir"))
        self.parameters: dict[str, Any] = dict(ctx.get("parameters", {}))
        self.output_datasets: dict[str, str] = dict(ctx.get("output_datasets", {}))
        self.input_datasets: dict[str, Any] = {}
        for name, inp in ctx.get("input_datasets", {}).items():
            if inp["kind"] == "tabular":
                self.input_datasets[name] = TabularInput(
                    name, inp["files"], inp["options"], root=inp.get("path")
                )
            else:
                self.input_datasets[name] = inp["path"]
        self._offline = offline

    @classmethod
    def get_context(
        cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any
    ) -> Run:
        path = os.environ.get(ENV_CONTEXT) or _remote_context_path()
        if path:
            return cls(json.loads(Path(path).read_text()))
        if not allow_offline:
            raise RuntimeError("Run.get_context(allow_offline=False): not running inside a pipeline step")
        return cls(None)

    @staticmethod
    def get(workspace: Any, run_id: str) -> Any:
        """A run by id (v1's ``Run.get``): ``<dag_id>/<dag_run_id>`` is a PipelineRun,
        ``<dag_id>/<dag_run_id>/<step>`` one of its StepRuns."""
        from airflow_mlpipe.client.pipeline_run import PipelineRun

        dag_id, _, rest = run_id.partition("/")
        dag_run_id, sep, step = rest.partition("/")
        step = step.split("/")[0]  # a step's own id inside a script may carry its try number
        run = PipelineRun.get(workspace, f"{dag_id}/{dag_run_id}")
        if not sep:
            return run
        found = run.find_step_run(step)
        if not found:
            from airflow_mlpipe.exceptions import UserErrorException

            raise UserErrorException(
                f"run {run.id} has no step {step!r}; its steps: {[s.name for s in run.get_steps()]}"
            )
        return found[0]

    def register_model(
        self,
        model_name: str,
        model_path: str | None = None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        datasets: list[Any] | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Register a file or folder of this run (``outputs/model.pkl``; default: ``model_name``) as
        the next version of ``model_name``, with this run's id (v1). Needs a pipeline step."""
        from airflow_mlpipe.definitions.model import Model

        return Model._register_from_run(
            self,
            model_name,
            model_path,
            tags=tags,
            properties=properties,
            model_framework=model_framework,
            model_framework_version=model_framework_version,
            description=description,
            datasets=datasets,
            sample_input_dataset=sample_input_dataset,
            sample_output_dataset=sample_output_dataset,
            resource_configuration=resource_configuration,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment.name!r})"
