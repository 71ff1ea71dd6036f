"""Test DAGs for step reuse: a chain with a fan-out, a pipeline run twice at once, a step that is
killed, and a consumer of a blob path whose data changes. Each decides its reuse in the triggerer
(Airflow >= 3.3; `auto` would keep these narrow pipelines on workers): the whole reuse suite runs
through that path."""

import os
from pathlib import Path

from airflow_mlpipe import Dataset, Datastore, Pipeline, PipelineData, PythonScriptStep, Workspace

here = Path(__file__).resolve().parent
ws = Workspace.from_config()
store = Datastore(ws, "workspaceblobstore")

# reuse_chain: a -> b -> c, and a -> d; each step has its own source folder (a snapshot is
# the whole folder, as in Azure ML)
src = str(here / "reuse_src")
store.upload_files(
    [str(here / "reuse_src" / "input.txt")], target_path="reuse", overwrite=True, show_progress=False
)
raw = Dataset.File.from_files([(store, "reuse/input.txt")]).as_named_input("raw")
out_a, out_b = PipelineData("out_a"), PipelineData("out_b")
a = PythonScriptStep(
    "a.py",
    name="a",
    arguments=["--input", raw, "--out", out_a],
    inputs=[raw],
    outputs=[out_a],
    source_directory=f"{src}/a",
)
b = PythonScriptStep(
    "b.py",
    name="b",
    arguments=["--inp", out_a, "--out", out_b],
    inputs=[out_a],
    outputs=[out_b],
    source_directory=f"{src}/b",
)
c = PythonScriptStep(
    "c.py", name="c", arguments=["--inp", out_b], inputs=[out_b], source_directory=f"{src}/c"
)
d = PythonScriptStep(
    "d.py", name="d", arguments=["--inp", out_a], inputs=[out_a], source_directory=f"{src}/d"
)
chain_dag = Pipeline(ws, [a, b, c, d]).to_dag("reuse_chain", reuse_in_triggerer="on")

# reuse_concurrent: x -> y, each a few seconds long
csrc = str(here / "concurrent_src")
vx, vy = PipelineData("vx"), PipelineData("vy")
x = PythonScriptStep("slow.py", name="x", arguments=["--out", vx], outputs=[vx], source_directory=csrc)
y = PythonScriptStep(
    "slow.py",
    name="y",
    arguments=["--inp", vx, "--out", vy],
    inputs=[vx],
    outputs=[vy],
    source_directory=csrc,
)
concurrent_dag = Pipeline(ws, [x, y]).to_dag("reuse_concurrent", reuse_in_triggerer="on")

# reuse_kill: a step the test kills with SIGKILL
kout = PipelineData("kout")
k = PythonScriptStep(
    "k.py", name="k", arguments=["--out", kout], outputs=[kout], source_directory=str(here / "kill_src")
)
kill_dag = Pipeline(ws, [k]).to_dag("reuse_kill", reuse_in_triggerer="on")

# blob_reuse: a consumer of a blob path whose content the test replaces
blob_ws = Workspace.from_config(path=os.environ["MLPIPE_TEST_BLOB_CONFIG"])
lake = blob_ws.get_default_datastore()
feed = Dataset.File.from_files([(lake, "feeds/latest.csv")], validate=False).as_named_input("feed")
consume = PythonScriptStep(
    "feed_count.py",
    name="consume",
    arguments=["--feed", feed],
    inputs=[feed],
    source_directory=str(here / "scripts"),
)
independent = PythonScriptStep("after.py", name="independent", source_directory=str(here / "scripts"))
blob_dag = Pipeline(blob_ws, [consume, independent]).to_dag("blob_reuse", reuse_in_triggerer="on")
