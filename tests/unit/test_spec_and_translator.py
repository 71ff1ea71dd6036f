"""Translator tests on real small pipelines; DAG files are parsed by Airflow's own DagBag."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import fan_pipeline, write_scripts

from airflow_mlpipe import (
    AmlCompute,
    ComputeTarget,
    Dataset,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PipelineValidationError,
    PythonScriptStep,
    Workspace,
)
from airflow_mlpipe.spec import dump_spec, load_spec


@pytest.fixture
def src(tmp_path):
    return write_scripts(tmp_path / "src", ["prep.py", "work.py", "merge.py", "a.py", "b.py", "c.py"])


def test_fan_out_fan_in_dag_has_edges_params_and_task_ids(src):
    dag = fan_pipeline(Workspace.from_config(), src, width=3).to_dag("fan")
    assert {t.task_id for t in dag.tasks} == {"prep", "work0", "work1", "work2", "merge"}
    assert dag.get_task("merge").upstream_task_ids == {"work0", "work1", "work2"}
    # v1's default continue_on_step_failure=False: the step operators stop when a step failed
    assert all(t.pipeline["stop_on_failure"] for t in dag.tasks) and not dag.fail_fast
    relaxed = fan_pipeline(Workspace.from_config(), src).to_dag("f2", continue_on_step_failure=True)
    assert not any(t.pipeline["stop_on_failure"] for t in relaxed.tasks)
    assert dag.params.dump() == {
        "alpha": 0.5,
        "regenerate_outputs": False,
        "force_rerun": [],
        "continue_on_step_failure": None,
    }
    assert dag.params.get_param("alpha").schema["type"] == "number"
    assert "mlpipe" in dag.tags


def test_params_are_validated_by_airflow_on_trigger(src):
    from airflow.sdk.definitions.param import ParamValidationError

    dag = fan_pipeline(Workspace.from_config(), src).to_dag("fan")
    param = dag.params.get_param("alpha")
    assert param.resolve(2) == 2
    with pytest.raises(ParamValidationError, match="not of type 'number'"):
        param.resolve("high")


def test_reuse_controls_are_params_validated_by_airflow(src):
    from airflow.sdk.definitions.param import ParamValidationError

    dag = fan_pipeline(Workspace.from_config(), src).to_dag("fan")
    force = dag.params.get_param("force_rerun")
    assert force.resolve(["work1", "merge"]) == ["work1", "merge"]
    with pytest.raises(ParamValidationError, match="nope"):
        force.resolve(["nope"])
    with pytest.raises(ParamValidationError):
        dag.params.get_param("regenerate_outputs").resolve("yes")


def test_reuse_control_names_are_reserved(src):
    step = PythonScriptStep("a.py", arguments=[PipelineParameter("force_rerun", "x")], source_directory=src)
    with pytest.raises(PipelineValidationError, match="'force_rerun' is reserved"):
        Pipeline(Workspace.from_config(), [step]).to_dag("r")


def test_compute_target_becomes_pool_and_queue(src):
    ws = Workspace.from_config()
    target = ComputeTarget.create(ws, "gpu-box", AmlCompute.provisioning_configuration(max_nodes=5))
    step = PythonScriptStep("a.py", compute_target=target, source_directory=src)
    by_name = PythonScriptStep("b.py", compute_target="gpu-box", source_directory=src)
    local = PythonScriptStep("c.py", compute_target="local", source_directory=src)
    dag = Pipeline(ws, [step, by_name, local]).to_dag("pools")
    assert (dag.get_task("a.py").pool, dag.get_task("a.py").queue) == ("gpu-box", "gpu-box")
    assert dag.get_task("b.py").pool == "gpu-box"
    assert dag.get_task("c.py").pool == "default_pool"
    spec = Pipeline(ws, [step]).to_spec()
    assert spec["compute_targets"]["gpu-box"]["max_nodes"] == 5


def test_run_after_and_closure_bring_in_producers(src):
    ws = Workspace.from_config()
    data = PipelineData("d")
    PythonScriptStep(
        "a.py", outputs=[data], arguments=[data], source_directory=src
    )  # not listed: found through the closure
    b = PythonScriptStep("b.py", inputs=[data], source_directory=src)
    c = PythonScriptStep("c.py", source_directory=src)
    c.run_after(b)
    dag = Pipeline(ws, [c]).to_dag("closure")  # only c given: b and a come with it
    assert dag.get_task("c.py").upstream_task_ids == {"b.py"}
    assert dag.get_task("b.py").upstream_task_ids == {"a.py"}
    with pytest.raises(PipelineValidationError, match="not an output of any step"):
        Pipeline(ws, [b], resolve_closure=False).to_dag("open")


def test_spec_round_trips_exactly_through_json(src):
    spec = fan_pipeline(Workspace.from_config(), src).to_spec()
    text = dump_spec(spec)
    assert load_spec(text) == spec
    assert dump_spec(load_spec(text)) == text


def invalid(ws, src, kind):
    if kind == "cycle":
        x, y = PipelineData("x"), PipelineData("y")
        a = PythonScriptStep("a.py", inputs=[y], outputs=[x], source_directory=src)
        b = PythonScriptStep("b.py", inputs=[x], outputs=[y], source_directory=src)
        return Pipeline(ws, [a, b])
    if kind == "duplicate":
        return Pipeline(
            ws,
            [
                PythonScriptStep("a.py", name="s", source_directory=src),
                PythonScriptStep("b.py", name="s", source_directory=src),
            ],
        )
    if kind == "unproduced":
        return Pipeline(ws, [PythonScriptStep("a.py", inputs=[PipelineData("orphan")], source_directory=src)])
    if kind == "missing_script":
        return Pipeline(ws, [PythonScriptStep("nope.py", name="train", source_directory=src)])
    if kind == "param_type":
        a = PythonScriptStep("a.py", arguments=[PipelineParameter("n", 5)], source_directory=src)
        b = PythonScriptStep("b.py", arguments=[PipelineParameter("n", "five")], source_directory=src)
        return Pipeline(ws, [a, b])
    if kind == "bad_argument":
        return Pipeline(ws, [PythonScriptStep("a.py", arguments=[{"k": 1}], source_directory=src)])
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("cycle", r"the steps form a cycle: (a\.py -> b\.py -> a\.py|b\.py -> a\.py -> b\.py)"),
        ("duplicate", "two steps are named 's'"),
        (
            "unproduced",
            r"step 'a\.py': input 'orphan' \(PipelineData 'orphan'\) is not an output of any step",
        ),
        ("missing_script", r"step 'train': script file .*nope\.py does not exist"),
        (
            "param_type",
            r"step 'b\.py': arguments\[0\] uses PipelineParameter 'n' as str 'five'.*declares it as int 5",
        ),
        ("bad_argument", r"step 'a\.py': arguments\[0\] is a dict"),
    ],
)
def test_invalid_pipelines_name_the_step_and_problem(src, kind, message):
    pipeline = invalid(Workspace.from_config(), src, kind)
    with pytest.raises(PipelineValidationError, match=message):
        pipeline.to_dag("bad")
    assert pipeline.validate()


def test_invalid_pipeline_fails_when_airflow_parses_the_dag_file(tmp_path, src):
    from airflow.dag_processing.dagbag import DagBag

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "broken.py").write_text(
        textwrap.dedent(
            f"""
            from airflow_mlpipe import Pipeline, PipelineData, PythonScriptStep, Workspace
            x, y = PipelineData("x"), PipelineData("y")
            a = PythonScriptStep("a.py", inputs=[y], outputs=[x], source_directory={src!r})
            b = PythonScriptStep("b.py", inputs=[x], outputs=[y], source_directory={src!r})
            dag = Pipeline(Workspace.from_config(), [a, b]).to_dag("broken")
            """
        )
    )
    (dags / "good.py").write_text(
        textwrap.dedent(
            f"""
            from airflow_mlpipe import Pipeline, PythonScriptStep, Workspace
            dag = Pipeline(Workspace.from_config(), [PythonScriptStep("a.py", source_directory={src!r})]).to_dag("good")
            """
        )
    )
    bag = DagBag(dag_folder=str(dags))
    assert set(bag.dag_ids) == {"good"}
    (error,) = bag.import_errors.values()
    assert "the steps form a cycle" in error


def test_seed_example_translates_with_imports_changed_only(tmp_path, monkeypatch):
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("compare_models", REPO / "dags" / "compare_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    assert [t.task_id for t in dag.tasks] == ["train.py", "extract.py", "compare.py"]
    assert dag.get_task("compare.py").upstream_task_ids == {"train.py", "extract.py"}
    assert dag.params.dump() == {
        "pipeline_arg": 10,
        "regenerate_outputs": False,
        "force_rerun": [],
        "continue_on_step_failure": None,
    }
    step = {s["name"]: s for s in module.pipeline1.to_spec()["steps"]}
    train_inputs = step["train.py"]["inputs"]
    assert [(i["name"], i["mode"]) for i in train_inputs] == [("input1", "download")]
    compare_inputs = {i["name"]: i for i in step["compare.py"]["inputs"]}
    assert compare_inputs["iris_data"]["dataset"]["type"] == "tabular"
    assert json.loads(json.dumps(module.pipeline1.to_spec())) == module.pipeline1.to_spec()


def test_tabular_direct_input_and_file_download_modes(src):
    ws = Workspace.from_config()
    store = ws.get_default_datastore()
    fd = Dataset.File.from_files([(store, "x")], validate=False)
    step = PythonScriptStep("a.py", arguments=[fd.as_named_input("files").as_mount()], source_directory=src)
    spec = Pipeline(ws, [step]).to_spec()
    (inp,) = spec["steps"][0]["inputs"]
    assert (inp["name"], inp["mode"]) == ("files", "mount")


def test_v1_step_names_with_spaces_become_task_ids_and_stay_the_display_names(src):
    first = PythonScriptStep("a.py", name="Prepare data (v1)", source_directory=src)
    second = PythonScriptStep("b.py", name="train", source_directory=src)
    second.run_after(first)
    dag = Pipeline(Workspace.from_config(), [first, second]).to_dag("named")
    task = dag.get_task("Prepare_data__v1_")
    assert task.task_display_name == "Prepare data (v1)" and task.step["name"] == "Prepare data (v1)"
    assert dag.get_task("train").upstream_task_ids == {"Prepare_data__v1_"}
    assert dag.params.get_param("force_rerun").schema["items"]["enum"] == ["Prepare data (v1)", "train"]
    twin = PythonScriptStep("c.py", name="Prepare_data__v1_", source_directory=src)
    with pytest.raises(PipelineValidationError, match="would both be Airflow task 'Prepare_data__v1_'"):
        Pipeline(Workspace.from_config(), [first, twin]).to_spec()
