"""Jobs API runs (2.1 and 2.2): submit, get, get-output, cancel, list, delete, and each run's life cycle.

Every run is driven by one thread: PENDING (cluster launch or start) -> RUNNING (one job process per
task, started in its own process group by the command builder of runtime.py) -> TERMINATING ->
TERMINATED. A task succeeds only if its process wrote result.json with state SUCCESS and exited 0.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.databricks import ApiError, Params, invalid, not_found
from airflow_mlpipe.emulators.databricks.clusters import Clusters
from airflow_mlpipe.emulators.databricks.dbfs import Dbfs
from airflow_mlpipe.emulators.databricks.runs import (
    KILL_GRACE,
    CommandBuilder,
    Run,
    TaskRun,
    default_command,
    kill_groups,
    launch,
    now_ms,
    read_result,
    run_json,
    run_outcome,
    tail,
    task_as_run,
    task_outcome,
)
from airflow_mlpipe.emulators.databricks.submit import TaskSetupError, parse_submit, run_timeout, task_spec
from airflow_mlpipe.emulators.databricks.workspace import Workspace

log = logging.getLogger(__name__)

LAUNCH_SECONDS = 0.5  # how long a new cluster takes to "launch"
POLL = 0.05
MULTI_TASK_OUTPUT = (
    "Retrieving the output of runs with multiple tasks is not supported. "
    "Please retrieve the output of each individual task run instead."
)


class Jobs:
    """The runs of this emulator (in memory) and the threads that drive them."""

    def __init__(
        self,
        root: Path,
        dbfs: Dbfs,
        workspace: Workspace,
        clusters: Clusters,
        command: CommandBuilder | None = None,
        kill_grace: float = KILL_GRACE,
    ) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.dbfs, self.workspace, self.clusters = dbfs, workspace, clusters
        self.command = command or default_command()
        self.kill_grace = kill_grace
        self.base_url = ""
        self._lock = threading.RLock()
        self._runs: dict[int, Run] = {}
        self._tasks: dict[int, Run] = {}  # task run id -> its run
        self._tokens: dict[str, int] = {}
        existing = [int(d.name) for d in self.runs_dir.iterdir() if d.name.isdigit()]
        self._next_id = max(existing, default=0) + 1  # never reuse a run folder of an earlier server
        self._next_job = 1

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _find(self, p: Params) -> tuple[Run, TaskRun | None]:
        run_id = p.integer("run_id", required=True)
        with self._lock:
            run = self._runs.get(run_id) or self._tasks.get(run_id)  # type: ignore[arg-type]
        if run is None:
            raise not_found(f"Run {run_id} does not exist.")
        return run, (None if run.run_id == run_id else run.find_task(run_id))  # type: ignore[arg-type]

    # --- API ----------------------------------------------------------------------------------

    def submit(self, p: Params) -> dict[str, Any]:
        """POST jobs/runs/submit: validate, register, and start the driving thread."""
        token = p.text("idempotency_token")
        if token and len(token) > 64:
            raise invalid("idempotency_token must be at most 64 characters")
        with self._lock:
            if token and token in self._tokens:
                return {"run_id": self._tokens[token]}
        tasks, legacy = parse_submit(p)
        timeout = run_timeout(p)
        with self._lock:
            if token and token in self._tokens:
                return {"run_id": self._tokens[token]}
            run_id = self._new_id()
            task_runs = [
                TaskRun(
                    run_id=self._new_id(),
                    task_key=t["task_key"],
                    settings=t,
                    task_type=t["task_type"],
                    depends_on=t["depends_on_keys"],
                    timeout=t["timeout"],
                )
                for t in tasks
            ]
            run = Run(
                run_id, self._next_job, p.text("run_name") or "Untitled", task_runs, legacy, timeout, token
            )
            run.state.set("PENDING", message=self._setup_message(task_runs))
            self._next_job += 1
            self._runs[run_id] = run
            for task in task_runs:
                self._tasks[task.run_id] = run
            if token:
                self._tokens[token] = run_id
            run.thread = threading.Thread(target=self._drive, args=(run,), name=f"run-{run_id}", daemon=True)
            run.thread.start()
        log.info("run %s submitted (%s task(s))", run_id, len(task_runs))
        return {"run_id": run_id}

    def get(self, p: Params) -> dict[str, Any]:
        """GET jobs/runs/get, for a run or for one task run."""
        run, task = self._find(p)
        with self._lock:
            return task_as_run(run, task, self.base_url) if task else run_json(run, self.base_url)

    def get_output(self, p: Params) -> dict[str, Any]:
        """GET jobs/runs/get-output: notebook result, driver log tail and error of one task run."""
        run, task = self._find(p)
        if task is None:
            if not run.legacy:
                raise invalid(MULTI_TASK_OUTPUT)
            task = run.tasks[0]
        with self._lock:
            out: dict[str, Any] = {"metadata": task_as_run(run, task, self.base_url)}
            if task.kind == "notebook":
                value = (task.result or {}).get("notebook_result")
                out["notebook_output"] = {} if value is None else {"result": str(value), "truncated": False}
            if task.run_dir is not None:
                out["logs"], out["logs_truncated"] = tail(task.run_dir / "driver.log")
            if task.state.terminal and task.state.result not in ("SUCCESS", "CANCELED", "TIMEDOUT"):
                result = task.result or {}
                out["error"] = result.get("error") or task.state.message
                if result.get("error_trace"):
                    out["error_trace"] = result["error_trace"]
        return out

    def cancel(self, p: Params) -> dict[str, Any]:
        """POST jobs/runs/cancel: asynchronous, like Databricks (the run ends CANCELED)."""
        run, _ = self._find(p)
        with self._lock:
            if not run.state.terminal and not run.cancel.is_set():
                run.reason = run.reason or "cancel"
                run.state.set("TERMINATING", message="Cancelling run")
                run.cancel.set()
        return {}

    def list(self, p: Params) -> dict[str, Any]:
        """GET jobs/runs/list, newest first."""
        offset = p.integer("offset", 0) or 0
        limit = p.integer("limit", 25) or 25
        if offset < 0 or not 1 <= limit <= 25:
            raise invalid(
                f"offset must be >= 0 and limit between 1 and 25, got offset={offset} limit={limit}"
            )
        active, completed = p.flag("active_only"), p.flag("completed_only")
        if active and completed:
            raise invalid("active_only and completed_only cannot both be true")
        job_id = p.integer("job_id")
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: r.run_id, reverse=True)
            runs = [
                r
                for r in runs
                if (not active or not r.state.terminal)
                and (not completed or r.state.terminal)
                and (job_id is None or r.job_id == job_id)
            ]
            page = runs[offset : offset + limit]
            out = [run_json(r, self.base_url, with_tasks=p.flag("expand_tasks")) for r in page]
        return {"runs": out, "has_more": offset + limit < len(runs)}

    def delete(self, p: Params) -> dict[str, Any]:
        """POST jobs/runs/delete: only a finished run may be deleted."""
        run, task = self._find(p)
        if task is not None:
            raise invalid(f"Run {task.run_id} is a task run; delete its parent run {run.run_id}")
        with self._lock:
            if not run.state.terminal:
                raise ApiError(400, "INVALID_STATE", f"Run {run.run_id} is still active; cancel it first")
            del self._runs[run.run_id]
            for t in run.tasks:
                self._tasks.pop(t.run_id, None)
            if run.idempotency_token:
                self._tokens.pop(run.idempotency_token, None)
        return {}

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel every active run and wait until their process groups are gone."""
        with self._lock:
            active = [r for r in self._runs.values() if not r.state.terminal]
            for run in active:
                run.reason = run.reason or "cancel"
                run.cancel.set()
        for run in active:
            if run.thread is not None:
                run.thread.join(timeout)

    # --- life cycle ---------------------------------------------------------------------------

    def _drive(self, run: Run) -> None:
        try:
            if self._setup(run):
                self._execute(run)
        except Exception as exc:  # the run must end even when the emulator itself fails
            log.exception("run %s failed inside the emulator", run.run_id)
            with self._lock:
                for task in run.tasks:
                    if task.proc is not None and task.proc.poll() is None:
                        kill_groups([task.proc], self.kill_grace)
                    if not task.state.terminal:
                        task.state.set(
                            "INTERNAL_ERROR", "FAILED", f"The emulator failed: {type(exc).__name__}: {exc}"
                        )
                        task.timing.end = now_ms()
                run.state.set("INTERNAL_ERROR", "FAILED", f"The emulator failed: {type(exc).__name__}: {exc}")
                run.timing.end = now_ms()

    def _setup_message(self, tasks: list[TaskRun]) -> str:
        """What a new run waits for first: a stopped cluster to start, or a new cluster to launch."""
        for task in tasks:
            cluster_id = task.settings.get("existing_cluster_id")
            if (
                cluster_id
                and self.clusters.exists(cluster_id)
                and self.clusters.state(cluster_id) != "RUNNING"
            ):
                return f"Waiting for cluster {cluster_id} to start"
        return "Launching cluster" if any(t.settings.get("new_cluster") for t in tasks) else ""

    def _stopped(self, run: Run) -> bool:
        return run.cancel.is_set() or bool(
            run.timeout and time.time() * 1000 - run.timing.start >= run.timeout * 1000
        )

    def _setup(self, run: Run) -> bool:
        """PENDING: check, start or launch the clusters; False if the run ended here."""
        existing = sorted(
            {t.settings["existing_cluster_id"] for t in run.tasks if t.settings.get("existing_cluster_id")}
        )
        for cluster_id in existing:
            if not self.clusters.exists(cluster_id):
                self._end(run, "SKIPPED", None, f"Cluster {cluster_id} does not exist", code="CLUSTER_ERROR")
                return False
            if self.clusters.state(cluster_id) == "TERMINATED":
                with self._lock:
                    run.state.set("PENDING", message=f"Waiting for cluster {cluster_id} to start")
                try:
                    self.clusters.start_cluster(cluster_id)
                except ApiError:
                    pass  # started meanwhile by someone else
            while self.clusters.state(cluster_id) != "RUNNING" and not self._stopped(run):
                run.cancel.wait(POLL)
        if any(t.settings.get("new_cluster") for t in run.tasks) and not self._stopped(run):
            with self._lock:
                run.state.set("PENDING", message="Launching cluster")
            run.cancel.wait(LAUNCH_SECONDS)
        if self._stopped(run):
            self._stop_all(run, [])
            return False
        with self._lock:
            run.state.set("RUNNING", message="In run")
            run.timing.running = now_ms()
        return True

    def _execute(self, run: Run) -> None:
        """RUNNING: start each task once its upstream tasks succeeded; watch timeouts and cancel."""
        by_key = {t.task_key: t for t in run.tasks}
        pending = list(run.tasks)
        running: list[TaskRun] = []
        while pending or running:
            if self._stopped(run):
                self._stop_all(run, running)
                return
            for task in list(running):
                code = task.proc.poll() if task.proc else None
                if code is not None:
                    self._collect(task, code)
                    running.remove(task)
                elif task.timeout and time.monotonic() - task.started >= task.timeout:
                    kill_groups([task.proc], self.kill_grace)  # type: ignore[list-item]
                    with self._lock:
                        task.state.set(
                            "TERMINATED",
                            "TIMEDOUT",
                            f"Task {task.task_key} timed out after {task.timeout} seconds",
                        )
                        task.timing.end = now_ms()
                    running.remove(task)
            for task in list(pending):
                upstream = [by_key[k] for k in task.depends_on]
                if any(u.state.terminal and u.state.result != "SUCCESS" for u in upstream):
                    with self._lock:
                        task.state.set("TERMINATED", "UPSTREAM_FAILED", "Upstream task(s) failed.")
                        task.timing.end = now_ms()
                    pending.remove(task)
                elif all(u.state.result == "SUCCESS" for u in upstream):
                    pending.remove(task)
                    if self._start(run, task):
                        running.append(task)
            if pending or running:
                run.cancel.wait(POLL)
        self._finish(run)

    def _cluster_for(self, task: TaskRun) -> dict[str, Any]:
        cluster_id = task.settings.get("existing_cluster_id")
        if cluster_id:
            task.cluster_instance = {"cluster_id": cluster_id, "spark_context_id": str(task.run_id)}
            return self.clusters.record(cluster_id)
        task.cluster_instance = {
            "cluster_id": time.strftime("%m%d-%H%M%S") + f"-job{task.run_id}",
            "spark_context_id": str(task.run_id),
        }
        return task.settings["new_cluster"]

    def _start(self, run: Run, task: TaskRun) -> bool:
        """Write task.json and start the job process; False if the task could not start."""
        run_dir = self.runs_dir / str(task.run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            task.run_dir = run_dir
            task.state.set("PENDING", message="Preparing task")
            task.timing.start = now_ms()
        try:
            cluster = self._cluster_for(task)
            spec = task_spec(
                task.settings, cluster, self.dbfs, self.workspace.root, task.run_id, self.root / "libs"
            )
            proc = launch(self.command, run_dir, self.dbfs.root, spec)
        except TaskSetupError as exc:
            self._fail_setup(task, exc.message, exc.code)
            return False
        except (OSError, RuntimeError, ImportError, ValueError) as exc:
            self._fail_setup(task, f"Could not start the job process: {type(exc).__name__}: {exc}", None)
            return False
        with self._lock:
            task.proc, task.started = proc, time.monotonic()
            task.state.set("RUNNING", message="In run")
            task.timing.running = now_ms()
        log.info(
            "run %s task %s (run %s) started as pid %s", run.run_id, task.task_key, task.run_id, proc.pid
        )
        return True

    def _fail_setup(self, task: TaskRun, message: str, code: str | None) -> None:
        log.warning("task run %s (%s) could not start: %s", task.run_id, task.task_key, message)
        with self._lock:
            task.state.set("INTERNAL_ERROR", "FAILED", message, code=code)
            task.timing.end = now_ms()

    def _collect(self, task: TaskRun, code: int) -> None:
        """A finished job process -> the task's state, from its result.json and exit code."""
        if task.proc is not None:
            kill_groups([task.proc], grace=0)  # whatever the job left running in its group
        result = read_result(task.run_dir / "result.json") if task.run_dir else None
        with self._lock:
            task.result = result
            task.timing.terminating = task.timing.end = now_ms()
            task.state.set(*task_outcome(task.task_key, result, code))

    def _stop_all(self, run: Run, running: list[TaskRun]) -> None:
        """Cancel or time out the run: kill every job process group, then end every task."""
        timed_out = not run.cancel.is_set()
        result = "TIMEDOUT" if timed_out else "CANCELED"
        message = f"Run timed out after {run.timeout} seconds" if timed_out else "Run cancelled."
        with self._lock:
            run.reason = "timeout" if timed_out else (run.reason or "cancel")
            run.state.set("TERMINATING", message=message)
            run.timing.terminating = now_ms()
        kill_groups([t.proc for t in running if t.proc is not None], self.kill_grace)
        with self._lock:
            for task in run.tasks:
                if not task.state.terminal:
                    task.state.set("TERMINATED", result, message)
                    task.timing.end = now_ms()
        self._end(run, "TERMINATED", result, message)

    def _finish(self, run: Run) -> None:
        """All tasks ended: the run's result is the worst of its tasks'."""
        life, result, message, code = run_outcome(run)
        self._end(run, life, result, message, code=code)

    def _end(self, run: Run, life: str, result: str | None, message: str, code: str | None = None) -> None:
        with self._lock:
            if not run.timing.terminating:
                run.timing.terminating = now_ms()
            run.state.set(life, result, message, code=code)
            if life == "SKIPPED":
                for task in run.tasks:
                    task.state.set("SKIPPED", None, message, code=code)
                    task.timing.end = now_ms()
            run.timing.end = now_ms()
        log.info("run %s ended: %s %s %s", run.run_id, life, result or "", message)
