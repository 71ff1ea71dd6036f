"""Environments (v1 style): RunConfiguration with CondaDependencies, as in the getting-started
sample, and steps in three environments: none (the worker's Python), pip packages, and conda
packages (resolved with pip when the base image has no conda). Each non-empty environment runs in
a Docker container built for it; a changed package reruns only its step; a package that cannot be
installed fails its step with a message naming it.

Written as Azure ML SDK v1 code; the test runs `mlpipe migrate` on a copy and then runs it.
"""

import os

from azureml.core import Environment, Experiment, Workspace
from azureml.core.conda_dependencies import CondaDependencies
from azureml.core.runconfig import DEFAULT_CPU_IMAGE, RunConfiguration
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")

# the getting-started sample's run configuration
run_config = RunConfiguration()
run_config.environment.docker.enabled = True
run_config.environment.docker.base_image = DEFAULT_CPU_IMAGE
run_config.environment.python.user_managed_dependencies = False
run_config.environment.python.conda_dependencies = CondaDependencies.create(conda_packages=["scikit-learn"])


def pip_config(name, package, greeting=None):
    """A run configuration whose environment installs one pip package."""
    env = Environment(name=name)
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=[package])
    if greeting:
        env.environment_variables = {"GREETING": greeting}
    config = RunConfiguration()
    config.environment = env
    return config


def steps(config):
    plain = PythonScriptStep(name="plain", script_name="where.py", source_directory=src)
    pip_step = PythonScriptStep(
        name="with_pip", script_name="where.py", source_directory=src, runconfig=config
    )
    sklearn = PythonScriptStep(
        name="with_conda", script_name="train.py", source_directory=src, runconfig=run_config
    )
    return [plain, pip_step, sklearn]


experiment = Experiment(ws, "environments")


def report(label, run):
    run.wait_for_completion(show_output=False, raise_on_error=False)
    print(label, "status:", run.get_status())
    for step in sorted(run.get_steps(), key=lambda s: s.name):
        reused = step.get_details()["reused_from"] is not None
        print(
            f"  {label} {step.name}: {step.get_status()} reused={reused} {sorted(step.get_metrics().items())}"
        )
    return run


report(
    "first",
    experiment.submit(Pipeline(ws, steps(pip_config("pip-env", "six==1.16.0", "hello from pip-env")))),
)

# six 1.16.0 -> 1.17.0 in one environment: only its step reruns
changed = pip_config("pip-env", "six==1.17.0", "hello from pip-env")
report("changed", experiment.submit(Pipeline(ws, steps(changed))))

# the same environment under another name is the same environment: everything is reused
renamed = pip_config("another-name", "six==1.17.0", "hello from pip-env")
report("renamed", experiment.submit(Pipeline(ws, steps(renamed))))

broken = pip_config("broken", "no-such-package-mlpipe-4711")
bad = PythonScriptStep(name="broken", script_name="where.py", source_directory=src, runconfig=broken)
run = report("broken", experiment.submit(Pipeline(ws, [bad])))
log = run.find_step_run("broken")[0].get_details_with_logs()["logFiles"]
print("broken log names the package:", any("no-such-package-mlpipe-4711" in text for text in log.values()))
print("DONE")
