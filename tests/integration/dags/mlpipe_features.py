"""Test DAG: parameters of each type, params as AML_PARAMETER_*, a DataReference input,
PipelineData between steps, run_after, every metric kind."""

from pathlib import Path

from airflow_mlpipe import Datastore, Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace

here = Path(__file__).resolve().parent
src = str(here / "scripts")
ws = Workspace.from_config()
store = Datastore(ws, "workspaceblobstore")
store.upload_files(
    [str(here / "scripts" / "reference.txt")], target_path="refdata", overwrite=True, show_progress=False
)

flag = PipelineParameter("flag", default_value=True)
ratio = PipelineParameter("ratio", default_value=0.25)
mode = PipelineParameter("mode", default_value="fast")
produced = PipelineData("produced", datastore=store)

produce = PythonScriptStep(
    "produce.py",
    name="produce",
    arguments=[
        "--out",
        produced,
        "--flag",
        flag,
        "--ratio",
        ratio,
        "--ref",
        store.path("refdata").as_download(),
    ],
    outputs=[produced],
    params={"mode": mode, "fixed": "literal"},
    source_directory=src,
)
consume = PythonScriptStep(
    "consume.py",
    name="consume",
    arguments=["--data", produced.as_download(input_name="produced_in")],
    inputs=[produced.as_download(input_name="produced_in")],
    source_directory=src,
)
after = PythonScriptStep("after.py", name="after", source_directory=src)
after.run_after(consume)
dag = Pipeline(ws, [produce, consume, after]).to_dag("features")
