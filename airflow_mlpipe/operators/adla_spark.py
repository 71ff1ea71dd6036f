"""AdlaSparkStepOperator: an AdlaStep on a Databricks target, its U-SQL script run as Spark SQL.

The script is compiled on the worker first (a UsqlError, with its line, fails the step before
anything is staged or submitted). Then DatabricksStepOperator's machinery runs it: inputs bound as
DBFS or mounted paths (databricks_bind.py), ``@@name@@`` replaced by those paths, the statements of
``Program.to_sql("spark", ...)`` written to a plan and run by usql/spark_job.py (uploaded as a
spark_python_task) as one Databricks run on a new job cluster; a retried task adopts its run; the
outputs are verified and stored as a DatabricksStep's.

``@@out@@`` of an output ``out`` is the file ``<output folder>/out`` (as on ADLA: one file).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import uuid
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.adla import substituted_script
from airflow_mlpipe.definitions.databricks import DEFAULT_NODE_TYPE, DEFAULT_SPARK_VERSION
from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.hooks.databricks import DBFS_BLOCK, DatabricksStepHook, dbfs_uri, fuse_path
from airflow_mlpipe.operators.base import StepRun, operator_spec
from airflow_mlpipe.operators.databricks import DatabricksStepOperator, _task_key
from airflow_mlpipe.reuse.fingerprint import digest
from airflow_mlpipe.usql import spark_job

JOB_FILE = Path(spark_job.__file__)  # uploaded as it is: the cluster runs it
PLAN_NAME = "usql_plan.json"
SCRIPT_CONTEXT_LINES = 2


def spark_locations(path: str) -> dict[str, str]:
    """A script path as Spark reads it on DBFS (``dbfs:/x``) and through the FUSE mount
    (``file:///dbfs/x``); a path with a scheme (``abfss://...``) stays as it is."""
    if "://" in path or path.startswith("dbfs:"):
        return {"dbfs": path, "fuse": path}
    plain = "/" + path.lstrip("/")
    return {"dbfs": "dbfs:" + plain, "fuse": "file:///dbfs" + plain}


def spark_plan(program: Any, tag: str | None = None) -> dict[str, Any]:
    """What usql/spark_job.py runs: for each variant (``dbfs``, ``fuse``), the statements of the
    compiled ``program`` (each with its U-SQL line when it is an OUTPUT) and each output's
    temporary directory and final file. Raises UsqlError for what Spark cannot run."""
    tag = tag or uuid.uuid4().hex[:8]
    variants: dict[str, Any] = {}
    for variant in ("dbfs", "fuse"):
        paths = {p: spark_locations(p)[variant] for p in (*program.inputs, *program.outputs)}
        temps = {p: f"{paths[p]}.usql-{tag}.tmpdir" for p in program.outputs}
        statements = [
            {"sql": sql, "line": step.line if step else None, "output": step.path if step else None}
            for sql, step in program.statements("spark", {**paths, **temps})
        ]
        outputs = [{"temp": temps[p], "target": paths[p]} for p in program.outputs]
        variants[variant] = {"statements": statements, "outputs": outputs}
    return {"script": program.name, "variants": variants}


def spark_cluster(settings: dict[str, Any]) -> dict[str, Any]:
    """The job cluster of the run: DatabricksStep's defaults, ``degree_of_parallelism`` workers (1)."""
    return {
        "spark_version": DEFAULT_SPARK_VERSION,
        "node_type_id": DEFAULT_NODE_TYPE,
        "num_workers": int(settings.get("degree_of_parallelism") or 1),
    }


class AdlaSparkStepOperator(DatabricksStepOperator):
    """Run an AdlaStep's U-SQL script as Spark SQL on a Databricks target, and wait for it.

    The translator's AdlaStepOperator becomes this operator when the step's target is a
    DatabricksCompute (``AdlaStepOperator.__new__``)."""

    ui_color = "#d7e8f9"
    target_error = "an AdlaStep on Databricks needs a DatabricksCompute target with a connection"

    def __init__(
        self,
        *,
        step: dict[str, Any] | None = None,
        pipeline: dict[str, Any] | None = None,
        deferrable: bool = True,
        polling_period_seconds: float = 5,
        **kwargs: Any,
    ):
        """From the translator: ``step`` and ``pipeline`` specs. Written by hand: AdlaStep's keyword
        arguments (``script_name=``, ``inputs=``, ``compute_target=`` a DatabricksCompute, ...)."""
        from airflow_mlpipe.definitions.adla import AdlaStep

        step, pipeline = operator_spec("AdlaSparkStepOperator", AdlaStep, step, pipeline, kwargs)
        super().__init__(
            step=step,
            pipeline=pipeline,
            deferrable=deferrable,
            polling_period_seconds=polling_period_seconds,
            **kwargs,
        )

    # --- the script ------------------------------------------------------------------------

    def script_text(self, parameters: dict[str, Any], locations: dict[str, str]) -> str:
        """The U-SQL script with ``@@name@@`` replaced by the ``params`` values and ``locations``."""
        settings = self.step["settings"]
        return substituted_script(
            self.task_id, self.source_folder(settings), settings, parameters, locations
        )[0]

    def compile(self, parameters: dict[str, Any], locations: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """The substituted script and its Spark plan; a UsqlError fails the step with the script's line."""
        from airflow_mlpipe.usql import UsqlError, compile_script

        name = self.step["settings"]["script_name"]
        text = self.script_text(parameters, locations)
        try:
            program = compile_script(text, name=name)
            plan = spark_plan(program)
        except UsqlError as exc:
            raise StepFailedError(f"step {self.task_id!r}: {exc}") from None
        for warning in program.warnings:
            self.log.warning("%s", warning)
        return text, plan

    def check_script(self, parameters: dict[str, Any]) -> None:
        """Compile with stand-in locations before anything is staged: a script the engine refuses
        fails the step at once, with its line."""
        names = [i["name"] for i in self.step["inputs"]] + [o["name"] for o in self.step["outputs"]]
        self.compile(parameters, {n: f"/mlpipe/check/{n}" for n in names})

    # --- reuse: the job script is code that runs ---------------------------------------------

    def remote_code_digest(self) -> str | None:
        return digest([hashlib.sha256(JOB_FILE.read_bytes()).hexdigest()])

    # --- submit ----------------------------------------------------------------------------

    def submit(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        self.check_script(parameters)
        return super().submit(context, parameters)

    def _plan(
        self, context: Any, hook: DatabricksStepHook, attempt: str, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        """Stage the inputs, the job script and its plan of attempt ``attempt``."""
        inputs, outputs = self.bind_data(context, hook, attempt, parameters)
        locations = {**inputs, **{n: posixpath.join(o["folder"], n) for n, o in outputs.items()}}
        for name, value in sorted(locations.items()):
            self.log.info("@@%s@@ = %s", name, value)
        script, plan = self.compile(parameters, locations)
        source = posixpath.join(attempt, "source")
        job, plan_file = posixpath.join(source, JOB_FILE.name), posixpath.join(source, PLAN_NAME)
        hook.dbfs_mkdirs(source)
        hook.dbfs_put_bytes(job, JOB_FILE.read_bytes())
        body = json.dumps(plan).encode()
        if len(body) > DBFS_BLOCK:
            raise StepFailedError(f"step {self.task_id!r}: the Spark plan of the script is over 1 MB")
        hook.dbfs_put_bytes(plan_file, body)
        self.log.info(
            "U-SQL script %s: %d Spark SQL statements staged at %s",
            plan["script"],
            len(plan["variants"]["dbfs"]["statements"]),
            dbfs_uri(plan_file),
        )
        return {
            "task": {"python_script_path": dbfs_uri(job)},
            "args": [fuse_path(plan_file)],
            "outputs": outputs,
            "script": script,
        }

    def _run_spec(self, plan: dict[str, Any], token: str) -> dict[str, Any]:
        settings = self.step["settings"]
        task = {
            "task_key": _task_key(self.step["name"]),
            "new_cluster": spark_cluster(settings),
            "spark_python_task": {
                "python_file": plan["task"]["python_script_path"],
                "parameters": plan["args"],
            },
        }
        return {"run_name": self.step["name"], "idempotency_token": token, "tasks": [task]}

    def _check_cluster(self, hook: DatabricksStepHook) -> None:
        """Nothing to check: the run has its own job cluster."""

    # --- complete --------------------------------------------------------------------------

    def complete(
        self, context: Any, event: dict[str, Any], plan: dict[str, Any], run: StepRun
    ) -> dict[str, Any]:
        try:
            return super().complete(context, event, plan, run)
        except StepFailedError as exc:
            name = self.step["settings"]["script_name"]
            raise StepFailedError(with_script_lines(str(exc), plan.get("script", ""), name)) from None


def with_script_lines(message: str, script: str, name: str) -> str:
    """``message`` and, when it names a line of script ``name`` (``<name> line N:``), the script
    around that line."""
    found = re.search(re.escape(name) + r" line (\d+):", message)
    lines = script.splitlines()
    if not found or not 1 <= int(found.group(1)) <= len(lines):
        return message
    number = int(found.group(1))
    out = [message, f"U-SQL line {number}:"]
    for n in range(max(1, number - SCRIPT_CONTEXT_LINES), min(len(lines), number + SCRIPT_CONTEXT_LINES) + 1):
        out.append(f"{'>' if n == number else ' '} {n:4d} | {lines[n - 1]}")
    return "\n".join(out)


__all__ = ["AdlaSparkStepOperator", "spark_cluster", "spark_locations", "spark_plan", "with_script_lines"]
