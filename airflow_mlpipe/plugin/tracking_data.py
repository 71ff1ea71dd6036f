"""What the tracking routes read: DAG runs, task instances and step results (the ``return_value``
XCom of each step, reuse/decide.RESULT_FORMAT) from Airflow's metadata database, and registry
entries for declared parameters and datastores. Only DB-stored XCom values are read (a custom
object-storage XCom backend stores references; not supported here).

Lists are filtered to the DAGs the caller may read before this module is asked (the routes pass
``dag_ids``); nothing here authorizes.
"""

from __future__ import annotations

import datetime
from typing import Any

from airflow_mlpipe.exceptions import MlpipeError
from airflow_mlpipe.operators.run_records import stored_files
from airflow_mlpipe.plugin import tracking_shapes as shapes
from airflow_mlpipe.plugin.dagbag import dag_bag
from airflow_mlpipe.registry.published import DAG_PREFIX as PUBLISHED_PREFIX
from airflow_mlpipe.registry.published import NotFoundError
from airflow_mlpipe.reuse.decide import RESULT_FORMAT, RUN_FILE_KINDS
from airflow_mlpipe.runstatus import STOPPED_KEY, run_status, task_status


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Reader:
    """One request's reads (one session; registry entries read once per DAG)."""

    def __init__(self, session: Any):
        self.session = session
        self._entries: dict[str, dict[str, Any] | None] = {}
        self._pipeline_dags: dict[str, bool] = {}

    # --- registry --------------------------------------------------------------------------

    def entry(self, dag_id: str) -> dict[str, Any] | None:
        """The registry entry (spec) of an experiment or published pipeline DAG, or None."""
        if dag_id not in self._entries:
            from airflow_mlpipe.registry import Registry

            try:
                self._entries[dag_id] = Registry().get(dag_id)
            except Exception:  # a DAG id that is no registry path: no entry
                self._entries[dag_id] = None
        return self._entries[dag_id]

    def is_pipeline(self, dag_ids: set[str]) -> set[str]:
        """Those of ``dag_ids`` that are pipelines: a registry entry, or a task run by a step operator."""
        from airflow.models import TaskInstance
        from sqlalchemy import select

        unknown = {d for d in dag_ids if d not in self._pipeline_dags}
        for d in list(unknown):
            if d.startswith((shapes.EXPERIMENT_PREFIX, PUBLISHED_PREFIX)) or self.entry(d) is not None:
                self._pipeline_dags[d] = True
                unknown.discard(d)
        if unknown:
            found = set(
                self.session.scalars(
                    select(TaskInstance.dag_id)
                    .where(TaskInstance.dag_id.in_(unknown), TaskInstance.operator.in_(shapes.STEP_OPERATORS))
                    .distinct()
                )
            )
            self._pipeline_dags.update({d: d in found for d in unknown})
        return {d for d in dag_ids if self._pipeline_dags[d]}

    def declared(self, dag_id: str) -> dict[str, Any] | None:
        entry = self.entry(dag_id)
        return ((entry or {}).get("spec") or {}).get("parameters")

    # --- runs ------------------------------------------------------------------------------

    def summary(self, run: Any, pipelines: set[str] | None = None) -> dict[str, Any]:
        """A RunSummary of a DagRun row."""
        if pipelines is None:
            pipelines = self.is_pipeline({run.dag_id})
        sub = shapes.submission(run.conf)
        return {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "experiment": shapes.experiment_of(run.dag_id, run.conf),
            "is_pipeline": run.dag_id in pipelines,
            "status": run_status(str(run.state) if run.state else None, run.note),
            "state": str(run.state) if run.state else None,
            "start_date": shapes.iso(run.start_date),
            "end_date": shapes.iso(run.end_date),
            "duration_s": shapes.duration_s(run.start_date, run.end_date, _now()),
            "parameters": shapes.run_parameters(run.conf, self.declared(run.dag_id)),
            "description": sub.get("description"),
            "tags": sub.get("tags") or {},
            "url": shapes.run_url(run.dag_id, run.run_id),
        }

    def summaries(self, runs: list[Any]) -> list[dict[str, Any]]:
        pipelines = self.is_pipeline({r.dag_id for r in runs})
        return [self.summary(r, pipelines) for r in runs]

    def runs(
        self, dag_ids: set[str], experiment: str | None, limit: int, offset: int
    ) -> tuple[list[Any], int]:
        """Runs of ``dag_ids`` (newest first), those of ``experiment`` only when given."""
        from airflow.models import DagRun
        from sqlalchemy import func, select

        newest = (DagRun.start_date.is_(None).desc(), DagRun.start_date.desc(), DagRun.id.desc())
        if experiment is None:
            where = DagRun.dag_id.in_(dag_ids)
            total = self.session.scalar(select(func.count()).select_from(DagRun).where(where)) or 0
            rows = self.session.scalars(
                select(DagRun).where(where).order_by(*newest).offset(offset).limit(limit)
            )
            return list(rows), total
        candidates = self.experiment_runs(dag_ids, experiment)
        return candidates[offset : offset + limit], len(candidates)

    def experiment_runs(self, dag_ids: set[str], experiment: str) -> list[Any]:
        """Runs of experiment ``experiment``: its DAG's and published ones submitted under it."""
        from airflow.models import DagRun
        from sqlalchemy import or_, select

        own = shapes.EXPERIMENT_PREFIX + experiment
        rows = self.session.scalars(
            select(DagRun)
            .where(
                DagRun.dag_id.in_(dag_ids),
                or_(DagRun.dag_id == own, DagRun.dag_id.startswith(PUBLISHED_PREFIX)),
            )
            .order_by(DagRun.start_date.is_(None).desc(), DagRun.start_date.desc(), DagRun.id.desc())
        )
        return [r for r in rows if shapes.experiment_of(r.dag_id, r.conf) == experiment]

    def experiments(self, dag_ids: set[str]) -> list[dict[str, Any]]:
        """Every experiment (name order): its DAGs, how many runs and the last run."""
        from airflow.models import DagModel, DagRun
        from sqlalchemy import or_, select

        found: dict[str, dict[str, Any]] = {}
        for dag_id in self.session.scalars(
            select(DagModel.dag_id).where(
                DagModel.dag_id.in_(dag_ids), DagModel.dag_id.startswith(shapes.EXPERIMENT_PREFIX)
            )
        ):
            name = dag_id[len(shapes.EXPERIMENT_PREFIX) :]
            found[name] = {"name": name, "dag_ids": [dag_id], "total_runs": 0, "last_run": None}
        rows = self.session.scalars(
            select(DagRun)
            .where(
                DagRun.dag_id.in_(dag_ids),
                or_(
                    DagRun.dag_id.startswith(shapes.EXPERIMENT_PREFIX),
                    DagRun.dag_id.startswith(PUBLISHED_PREFIX),
                ),
            )
            .order_by(DagRun.start_date.is_(None).desc(), DagRun.start_date.desc(), DagRun.id.desc())
        )
        for run in rows:
            name = shapes.experiment_of(run.dag_id, run.conf)
            if not name:
                continue
            item = found.setdefault(name, {"name": name, "dag_ids": [], "total_runs": 0, "last_run": None})
            if run.dag_id not in item["dag_ids"]:
                item["dag_ids"].append(run.dag_id)
            item["total_runs"] += 1
            if item["last_run"] is None:
                item["last_run"] = run
        return [found[n] for n in sorted(found)]

    def recent_runs(self, dag_ids: list[str], n: int = 5) -> list[Any]:
        from airflow.models import DagRun
        from sqlalchemy import select

        if not dag_ids:
            return []
        return list(
            self.session.scalars(
                select(DagRun)
                .where(DagRun.dag_id.in_(dag_ids))
                .order_by(DagRun.start_date.is_(None).desc(), DagRun.start_date.desc(), DagRun.id.desc())
                .limit(n)
            )
        )

    def next_run(self, dag_id: str) -> str | None:
        from airflow.models import DagModel

        dag = self.session.get(DagModel, dag_id)
        return shapes.iso(getattr(dag, "next_dagrun_create_after", None)) if dag is not None else None

    def dag_run(self, dag_id: str, run_id: str) -> Any:
        from airflow.models import DagModel, DagRun
        from sqlalchemy import select

        run = self.session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            if self.session.get(DagModel, dag_id) is None:
                raise NotFoundError(f"no DAG {dag_id!r}")
            raise NotFoundError(f"no run {run_id!r} of DAG {dag_id!r}")
        return run

    # --- steps -----------------------------------------------------------------------------

    def task_instances(self, run: Any) -> dict[str, Any]:
        """task id -> its task instance (a mapped task: its first)."""
        from airflow.models import TaskInstance
        from sqlalchemy import select

        tis = self.session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        )
        out: dict[str, Any] = {}
        for ti in tis:
            out.setdefault(ti.task_id, ti)
        return out

    def results(self, dag_id: str, run_ids: list[str], task_id: str | None = None) -> dict[str, dict]:
        """task id -> step result of one run (``run_ids[0]``); only this package's results."""
        return self.results_by_run(dag_id, run_ids, task_id).get(run_ids[0], {}) if run_ids else {}

    def results_by_run(
        self, dag_id: str, run_ids: list[str], task_id: str | None = None
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """run id -> task id -> step result, for runs of one DAG."""
        from airflow.models.xcom import XComModel
        from sqlalchemy import select

        query = select(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id.in_(run_ids),
            XComModel.key == "return_value",
            XComModel.map_index == -1,
        )
        if task_id is not None:
            query = query.where(XComModel.task_id == task_id)
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for x in self.session.scalars(query):
            try:
                value = XComModel.deserialize_value(x)
            except Exception:  # not ours (or not JSON): no step result
                continue
            if isinstance(value, dict) and value.get("format") == RESULT_FORMAT:
                out.setdefault(x.run_id, {})[x.task_id] = value
        return out

    def stopped(self, run: Any) -> set[str]:
        from airflow.models.xcom import XComModel

        return {
            x.task_id
            for x in self.session.scalars(
                XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, key=STOPPED_KEY)
            )
        }

    def dag_of(self, run: Any) -> Any:
        try:
            return dag_bag().get_dag_for_run(run, self.session)
        except Exception:  # no serialized version (a removed DAG): no graph
            return None

    def step(self, run: Any, task_id: str, ti: Any, result: dict | None, stopped: bool, task: Any) -> dict:
        """A StepNode."""
        operator = getattr(ti, "operator", None) or getattr(task, "task_type", None)
        state = str(ti.state) if ti is not None and ti.state else None
        origin = (result or {}).get("reused_from")
        return {
            "task_id": task_id,
            "name": (result or {}).get("step") or getattr(ti, "task_display_name", None) or task_id,
            "kind": shapes.step_kind(operator),
            "status": "Canceled" if stopped else task_status(state),
            "state": state,
            "start_date": shapes.iso(getattr(ti, "start_date", None)),
            "end_date": shapes.iso(getattr(ti, "end_date", None)),
            "duration_s": shapes.duration_s(
                getattr(ti, "start_date", None),
                getattr(ti, "end_date", None),
                _now() if state in ("running", "deferred") else None,
            ),
            "try_number": getattr(ti, "try_number", None),
            "reused": bool(origin),
            "reused_from": shapes.reused_link(origin),
            "reason": shapes.step_reason(result),
            "log_url": shapes.log_url(run.dag_id, run.run_id, task_id),
            "url": shapes.step_url(run.dag_id, run.run_id, task_id),
        }

    def run_detail(self, run: Any) -> dict[str, Any]:
        detail = self.summary(run)
        detail["airflow_url"] = shapes.airflow_run_url(run.dag_id, run.run_id)
        if not detail["is_pipeline"]:
            return {
                **detail,
                "steps": [],
                "edges": [],
                "pipeline_metrics": {},
                "message": f"DAG {run.dag_id!r} is not an airflow-mlpipe pipeline: no steps to track",
            }
        tis = self.task_instances(run)
        results = self.results(run.dag_id, [run.run_id])
        stopped = self.stopped(run)
        dag = self.dag_of(run)
        tasks = dict(getattr(dag, "task_dict", {}) or {})
        order = list(tasks) + sorted(t for t in tis if t not in tasks)
        detail["steps"] = [
            self.step(run, t, tis.get(t), results.get(t), t in stopped, tasks.get(t)) for t in order
        ]
        detail["edges"] = sorted(
            (up, t) for t, task in tasks.items() for up in getattr(task, "upstream_task_ids", ()) or ()
        )
        detail["pipeline_metrics"] = shapes.pipeline_metrics(results)
        detail["message"] = None
        return detail

    def step_detail(self, run: Any, task_id: str) -> dict[str, Any]:
        tis = self.task_instances(run)
        if task_id not in tis:
            raise NotFoundError(f"no step {task_id!r} in run {run.run_id!r} of DAG {run.dag_id!r}")
        result = self.results(run.dag_id, [run.run_id], task_id).get(task_id) or {}
        node = self.step(run, task_id, tis[task_id], result, task_id in self.stopped(run), None)
        scalars, tables, images = shapes.split_metrics(
            result.get("metrics") or {}, lambda name: shapes.file_url(run.dag_id, run.run_id, task_id, name)
        )
        outputs = [
            {
                "name": name,
                "datastore": loc.get("datastore"),
                "path": loc.get("path"),
                "files": loc.get("files") if isinstance(loc.get("files"), int) else None,
                "bytes": loc.get("bytes") if isinstance(loc.get("bytes"), int) else None,
                "download_url": shapes.output_url(run.dag_id, run.run_id, task_id, name),
            }
            for name, loc in sorted((result.get("outputs") or {}).items())
        ]
        parameters = result.get("parameters") or shapes.run_parameters(run.conf, self.declared(run.dag_id))
        return {
            **node,
            "parameters": parameters,
            "metrics": scalars,
            "tables": tables,
            "images": images,
            "tags": result.get("tags") or {},
            "outputs": outputs,
        }

    def result_of(self, run: Any, task_id: str) -> dict[str, Any]:
        if task_id not in self.task_instances(run):
            raise NotFoundError(f"no step {task_id!r} in run {run.run_id!r} of DAG {run.dag_id!r}")
        result = self.results(run.dag_id, [run.run_id], task_id).get(task_id)
        if result is None:
            raise NotFoundError(f"step {task_id!r} of run {run.run_id!r} has no stored result (yet)")
        return result

    # --- datastores ------------------------------------------------------------------------

    def store(self, dag_id: str, datastore: str) -> Any:
        """The datastore a result names: the pipeline's spec (registry), else the workspace config."""
        from airflow_mlpipe.storage import open_store

        spec = (((self.entry(dag_id) or {}).get("spec") or {}).get("datastores") or {}).get(datastore)
        try:
            if spec is None:
                from airflow_mlpipe.definitions.workspace import Workspace

                spec = Workspace.from_config().datastore_spec(datastore)
            return open_store(spec)
        except MlpipeError as exc:  # unknown or misconfigured here: the file cannot be found
            raise NotFoundError(
                f"datastore {datastore!r} of DAG {dag_id!r} cannot be opened here: {exc}"
            ) from None


def run_file(result: dict[str, Any], name: str) -> dict[str, str] | None:
    """Where run file ``name`` of a step result is stored ({"datastore", "path"}), or None."""
    for kind in RUN_FILE_KINDS:
        found = stored_files(result, kind).get(name)
        if found is not None:
            return found
    return None
