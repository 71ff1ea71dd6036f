"""AdlaStep and AdlaCompute: v1's arguments, checks and messages, @@name@@ placeholders checked
against the step's inputs, outputs and params, and the spec the ADLA step operator reads."""

from __future__ import annotations

import json

import pytest

from airflow_mlpipe import (
    ComputeTargetException,
    DataReference,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PipelineValidationError,
    UserErrorException,
    Workspace,
)
from airflow_mlpipe.definitions.adla import AdlaStep, placeholders, substitute
from airflow_mlpipe.definitions.adla_compute import AdlaCompute, check_adla_config
from airflow_mlpipe.definitions.compute import ComputeTarget
from airflow_mlpipe.exceptions import WorkspaceConfigError

SCRIPT = """@rows =
    EXTRACT query string, n int
    FROM "@@script_input@@"
    USING Extractors.Csv(skipFirstNRows: @@skip@@);
OUTPUT @rows TO "@@script_output@@" USING Outputters.Csv();
"""


@pytest.fixture
def ws(tmp_path):
    config = tmp_path / "project" / "mlpipe.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"workspace_name": "team"}))
    ws = Workspace.from_config(config)
    # what Workspace._setup sets from the config's "adla" section once integrated
    ws.adla = check_adla_config(
        {"acct": {"conn_id": "adla_conn", "datastore": "workspaceblobstore"}},
        config,
        set(ws._datastore_specs),
    )
    return ws


@pytest.fixture
def adla(ws):
    return AdlaCompute._attach(
        ws, "adla", AdlaCompute.attach_configuration(resource_group="rg", account_name="acct")
    )


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "usql"
    folder.mkdir()
    (folder / "job.usql").write_text(SCRIPT)
    return folder


def test_attach_stores_the_connection_and_datastore_and_reloads(ws, adla):
    assert adla.to_spec() == {
        "name": "adla",
        "type": "DataLakeAnalytics",
        "conn_id": "adla_conn",
        "datastore": "workspaceblobstore",
        "account_name": "acct",
    }
    again = AdlaCompute(ws, "adla")
    assert again.conn_id == "adla_conn" and again.cluster_resource_id.endswith(
        "/Microsoft.DataLakeAnalytics/accounts/acct"
    )
    by_id = AdlaCompute.attach_configuration(
        resource_id="/subscriptions/s/resourceGroups/rg2/providers/Microsoft.DataLakeAnalytics/accounts/acct"
    )
    assert by_id.adla_account() == ("rg2", "acct")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "Please provide resource_group and account_name for the ADLA compute resource"),
        ({"resource_group": "rg"}, "account_name is not provided."),
        ({"account_name": "a"}, "resource_group is not provided."),
        (
            {"resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w"},
            "does not match for DataLakeAnalytics",
        ),
        (
            {
                "resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataLakeAnalytics/accounts/a",
                "account_name": "a",
            },
            "please do not provide account_name",
        ),
    ],
)
def test_attach_configuration_checks_are_v1s(kwargs, message):
    with pytest.raises(ComputeTargetException, match=message):
        AdlaCompute.attach_configuration(**kwargs)


