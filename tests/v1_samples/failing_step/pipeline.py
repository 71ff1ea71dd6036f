"""A failing step under both failure settings (v1 style). Written as Azure ML SDK v1 code.

With v1's default continue_on_step_failure=False the run fails, wait_for_completion raises, and
the other steps are stopped; with True the steps that do not need the failed one still run.
"""

import os

from azureml.core import Experiment, Workspace
from azureml.exceptions import ActivityFailedException
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")


def build():
    prepared = PipelineData("prepared", datastore=ws.get_default_datastore())
    broken = PythonScriptStep(
        name="broken",
        script_name="broken.py",
        arguments=["--out", prepared],
        outputs=[prepared],
        source_directory=src,
    )
    after = PythonScriptStep(
        name="after_broken",
        script_name="slow.py",
        arguments=["--data", prepared, "--seconds", 0],
        inputs=[prepared],
        source_directory=src,
    )
    independent = PythonScriptStep(
        name="independent",
        script_name="slow.py",
        arguments=["--seconds", 25],
        source_directory=src,
        allow_reuse=False,
    )
    return Pipeline(workspace=ws, steps=[broken, after, independent])


experiment = Experiment(ws, "failing_step")
run = experiment.submit(build())
try:
    run.wait_for_completion(show_output=False)
    print("stop: NO ERROR RAISED")
except ActivityFailedException as exc:
    print("stop: raised", type(exc).__name__)
print("stop: status", run.get_status())
print("stop: steps", sorted((s.name, s.get_status()) for s in run.get_children()))
print(
    "stop: broken log has the error:",
    "ValueError: bad input row 7" in run.find_step_run("broken")[0].get_job_log(),
)

run = experiment.submit(build(), continue_on_step_failure=True)
status = run.wait_for_completion(show_output=False, raise_on_error=False)
print("continue: status", status)
print("continue: steps", sorted((s.name, s.get_status()) for s in run.get_children()))
print("DONE")
