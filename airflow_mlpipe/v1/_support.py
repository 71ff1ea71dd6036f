"""What of Azure ML SDK v1 this package does not implement, and what to use instead.

One table serves the ``airflow_mlpipe.v1`` modules (their ImportError/ModuleNotFoundError messages) and
``mlpipe migrate`` (its report of unsupported calls). Keys are v1's own dotted names.
"""

from __future__ import annotations

# The v1 modules that have a twin under airflow_mlpipe.v1 (``azureml.`` -> ``airflow_mlpipe.v1.``).
SUPPORTED_MODULES: tuple[str, ...] = (
    "azureml",
    "azureml.core",
    "azureml.core.authentication",
    "azureml.core.compute",
    "azureml.core.compute_target",
    "azureml.core.conda_dependencies",
    "azureml.core.databricks",
    "azureml.core.dataset",
    "azureml.core.datastore",
    "azureml.core.environment",
    "azureml.core.experiment",
    "azureml.core.model",
    "azureml.core.run",
    "azureml.core.runconfig",
    "azureml.core.workspace",
    "azureml.data",
    "azureml.data.data_reference",
    "azureml.data.datapath",
    "azureml.data.dataset_consumption_config",
    "azureml.data.output_dataset_config",
    "azureml.data.sql_data_reference",
    "azureml.data.stored_procedure_parameter",
    "azureml.exceptions",
    "azureml.pipeline",
    "azureml.pipeline.core",
    "azureml.pipeline.core.graph",
    "azureml.pipeline.core.run",
    "azureml.pipeline.core.schedule",
    "azureml.pipeline.steps",
    "azureml.widgets",
)

# Advice shared by several v1 names (each name keeps its own key below).
_REGISTRY = (
    "registry logins come from an Airflow docker connection (workspace config docker.conn_id); "
    "Environment.from_docker_image accepts a registry object only when its conn_id names that connection"
)
_DEPLOY = (
    "deploying models as web services is out of scope for airflow-mlpipe; serve the model with "
    "Azure ML SDK v2 online endpoints or your own service"
)
_LEGACY_COMPUTE = (
    "legacy compute targets are not supported; define an AmlCompute target with "
    "ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(max_nodes=...))"
)
_OTHER_COMPUTE = (
    "use an AmlCompute target instead: its steps run on the Airflow workers that serve the target's "
    "queue, at most max_nodes at once (compute_target=None runs them on any worker)"
)
_DATABRICKS_SECTION = (
    "a RunConfiguration has no databricks section here; pass the cluster settings (existing_cluster_id "
    "or spark_version, node_type, num_workers, ...) and the libraries (maven_libraries=, pypi_libraries=, "
    "...) to DatabricksStep directly"
)
_SYNAPSE = "Synapse is not supported; run the code in a PythonScriptStep"
_OUTPUT_CONFIG = (
    "HDFS and link outputs are not supported; use OutputFileDatasetConfig (read_delimited_files() for "
    "a table), or PipelineData"
)
_EXCEPTION = (
    "this error is never raised here; catch AzureMLException (airflow_mlpipe.v1.exceptions), the "
    "base class of every error airflow-mlpipe raises"
)
_MODULE = (
    "modules are not supported; use a PythonScriptStep, and version published pipelines with a "
    "PipelineEndpoint"
)
_PORTS = "pass PipelineData, DataReference or dataset inputs directly in a step's inputs and outputs"
_AUTOML = "AutoML is not supported; train with your own library in a PythonScriptStep"
_HYPERDRIVE = (
    "hyperparameter tuning is not supported; run one PythonScriptStep per configuration and compare "
    "their metrics in a final step"
)
_TRAINING = "Azure ML training APIs are not supported; run the training script in a PythonScriptStep"
_WRAP = "run the command from a PythonScriptStep's script (subprocess.run)"
_PARALLEL = (
    "split the input over several PythonScriptSteps on one AmlCompute target (at most max_nodes run "
    "at once) and combine their outputs in a final step"
)
_TOKEN_AUTH = (
    "token-callback authentication is not supported; give an Airflow user to ServicePrincipalAuthentication, "
    "or a token Airflow issued in the MLPIPE_API_TOKEN environment variable (MsiAuthentication reads it)"
)

