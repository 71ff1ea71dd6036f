"""Schedule records, v1's argument checks, load_yaml, and what a schedule run submits (no Airflow
processes: the registry folder and the checks are plain Python)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_mlpipe import (
    DataPath,
    DataPathComputeBinding,
    Datastore,
    Pipeline,
    PipelineParameter,
    PythonScriptStep,
    ScheduleRecurrence,
    TimeZone,
    Workspace,
)
from airflow_mlpipe.client.schedule_checks import check_settings, check_update, load_yaml
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import NotFoundError
from airflow_mlpipe.registry.schedule_run import data_path_of, plan_runs
from airflow_mlpipe.registry.schedules import ScheduleRegistry
from airflow_mlpipe.registry.submission import SUBMISSION_KEY

AT = datetime(2026, 3, 4, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def ws(tmp_path):
    """The embedded workspace, with an Azure Files datastore too (a kind no schedule can watch)."""
    import json

    config = tmp_path / "mlpipe.json"
    share = {"type": "azure_file_share", "conn_id": "files", "share": "s"}
    config.write_text(json.dumps({"workspace_name": "sched", "datastores": {"share": share}}))
    return Workspace.from_config(config)


@pytest.fixture
def registry(tmp_path):
    return ScheduleRegistry(tmp_path / "registry")


def publish(ws, registry, tmp_path, name="train", scale=2):
    (tmp_path / "s.py").write_text("print(1)\n")
    data = PipelineParameter("input_data", default_value=DataPath(ws.get_default_datastore(), "data/a"))
    p_scale = PipelineParameter("scale", default_value=scale)
    day = PipelineParameter("day", default_value="none")
    binding = (data, DataPathComputeBinding(mode="download"))
    step = PythonScriptStep("s.py", name="score", source_directory=str(tmp_path),
                            arguments=[binding, p_scale, day], inputs=[binding])  # fmt: skip
    return registry.publish(Pipeline(ws, [step]).to_spec(), name)


@pytest.fixture
def pipeline(ws, registry, tmp_path):
    return publish(ws, registry, tmp_path)


def args(**given):
    base = {"name": "nightly", "description": None, "recurrence": None, "pipeline_parameters": None,
            "datastore": None, "polling_interval": 5, "data_path_parameter_name": None,
            "continue_on_step_failure": None, "path_on_datastore": None}  # fmt: skip
    return {**base, **given}


DAILY = ScheduleRecurrence(
    frequency="Day", interval=1, time_of_day="09:00", time_zone=TimeZone.WEuropeStandardTime
)


def settings(ws, registry, pipeline, options=None, **given):
    return check_settings(ws, registry, {"pipeline_id": pipeline["id"]}, args(**given), options or {})


# --- v1's checks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"recurrence": DAILY, "datastore": "workspaceblobstore"}, "Can not specify both a Recurrence and a Datastore"),
        ({"recurrence": DAILY, "data_path_parameter_name": "input_data"},
         "Data Path parameter name can only be specified for Datastore schedules."),
        ({"recurrence": DAILY, "path_on_datastore": "in"},
         "Path on datastore parameter can only be specified for Datastore schedules."),
        ({"datastore": "share"}, "Datastore must be of type AzureBlobDatastore"),
        ({"datastore": "workspaceblobstore", "polling_interval": 0}, "The polling interval must be greater than 0"),
    ],
)  # fmt: skip
def test_v1_checks_raise_v1_messages(ws, registry, pipeline, given, message):
    with pytest.raises(ValueError, match=message):
        settings(ws, registry, pipeline, **given)


@pytest.mark.parametrize(
    ("given", "options", "message"),
    [
        ({}, {}, r"schedule 'nightly': give a recurrence .* or a datastore"),
        ({"recurrence": DAILY}, {"every": 2}, r"unknown argument\(s\) \['every'\]"),
        ({"recurrence": DAILY}, {"per_blob": True}, "per_blob=True can only be specified for Datastore"),
        ({"recurrence": DAILY}, {"first_run": "now"}, "first_run must be one of"),
        ({"recurrence": "daily"}, {}, "recurrence must be a ScheduleRecurrence"),
        ({"datastore": "workspaceblobstore", "data_path_parameter_name": "scale"}, {},
         r"data_path_parameter_name 'scale' is not a DataPath parameter .* are \['input_data'\]"),
        ({"recurrence": DAILY, "pipeline_parameters": {"alpha": 1}}, {},
         r"unknown pipeline parameter 'alpha'; published pipeline 'train' has \['day', 'input_data', 'scale'\]"),
        ({"recurrence": DAILY, "pipeline_parameters": {"scale": "big"}}, {}, r"pipeline_parameters: .*scale"),
        ({"recurrence": DAILY, "pipeline_parameters": {"day": "@formatDateTime(utcNow(), 'yyyy-MM-dd'"}}, {},
         r"schedule 'nightly': pipeline parameter 'day'"),
        ({"recurrence": DAILY, "continue_on_step_failure": "yes"}, {}, "continue_on_step_failure must be"),
    ],
)  # fmt: skip
def test_bad_arguments_are_errors_naming_the_schedule_and_argument(
    ws, registry, pipeline, given, options, message
):
    with pytest.raises(UserErrorException, match=message):
        settings(ws, registry, pipeline, options, **given)


def test_an_unknown_datastore_or_pipeline_is_named(ws, registry, pipeline):
    with pytest.raises(UserErrorException, match="no datastore 'nowhere'"):
        settings(ws, registry, pipeline, datastore="nowhere")
    with pytest.raises(NotFoundError, match="no published pipeline"):
        check_settings(ws, registry, {"pipeline_id": "8d3c1c6e-0000-4000-8000-000000000000"},
                       args(recurrence=DAILY), {})  # fmt: skip


def test_a_datastore_schedule_stores_the_datastore_spec_and_a_clean_path(ws, registry, pipeline):
    store = Datastore(ws, "workspaceblobstore")
    got = settings(
        ws,
        registry,
        pipeline,
        datastore=store,
        path_on_datastore="/incoming/",
        data_path_parameter_name="input_data",
    )
    assert got["datastore_name"] == "workspaceblobstore" and got["datastore"]["type"] == "local"
    assert (
        got["path_on_datastore"] == "incoming" and got["polling_interval"] == 5 and got["recurrence"] is None
    )
    assert got["per_blob"] is False and got["recursive"] is False and got["first_run"] == "next_slot"


# --- the registry ------------------------------------------------------------------------------


def test_records_are_created_listed_updated_and_disabled(ws, registry, pipeline):
    target = {"pipeline_id": pipeline["id"]}
    daily = registry.create_schedule(target, "exp", settings(ws, registry, pipeline, recurrence=DAILY))
    watch = registry.create_schedule(
        target, "exp", settings(ws, registry, pipeline, name="watch", datastore="workspaceblobstore")
    )
    assert daily["dag_id"] == f"schedule_{daily['id']}" and daily["status"] == "Active"
    assert registry.get_schedule(daily["id"])["recurrence"] == DAILY.to_spec()
    assert [r["id"] for r in registry.list_schedules()] == [daily["id"], watch["id"]]
    registry.update_schedule(watch["id"], {"status": "Disabled"})
    assert [r["id"] for r in registry.list_schedules()] == [daily["id"]]  # active_only by default, as v1
    assert len(registry.list_schedules(active_only=False)) == 2
    assert len(registry.list_schedules(pipeline_id=pipeline["id"])) == 2  # active_only ignored, as v1
    with pytest.raises(UserErrorException, match="status must be one of"):
        registry.update_schedule(daily["id"], {"status": "Paused"})
    with pytest.raises(NotFoundError, match="no schedule with id"):
        registry.get_schedule("3f1b8a0e-0000-4000-8000-000000000000")


def test_update_keeps_v1s_rules_and_changes_only_what_is_given(ws, registry, pipeline):
    target = {"pipeline_id": pipeline["id"]}
    record = registry.create_schedule(target, "exp", settings(ws, registry, pipeline, recurrence=DAILY))
    none = {k: None for k in args()} | {"status": None, "recurrence": None}
    with pytest.raises(ValueError, match="Can not specify a Datastore for a Recurrence schedule."):
        check_update(ws, registry, record, none | {"datastore": "workspaceblobstore"}, {})
    with pytest.raises(ValueError, match="Status must be either Active or Disabled"):
        check_update(ws, registry, record, none | {"status": "Off"}, {})
    hourly = ScheduleRecurrence(frequency="Hour", interval=2)
    changes = check_update(ws, registry, record, none | {"recurrence": hourly, "description": "d"}, {})
    assert changes == {"recurrence": hourly.to_spec(), "description": "d"}


# --- load_yaml ---------------------------------------------------------------------------------


def test_load_yaml_reads_v1s_two_documented_forms(ws, tmp_path):
    (tmp_path / "r.yaml").write_text(
        'Schedule:\n  description: "Test create with recurrence"\n  recurrence:\n    frequency: Week\n'
        "    interval: 1\n    start_time: 2019-06-07T10:50:00\n    time_zone: UTC\n    hours:\n    - 1\n"
        "    minutes:\n    - 0\n    time_of_day: null\n    week_days:\n    - Friday\n"
        "  pipeline_parameters: {'a':1}\n  wait_for_provisioning: True\n  wait_timeout: 3600\n"
        "  datastore_name: ~\n  polling_interval: ~\n  data_path_parameter_name: ~\n"
        "  continue_on_step_failure: None\n  path_on_datastore: ~\n"
    )
    got = load_yaml(ws, str(tmp_path / "r.yaml"))
    assert got["recurrence"] == ScheduleRecurrence(frequency="Week", interval=1, start_time="2019-06-07T10:50:00",
                                                   time_zone=TimeZone.UTC, hours=[1], minutes=[0], week_days=["Friday"])  # fmt: skip
    assert got["pipeline_parameters"] == {"a": 1} and got["continue_on_step_failure"] is None
    (tmp_path / "d.yaml").write_text(
        "Schedule:\n  datastore_name: workspaceblobstore\n  polling_interval: 5\n"
        "  data_path_parameter_name: input_data\n  path_on_datastore: file/path\n"
    )
    got = load_yaml(ws, str(tmp_path / "d.yaml"))
    assert got["datastore_name"].name == "workspaceblobstore" and got["path_on_datastore"] == "file/path"
    (tmp_path / "bad.yaml").write_text("Pipeline: {}\n")
    with pytest.raises(ValueError, match='must have a "Schedule:" section'):
        load_yaml(ws, str(tmp_path / "bad.yaml"))


# --- what a schedule run submits ---------------------------------------------------------------


def test_a_recurrence_run_evaluates_trigger_expressions_at_run_time(ws, registry, pipeline):
    given = {"day": "@formatDateTime(addDays(trigger().scheduledTime, -1), 'yyyy-MM-dd')", "scale": 3}
    record = registry.create_schedule({"pipeline_id": pipeline["id"]}, "exp",
                                      settings(ws, registry, pipeline, recurrence=DAILY, pipeline_parameters=given,
                                               continue_on_step_failure=True))  # fmt: skip
    (run,) = plan_runs(record, registry, "scheduled__x", AT, AT)
    assert run["trigger_dag_id"] == pipeline["dag_id"]
    assert run["trigger_run_id"] == f"schedule_{record['id'][:8]}__scheduled__x"
    conf = run["conf"]
    assert conf["day"] == "2026-03-03" and conf["scale"] == 3 and conf["continue_on_step_failure"] is True
    sub = conf[SUBMISSION_KEY]
    assert (
        sub["schedule_id"] == record["id"]
        and sub["run_source"] == "Schedule"
        and sub["experiment_name"] == "exp"
    )


def test_changes_in_one_window_start_one_run_with_their_common_folder(ws, registry, pipeline):
    record = registry.create_schedule({"pipeline_id": pipeline["id"]}, "exp",
                                      settings(ws, registry, pipeline, datastore="workspaceblobstore",
                                               path_on_datastore="in", data_path_parameter_name="input_data"))  # fmt: skip
    changed = ["in/a.csv", "in/b.csv", "in/c.csv"]
    (run,) = plan_runs(record, registry, "asset_triggered__1", AT, AT, changed)
    assert run["conf"]["input_data"] == {"datastore": "workspaceblobstore", "path": "in"}
    assert run["conf"][SUBMISSION_KEY]["changed_paths"] == changed
    (one,) = plan_runs(record, registry, "asset_triggered__2", AT, AT, ["in/a.csv"])
    assert one["conf"]["input_data"]["path"] == "in/a.csv"
    with pytest.raises(UserErrorException, match="was not started by a change on datastore"):
        plan_runs(record, registry, "manual__3", AT, AT, [])


def test_per_blob_keeps_v1s_one_run_per_changed_file(ws, registry, pipeline):
    record = registry.create_schedule({"pipeline_id": pipeline["id"]}, "exp",
                                      settings(ws, registry, pipeline, {"per_blob": True}, datastore="workspaceblobstore",
                                               data_path_parameter_name="input_data"))  # fmt: skip
    runs = plan_runs(record, registry, "asset_triggered__1", AT, AT, ["a.csv", "b.csv"])
    assert [r["conf"]["input_data"]["path"] for r in runs] == ["a.csv", "b.csv"]
    assert len({r["trigger_run_id"] for r in runs}) == 2


def test_an_endpoint_schedule_follows_the_default_version_at_each_run(ws, registry, pipeline, tmp_path):
    endpoint = registry.create_endpoint("ep", None, pipeline["id"])
    record = registry.create_schedule({"pipeline_endpoint_id": endpoint["id"]}, "exp",
                                      check_settings(ws, registry, {"pipeline_endpoint_id": endpoint["id"]},
                                                     args(recurrence=DAILY), {}))  # fmt: skip
    (run,) = plan_runs(record, registry, "r1", AT, AT)
    assert run["trigger_dag_id"] == pipeline["dag_id"]
    second = publish(ws, registry, tmp_path, name="train-v2", scale=4)
    registry.update_endpoint(endpoint["id"], add_pipeline=second["id"], make_default=True)
    (run,) = plan_runs(record, registry, "r2", AT, AT)
    assert (
        run["trigger_dag_id"] == second["dag_id"] and run["conf"][SUBMISSION_KEY]["pipeline_version"] == "1"
    )


@pytest.mark.parametrize(
    ("paths", "folder"),
    [
        (["in/a.csv"], "in/a.csv"),
        (["in/a.csv", "in/b.csv"], "in"),
        (["in/x/a", "in/y/b"], "in"),
        (["a", "b/c"], ""),
    ],
)
def test_the_data_path_is_the_file_or_the_folder_of_all(paths, folder):
    assert data_path_of(paths) == folder


def test_a_recurrence_schedule_is_a_dag_that_plans_then_submits(ws, registry, pipeline):
    import json

    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_mlpipe.registry.dagfile import registry_dags

    every_3_days = ScheduleRecurrence(frequency="Day", interval=3, start_time="2026-01-01T09:00:00")
    record = registry.create_schedule({"pipeline_id": pipeline["id"]}, "exp",
                                      settings(ws, registry, pipeline, recurrence=every_3_days))  # fmt: skip
    dags = registry_dags(registry.root)
    dag = dags[f"mlpipe_registry_{record['dag_id']}"]
    assert set(dag.task_dict) == {"plan", "submit"} and dag.catchup is False
    assert type(dag.timetable).__name__ == "RecurrenceTimetable" and "every 3 days" in dag.timetable.summary
    restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
    assert restored.timetable == dag.timetable
    registry.update_schedule(record["id"], {"status": "Disabled"})
    assert registry_dags(registry.root)[f"mlpipe_registry_{record['dag_id']}"].is_paused_upon_creation is True


def test_a_datastore_schedule_is_a_dag_on_the_watched_asset(ws, registry, pipeline):
    import json

    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_mlpipe.registry.schedule_dag import schedule_dag

    record = registry.create_schedule({"pipeline_id": pipeline["id"]}, "exp",
                                      settings(ws, registry, pipeline, datastore="workspaceblobstore",
                                               path_on_datastore="in", polling_interval=0.5))  # fmt: skip
    dag = schedule_dag(record)
    (asset,) = (
        dag.timetable.asset_condition.objects
        if hasattr(dag.timetable.asset_condition, "objects")
        else [dag.timetable.asset_condition]
    )
    assert asset.name == f"mlpipe_schedule_{record['id']}" and asset.uri.startswith(
        "mlpipe-datastore://workspaceblobstore/in"
    )
    (watcher,) = asset.watchers
    kind, kwargs = watcher.trigger.serialize()
    assert (
        kind.endswith("DatastoreChangeTrigger")
        and kwargs["polling_interval"] == 0.5
        and kwargs["path"] == "in"
    )
    assert kwargs["store_type"] == "local" and kwargs["watch_id"] == record["id"]
    DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
