"""What of Azure ML SDK v1 this package does not implement, and what to use instead.

One table serves the ``airflow_mlpipe.v1`` modules (their ImportError/AttributeError messages) and
``mlpipe migrate`` (its report of unsupported calls). Keys are v1's own dotted names.
"""

from __future__ import annotations

# "azureml.<module>.<Name>" -> what to do instead (one or two sentences, no trailing period needed)
UNSUPPORTED: dict[str, str] = {
    "azureml.core.Environment": (
        "environments are not supported yet; the step runs in the Airflow worker's Python environment"
    ),
}

# "azureml.<module>" (a whole v1 module this package has no twin of) -> what to do instead
UNSUPPORTED_MODULES: dict[str, str] = {
    "azureml.train.estimator": "estimators are deprecated in v1 itself; use a PythonScriptStep",
}

# "azureml.<module>.<Callable>" -> {keyword argument: what to do instead}: arguments that are
# accepted by v1 but refused here (the call raises UserErrorException naming the argument)
UNSUPPORTED_ARGUMENTS: dict[str, dict[str, str]] = {
    "azureml.pipeline.steps.PythonScriptStep": {
        "runconfig": "a RunConfiguration is not supported yet; the script runs in the worker's Python",
    },
}


def unsupported_message(v1_name: str) -> str | None:
    """The full message for a v1 name (a class/function or a module) this package lacks, or None."""
    advice = UNSUPPORTED.get(v1_name) or UNSUPPORTED_MODULES.get(v1_name)
    if advice is None:
        return None
    return f"{v1_name} is not supported by airflow-mlpipe: {advice} (see docs/migration.md)"