# "azureml.<module>.<Name>" -> what to do instead (one or two sentences, no trailing period needed)
UNSUPPORTED: dict[str, str] = {
    # azureml.core
    "azureml.core.ScriptRunConfig": (
        "submit a script as a pipeline: wrap it in a PythonScriptStep and submit "
        "Pipeline(ws, [step]) with Experiment(ws, name).submit"
    ),
    "azureml.core.ScriptRun": (
        "runs are pipeline runs here: Experiment.submit returns a PipelineRun whose steps are StepRuns"
    ),
    "azureml.core.Webservice": _DEPLOY,
    "azureml.core.Image": _DEPLOY,
    "azureml.core.ContainerRegistry": _REGISTRY,
    "azureml.core.Keyvault": (
        "keep secrets in Airflow connections or Airflow's secrets backend; a datastore names its "
        "Airflow connection (conn_id)"
    ),
    "azureml.core.LinkedService": _SYNAPSE,
    "azureml.core.SynapseWorkspaceLinkedServiceConfiguration": _SYNAPSE,
    "azureml.core.PrivateEndPoint": (
        "networking belongs to the Airflow deployment; a workspace has no network settings here"
    ),
    "azureml.core.PrivateEndPointConfig": (
        "networking belongs to the Airflow deployment; a workspace has no network settings here"
    ),
    "azureml.core.diagnostic_log": (
        "use Python's logging; a step's log is its Airflow task log (StepRun.get_log())"
    ),
    "azureml.core.prepare_compute_target": _LEGACY_COMPUTE,
    "azureml.core.is_compute_target_prepared": _LEGACY_COMPUTE,
    "azureml.core.attach_legacy_compute_target": _LEGACY_COMPUTE,
    "azureml.core.remove_legacy_compute_target": _LEGACY_COMPUTE,
    # azureml.core.authentication
    "azureml.core.authentication.TokenAuthentication": _TOKEN_AUTH,
    "azureml.core.authentication.AzureMLTokenAuthentication": _TOKEN_AUTH,
    # azureml.core.compute
    "azureml.core.compute.AksCompute": _DEPLOY,
    "azureml.core.compute.ComputeInstance": _OTHER_COMPUTE,
    "azureml.core.compute.RemoteCompute": _OTHER_COMPUTE,
    "azureml.core.compute.DsvmCompute": _OTHER_COMPUTE,
    "azureml.core.compute.HDInsightCompute": _OTHER_COMPUTE,
    "azureml.core.compute.BatchCompute": _OTHER_COMPUTE,
    "azureml.core.compute.KubernetesCompute": _OTHER_COMPUTE,
    "azureml.core.compute.SynapseCompute": _SYNAPSE,
    "azureml.core.compute.KustoCompute": (
        "query Kusto from a PythonScriptStep with the azure-kusto-data client"
    ),
    # azureml.core.compute_target
    "azureml.core.compute_target.prepare_compute_target": _LEGACY_COMPUTE,
    "azureml.core.compute_target.is_compute_target_prepared": _LEGACY_COMPUTE,
    "azureml.core.compute_target.attach_legacy_compute_target": _LEGACY_COMPUTE,
    "azureml.core.compute_target.remove_legacy_compute_target": _LEGACY_COMPUTE,
    # azureml.core.databricks
    "azureml.core.databricks.DatabricksCluster": _DATABRICKS_SECTION,
    "azureml.core.databricks.DatabricksSection": _DATABRICKS_SECTION,
    # azureml.core.runconfig, model
    "azureml.core.runconfig.DataReferenceConfiguration": (
        "pass DataReference objects in a step's inputs (and arguments); they are downloaded or mounted "
        "for the script"
    ),
    "azureml.core.runconfig.MpiConfiguration": _TRAINING,
    "azureml.core.model.InferenceConfig": _DEPLOY,
    # azureml.data
    "azureml.data.DataType": (
        "column types cannot be set here (set_column_types is refused); convert columns in the step "
        "script with pandas"
    ),
    "azureml.data.HDFSOutputDatasetConfig": _OUTPUT_CONFIG,
    "azureml.data.LinkFileOutputDatasetConfig": _OUTPUT_CONFIG,
    "azureml.data.LinkTabularOutputDatasetConfig": _OUTPUT_CONFIG,
    "azureml.data.DatacacheStore": (
        "datacaches are not supported; consume inputs with as_download() or as_mount()"
    ),
    "azureml.data.output_dataset_config.OutputDatasetConfig": (
        "the abstract base class is not exported; use OutputFileDatasetConfig"
    ),
    "azureml.data.output_dataset_config.HDFSOutputDatasetConfig": _OUTPUT_CONFIG,
    "azureml.data.output_dataset_config.LinkFileOutputDatasetConfig": _OUTPUT_CONFIG,
    "azureml.data.output_dataset_config.LinkTabularOutputDatasetConfig": _OUTPUT_CONFIG,
    # azureml.exceptions
    "azureml.exceptions.AzureMLAggregatedException": _EXCEPTION,
    "azureml.exceptions.DatasetTimestampMissingError": _EXCEPTION,
    "azureml.exceptions.DiscoveryUrlNotFoundException": _EXCEPTION,
    "azureml.exceptions.ExperimentExecutionException": _EXCEPTION,
    "azureml.exceptions.ParallelRunException": _PARALLEL,
    "azureml.exceptions.ProjectSystemException": _EXCEPTION,
    "azureml.exceptions.RunConfigurationException": _EXCEPTION,
    "azureml.exceptions.RunEnvironmentException": _EXCEPTION,
    "azureml.exceptions.ServiceException": _EXCEPTION,
    "azureml.exceptions.SnapshotException": _EXCEPTION,
    "azureml.exceptions.TrainingException": _TRAINING,
    "azureml.exceptions.WebserviceException": _DEPLOY,
    "azureml.exceptions.WorkspaceException": _EXCEPTION,
    "azureml.exceptions.WorkspacePrivateEndpointException": _EXCEPTION,
    # azureml.pipeline.core
    "azureml.pipeline.core.PipelineStep": "custom step classes are not supported; use PythonScriptStep",
    "azureml.pipeline.core.PipelineDraft": (
        "drafts are not supported; build a Pipeline and publish it with pipeline.publish(name=...)"
    ),
    "azureml.pipeline.core.Module": _MODULE,
    "azureml.pipeline.core.ModuleVersion": _MODULE,
    "azureml.pipeline.core.ModuleVersionDescriptor": _MODULE,
    "azureml.pipeline.core.InputPortBinding": _PORTS,
    "azureml.pipeline.core.OutputPortBinding": _PORTS,
    "azureml.pipeline.core.TrainingOutput": _AUTOML,
    "azureml.pipeline.core.PipelineDataset": (
        "pass dataset.as_named_input(name) (a DatasetConsumptionConfig) as a step input"
    ),
    "azureml.pipeline.core.graph.InputPortBinding": _PORTS,
    "azureml.pipeline.core.graph.OutputPortBinding": _PORTS,
    "azureml.pipeline.core.graph.TrainingOutput": _AUTOML,
    "azureml.pipeline.core.graph.PipelineDataset": (
        "pass dataset.as_named_input(name) (a DatasetConsumptionConfig) as a step input"
    ),
    "azureml.pipeline.core.graph.Graph": (
        "the graph is internal here; pipeline.to_spec() gives the whole pipeline as JSON and "
        "pipeline.to_dag(dag_id) the Airflow DAG"
    ),
    # azureml.pipeline.steps
    "azureml.pipeline.steps.AutoMLStep": _AUTOML,
    "azureml.pipeline.steps.AutoMLStepRun": _AUTOML,
    "azureml.pipeline.steps.HyperDriveStep": _HYPERDRIVE,
    "azureml.pipeline.steps.HyperDriveStepRun": _HYPERDRIVE,
    "azureml.pipeline.steps.EstimatorStep": (
        "estimators are deprecated in v1 itself; run the training script in a PythonScriptStep"
    ),
    "azureml.pipeline.steps.MpiStep": _TRAINING,
    "azureml.pipeline.steps.ParallelRunStep": _PARALLEL,
    "azureml.pipeline.steps.ParallelRunConfig": _PARALLEL,
    "azureml.pipeline.steps.ModuleStep": _MODULE,
    "azureml.pipeline.steps.CommandStep": _WRAP,
    "azureml.pipeline.steps.AzureBatchStep": _WRAP,
    "azureml.pipeline.steps.RScriptStep": "call Rscript from a PythonScriptStep's script (subprocess.run)",
    "azureml.pipeline.steps.KustoStep": (
        "query Kusto from a PythonScriptStep with the azure-kusto-data client"
    ),
    "azureml.pipeline.steps.SynapseSparkStep": _SYNAPSE,
}

