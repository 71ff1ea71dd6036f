"""A finished step's stored outputs, under Azure ML v1's names (StepRunOutput, PortDataReference)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException


class PortDataReference:
    """Data a step stored on a datastore; ``download`` puts it under ``local_path/path_on_datastore``
    as v1 did, and it can be an input of a later pipeline (a DataReference to the same path)."""

    def __init__(self, workspace: Any, name: str, location: dict[str, Any], step_run: Any = None):
        self.workspace = workspace
        self.data_reference_name = name
        self.name = name
        self._location = dict(location)
        self.datastore_name: str = location["datastore"]
        self.path_on_datastore: str = location["path"]
        self.step_run = step_run

    @property
    def datastore(self) -> Any:
        from airflow_mlpipe.definitions.datastore import Datastore

        return Datastore.get(self.workspace, self.datastore_name)

    def download(
        self,
        local_path: str | os.PathLike[str],
        overwrite: bool | None = None,
        show_progress: bool | None = None,
    ) -> int:
        """Download every file of this output; returns how many (v1's ``Datastore.download``)."""
        target = Path(local_path) / self.path_on_datastore
        existing = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else []
        if existing and not overwrite:
            raise UserErrorException(
                f"output {self.name!r}: {target} already holds {len(existing)} file(s); pass overwrite=True"
            )
        files = (
            self.datastore.store.download(self.path_on_datastore, target)
            if self._location.get("files")
            else []
        )
        if show_progress is not False:
            print(f"Downloaded {len(files)} file(s) of output {self.name} to {target}")
        return len(files)

    def as_input(self, input_name: str | None = None) -> Any:
        """This output as a DataReference, to feed a later pipeline."""
        from airflow_mlpipe.definitions.datastore import DataReference

        return DataReference(
            self.datastore,
            data_reference_name=input_name or self.name,
            path_on_datastore=self.path_on_datastore,
        )

    def __repr__(self) -> str:
        return (
            f"PortDataReference(name={self.name!r}, datastore_name={self.datastore_name!r}, "
            f"path_on_datastore={self.path_on_datastore!r})"
        )


class StepRunOutput:
    """One named output of a step run (v1's ``StepRun.get_output(name)``)."""

    def __init__(self, step_run: Any, name: str, location: dict[str, Any]):
        self.step_run = step_run
        self.name = name
        self._location = dict(location)

    @property
    def port_data_reference(self) -> PortDataReference:
        return self.get_port_data_reference()

    def get_port_data_reference(self) -> PortDataReference:
        return PortDataReference(
            self.step_run.pipeline_run.workspace, self.name, self._location, self.step_run
        )

    def __repr__(self) -> str:
        return f"StepRunOutput(step={self.step_run.name!r}, name={self.name!r})"


def outputs_of(step_run: Any, result: dict[str, Any] | None) -> dict[str, StepRunOutput]:
    """The stored outputs in a step's XCom result, by name."""
    stored = (result or {}).get("outputs") or {}
    return {name: StepRunOutput(step_run, name, loc) for name, loc in stored.items()}


def output_of(step_run: Any, result: dict[str, Any] | None, name: str) -> StepRunOutput:
    found = outputs_of(step_run, result)
    if name not in found:
        raise UserErrorException(
            f"step {step_run.name!r} has no stored output {name!r}; it has {sorted(found)}"
        )
    return found[name]
