"""Pipeline: steps plus a workspace; ``to_dag()`` turns it into an Airflow DAG."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.datastore import Datastore
from airflow_mlpipe.definitions.steps import Step
from airflow_mlpipe.definitions.workspace import Workspace
from airflow_mlpipe.exceptions import PipelineValidationError, UserErrorException


class StepSequence:
    """Steps that run one after another (v1's StepSequence); an element may be a list of steps that
    run side by side, each after every step of the element before it."""

    def __init__(self, steps: list[Any] | None = None):
        if not steps:
            raise UserErrorException("StepSequence: steps must be a non-empty list of steps")
        self.groups = [list(g) if isinstance(g, (list, tuple)) else [g] for g in steps]
        for group in self.groups:
            for step in group:
                if not isinstance(step, Step):
                    raise UserErrorException(f"StepSequence: {step!r} is not a step")
        for before, after in zip(self.groups, self.groups[1:], strict=False):
            for step in after:
                for previous in before:
                    if previous not in step._run_after:
                        step.run_after(previous)

    @property
    def steps(self) -> list[Step]:
        return [s for g in self.groups for s in g]


class Pipeline:
    def __init__(
        self,
        workspace: Workspace,
        steps: list[Step],
        description: str | None = None,
        default_datastore: Datastore | None = None,
        default_source_directory: str | None = None,
        resolve_closure: bool = True,
        **kwargs: Any,
    ):
        if kwargs:
            raise UserErrorException(f"Pipeline: unsupported arguments {sorted(kwargs)}")
        if not isinstance(workspace, Workspace):
            raise UserErrorException(f"Pipeline: workspace must be a Workspace, got {workspace!r}")
        if isinstance(steps, Step):
            steps = [steps]
        if isinstance(steps, StepSequence):
            steps = steps.steps
        if not steps:
            raise UserErrorException("Pipeline: steps must be a non-empty list of steps")
        self._workspace = workspace
        self._steps = list(steps)
        self.description = description
        self._default_datastore = default_datastore
        self._default_source_directory = default_source_directory
        self._resolve_closure = resolve_closure

    @property
    def steps(self) -> list[Step]:
        if not self._resolve_closure:
            return list(self._steps)
        from airflow_mlpipe.spec import closure

        return closure(self._steps)

    def to_spec(self, check_files: bool = True) -> dict[str, Any]:
        """The pipeline as plain JSON (raises PipelineValidationError naming every problem)."""
        from airflow_mlpipe.spec import build_spec

        return build_spec(
            self.steps,
            self._workspace,
            description=self.description,
            default_datastore=self._default_datastore,
            default_source_directory=self._default_source_directory,
            check_files=check_files,
        )

    def validate(self) -> list[str]:
        """Problems that would stop this pipeline from running (empty when it is valid)."""
        try:
            self.to_spec()
        except PipelineValidationError as exc:
            for p in exc.problems:
                print(p)
            return exc.problems
        return []

    def to_dag(
        self, dag_id: str, schedule: Any = None, reuse_in_triggerer: str | None = None, **dag_kwargs: Any
    ) -> Any:
        """An Airflow DAG with one task per step (task id = step name). ``reuse_in_triggerer``
        (auto, on, off; default: ``[mlpipe] reuse_in_triggerer``) says where reused steps end
        (docs/reuse.md)."""
        from airflow_mlpipe.translator import build_dag

        return build_dag(
            self.to_spec(), dag_id, schedule=schedule, reuse_in_triggerer=reuse_in_triggerer, **dag_kwargs
        )

    def publish(
        self,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
    ) -> Any:
        """Publish this pipeline as an immutable PublishedPipeline (DAG ``published_<id>``)."""
        from airflow_mlpipe.client.published import publish_pipeline

        if name is None:
            raise UserErrorException("Pipeline.publish: give the published pipeline a name")
        return publish_pipeline(
            self._workspace, self, name, description or self.description, version, continue_on_step_failure
        )

    def plan(
        self,
        dag_id: str,
        pipeline_parameters: dict[str, Any] | None = None,
        regenerate_outputs: bool = False,
        force_rerun: list[str] | tuple[str, ...] = (),
    ) -> list[Any]:
        """Per step, whether a run of DAG ``dag_id`` would reuse a committed result or run, and
        why (which file, parameter, input or setting differs). Runs nothing."""
        from airflow_mlpipe.reuse.plan import plan_spec

        return plan_spec(self.to_spec(), dag_id, pipeline_parameters, regenerate_outputs, force_rerun)