# "azureml.<module>" (a whole v1 module this package has no twin of) -> what to do instead
UNSUPPORTED_MODULES: dict[str, str] = {
    "azureml.train": _TRAINING,
    "azureml.train.estimator": "estimators are deprecated in v1 itself; use a PythonScriptStep",
    "azureml.train.dnn": "framework estimators are deprecated in v1 itself; use a PythonScriptStep",
    "azureml.train.sklearn": "framework estimators are deprecated in v1 itself; use a PythonScriptStep",
    "azureml.train.hyperdrive": _HYPERDRIVE,
    "azureml.train.automl": _AUTOML,
    "azureml.automl": _AUTOML,
    "azureml.core.webservice": _DEPLOY,
    "azureml.core.image": _DEPLOY,
    "azureml.contrib": "azureml.contrib packages (previews) are not supported; use a PythonScriptStep",
    "azureml.dataprep": (
        "read data with Dataset.Tabular.from_delimited_files(...).to_pandas_dataframe(), or in a step "
        "with Run.get_context().input_datasets"
    ),
    "azureml.mlflow": (
        "log metrics with Run.get_context().log(...) in a step; they land in the step's result and task log"
    ),
}

# "azureml.<module>.<Callable>" -> {keyword argument: what to do instead}: arguments that are
# accepted by v1 but refused here (the call raises an error naming the argument)
_AML_NETWORKING = (
    "networking, identities and admin users belong to the Airflow deployment; remove the argument"
)
UNSUPPORTED_ARGUMENTS: dict[str, dict[str, str]] = {
    "azureml.pipeline.core.PipelineData": {
        "training_output": _AUTOML,
    },
    "azureml.core.Dataset.File.from_files": {
        "partition_format": "partitions are not parsed; filter the files in the step script",
    },
    "azureml.core.Dataset.Tabular.from_delimited_files": {
        "partition_format": "partitions are not parsed; filter the rows in the step script",
        "set_column_types": "convert column types in the step script with pandas",
    },
    "azureml.core.compute.AmlCompute.provisioning_configuration": {
        argument: _AML_NETWORKING
        for argument in (
            "admin_username",
            "admin_user_password",
            "admin_user_ssh_key",
            "vnet_resourcegroup_name",
            "vnet_name",
            "subnet_name",
            "remote_login_port_public_access",
            "identity_type",
            "identity_id",
            "location",
            "enable_node_public_ip",
        )
    },
}


def unsupported_message(v1_name: str) -> str | None:
    """The full message for a v1 name (a class/function or a module) this package lacks, or None."""
    advice = UNSUPPORTED.get(v1_name) or UNSUPPORTED_MODULES.get(v1_name)
    if advice is None:
        return None
    return f"{v1_name} is not supported by airflow-mlpipe: {advice} (see docs/migration.md)"
