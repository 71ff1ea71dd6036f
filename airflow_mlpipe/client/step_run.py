"""StepRun: one step of a pipeline run (an Airflow task instance), Azure ML v1 style."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow_mlpipe.client.outputs import PortDataReference, StepRunOutput, output_of, outputs_of
from airflow_mlpipe.client.run_base import DRIVER_LOG, RunBase, stored_files

TERMINAL_STEP = ("Finished", "Failed", "Canceled")


class StepRun(RunBase):
    """A task instance of a pipeline's DAG run; ``id`` is ``<dag_id>/<dag_run_id>/<step>``."""

    def __init__(self, pipeline_run: Any, name: str, ti: dict[str, Any] | None = None):
        """``name`` is the step's name or its task id; ``ti`` the task instance, when listed."""
        from airflow_mlpipe.spec import task_id_for

        self.pipeline_run = pipeline_run
        self.task_id = ti["task_id"] if ti else task_id_for(name)
        self.name = (ti or {}).get("task_display_name") or name  # the step's v1 name
        self._ti_cache = ti
        self._result_cache: dict[str, Any] | None = None

    @property
    def workspace(self) -> Any:  # type: ignore[override]
        return self.pipeline_run.workspace

    @property
    def client(self) -> Any:  # type: ignore[override]
        return self.pipeline_run.client

    @property
    def id(self) -> str:  # type: ignore[override]
        return f"{self.pipeline_run.id}/{self.task_id}"

    @property
    def parent(self) -> Any:
        return self.pipeline_run

    @property
    def experiment(self) -> Any:
        return self.pipeline_run.experiment

    def __repr__(self) -> str:
        return f"StepRun(name={self.name!r}, id={self.id!r})"

    # --- Airflow's view ---------------------------------------------------------------------

    def _ti(self) -> dict[str, Any]:
        pr = self.pipeline_run
        ti = pr.client.request("GET", f"{pr._path()}/taskInstances/{quote(self.task_id, safe='')}")
        self._ti_cache = ti
        return ti

    def _result(self) -> dict[str, Any] | None:
        if self._result_cache is None:
            pr = self.pipeline_run
            self._result_cache = pr.client.xcom(pr.dag_id, pr.run_id, self.task_id)
        return self._result_cache

    def get_status(self) -> str:
        ti = self._ti()
        return self.pipeline_run._step_status(self.task_id, ti.get("state"))

    def _listed_status(self) -> str:
        """The status as of the listing this StepRun came from (no request when it has one)."""
        ti = self._ti_cache or self._ti()
        return self.pipeline_run._step_status(self.task_id, ti.get("state"))

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        metrics = dict((self._result() or {}).get("metrics") or {})
        return {name: metrics[name]} if name is not None and name in metrics else metrics

    def get_details(self) -> dict[str, Any]:
        ti, result = self._ti(), self._result() or {}
        status = self.pipeline_run._step_status(self.task_id, ti.get("state"))
        return {
            "runId": self.id,
            "target": (ti.get("pool") if ti.get("pool") != "default_pool" else None) or "local",
            "status": status,
            "startTimeUtc": ti.get("start_date"),
            "endTimeUtc": ti.get("end_date"),
            "tryNumber": ti.get("try_number"),
            "properties": self.get_properties(),
            "tags": self.get_tags(),
            "inputDatasets": [],
            "outputDatasets": [
                {"name": n, "datastore": loc["datastore"], "path": loc["path"]}
                for n, loc in (result.get("outputs") or {}).items()
            ],
            "reused_from": result.get("reused_from"),
            "outputs": result.get("outputs", {}),
            "logFiles": {DRIVER_LOG: DRIVER_LOG},
        }

    def get_details_with_logs(self) -> dict[str, Any]:
        details = self.get_details()
        details["logFiles"] = {DRIVER_LOG: self.get_job_log()}
        return details

    # --- logs -------------------------------------------------------------------------------

    def get_log_lines(self) -> list[str]:
        pr, ti = self.pipeline_run, self._ti()
        if not ti.get("try_number"):
            return []
        return pr.client.task_log(pr.dag_id, pr.run_id, self.task_id, ti["try_number"])

    def get_log(self) -> str:
        """The step's task log: its stdout, and stderr lines marked [stderr]."""
        return "\n".join(self.get_log_lines())

    get_job_log = get_log  # v1's name: the step's job (driver) log

    def get_stdout_log(self) -> str:
        return "\n".join(line for line in self.get_log_lines() if "[stderr]" not in line)

    def get_stderr_log(self) -> str:
        return "\n".join(
            line.split("[stderr] ", 1)[1] for line in self.get_log_lines() if "[stderr] " in line
        )

    # --- outputs ----------------------------------------------------------------------------

    def get_outputs(self) -> dict[str, StepRunOutput]:
        return outputs_of(self, self._result())

    def get_output(self, name: str) -> StepRunOutput:
        return output_of(self, self._result(), name)

    def get_output_data(self, name: str) -> PortDataReference:
        return self.get_output(name).get_port_data_reference()

    # --- RunBase hooks ----------------------------------------------------------------------

    def _meta_key(self) -> tuple[str, str, str | None]:
        return self.pipeline_run.dag_id, self.pipeline_run.run_id, self.task_id

    def _initial_tags(self) -> dict[str, str]:
        return dict((self._result() or {}).get("tags") or {})

    def _files(self) -> dict[str, Any]:
        files: dict[str, Any] = {DRIVER_LOG: self.get_log}
        files.update(stored_files(self._result()))
        return files
