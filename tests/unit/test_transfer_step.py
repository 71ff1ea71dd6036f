"""DataTransferStep, SqlDataReference and DataFactoryCompute: v1's checks and messages naming the step,
and the spec a pipeline with a transfer gives (its output is data a later step consumes)."""

from __future__ import annotations

import json

import pytest

from airflow_mlpipe import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    DataFactoryCompute,
    DataReference,
    Datastore,
    DataTransferStep,
    OutputFileDatasetConfig,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PipelineValidationError,
    PythonScriptStep,
    SqlDataReference,
    StoredProcedureParameter,
    StoredProcedureParameterType,
    UserErrorException,
    Workspace,
)
from airflow_mlpipe.definitions.dataset import FileDataset
from airflow_mlpipe.definitions.registered import Dataset


@pytest.fixture
def ws(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('hi')\n")
    w = Workspace.from_config()
    Datastore.register_azure_blob_container(w, "blob", "raw", "acct", conn_id="c_blob")
    Datastore.register_azure_data_lake_gen2(w, "lake", "fs", "acct", conn_id="c_lake")
    Datastore.register_azure_postgre_sql(w, "pg", "127.0.0.1", "sales", conn_id="c_pg")
    ComputeTarget.create(w, "adf", DataFactoryCompute.provisioning_configuration(max_concurrent_transfers=3))
    return w


def refs(ws):
    return DataReference(Datastore(ws, "blob"), path_on_datastore="in"), DataReference(
        Datastore(ws, "lake"), path_on_datastore="out"
    )


def test_v1_messages_name_the_step(ws):
    src, dst = refs(ws)
    cases = [
        (dict(name=None), "name is required"),
        (dict(name=3), "name must be a string"),
        (dict(name="copy"), "DataTransferStep 'copy': source_data_reference is required"),
        (dict(name="copy", source_data_reference=src), "'copy': destination_data_reference is required"),
        (dict(name="copy", source_data_reference=src, destination_data_reference=dst), "compute_target is required"),
        (
            dict(name="copy", source_data_reference=src, destination_data_reference=dst, compute_target="adf",
                 source_reference_type=1),
            "'copy': source_reference_type must be a string. Possible values include: file, directory.",
        ),
        (
            dict(name="copy", source_data_reference=src, destination_data_reference=dst, compute_target="adf",
                 destination_reference_type="folder"),
            "Unknown value provided for destination_reference_type. Possible values include: file, directory.",
        ),
        (
            dict(name="copy", source_data_reference="wasbs://x", destination_data_reference=dst, compute_target="adf"),
            "'copy': Unexpected source_data_reference type: str",
        ),
        (
            dict(name="copy", source_data_reference=src, destination_data_reference=42, compute_target="adf"),
            "Unexpected destination_data_reference type: int",
        ),
        (
            dict(name="copy", source_data_reference=src, destination_data_reference=dst, compute_target=7),
            "compute_target is not specified correctly",
        ),
        (
            dict(name="copy", source_data_reference=src, destination_data_reference=src.path("sub"),
                 compute_target="adf"),
            "overlap",
        ),
    ]  # fmt: skip
    for kwargs, message in cases:
        with pytest.raises(UserErrorException) as excinfo:
            DataTransferStep(**kwargs)
        assert message in str(excinfo.value), (kwargs, str(excinfo.value))


def test_reference_types_are_case_insensitive_and_not_for_tables(ws):
    src, dst = refs(ws)
    step = DataTransferStep(
        "copy", src, dst, "adf", source_reference_type="FILE", destination_reference_type="Directory"
    )
    assert (step.source_reference_type, step.destination_reference_type) == ("file", "directory")
    table = SqlDataReference(Datastore(ws, "pg"), sql_table="sales")
    with pytest.raises(
        UserErrorException,
        match="source_reference_type='file' describes files, but the source is a SQL table",
    ):
        DataTransferStep("copy", table, dst, "adf", source_reference_type="file")
    query = SqlDataReference(Datastore(ws, "pg"), sql_query="select 1")
    with pytest.raises(UserErrorException, match="'copy': a SqlDataReference destination must name a table"):
        DataTransferStep("copy", src, query, "adf")


def test_sql_data_reference_checks():
    ws = Workspace.from_config()
    pg = Datastore.register_azure_postgre_sql(ws, "pg", "localhost", "db", conn_id="c")
    blob = Datastore.register_azure_blob_container(ws, "blob", "raw", "acct", conn_id="c2")
    with pytest.raises(
        UserErrorException, match="exactly one of sql_table, sql_query and sql_stored_procedure"
    ):
        SqlDataReference(pg)
    with pytest.raises(UserErrorException, match=r"exactly one .*\(got \['sql_query', 'sql_table'\]\)"):
        SqlDataReference(pg, sql_table="t", sql_query="select 1")
    with pytest.raises(
        UserErrorException, match="'blob': it is a AzureBlob datastore; a SqlDataReference needs a SQL"
    ):
        SqlDataReference(blob, sql_table="t")
    with pytest.raises(UserErrorException, match="not a name such as 'sales'.*use sql_query"):
        SqlDataReference(pg, sql_table="t; drop table x")
    with pytest.raises(UserErrorException, match="sql_stored_procedure_params go with sql_stored_procedure"):
        SqlDataReference(pg, sql_table="t", sql_stored_procedure_params=[StoredProcedureParameter("a", 1)])
    with pytest.raises(UserErrorException, match="list of StoredProcedureParameter"):
        SqlDataReference(pg, sql_stored_procedure="p", sql_stored_procedure_params={"a": 1})
    ok = SqlDataReference(pg, sql_table='public."Sales 2024"')
    assert (ok.sql_kind, ok.sql_text, ok.data_reference_name) == (
        "table",
        'public."Sales 2024"',
        "public__Sales_2024_",
    )
    with pytest.raises(NotImplementedError, match="does not support `download` operation"):
        ok.as_download()
    with pytest.raises(NotImplementedError, match="does not support `path` operation"):
        ok.path("x")


def test_spec_of_a_query_to_files_consumed_by_a_script(ws, tmp_path):
    since = PipelineParameter("since", default_value="2024-01-01")
    proc = SqlDataReference(
        Datastore(ws, "pg"),
        sql_stored_procedure="report",
        sql_stored_procedure_params=[
            StoredProcedureParameter("since", since, StoredProcedureParameterType.Date),
            StoredProcedureParameter("@top", 10, StoredProcedureParameterType.Int),
        ],
    )
    dest = DataReference(Datastore(ws, "blob"), path_on_datastore="reports/report.csv")
    copy = DataTransferStep("export report", proc, dest, compute_target=ComputeTarget(ws, "adf"),
                            destination_reference_type="file")  # fmt: skip
    out = copy.get_output()
    assert (
        out.output_name == "_data_transfer_output" and out.datastore.name == "blob" and not out.is_directory
    )
    train = PythonScriptStep(
        "train.py", arguments=["--data", out], inputs=[out], source_directory=str(tmp_path / "src")
    )
    spec = json.loads(json.dumps(Pipeline(ws, [train]).to_spec()))  # resolve_closure finds the transfer
    by_name = {s["name"]: s for s in spec["steps"]}
    transfer = by_name["export report"]
    assert (
        transfer["kind"] == "data_transfer"
        and transfer["compute_target"] == "adf"
        and transfer["inputs"] == []
    )
    assert spec["compute_targets"]["adf"] == {"name": "adf", "type": "DataFactory", "max_nodes": 3}
    assert transfer["settings"] == {
        "source": {
            "kind": "sql",
            "datastore": "pg",
            "procedure": "report",
            "params": [
                {"name": "since", "type": "Date", "value": {"parameter": "since"}},
                {"name": "top", "type": "Int", "value": {"literal": 10}},
            ],
        },
        "destination": {"kind": "datastore_path", "datastore": "blob", "path": "reports/report.csv"},
        "source_type": None,
        "destination_type": "file",
        "output": out.name,
    }
    assert spec["data"][out.name]["producer"] == "export report"
    assert spec["data"][out.name]["consumers"] == ["train.py"]
    assert by_name["train.py"]["upstream"] == ["export report"]
    assert by_name["train.py"]["inputs"][0]["name"] == "_data_transfer_output"
    assert (
        set(spec["datastores"]) >= {"pg", "blob"} and spec["parameters"]["since"]["default"] == "2024-01-01"
    )
    assert [s["name"] for s in spec["steps"]] == ["export report", "train.py"]


def test_pipeline_data_in_and_output_file_dataset_config_out(ws, tmp_path):
    raw = PipelineData("raw", datastore=Datastore(ws, "blob"))
    PythonScriptStep("train.py", name="make", outputs=[raw], source_directory=str(tmp_path / "src"))
    curated = OutputFileDatasetConfig("curated", destination=(Datastore(ws, "lake"), "curated/{run-id}"))
    copy = DataTransferStep("publish", raw.as_input("raw_in"), curated, "adf")
    assert copy.get_output() is curated  # the destination is already this step's output
    use = PythonScriptStep(
        "train.py", name="use", arguments=[curated.as_input("cur")], source_directory=str(tmp_path / "src")
    )
    spec = Pipeline(ws, [use]).to_spec()
    by_name = {s["name"]: s for s in spec["steps"]}
    assert by_name["publish"]["upstream"] == ["make"] and by_name["use"]["upstream"] == ["publish"]
    assert by_name["publish"]["inputs"][0]["name"] == "raw_in"
    assert by_name["publish"]["settings"]["source"] == {
        "kind": "pipeline_data",
        "data": "raw",
        "input": "raw_in",
    }
    assert by_name["publish"]["settings"]["destination"] == {"kind": "pipeline_data", "data": "curated"}
    assert (
        spec["data"]["curated"]["producer"] == "publish"
        and spec["data"]["curated"]["destination"] == "curated/{run-id}"
    )
    with pytest.raises(UserErrorException, match="taken as_input\\(\\); this step writes it"):
        DataTransferStep("again", raw, curated.as_input(), "adf")


def test_datasets_and_two_transfers_in_one_pipeline(ws, tmp_path):
    files = FileDataset([(Datastore(ws, "blob"), "landing/2024")], {}, validate=False)
    target = Dataset.File.from_files((Datastore(ws, "lake"), "mirror"), validate=False)
    first = DataTransferStep("mirror", files, target, "adf")
    second = DataTransferStep("back", DataReference(Datastore(ws, "lake"), path_on_datastore="mirror"),
                              DataReference(Datastore(ws, "blob"), path_on_datastore="back"), "adf")  # fmt: skip
    second.run_after(first)
    spec = Pipeline(ws, [first, second]).to_spec()
    by_name = {s["name"]: s for s in spec["steps"]}
    assert by_name["mirror"]["settings"]["source"] == {"kind": "dataset", "input": "source"}
    assert by_name["mirror"]["inputs"][0]["kind"] == "dataset"
    assert by_name["mirror"]["settings"]["destination"] == {
        "kind": "datastore_path",
        "datastore": "lake",
        "path": "mirror",
    }
    assert by_name["back"]["settings"]["source"] == {
        "kind": "datastore_path", "datastore": "lake", "path": "mirror", "input": "mirror",
    }  # fmt: skip
    outputs = {first.get_output().name, second.get_output().name}
    assert len(outputs) == 2 and outputs <= set(spec["data"])  # one output per step, pipeline-wide unique
    with pytest.raises(UserErrorException, match="one datastore path without wildcards"):
        DataTransferStep(
            "x", files, Dataset.File.from_files((Datastore(ws, "lake"), "m/*.csv"), validate=False), "adf"
        )


def test_compute_targets_a_transfer_may_run_on(ws, tmp_path):
    src, dst = refs(ws)
    ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=2))
    for target in ("local", "cpu", ComputeTarget(ws, "cpu"), "adf"):
        Pipeline(ws, [DataTransferStep("copy", src, dst, target)]).to_spec()
    from airflow_mlpipe.definitions.databricks_compute import DatabricksCompute

    ws._save_compute("dbx", {"type": "Databricks", "conn_id": "c", "workspace_name": "w"})
    with pytest.raises(UserErrorException, match="compute_target is not specified correctly"):
        DataTransferStep("copy", src, dst, ComputeTarget(ws, "dbx"))
    assert isinstance(ComputeTarget(ws, "dbx"), DatabricksCompute)
    with pytest.raises(PipelineValidationError, match="Error in getting data factory compute named `dbx`"):
        Pipeline(ws, [DataTransferStep("copy", src, dst, "dbx")]).to_spec()


