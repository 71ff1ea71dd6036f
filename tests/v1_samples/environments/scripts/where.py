import os
import sys

from azureml.core import Run

run = Run.get_context()
run.log("in_container", sys.executable.startswith("/opt/mlpipe"))  # the environment's interpreter
run.log("greeting", os.environ.get("GREETING", "-"))
try:
    import six

    run.log("six", six.__version__)
except ImportError:
    run.log("six", "missing")
