import os
import sys

from azureml.core import Run

run = Run.get_context()
run.log("in_container", os.path.exists("/.dockerenv") or sys.prefix.startswith("/opt/mlpipe"))
run.log("greeting", os.environ.get("GREETING", "-"))
try:
    import six

    run.log("six", six.__version__)
except ImportError:
    run.log("six", "missing")
