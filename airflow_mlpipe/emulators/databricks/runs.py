"""The records of submitted runs and their tasks, and how runs/get renders them.

A run (run_type SUBMIT_RUN) holds one TaskRun per task; both carry a Databricks state
(life_cycle_state, result_state, state_message) plus the 2.2 ``status`` derived from it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CommandBuilder = Callable[[Path, Path], list[str]]  # (run_dir, dbfs_root) -> argv
PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding airflow_mlpipe/
KILL_GRACE = 10.0  # seconds between SIGTERM and SIGKILL of a job's process group
LOG_TAIL = 5 * 1024 * 1024  # bytes of driver log get-output answers
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
TASK_TYPES = ("notebook_task", "spark_python_task", "spark_jar_task")
KINDS = {"notebook_task": "notebook", "spark_python_task": "python", "spark_jar_task": "jar"}
SETTINGS_ECHOED = (
    "depends_on",
    "existing_cluster_id",
    "new_cluster",
    "libraries",
    "timeout_seconds",
    "description",
)

# result state -> (termination code, termination type) of the 2.2 status object
TERMINATION = {
    "SUCCESS": ("SUCCESS", "SUCCESS"),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "TIMEDOUT": ("CANCELED", "CLIENT_ERROR"),
    "CANCELED": ("USER_CANCELED", "SUCCESS"),
    "UPSTREAM_FAILED": ("SKIPPED", "SUCCESS"),
    "UPSTREAM_CANCELED": ("SKIPPED", "SUCCESS"),
}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class State:
    """A Databricks run state, with the termination code when it ended."""

    life: str = "PENDING"
    result: str | None = None
    message: str = ""
    code: str | None = None  # termination code override (e.g. RESOURCE_NOT_FOUND)
    by_user_or_timeout: bool = False

    @property
    def terminal(self) -> bool:
        return self.life in TERMINAL

    def set(self, life: str, result: str | None = None, message: str = "", code: str | None = None) -> None:
        self.life, self.result, self.message, self.code = life, result, message, code
        if result in ("CANCELED", "TIMEDOUT"):
            self.by_user_or_timeout = True

    def to_json(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "life_cycle_state": self.life,
            "state_message": self.message,
            "user_cancelled_or_timedout": self.by_user_or_timeout,
        }
        if self.result:
            state["result_state"] = self.result
        return state

    def status(self) -> dict[str, Any]:
        """The 2.2 ``status`` object: {state, termination_details} once terminal."""
        if not self.terminal:
            return {"state": self.life}
        if self.life == "SKIPPED":
            code, kind = self.code or "SKIPPED", "CLIENT_ERROR"
        elif self.life == "INTERNAL_ERROR":
            code, kind = self.code or "INTERNAL_ERROR", "CLIENT_ERROR" if self.code else "INTERNAL_ERROR"
        else:
            code, kind = TERMINATION.get(self.result or "FAILED", ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"))
        return {
            "state": "TERMINATED",
            "termination_details": {"code": code, "type": kind, "message": self.message},
        }


@dataclass
class Timing:
    """Epoch milliseconds of the phases: start (submit), running, terminating, end."""

    start: int = field(default_factory=now_ms)
    running: int = 0
    terminating: int = 0
    end: int = 0

    def to_json(self) -> dict[str, Any]:
        now = now_ms()
        setup = (self.running or self.terminating or self.end or now) - self.start
        execution = ((self.terminating or self.end or now) - self.running) if self.running else 0
        cleanup = ((self.end or now) - self.terminating) if self.terminating else 0
        return {
            "start_time": self.start,
            "end_time": self.end,
            "setup_duration": max(setup, 0),
            "execution_duration": max(execution, 0),
            "cleanup_duration": max(cleanup, 0),
            "run_duration": (self.end or now) - self.start,
        }


@dataclass
class TaskRun:
    """One task of a run: its settings, its job process and what the process reported."""

    run_id: int
    task_key: str
    settings: dict[str, Any]  # the task as submitted (task type, cluster, libraries, ...)
    task_type: str
    depends_on: list[str]
    timeout: int
    state: State = field(default_factory=State)
    timing: Timing = field(default_factory=Timing)
    cluster_instance: dict[str, str] = field(default_factory=dict)
    run_dir: Path | None = None
    proc: subprocess.Popen | None = None
    started: float = 0.0  # time.monotonic() when the process started
    result: dict[str, Any] | None = None  # result.json of the job process

    @property
    def kind(self) -> str:
        return KINDS[self.task_type]


@dataclass
class Run:
    """A submitted run (runs/submit), legacy single-task form or tasks[] form."""

    run_id: int
    job_id: int
    run_name: str
    tasks: list[TaskRun]
    legacy: bool
    timeout: int
    idempotency_token: str | None
    state: State = field(default_factory=State)
    timing: Timing = field(default_factory=Timing)
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None  # "cancel" or "timeout" once the emulator stops it
    thread: threading.Thread | None = None

    def find_task(self, run_id: int) -> TaskRun | None:
        return next((t for t in self.tasks if t.run_id == run_id), None)


def page_url(base_url: str, job_id: int, run_id: int) -> str:
    """The run page link Databricks answers in run_page_url."""
    return f"{base_url}/?o=0#job/{job_id}/run/{run_id}"


def task_json(run: Run, task: TaskRun, base_url: str) -> dict[str, Any]:
    """A task as listed in runs/get ``tasks[]``."""
    out: dict[str, Any] = {
        "run_id": task.run_id,
        "task_key": task.task_key,
        task.task_type: task.settings[task.task_type],
        "state": task.state.to_json(),
        "status": task.state.status(),
        "attempt_number": 0,
        "run_page_url": page_url(base_url, run.job_id, task.run_id),
        **task.timing.to_json(),
    }
    for key in SETTINGS_ECHOED:
        if key in task.settings:
            out[key] = task.settings[key]
    if task.cluster_instance:
        out["cluster_instance"] = dict(task.cluster_instance)
    return out


def run_json(run: Run, base_url: str, *, with_tasks: bool = True) -> dict[str, Any]:
    """A run as runs/get answers it."""
    out: dict[str, Any] = {
        "job_id": run.job_id,
        "run_id": run.run_id,
        "number_in_job": run.run_id,
        "original_attempt_run_id": run.run_id,
        "creator_user_name": "emulator",
        "run_name": run.run_name,
        "run_type": "SUBMIT_RUN",
        "format": "SINGLE_TASK" if run.legacy else "MULTI_TASK",
        "state": run.state.to_json(),
        "status": run.state.status(),
        "run_page_url": page_url(base_url, run.job_id, run.run_id),
        "attempt_number": 0,
        **run.timing.to_json(),
    }
    if run.legacy and run.tasks:
        task = run.tasks[0]
        out[task.task_type] = task.settings[task.task_type]
        if task.cluster_instance:
            out["cluster_instance"] = dict(task.cluster_instance)
        for key in ("existing_cluster_id", "new_cluster", "libraries"):
            if key in task.settings:
                out.setdefault("cluster_spec", {})[key] = task.settings[key]
    else:
        # Databricks reports the durations of a multi-task run in run_duration only
        out.update(setup_duration=0, execution_duration=0, cleanup_duration=0)
    if with_tasks:
        out["tasks"] = [task_json(run, t, base_url) for t in run.tasks]
    return out


def task_as_run(run: Run, task: TaskRun, base_url: str) -> dict[str, Any]:
    """A task run fetched by its own id (runs/get or get-output metadata)."""
    out = task_json(run, task, base_url)
    out.update(
        job_id=run.job_id,
        run_name=run.run_name,
        run_type="SUBMIT_RUN",
        number_in_job=task.run_id,
        parent_run_id=run.run_id,
        original_attempt_run_id=task.run_id,
        creator_user_name="emulator",
    )
    out["tasks"] = [task_json(run, task, base_url)]
    return out


def task_outcome(task_key: str, result: dict[str, Any] | None, code: int) -> tuple[str, str, str]:
    """(life cycle, result, message) of a task whose process exited with ``code`` leaving ``result``."""
    if result is None:
        return (
            "INTERNAL_ERROR",
            "FAILED",
            f"The job process of task {task_key} exited with code {code} without writing its result; "
            "see the driver log (runs/get-output logs)",
        )
    if result.get("state") == "SUCCESS" and code == 0:
        return "TERMINATED", "SUCCESS", ""
    return "TERMINATED", "FAILED", "Workload failed, see run output for details"


def run_outcome(run: Run) -> tuple[str, str, str, str | None]:
    """(life cycle, result, message, termination code) of a run all of whose tasks ended."""
    states = [t.state for t in run.tasks]
    internal = next((s for s in states if s.life == "INTERNAL_ERROR"), None)
    if internal is not None:
        return "INTERNAL_ERROR", "FAILED", internal.message, internal.code
    failed = next((t for t in run.tasks if t.state.result != "SUCCESS"), None)
    if failed is None:
        return "TERMINATED", "SUCCESS", "", None
    result = "TIMEDOUT" if failed.state.result == "TIMEDOUT" else "FAILED"
    message = failed.state.message
    if not run.legacy and result == "FAILED":
        message = f"Task {failed.task_key} failed with message: {message}"
        if len(run.tasks) > 1:
            message += " This caused all downstream tasks to get skipped."
    return "TERMINATED", result, message, None


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_groups(procs: list[subprocess.Popen], grace: float = KILL_GRACE) -> None:
    """SIGTERM the job process groups, SIGKILL them after ``grace`` seconds, and reap the leaders.

    Every group gets a final SIGKILL too, so no child (a Spark JVM, a subprocess) outlives its job.
    """
    for proc in procs:
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
    for proc in procs:  # orphans of the group are reaped by init: wait until the group is empty
        give_up = time.monotonic() + 2.0
        while _group_alive(proc.pid) and time.monotonic() < give_up:
            time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def read_result(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tail(path: Path) -> tuple[str, bool]:
    """The last LOG_TAIL bytes of a log file, and whether it was cut."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            fh.seek(max(size - LOG_TAIL, 0))
            return fh.read().decode("utf-8", "replace"), size > LOG_TAIL
    except OSError:
        return "", False


def default_command() -> CommandBuilder:
    """runtime.command (the real job runtime), after checking process isolation works here."""
    from airflow_mlpipe.emulators.databricks import runtime

    runtime.check_isolation()
    return runtime.command


def launch(command: CommandBuilder, run_dir: Path, dbfs_root: Path, spec: dict[str, Any]) -> subprocess.Popen:
    """Write task.json and start the job process in its own process group, output to driver.log."""
    (run_dir / "task.json").write_text(json.dumps(spec, indent=1))
    env = {**os.environ, **spec["spark_env_vars"]}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    if spec["spark_version"]:
        env["DATABRICKS_RUNTIME_VERSION"] = ".".join(spec["spark_version"].split(".")[:2])
    argv = command(run_dir, dbfs_root)
    with (run_dir / "driver.log").open("wb") as driver_log:
        return subprocess.Popen(
            argv, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=driver_log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )  # fmt: skip