def test_data_factory_compute_v1_configurations(ws):
    attach = DataFactoryCompute.attach_configuration(resource_group="rg", factory_name="adf1")
    target = ComputeTarget.attach(ws, "adf2", attach)
    assert isinstance(target, DataFactoryCompute) and target.pool_slots == 1
    assert target.spec == {
        "type": "DataFactory",
        "max_nodes": 1,
        "resource_group": "rg",
        "factory_name": "adf1",
    }
    rid = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f"
    assert DataFactoryCompute.attach_configuration(resource_id=rid).factory() == ("rg", "f")
    for kwargs, message in [
        ({}, "Please provide resource_group and factory_name"),
        ({"resource_group": "rg"}, "factory_name is not provided."),
        ({"resource_id": "/x"}, "Invalid resource_id provided: /x"),
        (
            {"resource_id": rid.replace("DataFactory", "Databricks")},
            "resource type Microsoft.Databricks does not match",
        ),
        (
            {"resource_id": rid, "factory_name": "f"},
            "Since resource_id is provided, please do not provide factory_name.",
        ),
        ({"resource_group": "rg", "factory_name": "f", "max_concurrent_transfers": 0}, "positive integer"),
    ]:
        with pytest.raises(ComputeTargetException, match=message):
            DataFactoryCompute.attach_configuration(**kwargs)
    with pytest.raises(ComputeTargetException, match="DEPRECATED"):
        DataFactoryCompute.attach(ws, "x", rid)
    ComputeTarget.create(ws, "cpu2", AmlCompute.provisioning_configuration(max_nodes=1))
    with pytest.raises(ComputeTargetException, match="already exists as a AmlCompute target"):
        ComputeTarget.attach(ws, "cpu2", attach)
    ComputeTarget(ws, "adf2").detach()
    assert "adf2" not in ws.compute_targets


def test_a_hand_written_operator_takes_data_transfer_step_arguments(ws):
    from airflow_mlpipe.operators.transfer import DataTransferStepOperator

    src, dst = refs(ws)
    op = DataTransferStepOperator(
        task_id="copy",
        source_data_reference=src,
        destination_data_reference=dst,
        compute_target="adf",
        retries=2,
    )
    assert op.step["name"] == "copy" and op.step["kind"] == "data_transfer"
    assert op.step["settings"]["destination"] == {
        "kind": "datastore_path",
        "datastore": "lake",
        "path": "out",
    }
    assert (op.pool, op.queue, op.retries) == ("adf", "adf", 2)  # the Data Factory target is a pool
    assert op.pipeline["compute_targets"]["adf"]["max_nodes"] == 3
    with pytest.raises(Exception, match="DataTransferStep 'bad': destination_data_reference is required"):
        DataTransferStepOperator(task_id="bad", source_data_reference=src, compute_target="adf")
