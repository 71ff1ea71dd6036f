"""airflow-mlpipe: Azure Machine Learning SDK v1 style pipelines on Apache Airflow 3.

The public names (Azure ML v1's) are imported lazily: Airflow's provider discovery imports this
package early and every DAG file pays for what it imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # definitions
    "Workspace": "airflow_mlpipe.definitions.workspace",
    "Datastore": "airflow_mlpipe.definitions.datastore",
    "DataReference": "airflow_mlpipe.definitions.datastore",
    "DataPath": "airflow_mlpipe.definitions.datastore",
    "DataPathComputeBinding": "airflow_mlpipe.definitions.datastore",
    "Dataset": "airflow_mlpipe.definitions.registered",
    "FileDataset": "airflow_mlpipe.definitions.dataset",
    "TabularDataset": "airflow_mlpipe.definitions.tabular",
    "DatasetConsumptionConfig": "airflow_mlpipe.definitions.dataset",
    "PipelineData": "airflow_mlpipe.definitions.pipeline_data",
    "OutputFileDatasetConfig": "airflow_mlpipe.definitions.output_dataset",
    "OutputTabularDatasetConfig": "airflow_mlpipe.definitions.output_dataset",
    "PipelineParameter": "airflow_mlpipe.definitions.parameter",
    "ComputeTarget": "airflow_mlpipe.definitions.compute",
    "AmlCompute": "airflow_mlpipe.definitions.compute",
    "PythonScriptStep": "airflow_mlpipe.definitions.steps",
    "DatabricksStep": "airflow_mlpipe.definitions.databricks",
    "MavenLibrary": "airflow_mlpipe.definitions.databricks",
    "PyPiLibrary": "airflow_mlpipe.definitions.databricks",
    "EggLibrary": "airflow_mlpipe.definitions.databricks",
    "JarLibrary": "airflow_mlpipe.definitions.databricks",
    "RCranLibrary": "airflow_mlpipe.definitions.databricks",
    "DatabricksCompute": "airflow_mlpipe.definitions.databricks_compute",
    "AdlaStep": "airflow_mlpipe.definitions.adla",
    "AdlaCompute": "airflow_mlpipe.definitions.adla_compute",
    "DataFactoryCompute": "airflow_mlpipe.definitions.datafactory_compute",
    "DataTransferStep": "airflow_mlpipe.definitions.transfer",
    "SqlDataReference": "airflow_mlpipe.definitions.sql_reference",
    "StoredProcedureParameter": "airflow_mlpipe.definitions.sql_reference",
    "StoredProcedureParameterType": "airflow_mlpipe.definitions.sql_reference",
    "Pipeline": "airflow_mlpipe.definitions.pipeline",
    "StepSequence": "airflow_mlpipe.definitions.pipeline",
    "Model": "airflow_mlpipe.definitions.model",
    # step environments and run configurations
    "Environment": "airflow_mlpipe.definitions.environment",
    "PythonSection": "airflow_mlpipe.definitions.environment",
    "DockerSection": "airflow_mlpipe.definitions.environment",
    "CondaDependencies": "airflow_mlpipe.definitions.conda",
    "RunConfiguration": "airflow_mlpipe.definitions.runconfig",
    "DockerConfiguration": "airflow_mlpipe.definitions.runconfig",
    "DEFAULT_CPU_IMAGE": "airflow_mlpipe.definitions.runconfig",
    "DEFAULT_GPU_IMAGE": "airflow_mlpipe.definitions.runconfig",
    # submitting and following runs
    "Experiment": "airflow_mlpipe.client.run",
    "PipelineRun": "airflow_mlpipe.client.pipeline_run",
    "StepRun": "airflow_mlpipe.client.step_run",
    "get_run": "airflow_mlpipe.client.pipeline_run",
    "StepRunOutput": "airflow_mlpipe.client.outputs",
    "PortDataReference": "airflow_mlpipe.client.outputs",
    "PublishedPipeline": "airflow_mlpipe.client.published",
    "PipelineEndpoint": "airflow_mlpipe.client.endpoints",
    "PipelineVersion": "airflow_mlpipe.client.endpoints",
    "Schedule": "airflow_mlpipe.client.schedules",
    "ScheduleRecurrence": "airflow_mlpipe.definitions.schedule",
    "TimeZone": "airflow_mlpipe.definitions.schedule",
    "RunDetails": "airflow_mlpipe.client.widgets",
    # credentials of the workspace's Airflow deployment
    "AbstractAuthentication": "airflow_mlpipe.client.auth",
    "InteractiveLoginAuthentication": "airflow_mlpipe.client.auth",
    "ServicePrincipalAuthentication": "airflow_mlpipe.client.auth",
    "AzureCliAuthentication": "airflow_mlpipe.client.auth",
    "MsiAuthentication": "airflow_mlpipe.client.auth",
    # run context for step scripts
    "Run": "airflow_mlpipe.run",
    # errors
    "AzureMLException": "airflow_mlpipe.exceptions",
    "ActivityFailedException": "airflow_mlpipe.exceptions",
    "AuthenticationException": "airflow_mlpipe.exceptions",
    "ComputeTargetException": "airflow_mlpipe.exceptions",
    "PipelineValidationError": "airflow_mlpipe.exceptions",
    "UserErrorException": "airflow_mlpipe.exceptions",
    "DatastoreError": "airflow_mlpipe.exceptions",
    "StepFailedError": "airflow_mlpipe.exceptions",
    "ModelNotFoundException": "airflow_mlpipe.storage.models",
    "ModelPathNotFoundException": "airflow_mlpipe.storage.models",
    # the Airflow operator, for hand-written DAGs
    "PythonScriptStepOperator": "airflow_mlpipe.operators.python_script",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'airflow_mlpipe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover
    from airflow_mlpipe.client.auth import (
        AbstractAuthentication,
        AzureCliAuthentication,
        InteractiveLoginAuthentication,
        MsiAuthentication,
        ServicePrincipalAuthentication,
    )
    from airflow_mlpipe.client.endpoints import PipelineEndpoint, PipelineVersion
    from airflow_mlpipe.client.outputs import PortDataReference, StepRunOutput
    from airflow_mlpipe.client.pipeline_run import PipelineRun, get_run
    from airflow_mlpipe.client.published import PublishedPipeline
    from airflow_mlpipe.client.run import Experiment
    from airflow_mlpipe.client.schedules import Schedule
    from airflow_mlpipe.client.step_run import StepRun
    from airflow_mlpipe.client.widgets import RunDetails
    from airflow_mlpipe.definitions.adla import AdlaStep
    from airflow_mlpipe.definitions.adla_compute import AdlaCompute
    from airflow_mlpipe.definitions.compute import AmlCompute, ComputeTarget
    from airflow_mlpipe.definitions.conda import CondaDependencies
    from airflow_mlpipe.definitions.databricks import (
        DatabricksStep,
        EggLibrary,
        JarLibrary,
        MavenLibrary,
        PyPiLibrary,
        RCranLibrary,
    )
    from airflow_mlpipe.definitions.databricks_compute import DatabricksCompute
    from airflow_mlpipe.definitions.datafactory_compute import DataFactoryCompute
    from airflow_mlpipe.definitions.dataset import DatasetConsumptionConfig, FileDataset
    from airflow_mlpipe.definitions.datastore import (
        DataPath,
        DataPathComputeBinding,
        DataReference,
        Datastore,
    )
    from airflow_mlpipe.definitions.environment import DockerSection, Environment, PythonSection
    from airflow_mlpipe.definitions.model import Model
    from airflow_mlpipe.definitions.output_dataset import OutputFileDatasetConfig, OutputTabularDatasetConfig
    from airflow_mlpipe.definitions.parameter import PipelineParameter
    from airflow_mlpipe.definitions.pipeline import Pipeline, StepSequence
    from airflow_mlpipe.definitions.pipeline_data import PipelineData
    from airflow_mlpipe.definitions.registered import Dataset
    from airflow_mlpipe.definitions.runconfig import (
        DEFAULT_CPU_IMAGE,
        DEFAULT_GPU_IMAGE,
        DockerConfiguration,
        RunConfiguration,
    )
    from airflow_mlpipe.definitions.sql_reference import (
        SqlDataReference,
        StoredProcedureParameter,
        StoredProcedureParameterType,
    )
    from airflow_mlpipe.definitions.steps import PythonScriptStep
    from airflow_mlpipe.definitions.tabular import TabularDataset
    from airflow_mlpipe.definitions.transfer import DataTransferStep
    from airflow_mlpipe.definitions.workspace import Workspace
    from airflow_mlpipe.exceptions import (
        ActivityFailedException,
        AuthenticationException,
        AzureMLException,
        ComputeTargetException,
        DatastoreError,
        PipelineValidationError,
        StepFailedError,
        UserErrorException,
    )
    from airflow_mlpipe.operators.python_script import PythonScriptStepOperator
    from airflow_mlpipe.run import Run
    from airflow_mlpipe.storage.models import ModelNotFoundException, ModelPathNotFoundException
