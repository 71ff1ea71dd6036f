"""Published pipeline and endpoint records, and the checks of a submission (no Airflow needed)."""

from __future__ import annotations

import os

import pytest

from airflow_mlpipe import (
    DataPath,
    DataPathComputeBinding,
    Pipeline,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import ConflictError, NotFoundError, PublishedRegistry
from airflow_mlpipe.registry.submission import build_conf


@pytest.fixture
def spec(tmp_path):
    ws = Workspace.from_config()
    (tmp_path / "s.py").write_text("print(1)\n")
    data = PipelineParameter("input_data", default_value=DataPath(ws.get_default_datastore(), "data/a"))
    scale = PipelineParameter("scale", default_value=2)
    binding = (data, DataPathComputeBinding(mode="download"))
    step = PythonScriptStep(
        "s.py", name="score", source_directory=str(tmp_path), arguments=[binding, scale], inputs=[binding]
    )
    return Pipeline(ws, [step]).to_spec()


def test_datapath_parameter_in_the_spec_and_the_dag(spec):
    assert spec["parameters"]["input_data"] == {
        "type": "datapath",
        "default": {"datastore": "workspaceblobstore", "path": "data/a"},
    }
    (inp,) = spec["steps"][0]["inputs"]
    assert inp["kind"] == "datapath_param" and inp["mode"] == "download"
    assert {"workspaceblobstore", "workspacefilestore"} <= set(spec["datastores"])
    from airflow_mlpipe.translator import build_dag

    dag = build_dag(spec, "dp")
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError):
        dag.params.get_param("input_data").resolve({"datastore": "x"})  # no path
    assert dag.params.get_param("input_data").resolve({"datastore": "x", "path": "y"}) == {
        "datastore": "x",
        "path": "y",
    }


def test_datapath_needs_a_datapath_default(tmp_path):
    ws = Workspace.from_config()
    (tmp_path / "s.py").write_text("")
    p = PipelineParameter("n", default_value=1)
    step = PythonScriptStep("s.py", source_directory=str(tmp_path), inputs=[(p, DataPathComputeBinding())])
    with pytest.raises(UserErrorException, match="needs a PipelineParameter whose default is a DataPath"):
        Pipeline(ws, [step]).to_spec()


def test_publish_is_immutable_and_endpoint_versions_move(spec):
    reg = PublishedRegistry()
    a = reg.publish(spec, "scoring", version="1")
    b = reg.publish(spec, "scoring", version="2")
    assert a["dag_id"] == f"published_{a['id']}" and a["status"] == "Active"
    assert reg.registry.get(a["dag_id"])["kind"] == "published"
    assert [r["id"] for r in reg.list_pipelines()] == [a["id"], b["id"]]
    reg.set_pipeline_status(a["id"], "Disabled")
    assert [r["id"] for r in reg.list_pipelines(active_only=True)] == [b["id"]]
    with pytest.raises(NotFoundError, match="UUID"):
        reg.get_pipeline("../etc/passwd")

    ep = reg.create_endpoint("ep", None, a["id"])
    with pytest.raises(ConflictError, match="already exists"):
        reg.create_endpoint("ep", None, b["id"])
    ep = reg.update_endpoint(ep["id"], add_pipeline=b["id"])
    assert [(v["version"], v["pipeline_id"]) for v in ep["versions"]] == [("0", a["id"]), ("1", b["id"])]
    assert ep["default_version"] == "0"
    ep = reg.update_endpoint(ep["id"], add_pipeline=a["id"], make_default=True)
    assert ep["default_version"] == "2"
    ep = reg.update_endpoint(ep["id"], default_pipeline=b["id"])
    assert ep["default_version"] == "1" and reg.endpoint_version(ep)["pipeline_id"] == b["id"]
    with pytest.raises(NotFoundError, match="no version '5'"):
        reg.update_endpoint(ep["id"], default_version="5")
    reg.update_endpoint(ep["id"], status="Archived")
    with pytest.raises(NotFoundError):
        reg.get_endpoint(name="ep")  # an archived endpoint releases its name
    other = reg.create_endpoint("ep", None, a["id"])
    with pytest.raises(ConflictError, match="archived"):
        reg.update_endpoint(ep["id"], status="Active")
    with pytest.raises(ConflictError, match="already exists"):
        reg.update_endpoint(ep["id"], status="Active", name="ep")
    back = reg.update_endpoint(ep["id"], status="Active", name="ep-old")
    assert back["name"] == "ep-old" and reg.get_endpoint(name="ep")["id"] == other["id"]
    # the rename held the registry's lease and gave it back: the next writer takes it at once
    assert not os.path.exists(reg.root / ".lock")
    assert reg.store.acquire_lease(".lock", "next", 5) is not None


def test_build_conf_checks_everything_before_a_run(spec):
    record = PublishedRegistry().publish(spec, "scoring")
    conf = build_conf(
        record,
        {"scale": "5"},
        {"input_data": {"DataStoreName": "workspacefilestore", "RelativePath": "/x/y/"}},
        True,
        ["score"],
    )
    assert conf == {
        "scale": 5,
        "input_data": {"datastore": "workspacefilestore", "path": "x/y"},
        "regenerate_outputs": True,
        "force_rerun": ["score"],
    }
    bad = [
        (({"sclae": 1},), "unknown pipeline parameter 'sclae'"),
        (({"scale": "five"},), "'five' is not a valid int"),
        (({"input_data": "x"},), "set it in DataPathAssignments"),
        ((None, {"scale": {"DataStoreName": "a", "RelativePath": "b"}}), "is not a DataPath parameter"),
        ((None, {"input_data": {"DataStoreName": "nope", "RelativePath": "b"}}), "datastore 'nope'"),
        ((None, {"input_data": {"DataStoreName": 3, "RelativePath": "b"}}), "is not a data path"),
        ((None, None, "yes"), "RegenerateOutputs must be true or false"),
        ((None, None, False, ["nope"]), "unknown step"),
        ((None, None, False, "score"), "must be a list"),
    ]
    for args, message in bad:
        with pytest.raises(UserErrorException, match=message):
            build_conf(record, *args)
