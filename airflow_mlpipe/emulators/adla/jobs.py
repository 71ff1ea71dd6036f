"""The service's jobs: JobInformation records, one background thread per job, cancellation.

A job moves New -> Compiling -> Running -> Ended (result Succeeded, Failed or Cancelled), each step
in ``stateAuditRecords``. Its runner writes outputs to scratch files; they are moved into the data
root only when the job succeeds, so a cancelled or failed job leaves no partial output.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.adla import ApiError, JobFailure
from airflow_mlpipe.emulators.adla.paths import DataRoot, LocalRoot, store_path

log = logging.getLogger(__name__)

DEFAULT_PRIORITY = 1000
DEFAULT_RUNTIME = "default"


class JobCancelled(Exception):
    """Raised inside a runner (by ``JobContext.check``) once its job was cancelled."""


class JobContext:
    """What a runner gets besides the script: where each path is, and whether to stop."""

    def __init__(self, job_id: str, name: str, data: DataRoot, scratch: Path, on_running: Callable[[], None]):
        self.job_id, self.name, self.data, self.scratch = job_id, name, data, scratch
        self.cancelled = threading.Event()
        self.outputs: dict[str, Path] = {}  # store path -> scratch file
        self._on_running = on_running

    def input_path(self, script_path: str) -> Path:
        """The file a script's ``EXTRACT ... FROM`` path names; it must exist."""
        path = self.data.input_file(store_path(script_path), self.scratch)
        if path is None:
            raise JobFailure(
                "E_STORE_USER_FILENOTFOUND",
                f"input file not found: {script_path!r}",
                resolution="check the path; inputs are read from the account's default store",
            )
        return path

    def output_path(self, script_path: str) -> Path:
        """A scratch file for an ``OUTPUT ... TO`` path; moved into place if the job succeeds."""
        rel = store_path(script_path)
        scratch = self.scratch / "outputs" / rel
        scratch.parent.mkdir(parents=True, exist_ok=True)
        self.outputs[rel] = scratch
        return scratch

    def running(self) -> None:
        """The script compiled: the job is Running."""
        self.check()
        self._on_running()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled(self.job_id)


Runner = Callable[[str, JobContext], None]


def usql_runner(script: str, ctx: JobContext) -> None:
    """The default runner: the package's U-SQL engine, in-process on DuckDB."""
    from airflow_mlpipe.usql import compile_script

    program = compile_script(script, name=ctx.name)
    paths = {p: ctx.input_path(p) for p in program.inputs}
    paths.update({p: ctx.output_path(p) for p in program.outputs})
    ctx.running()
    program.run_duckdb({p: str(f) for p, f in paths.items()})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def check_job_id(job_id: str) -> str:
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        raise ApiError(
            400, "InvalidJobId", f"The job identity {job_id!r} is not a GUID; submit jobs under a new GUID"
        ) from None


