"""Turn a submission (Azure ML's REST body, or the Python client's arguments) into a DAG run conf.

Every check happens here, before a run exists: unknown parameters, values of the wrong type, data
paths on datastores the pipeline does not know, unknown steps to force. Each error names the field
and the value, and says what is accepted.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.parameter import coerce_param
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
    conf.update(_typed(record, "DataPathAssignments", data_path_assignments, "datapath"))
    conf.update(_typed(record, "DataSetDefinitionValueAssignments", dataset_assignments, "dataset"))
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


def split_assignments(
    record: dict[str, Any], pipeline_parameters: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split Python-side parameters into Azure ML's ParameterAssignments, DataPathAssignments and
    DataSetDefinitionValueAssignments (build_conf's arguments)."""
    from airflow_mlpipe.definitions.parameter import coerce_datapath, coerce_dataset

    params, paths, datasets = {}, {}, {}
    for name, value in (pipeline_parameters or {}).items():
        kind = record["parameters"].get(name, {}).get("type")
        if kind == "datapath":
            bound = coerce_datapath(name, value, " in pipeline_parameters")
            paths[name] = {"DataStoreName": bound["datastore"], "RelativePath": bound["path"]}
        elif kind == "dataset":
            datasets[name] = coerce_dataset(name, value, " in pipeline_parameters")
        else:
            params[name] = value
    return params, paths, datasets


# the REST body field of each data-valued parameter type: its label and the value shape it takes
_DATA_FIELDS = {
    "datapath": ("DataPath", '{"DataStoreName", "RelativePath"}'),
    "dataset": ("dataset", '{"SavedDataSetReference": {"Id": ...}} or {"DataPath": {...}}'),
}


def _typed(record: dict[str, Any], field: str, assignments: Any, type_name: str) -> dict[str, Any]:
    """The conf values of a body field that sets the parameters of one data type (DataPath,
    dataset): each must be such a parameter, with a value of that type on a known datastore."""
    if assignments is None:
        return {}
    label, shape = _DATA_FIELDS[type_name]
    if not isinstance(assignments, dict):
        raise UserErrorException(
            f"{field} must be an object of parameter name -> {shape}, got {assignments!r}"
        )
    params = record["parameters"]
    conf = {}
    for name, value in assignments.items():
        p = params.get(name)
        if p is None or p["type"] != type_name:
            known = sorted(n for n, q in params.items() if q["type"] == type_name)
            raise UserErrorException(
                f"{field}: {name!r} is not a {label} parameter of published pipeline {record['name']!r}; "
                f"its {label} parameters are {known}"
            )
        bound = coerce_param(name, type_name, value, where=field)
        if "datastore" in bound and bound["datastore"] not in record["datastores"]:
            raise UserErrorException(
                f"{field}: {name!r} names datastore {bound['datastore']!r}, which the workspace does not "
                f"define (known: {record['datastores']})"
            )
        conf[name] = bound
    return conf
