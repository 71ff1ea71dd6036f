"""The checks of ``Schedule.create``/``update`` (v1's, raised with v1's messages, and this package's
options), and ``Schedule.load_yaml``. Everything is checked before a record is written; ``registry``
is the workspace's (client/registry_api.py RegistryApi), read for the schedule's target."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.schedules import FIRST_RUNS

WATCHABLE = {"azure_blob": "AzureBlobDatastore", "azure_data_lake_gen2": "AzureDataLakeGen2Datastore",
             "local": "a local folder"}  # fmt: skip
OPTIONS = {"first_run": "next_slot", "catchup": False, "recursive": False, "per_blob": False}
DATASTORE_ONLY = ("recursive", "per_blob")
# v1's YAML keys (ScheduleYaml / ScheduleRecurrenceYaml)
YAML_KEYS = ("description", "recurrence", "pipeline_parameters", "wait_for_provisioning", "wait_timeout",
             "datastore_name", "polling_interval", "data_path_parameter_name", "continue_on_step_failure",
             "path_on_datastore")  # fmt: skip


def check_settings(
    workspace: Any,
    registry: Any,
    target: dict[str, str],
    args: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    """The record settings of a schedule from ``create``'s arguments (or an update merged into a
    record's), checked; raises UserErrorException/ValueError naming the argument."""
    from airflow_mlpipe.definitions.schedule import ScheduleRecurrence

    name = args["name"]
    where = f"schedule {name!r}"
    if not isinstance(name, str) or not name.strip():
        raise UserErrorException(f"schedule name must be a non-empty string, got {name!r}")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UserErrorException(
            f"{where}: unknown argument(s) {unknown}; Schedule.create takes v1's arguments and {sorted(OPTIONS)}"
        )
    opts = {**OPTIONS, **options}
    recurrence, datastore = args["recurrence"], args["datastore"]
    if recurrence is not None:
        if datastore is not None:
            raise ValueError("Can not specify both a Recurrence and a Datastore")
        if args["data_path_parameter_name"] is not None:
            raise ValueError("Data Path parameter name can only be specified for Datastore schedules.")
        if args["path_on_datastore"] is not None:
            raise ValueError("Path on datastore parameter can only be specified for Datastore schedules.")
        if not isinstance(recurrence, ScheduleRecurrence):
            raise UserErrorException(f"{where}: recurrence must be a ScheduleRecurrence, got {recurrence!r}")
        recurrence.validate()
        for key in DATASTORE_ONLY:
            if opts[key]:
                raise UserErrorException(f"{where}: {key}=True can only be specified for Datastore schedules")
    elif datastore is None:
        raise UserErrorException(
            f"{where}: give a recurrence (a time-based schedule) or a datastore (a schedule that runs "
            "when files change there)"
        )
    if opts["first_run"] not in FIRST_RUNS:
        raise UserErrorException(f"{where}: first_run must be one of {FIRST_RUNS}, got {opts['first_run']!r}")
    for key in ("catchup", "recursive", "per_blob"):
        if not isinstance(opts[key], bool):
            raise UserErrorException(f"{where}: {key} must be True or False, got {opts[key]!r}")
    cosf = args["continue_on_step_failure"]
    if cosf is not None and not isinstance(cosf, bool):
        raise UserErrorException(
            f"{where}: continue_on_step_failure must be True, False or None, got {cosf!r}"
        )
    pipeline = registry.schedule_target(target)  # what it submits now: an endpoint's default version
    settings = {
        "name": name,
        "description": args["description"],
        "recurrence": recurrence.to_spec() if recurrence is not None else None,
        "pipeline_parameters": check_parameters(where, pipeline, args["pipeline_parameters"]),
        "continue_on_step_failure": cosf,
        **opts,
        **(
            _datastore_settings(workspace, where, pipeline, args)
            if datastore is not None
            else _no_datastore()
        ),
    }
    return settings


def _no_datastore() -> dict[str, Any]:
    return {"datastore": None, "datastore_name": None, "polling_interval": None,
            "data_path_parameter_name": None, "path_on_datastore": None}  # fmt: skip


def _datastore_settings(
    workspace: Any, where: str, pipeline: dict[str, Any], args: dict[str, Any]
) -> dict[str, Any]:
    datastore = args["datastore"]
    name = datastore if isinstance(datastore, str) else getattr(datastore, "name", None)
    if not isinstance(name, str):
        raise UserErrorException(f"{where}: datastore must be a Datastore or its name, got {datastore!r}")
    spec = workspace.datastore_spec(name)
    if spec["type"] not in WATCHABLE:
        raise ValueError(
            f"Datastore must be of type AzureBlobDatastore (here also AzureDataLakeGen2Datastore or a local "
            f"folder): {where} names datastore {name!r}, of type {spec['type']!r}"
        )
    interval = args["polling_interval"]
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        raise ValueError(f"The polling interval must be greater than 0 minutes: {where} got {interval!r}")
    data_param = args["data_path_parameter_name"]
    if data_param is not None:
        datapaths = sorted(n for n, p in pipeline["parameters"].items() if p["type"] == "datapath")
        if data_param not in datapaths:
            raise UserErrorException(
                f"{where}: data_path_parameter_name {data_param!r} is not a DataPath parameter of published "
                f"pipeline {pipeline['name']!r}; its DataPath parameters are {datapaths}"
            )
    path = args["path_on_datastore"]
    if path is not None and not isinstance(path, str):
        raise UserErrorException(f"{where}: path_on_datastore must be a string, got {path!r}")
    return {
        "datastore": spec,
        "datastore_name": name,
        "polling_interval": interval,
        "data_path_parameter_name": data_param,
        "path_on_datastore": path.strip("/") if path else None,
    }


