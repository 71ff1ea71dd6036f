"""Test DAGs: a step that writes an output and then fails.

``failing`` has v1's default continue_on_step_failure=False: the run stops and fails, its consumer
and an independent slow step never finish. ``failing_continue`` has continue_on_step_failure=True:
the independent step still runs, the consumer does not, and the run still fails.
"""

from pathlib import Path

from airflow_mlpipe import Pipeline, PipelineData, PythonScriptStep, Workspace

src = str(Path(__file__).resolve().parent / "scripts")
ws = Workspace.from_config()


def failing_pipeline() -> Pipeline:
    half = PipelineData("half")
    boom = PythonScriptStep(
        "boom.py", name="boom", arguments=["--out", half], outputs=[half], source_directory=src
    )
    never = PythonScriptStep(
        "consume.py", name="never", arguments=["--data", half], inputs=[half], source_directory=src
    )
    bystander = PythonScriptStep(
        "bystander.py",
        name="bystander",
        arguments=["--seconds", 20],
        source_directory=src,
        allow_reuse=False,  # its result must never come from another run
    )
    return Pipeline(ws, [boom, never, bystander])


dag = failing_pipeline().to_dag("failing")
dag_continue = failing_pipeline().to_dag("failing_continue", continue_on_step_failure=True)
