"""PipelineParameter: a value chosen per run, an Airflow DAG ``Param`` after translation."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.exceptions import UserErrorException

# Python type -> (spec type name, JSON-schema type Airflow validates triggers with)
PARAM_TYPES: dict[type, tuple[str, str]] = {
    bool: ("bool", "boolean"),
    int: ("int", "integer"),
    float: ("float", "number"),
    str: ("str", "string"),
}
SPEC_TO_JSON_SCHEMA = dict(PARAM_TYPES.values())
# a DataPath parameter's value: which datastore, and the path on it
DATAPATH_SCHEMA = {
    "type": "object",
    "properties": {"datastore": {"type": "string", "minLength": 1}, "path": {"type": "string"}},
    "required": ["datastore", "path"],
    "additionalProperties": False,
}


def json_schema(type_name: str) -> dict[str, Any]:
    """The JSON schema Airflow validates a parameter of this spec type with."""
    return DATAPATH_SCHEMA if type_name == "datapath" else {"type": SPEC_TO_JSON_SCHEMA[type_name]}


def _is_datapath(value: Any) -> bool:
    from airflow_mlpipe.definitions.datastore import DataPath

    return isinstance(value, DataPath)


def param_type_name(value: Any) -> str | None:
    """The spec type of a default value, or None when Azure ML v1 did not accept it."""
    entry = PARAM_TYPES.get(type(value))
    if entry is None and _is_datapath(value):
        return "datapath"
    return entry[0] if entry else None


def coerce_datapath(name: str, value: Any, place: str = "") -> dict[str, str]:
    """A DataPath parameter's value as ``{"datastore", "path"}``, from a DataPath, that dict, or
    Azure ML's REST form ``{"DataStoreName", "RelativePath"}``."""
    if _is_datapath(value):
        return value.to_spec()
    if isinstance(value, dict):
        keys = set(value)
        for ds_key, path_key in (("datastore", "path"), ("DataStoreName", "RelativePath")):
            if keys == {ds_key, path_key}:
                ds, path = value[ds_key], value[path_key]
                if isinstance(ds, str) and ds and isinstance(path, str):
                    return {"datastore": ds, "path": path.strip("/")}
    raise UserErrorException(
        f"parameter {name!r}{place}: {value!r} is not a data path; pass a DataPath, "
        '{"datastore": ..., "path": ...} or {"DataStoreName": ..., "RelativePath": ...} with string values'
    )


def coerce_param(name: str, type_name: str, value: Any, where: str = "") -> Any:
    """Convert a run's value (possibly a string from a REST body) to the parameter's type."""
    place = f" in {where}" if where else ""
    if type_name == "datapath":
        return coerce_datapath(name, value, place)
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    elif type_name == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
    elif type_name == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif type_name == "str":
        if isinstance(value, str):
            return value
    raise UserErrorException(
        f"parameter {name!r}{place}: {value!r} is not a valid {type_name}; "
        f"pass a {type_name} value (or a string that converts to one)"
    )


class PipelineParameter:
    """A pipeline parameter with a default (Azure ML v1: ``PipelineParameter(name, default_value)``).

    The default fixes the type: int, float, bool, str, or a DataPath (consumed by a step as
    ``(param, DataPathComputeBinding())``). Every trigger of the translated DAG is validated by
    Airflow against that type.
    """

    def __init__(self, name: str, default_value: Any):
        if not isinstance(name, str) or not name.strip():
            raise UserErrorException("PipelineParameter name must be a non-empty string")
        if not name.replace("_", "").replace("-", "").isalnum():
            raise UserErrorException(
                f"PipelineParameter name {name!r} may only contain letters, digits, '_' and '-'"
            )
        type_name = param_type_name(default_value)
        if type_name is None:
            # Azure ML v1 raised for defaults that are not a primitive, a DataPath or a dataset.
            raise UserErrorException(
                f"PipelineParameter {name!r}: default_value of type {type(default_value).__name__} "
                "is not supported; use int, float, bool, str or a DataPath (dataset parameters are "
                "not supported by airflow-mlpipe)"
            )
        self.name = name
        self.default_value = default_value
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"