def check_create(body: dict[str, Any]) -> dict[str, Any]:
    """The checked create-job body (CreateJobParameters of type USql)."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "InvalidParameter", "'name' (the job's friendly name) is required")
    if body.get("type") != "USql":
        raise ApiError(
            400,
            "InvalidJobType",
            f"job type {body.get('type')!r} is not supported; this service runs 'USql' jobs",
        )
    props = body.get("properties")
    if not isinstance(props, dict) or props.get("type") != "USql":
        raise ApiError(400, "InvalidParameter", "'properties' must be an object with type 'USql'")
    if not isinstance(props.get("script"), str) or not props["script"].strip():
        raise ApiError(400, "InvalidParameter", "'properties.script' (the U-SQL script) is required")
    dop = body.get("degreeOfParallelism", 1)
    if isinstance(dop, bool) or not isinstance(dop, int):
        raise ApiError(400, "InvalidParameter", f"'degreeOfParallelism' must be an integer, got {dop!r}")
    priority = body.get("priority", DEFAULT_PRIORITY)
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise ApiError(400, "InvalidParameter", f"'priority' must be an integer above 0, got {priority!r}")
    runtime = props.get("runtimeVersion") or DEFAULT_RUNTIME
    if not isinstance(runtime, str):
        raise ApiError(
            400, "InvalidParameter", f"'properties.runtimeVersion' must be a string, got {runtime!r}"
        )
    return {
        "name": name,
        "degreeOfParallelism": max(dop, 1),  # as ADLA: below 1 means 1
        "priority": priority,
        "properties": {**props, "runtimeVersion": runtime},
    }


class Jobs:
    """Every job the service was given (in memory), and the threads running them."""

    def __init__(self, data: DataRoot | Path, runner: Runner | None = None, submitter: str = "mlpipe"):
        self.data = LocalRoot(data) if isinstance(data, Path) else data
        self.runner = runner or usql_runner
        self.submitter = submitter
        self._jobs: dict[str, dict[str, Any]] = {}
        self._contexts: dict[str, JobContext] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._scratch = Path(tempfile.mkdtemp(prefix="mlpipe-adla-"))

    def create(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        job_id = check_job_id(job_id)
        given = check_create(body)
        with self._lock:
            if job_id in self._jobs:
                raise ApiError(409, "JobAlreadyExists", f"A job with identity {job_id} already exists")
            job = {
                "jobId": job_id,
                "name": given["name"],
                "type": "USql",
                "submitter": self.submitter,
                "degreeOfParallelism": given["degreeOfParallelism"],
                "priority": given["priority"],
                "submitTime": _now(),
                "startTime": None,
                "endTime": None,
                "state": "New",
                "result": "None",
                "errorMessage": [],
                "logFolder": None,
                "stateAuditRecords": [],
                "properties": given["properties"],
            }
            self._jobs[job_id] = job
            self._audit(job, "New")
            ctx = JobContext(
                job_id, job["name"], self.data, self._scratch / job_id, lambda: self._set(job_id, "Running")
            )
            self._contexts[job_id] = ctx
            thread = threading.Thread(
                target=self._run, args=(job_id, ctx), name=f"adla-job-{job_id[:8]}", daemon=True
            )
            self._threads[job_id] = thread
            self._set(job_id, "Compiling", locked=True)
            thread.start()
            return dict(job)

    def get(self, job_id: str) -> dict[str, Any]:
        job_id = check_job_id(job_id)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise ApiError(404, "JobNotFound", f"No job with identity {job_id} exists in this account")
            return {
                **job,
                "errorMessage": list(job["errorMessage"]),
                "stateAuditRecords": list(job["stateAuditRecords"]),
            }

    def list(self) -> dict[str, Any]:
        with self._lock:
            basic = [
                {k: v for k, v in j.items() if k not in ("properties", "errorMessage", "stateAuditRecords")}
                for j in self._jobs.values()
            ]
        return {"value": basic}

    def cancel(self, job_id: str) -> None:
        """Mark the job Cancelled now; its runner is told to stop and what it produces is dropped."""
        self.get(job_id)
        job_id = check_job_id(job_id)
        with self._lock:
            job = self._jobs[job_id]
            if job["state"] == "Ended":
                return  # ADLA answers 200 and leaves an ended job as it is
            self._contexts[job_id].cancelled.set()
            self._end(job, "Cancelled", requested_by=self.submitter)

    def shutdown(self) -> None:
        with self._lock:
            for job_id, ctx in self._contexts.items():
                if self._jobs[job_id]["state"] != "Ended":
                    ctx.cancelled.set()
                    self._end(self._jobs[job_id], "Cancelled", details="the service stopped")
        for thread in list(self._threads.values()):
            thread.join(5)
        shutil.rmtree(self._scratch, ignore_errors=True)

    # --- running ---------------------------------------------------------------------------

    def _run(self, job_id: str, ctx: JobContext) -> None:
        script = self._jobs[job_id]["properties"]["script"]
        error: dict[str, Any] | None = None
        try:
            ctx.check()
            self.runner(script, ctx)
            ctx.check()
        except JobCancelled:
            return
        except Exception as exc:  # the job's failure, as ADLA reports it
            error = error_details(exc)
            log.info("job %s failed: %s", job_id, error["message"])
        with self._lock:
            job = self._jobs[job_id]
            if job["state"] == "Ended":  # cancelled while it ran: its outputs are dropped
                shutil.rmtree(ctx.scratch, ignore_errors=True)
                return
            if error is None:
                try:
                    self.data.publish({r: f for r, f in ctx.outputs.items() if f.exists()}, ctx.scratch)
                except Exception as exc:  # any store error fails the job, as on ADLA
                    error = error_details(
                        JobFailure(
                            "E_STORE_SYSTEM_WRITE", f"could not store an output: {exc}", source="SYSTEM"
                        )
                    )
            if error is None:
                self._end(job, "Succeeded")
            else:
                job["errorMessage"] = [error]
                self._end(job, "Failed")
        shutil.rmtree(ctx.scratch, ignore_errors=True)

    def _set(self, job_id: str, state: str, locked: bool = False) -> None:
        if locked:
            self._set_unlocked(job_id, state)
            return
        with self._lock:
            self._set_unlocked(job_id, state)

    def _set_unlocked(self, job_id: str, state: str) -> None:
        job = self._jobs[job_id]
        if job["state"] == "Ended":
            return
        job["state"] = state
        if state == "Running" and job["startTime"] is None:
            job["startTime"] = _now()
        self._audit(job, state)

    def _end(
        self, job: dict[str, Any], result: str, requested_by: str | None = None, details: str | None = None
    ) -> None:
        job["state"], job["result"], job["endTime"] = "Ended", result, _now()
        self._audit(job, "Ended", requested_by, details or result)

    @staticmethod
    def _audit(
        job: dict[str, Any], state: str, requested_by: str | None = None, details: str | None = None
    ) -> None:
        record: dict[str, Any] = {"newState": state, "timeStamp": _now()}
        if requested_by:
            record["requestedByUser"] = requested_by
        if details:
            record["details"] = details
        job["stateAuditRecords"].append(record)


def error_details(exc: BaseException) -> dict[str, Any]:
    """One JobErrorDetails entry for a runner's exception: a JobFailure as given; a compile error
    (the engine's UsqlError, or anything with ``line``) with its script line; else a runtime error."""
    if isinstance(exc, JobFailure):
        entry: dict[str, Any] = {"errorId": exc.error_id, "message": exc.message, "source": exc.source}
        line = exc.line
        if exc.details:
            entry["details"] = exc.details
        if exc.resolution:
            entry["resolution"] = exc.resolution
    else:
        line = getattr(exc, "line", None) or getattr(exc, "lineno", None)
        compile_error = type(exc).__name__ == "UsqlError" or line is not None
        entry = {
            "errorId": "E_CSC_USER_USQLERROR" if compile_error else "E_RUNTIME_USER_ERROR",
            "message": str(exc) or type(exc).__name__,
            "source": "USER",
        }
        if not compile_error:
            entry["details"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    entry["severity"] = "Error"
    entry["description"] = entry["message"]
    if isinstance(line, int):
        entry["lineNumber"] = line
    return entry
