"""Turn a submission (Azure ML's REST body, or the Python client's arguments) into a DAG run conf.

Every check happens here, before a run exists: unknown parameters, values of the wrong type, data
paths on datastores the pipeline does not know, unknown steps to force. Each error names the field
and the value, and says what is accepted.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.parameter import coerce_datapath, coerce_param
from airflow_mlpipe.exceptions import UserErrorException

SUBMISSION_KEY = "mlpipe_submission"  # run metadata in the DAG run conf (experiment, source, tags)


def build_conf(
    record: dict[str, Any],
    parameter_assignments: Any = None,
    data_path_assignments: Any = None,
    regenerate_outputs: Any = False,
    force_rerun_steps: Any = None,
    dataset_assignments: Any = None,
) -> dict[str, Any]:
    """The conf for one run of published pipeline ``record`` (raises UserErrorException)."""
    params = record["parameters"]
    conf: dict[str, Any] = {}
    if parameter_assignments is not None:
        if not isinstance(parameter_assignments, dict):
            raise UserErrorException(
                f"ParameterAssignments must be an object of parameter name -> value, got {parameter_assignments!r}"
            )
        for name, value in parameter_assignments.items():
            p = params.get(name)
            if p is None:
                raise UserErrorException(
                    f"ParameterAssignments: unknown pipeline parameter {name!r}; "
                    f"published pipeline {record['name']!r} has {sorted(params)}"
                )
            if p["type"] == "datapath":
                raise UserErrorException(
                    f"ParameterAssignments: {name!r} is a DataPath parameter; set it in DataPathAssignments "
                    'as {"DataStoreName": ..., "RelativePath": ...}'
                )
            if p["type"] == "dataset":
                raise UserErrorException(
                    f"ParameterAssignments: {name!r} is a dataset parameter; set it in "
                    'DataSetDefinitionValueAssignments as {"SavedDataSetReference": {"Id": ...}}'
                )
            conf[name] = coerce_param(name, p["type"], value, where="ParameterAssignments")
    if data_path_assignments is not None:
        if not isinstance(data_path_assignments, dict):
            raise UserErrorException(
                "DataPathAssignments must be an object of parameter name -> "
                f'{{"DataStoreName", "RelativePath"}}, got {data_path_assignments!r}'
            )
        for name, value in data_path_assignments.items():
            p = params.get(name)
            if p is None or p["type"] != "datapath":
                datapaths = sorted(n for n, q in params.items() if q["type"] == "datapath")
                raise UserErrorException(
                    f"DataPathAssignments: {name!r} is not a DataPath parameter of published pipeline "
                    f"{record['name']!r}; its DataPath parameters are {datapaths}"
                )
            bound = coerce_datapath(name, value, " in DataPathAssignments")
            if bound["datastore"] not in record["datastores"]:
                raise UserErrorException(
                    f"DataPathAssignments: {name!r} names datastore {bound['datastore']!r}, which the "
                    f"workspace does not define (known: {record['datastores']})"
                )
            conf[name] = bound
    if dataset_assignments is not None:
        if not isinstance(dataset_assignments, dict):
            raise UserErrorException(
                "DataSetDefinitionValueAssignments must be an object of parameter name -> "
                f'{{"SavedDataSetReference": {{"Id": ...}}}}, got {dataset_assignments!r}'
            )
        for name, value in dataset_assignments.items():
            p = params.get(name)
            if p is None or p["type"] != "dataset":
                datasets = sorted(n for n, q in params.items() if q["type"] == "dataset")
                raise UserErrorException(
                    f"DataSetDefinitionValueAssignments: {name!r} is not a dataset parameter of published "
                    f"pipeline {record['name']!r}; its dataset parameters are {datasets}"
                )
            conf[name] = coerce_param(name, "dataset", value, where="DataSetDefinitionValueAssignments")
    for name, value in conf.items():
        if params.get(name, {}).get("type") == "dataset" and "datastore" in value:
            if value["datastore"] not in record["datastores"]:
                raise UserErrorException(
                    f"DataSetDefinitionValueAssignments: {name!r} names datastore {value['datastore']!r}, "
                    f"which the workspace does not define (known: {record['datastores']})"
                )
    if not isinstance(regenerate_outputs, bool):
        raise UserErrorException(f"RegenerateOutputs must be true or false, got {regenerate_outputs!r}")
    conf["regenerate_outputs"] = regenerate_outputs
    force = [] if force_rerun_steps is None else force_rerun_steps
    if not isinstance(force, list) or not all(isinstance(s, str) for s in force):
        raise UserErrorException(f"ForceRerunSteps must be a list of step names, got {force_rerun_steps!r}")
    unknown = sorted(set(force) - set(record["steps"]))
    if unknown:
        raise UserErrorException(
            f"ForceRerunSteps: unknown step(s) {unknown}; published pipeline {record['name']!r} has "
            f"steps {record['steps']}"
        )
    conf["force_rerun"] = sorted(set(force))
    return conf
