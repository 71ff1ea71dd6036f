"""PythonScriptStepOperator: runs a PythonScriptStep's script as a subprocess on the worker."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from typing import Any

from airflow_mlpipe.definitions.environment import needs_container
from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.operators.base import StepOperator, StepRun, spec_from_step
from airflow_mlpipe.operators.broker import ModelRequests, StepBroker
from airflow_mlpipe.operators.run_records import read_metrics
from airflow_mlpipe.reuse.decide import registry_datastore

STDERR_TAIL_LINES = 40
STOP_POLL_SECONDS = 2.0  # how often a running script checks whether another step of its run failed
# Environment variables a step script never needs and must never see: Airflow's secrets.
_HIDDEN_ENV_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW_VAR_")
_HIDDEN_ENV_WORDS = ("SECRET", "FERNET", "PASSWORD", "TOKEN", "JWT", "SQL_ALCHEMY_CONN", "CONNECTION")


def script_environment(base: dict[str, str]) -> dict[str, str]:
    env = {}
    for key, value in base.items():
        if key.startswith(_HIDDEN_ENV_PREFIXES):
            continue
        if key.startswith("AIRFLOW__") and any(w in key for w in _HIDDEN_ENV_WORDS):
            continue
        env[key] = value
    return env


class PythonScriptStepOperator(StepOperator):
    """Run ``script_name`` from ``source_directory`` with the worker's Python.

    Built by the translator from a PythonScriptStep, or written by hand with the same keyword
    arguments as PythonScriptStep (``script_params`` stands for its ``params``, a name Airflow's
    operators already use)::

        PythonScriptStepOperator(task_id="train", script_name="train.py", source_directory="src",
                                 arguments=["--out", model], outputs=[model])
    """

    template_fields = ()
    _proc: subprocess.Popen[str] | None = None  # the running script, for on_kill

    def __init__(
        self,
        *,
        step: dict[str, Any] | None = None,
        pipeline: dict[str, Any] | None = None,
        script_name: str | None = None,
        source_directory: str | None = None,
        arguments: list[Any] | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        script_params: dict[str, Any] | None = None,
        compute_target: Any = None,
        allow_reuse: bool = True,
        version: str | None = None,
        **kwargs: Any,
    ):
        if step is None:
            if script_name is None:
                raise ValueError(
                    "PythonScriptStepOperator needs script_name (or a step spec from the translator)"
                )
            from airflow_mlpipe.definitions.steps import PythonScriptStep

            step, pipeline, extra = spec_from_step(
                PythonScriptStep,
                kwargs["task_id"],
                script_name=script_name,
                source_directory=source_directory,
                arguments=arguments,
                inputs=inputs,
                outputs=outputs,
                params=script_params,
                compute_target=compute_target,
                allow_reuse=allow_reuse,
                version=version,
            )
            for key, value in extra.items():
                kwargs.setdefault(key, value)
        elif pipeline is None:
            raise ValueError("PythonScriptStepOperator: a step spec needs its pipeline context")
        super().__init__(**kwargs)
        self.step = step
        self.pipeline = pipeline

    def run_step(self, context: Any, run: StepRun) -> None:
        settings = self.step["settings"]
        snapshot = run.workdir / "snapshot"
        source = self.source_folder(settings)
        shutil.copytree(source, snapshot, ignore=shutil.ignore_patterns("__pycache__", ".git", ".complete"))
        args = [self._argument(a, run) for a in self.step["arguments"]]
        metrics_file = run.workdir / "metrics.jsonl"
        run_context = self.run_context_doc(
            context,
            run.inputs,
            {name: str(path) for name, path in run.outputs.items()},
            run.parameters,
            {
                "metrics": str(metrics_file),
                "files": str(run.files_dirs["files"]),
                "parent_files": str(run.files_dirs["parent_files"]),
            },
        )
        (run.workdir / "run_context.json").write_text(json.dumps(run_context))
        step_env = {
            f"AML_PARAMETER_{name}": str(self.value_of(e, run)) for name, e in settings["params"].items()
        }
        for out in self.step["outputs"]:
            if "read_as" in self.pipeline["data"].get(out["name"], {}):
                # v1 gave an OutputFileDatasetConfig's local path in an env variable of its name
                step_env[out["name"]] = str(run.outputs[out["name"]])
        environment = settings.get("environment")
        if environment is not None:
            step_env.update(environment.get("environment_variables") or {})
        check_runconfig_params(self.task_id, settings.get("runconfig_params") or {}, run, self.value_of)
        step_env["MLPIPE_RUN_CONTEXT"] = str(run.workdir / "run_context.json")
        step_env["PYTHONUNBUFFERED"] = "1"
        # the script reaches the model registry through this operator (it has no datastore secrets)
        models = ModelRequests(
            lambda: self.datastore_store(registry_datastore(self.pipeline), "the model registry"),
            run_id=run_context["run_id"],
            experiment_name=run_context["experiment"],
            cwd=snapshot,
            files_dir=run.files_dirs["files"],
        )
        with StepBroker(models.handlers(), self.log) as broker_env:
            step_env.update(broker_env)
            if environment is not None and needs_container(environment):
                from airflow_mlpipe.operators.container_run import run_in_container

                rc, tail, failed = run_in_container(
                    self, context, environment, [settings["script_name"], *args], snapshot, step_env
                )
            else:
                python = worker_python(environment)
                cmd = [
                    sys.executable,
                    "-m",
                    "airflow_mlpipe._launch",
                    python,
                    "-u",
                    settings["script_name"],
                    *args,
                ]
                self.log.info("running %s in a copy of %s", " ".join(cmd[5:]), source)
                env = {
                    **script_environment(dict(os.environ)),
                    **step_env,
                    "MLPIPE_PARENT_PID": str(os.getpid()),
                }
                rc, tail, failed = self._run(cmd, snapshot, env, lambda: self.failed_siblings(context))
        if failed:  # another step failed while this one ran: it was stopped
            self.stop(context, failed)
        for folder in ("outputs", "logs"):  # v1 kept what a script wrote to ./outputs and ./logs
            if (snapshot / folder).is_dir():
                shutil.copytree(snapshot / folder, run.files_dirs["files"] / folder, dirs_exist_ok=True)
        run.metrics, run.parent_metrics, run.tags, run.parent_tags = read_metrics(metrics_file)
        for name, value in run.tags.items():
            self.log.info("tag %s = %s", name, value)
        for name, value in run.metrics.items():
            self.log.info("metric %s = %s", name, value)
        for name, value in run.parent_metrics.items():
            self.log.info("pipeline metric %s = %s", name, value)
        if rc != 0:
            lines = "\n".join(tail) or "(no output on stderr)"
            raise StepFailedError(
                f"step {self.task_id!r}: {settings['script_name']} exited with code {rc}; last lines of stderr:\n{lines}"
            )

    def _argument(self, encoded: dict[str, Any], run: StepRun) -> str:
        if "input" in encoded:
            return run.inputs[encoded["input"]]["path"]
        if "output" in encoded:
            folder = run.outputs[encoded["output"]]
            if not self.pipeline["data"][encoded["output"]].get("is_directory", True):
                return str(folder / encoded["output"])  # a single-file output: the script writes this file
            return str(folder)
        value = self.value_of(encoded, run)
        return str(value)

    def _run(
        self, cmd: list[str], cwd: Any, env: dict[str, str], failed_siblings: Any = None
    ) -> tuple[int, list[str], list[str]]:
        """Run the script, streaming its output to the log; stop it when ``failed_siblings()``
        names a failed step. Returns its exit code, the tail of its stderr and those steps."""
        tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # its own process group: on_kill and timeouts stop all of it
        )
        self._proc = proc

        def pump_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                line = line.rstrip("\n")
                tail.append(line)
                self.log.info("[stderr] %s", line)

        reader = threading.Thread(target=pump_stderr, daemon=True)
        reader.start()
        done = threading.Event()
        stopped_by: list[str] = []

        def watch() -> None:
            while failed_siblings is not None and not done.wait(STOP_POLL_SECONDS):
                failed = failed_siblings()
                if failed:
                    self.log.info("step(s) %s failed: stopping the script", ", ".join(failed))
                    stopped_by.extend(failed)
                    self._kill(proc)
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.log.info("%s", line.rstrip("\n"))
            rc = proc.wait()
            reader.join(timeout=10)
        finally:
            done.set()
            if proc.poll() is None:  # killed or timed out while the script ran
                self._kill(proc)
            self._proc = None
        watcher.join(timeout=30)
        return rc, list(tail), stopped_by

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass

    def on_kill(self) -> None:
        hook = getattr(self, "_container_hook", None)
        if hook is not None:
            self.log.info("stopping the step's container")
            hook.kill()
        if self._proc is not None and self._proc.poll() is None:
            self.log.info("stopping the step script (process group %s)", self._proc.pid)
            self._kill(self._proc)


def worker_python(environment: dict[str, Any] | None) -> str:
    """The interpreter a step runs with on the worker: the worker's own, or a user-managed
    environment's ``interpreter_path``."""
    path = ((environment or {}).get("python") or {}).get("interpreter_path") or "python"
    if path in ("python", "python3"):
        return sys.executable
    found = shutil.which(path)
    if found is None:
        raise StepFailedError(f"the environment's interpreter_path {path!r} is not on this worker")
    return found


def check_runconfig_params(step: str, encoded: dict[str, Any], run: StepRun, value_of: Any) -> None:
    """runconfig_pipeline_params (NodeCount, MpiProcessCountPerNode) must come to 1: one node, one process."""
    for key, value in encoded.items():
        got = value_of(value, run)
        if got != 1:
            raise StepFailedError(
                f"step {step!r}: runconfig_pipeline_params[{key!r}] is {got!r} for this run; a step runs "
                "as one process on one worker here, so it must be 1"
            )
