"""PipelineEndpoint: a fixed REST endpoint in front of versioned published pipelines, Azure ML v1 style.

Versions are "0", "1", ...; runs go through the endpoint's REST route in Airflow's API server,
the same one other systems call (see client/published.py and docs/published.md).
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.client.pipeline_run import PipelineRun
from airflow_mlpipe.client.published import PublishedPipeline, _post_run, _registry, _RegistryObject
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import endpoint_submit_url


class PipelineVersion:
    """One version of a pipeline endpoint (Azure ML's ``PipelineIdVersion``)."""

    def __init__(self, version: str, pipeline_id: str, workspace: Any = None):
        self.version = version
        self.pipeline_id = pipeline_id
        self._workspace = workspace

    @property
    def pipeline(self) -> PublishedPipeline:
        """The published pipeline behind this version."""
        return PublishedPipeline.get(self._workspace, self.pipeline_id)

    def __repr__(self) -> str:
        return f"PipelineVersion(version={self.version!r}, pipeline_id={self.pipeline_id!r})"


class PipelineEndpoint(_RegistryObject):
    """A fixed REST endpoint in front of versioned published pipelines ("0", "1", ...)."""

    @property
    def default_version(self) -> str:
        return self._record["default_version"]

    @property
    def pipeline_version_list(self) -> list[PipelineVersion]:
        return self.list_versions()

    @property
    def endpoint(self) -> str:
        return endpoint_submit_url(self.client.url, self.id)

    def __repr__(self) -> str:
        return (
            f"PipelineEndpoint(name={self.name!r}, id={self.id!r}, default_version={self.default_version!r}, "
            f"status={self.status!r})"
        )

    # --- create and find ----------------------------------------------------------------------

    @staticmethod
    def publish(workspace: Any, name: str, description: str | None, pipeline: Any, **kwargs: Any):
        """A new endpoint whose version "0" is ``pipeline`` (a Pipeline is published first)."""
        if kwargs:
            raise UserErrorException(f"PipelineEndpoint.publish: unsupported arguments {sorted(kwargs)}")
        registry = _registry(workspace)
        registry.check_name_free(name)  # before a Pipeline is published for nothing
        published = _as_published(workspace, pipeline, name, description)
        return PipelineEndpoint(workspace, registry.create_endpoint(name, description, published.id))

    @staticmethod
    def get(workspace: Any, id: str | None = None, name: str | None = None) -> PipelineEndpoint:
        return PipelineEndpoint(workspace, _registry(workspace).get_endpoint(id, name))

    @staticmethod
    def list(workspace: Any, active_only: bool = True) -> list[PipelineEndpoint]:
        return [PipelineEndpoint(workspace, r) for r in _registry(workspace).list_endpoints(active_only)]

    get_all = list  # Azure ML v1's name

    # --- versions -----------------------------------------------------------------------------

    def _update(self, **change: Any) -> None:
        self._record = _registry(self.workspace).update_endpoint(self.id, **change)

    def add(self, pipeline: Any) -> None:
        """Add a published pipeline as the next version (the default stays)."""
        self._update(add_pipeline=_as_published(self.workspace, pipeline, self.name, self.description).id)

    def add_default(self, pipeline: Any) -> None:
        """Add a published pipeline as the next version and make it the default."""
        published = _as_published(self.workspace, pipeline, self.name, self.description)
        self._update(add_pipeline=published.id, make_default=True)

    def get_default_version(self) -> str:
        return self.default_version

    def set_default_version(self, version: str | int) -> None:
        self._update(default_version=str(version))

    def set_default(self, pipeline: PublishedPipeline) -> None:
        if not isinstance(pipeline, PublishedPipeline):
            raise UserErrorException(f"set_default needs a PublishedPipeline, got {pipeline!r}")
        self._update(default_pipeline=pipeline.id)

    def set_name(self, name: str) -> None:
        self._update(name=name)

    def get_pipeline(self, version: str | int | None = None) -> PublishedPipeline:
        registry = _registry(self.workspace)
        entry = registry.endpoint_version(self._record, None if version is None else str(version))
        return PublishedPipeline(self.workspace, registry.get_pipeline(entry["pipeline_id"]))

    def list_versions(self) -> list[PipelineVersion]:
        return [
            PipelineVersion(v["version"], v["pipeline_id"], self.workspace) for v in self._record["versions"]
        ]

    def list_pipelines(self, active_only: bool = True) -> list[PublishedPipeline]:
        registry = _registry(self.workspace)
        out = [
            PublishedPipeline(self.workspace, registry.get_pipeline(v.pipeline_id))
            for v in self.list_versions()
        ]
        return [p for p in out if p.status == "Active"] if active_only else out

    def refresh(self) -> PipelineEndpoint:
        self._record = _registry(self.workspace).get_endpoint(self.id)
        return self

    # --- runs and status ----------------------------------------------------------------------

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        pipeline_version: str | int | None = None,
        regenerate_outputs: bool = False,
        force_rerun_steps: list[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> PipelineRun:
        """Run the default version, or ``pipeline_version``, through the endpoint's REST route."""
        version = None if pipeline_version is None else str(pipeline_version)
        record = self.get_pipeline(version)._record
        return _post_run(
            self.workspace,
            self.client,
            endpoint_submit_url("", self.id),
            record,
            experiment_name,
            pipeline_parameters,
            regenerate_outputs,
            force_rerun_steps,
            params={"pipelineVersion": version} if version is not None else None,
            tags=tags,
        )

    def enable(self) -> None:
        self._update(status="Active")

    def disable(self) -> None:
        self._update(status="Disabled")

    def archive(self) -> None:
        """Refuse runs for good and release the name; ``reactivate(name)`` brings it back."""
        self._update(status="Archived")

    def reactivate(self, name: str) -> None:
        self._update(status="Active", name=name)


def _as_published(workspace: Any, pipeline: Any, name: str, description: str | None) -> PublishedPipeline:
    if isinstance(pipeline, PublishedPipeline):
        return pipeline
    from airflow_mlpipe.definitions.pipeline import Pipeline

    if isinstance(pipeline, Pipeline):
        return pipeline.publish(name=name, description=description)
    raise UserErrorException(f"expected a Pipeline or a PublishedPipeline, got {pipeline!r}")