def check_parameters(where: str, pipeline: dict[str, Any], values: dict[str, Any] | None) -> dict[str, Any]:
    """``pipeline_parameters`` checked against the pipeline: known names; expressions parsed; the
    literal values checked as a REST submit checks them."""
    from airflow_mlpipe.definitions.schedule_expr import check_expression, is_expression
    from airflow_mlpipe.registry.submission import build_conf, split_assignments

    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserErrorException(
            f"{where}: pipeline_parameters must be a dict of name -> value, got {values!r}"
        )
    literal = {}
    for key, value in values.items():
        if key not in pipeline["parameters"]:
            raise UserErrorException(
                f"{where}: pipeline_parameters: unknown pipeline parameter {key!r}; published pipeline "
                f"{pipeline['name']!r} has {sorted(pipeline['parameters'])}"
            )
        if is_expression(value):
            check_expression(value, f"{where}: pipeline parameter {key!r}")
        else:
            literal[key] = value
    params, data_paths, datasets = split_assignments(pipeline, literal)
    try:
        build_conf(pipeline, params, data_paths, False, None, datasets)
    except UserErrorException as exc:
        raise UserErrorException(f"{where}: pipeline_parameters: {exc}") from None
    return dict(values)


def check_update(
    workspace: Any,
    registry: Any,
    record: dict[str, Any],
    args: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    """The record changes of ``Schedule.update`` (None arguments leave settings as they are)."""
    from airflow_mlpipe.definitions.schedule import ScheduleRecurrence

    is_recurrence = record["recurrence"] is not None
    if args["recurrence"] is not None:
        if not is_recurrence:
            raise ValueError("Can not specify a recurrence for a Datastore schedule.")
        args["recurrence"].validate()
    if args["datastore"] is not None and is_recurrence:
        raise ValueError("Can not specify a Datastore for a Recurrence schedule.")
    if args["polling_interval"] is not None and args["polling_interval"] <= 0:
        raise ValueError("The polling interval must be greater than 0")
    status = args["status"]
    if status is not None and status not in ("Active", "Disabled"):
        raise ValueError("Status must be either Active or Disabled")
    current = {
        "name": record["name"],
        "description": record["description"],
        "recurrence": ScheduleRecurrence.from_spec(record["recurrence"]) if is_recurrence else None,
        "pipeline_parameters": record["pipeline_parameters"],
        "datastore": record["datastore_name"],
        "polling_interval": record["polling_interval"],
        "data_path_parameter_name": record["data_path_parameter_name"],
        "continue_on_step_failure": record["continue_on_step_failure"],
        "path_on_datastore": record["path_on_datastore"],
    }
    merged = {**current, **{k: v for k, v in args.items() if k in current and v is not None}}
    merged_options = {k: record[k] for k in OPTIONS} | options
    target = {"pipeline_id": record["pipeline_id"], "pipeline_endpoint_id": record["pipeline_endpoint_id"]}
    settings = check_settings(workspace, registry, target, merged, merged_options)
    changes = {k: v for k, v in settings.items() if record.get(k) != v}
    if status is not None and status != record["status"]:
        changes["status"] = status
    return changes


def load_yaml(workspace: Any, filename: str) -> dict[str, Any]:
    """v1's ``Schedule.load_yaml``: the ``Schedule:`` section's arguments, with ``recurrence`` as a
    ScheduleRecurrence and ``datastore_name`` as a Datastore, as v1 returned them."""
    import yaml

    from airflow_mlpipe.definitions.datastore import Datastore
    from airflow_mlpipe.definitions.schedule import SPEC_KEYS, ScheduleRecurrence, TimeZone

    with open(filename, encoding="utf-8") as fh:
        try:
            loaded = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise UserErrorException(f"schedule YAML {filename}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict) or "Schedule" not in loaded:
        raise ValueError('Schedule Yaml file must have a "Schedule:" section')
    section = loaded["Schedule"] or {}
    out: dict[str, Any] = {}
    for key in YAML_KEYS:
        if key not in section:
            continue
        value = None if section[key] in ("None", "~") else section[key]
        if key == "datastore_name" and value is not None:
            value = Datastore(workspace=workspace, name=value)
        elif key == "recurrence" and value is not None:
            given = {k: value.get(k) for k in SPEC_KEYS}
            if given["time_zone"] is not None:
                given["time_zone"] = _time_zone(TimeZone, given["time_zone"], filename)
            value = ScheduleRecurrence(**given)
        out[key] = value
    return out


def _time_zone(enum: Any, value: str, filename: str) -> Any:
    """A YAML ``time_zone``: v1's TimeZone value ("W. Europe Standard Time") or member name."""
    for member in enum:
        if value in (member.value, member.name):
            return member
    raise UserErrorException(
        f"schedule YAML {filename}: time_zone {value!r} is not a TimeZone; use a member of "
        "airflow_mlpipe.v1.pipeline.core.schedule.TimeZone or its value"
    )
