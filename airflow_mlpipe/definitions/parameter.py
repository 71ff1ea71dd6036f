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


# a dataset parameter's value: a dataset spec, a registered dataset (by id, or name and version),
# or a datastore path (the forms coerce_dataset accepts; it checks them in full)
DATASET_SCHEMA = {"type": "object", "minProperties": 1}


def json_schema(type_name: str) -> dict[str, Any]:
    """The JSON schema Airflow validates a parameter of this spec type with."""
    if type_name == "datapath":
        return DATAPATH_SCHEMA
    if type_name == "dataset":
        return DATASET_SCHEMA
    return {"type": SPEC_TO_JSON_SCHEMA[type_name]}


def _is_datapath(value: Any) -> bool:
    from airflow_mlpipe.definitions.datastore import DataPath

    return isinstance(value, DataPath)


def _is_dataset(value: Any) -> bool:
    from airflow_mlpipe.definitions.dataset import AbstractDataset

    return isinstance(value, AbstractDataset)


def param_type_name(value: Any) -> str | None:
    """The spec type of a default value, or None when Azure ML v1 did not accept it."""
    entry = PARAM_TYPES.get(type(value))
    if entry is None and _is_datapath(value):
        return "datapath"
    if entry is None and _is_dataset(value):
        return "dataset"
    return entry[0] if entry else None


def coerce_dataset(name: str, value: Any, place: str = "") -> dict[str, Any]:
    """A dataset parameter's value in one canonical form:
    ``{"dataset": <spec>}`` (a dataset object or that form), ``{"id": ...}`` (also v1's REST
    ``{"SavedDataSetReference": {"Id": ...}}``), ``{"name": ..., "version": ...}`` (version
    optional: the latest), or ``{"datastore": ..., "path": ...}`` (also v1's REST
    ``{"DataPath": {"DataStoreName": ..., "RelativePath": ...}}``)."""
    if _is_dataset(value):
        return {"dataset": value.to_spec()}
    if isinstance(value, dict):
        if set(value) == {"dataset"} and isinstance(value["dataset"], dict):
            spec = value["dataset"]
            paths = spec.get("paths")
            if spec.get("type") in ("file", "tabular") and isinstance(paths, list) and paths:
                if all(
                    isinstance(p, dict) and (set(p) == {"url"} or set(p) == {"datastore", "path"})
                    for p in paths
                ):
                    return {"dataset": {"options": {}, **spec}}
        saved = value.get("SavedDataSetReference") if set(value) == {"SavedDataSetReference"} else None
        if isinstance(saved, dict) and set(saved) == {"Id"}:
            value = {"id": saved["Id"]}
        if set(value) == {"id"} and isinstance(value["id"], str) and value["id"]:
            return {"id": value["id"]}
        if set(value) in ({"name"}, {"name", "version"}) and isinstance(value["name"], str) and value["name"]:
            version = value.get("version", "latest")
            if version in (None, "latest") or (isinstance(version, (int, str)) and str(version).isdigit()):
                return {"name": value["name"], "version": "latest" if version is None else version}
        if set(value) == {"DataPath"} and isinstance(value["DataPath"], dict):
            value = value["DataPath"]
        try:
            return coerce_datapath(name, value, place)
        except UserErrorException:
            pass
    raise UserErrorException(
        f"parameter {name!r}{place}: {value!r} is not a dataset; pass a dataset, "
        '{"id": ...}, {"name": ..., "version": ...}, {"datastore": ..., "path": ...}, or in a REST body '
        '{"SavedDataSetReference": {"Id": ...}} or {"DataPath": {"DataStoreName": ..., "RelativePath": ...}}'
    )


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
    if type_name == "dataset":
        return coerce_dataset(name, value, place)
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

    The default fixes the type: int, float, bool, str, a DataPath (consumed by a step as
    ``(param, DataPathComputeBinding())``) or a dataset (consumed as
    ``DatasetConsumptionConfig(name, param)``, ``.as_mount()``...). Every trigger of the translated DAG is validated by
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
                "is not supported; use int, float, bool, str, a DataPath or a dataset"
            )
        self.name = name
        self.default_value = default_value
        self.type_name = type_name

    def as_named_input(self, name: str) -> Any:
        """A dataset parameter consumed by a step under ``name`` (``DatasetConsumptionConfig``)."""
        from airflow_mlpipe.definitions.dataset import DatasetConsumptionConfig

        return DatasetConsumptionConfig(name, self)

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"