def test_an_account_the_config_does_not_place_runs_its_jobs_in_process(ws):
    target = ComputeTarget.attach(
        ws, "x", AdlaCompute.attach_configuration(resource_group="rg", account_name="other")
    )
    assert (target.conn_id, target.datastore) == (None, None)
    assert target.to_spec() == {
        "name": "x",
        "type": "DataLakeAnalytics",
        "engine": "in-process",
        "account_name": "other",
    }
    with pytest.raises(ComputeTargetException, match="DEPRECATED"):
        AdlaCompute.attach(ws, "x", "id")


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"conn_id": "c", "datastore": "workspaceblobstore", "password": "p"},
            r"\['password'\] must not be in the config",
        ),
        ({"conn_id": "c"}, "'datastore' must be a non-empty string"),
        ({"conn_id": "c", "datastore": "nope"}, "datastore 'nope' is not defined"),
        ({"conn_id": "c", "datastore": "workspaceblobstore", "host": "h"}, r"unknown keys \['host'\]"),
    ],
)
def test_the_adla_config_section_is_checked(entry, message):
    with pytest.raises(WorkspaceConfigError, match=message):
        check_adla_config({"acct": entry}, "cfg", {"workspaceblobstore"})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"script_name": None}, "AdlaStep: script_name is required"),
        ({"script_name": 3}, "AdlaStep: script_name must be a string"),
        ({"compute_target": None}, "step 'job.usql': compute_target is required"),
        ({"compute_target": "local"}, "runs on an AdlaCompute, not 'local'"),
        ({"priority": 0}, "priority must be greater than 0"),
        ({"degree_of_parallelism": 0}, "degree_of_parallelism must be greater than 0"),
        ({"degree_of_parallelism": "4"}, "degree_of_parallelism must be an int"),
        ({"params": {"a b": 1}}, "cannot be a @@name@@ placeholder"),
        ({"params": {"x": [1]}}, r"params\['x'\] is a list"),
        ({"script_name": "../job.usql"}, "must be a path relative to source_directory"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_step(kwargs, message):
    with pytest.raises(UserErrorException, match=message):
        AdlaStep(**{"script_name": "job.usql", "compute_target": "adla", **kwargs})


def test_a_negative_degree_of_parallelism_means_one_as_in_adla():
    assert AdlaStep("job.usql", compute_target="adla", degree_of_parallelism=-5).degree_of_parallelism == 1
    assert AdlaStep("job.usql", compute_target="adla").name == "job.usql"  # v1: named after the script


def test_the_spec_records_script_substitutions_params_and_settings(ws, adla, source):
    inp = DataReference(
        ws.get_default_datastore(), data_reference_name="script_input", path_on_datastore="in/a.csv"
    )
    out = PipelineData("script_output", datastore=ws.get_default_datastore())
    skip = PipelineParameter("skip", default_value=1)
    step = AdlaStep("job.usql", name="agg", inputs=[inp], outputs=[out], params={"skip": skip}, priority=5,
                    runtime_version="rt", compute_target=adla, source_directory=str(source))  # fmt: skip
    spec = Pipeline(ws, [step]).to_spec()
    (entry,) = spec["steps"]
    assert entry["kind"] == "adla" and entry["compute_target"] == "adla"
    settings = entry["settings"]
    assert settings["script_name"] == "job.usql" and settings["source_directory"] == str(source)
    assert settings["params"] == {"skip": {"parameter": "skip"}}
    assert settings["substitutions"] == {"script_input": "input", "script_output": "output", "skip": "param"}
    assert (settings["priority"], settings["degree_of_parallelism"], settings["runtime_version"]) == (
        5,
        None,
        "rt",
    )
    assert spec["compute_targets"]["adla"]["type"] == "DataLakeAnalytics"
    assert json.loads(json.dumps(spec)) == spec


def test_unknown_placeholders_and_name_clashes_are_problems_with_their_line(ws, adla, source):
    out = PipelineData("script_output", datastore=ws.get_default_datastore())
    step = AdlaStep(
        "job.usql",
        name="agg",
        outputs=[out],
        params={"script_output": "x"},
        compute_target=adla,
        source_directory=str(source),
    )
    with pytest.raises(PipelineValidationError) as exc:
        Pipeline(ws, [step]).to_spec()
    text = str(exc.value)
    assert "step 'agg': job.usql line 3: @@script_input@@ names no input, output or params key" in text
    assert "line 4: @@skip@@" in text
    assert "output and param are both named 'script_output'" in text


def test_placeholders_and_substitution_follow_v1():
    assert placeholders(SCRIPT) == {"script_input": 3, "skip": 4, "script_output": 5}
    done = substitute(SCRIPT, {"script_input": "/in/a.csv", "skip": "1"})
    assert 'FROM "/in/a.csv"' in done and "skipFirstNRows: 1" in done and "@@script_output@@" in done
