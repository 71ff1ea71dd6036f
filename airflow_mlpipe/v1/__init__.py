"""Azure ML SDK v1 module paths on airflow-mlpipe: change ``azureml.`` to ``airflow_mlpipe.v1.`` in imports.

Each twin module only re-exports this package's names. Importing a v1 module that has no twin raises
ModuleNotFoundError saying what to use instead (see docs/migration.md).
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from typing import Any

from airflow_mlpipe.v1._lazy import TWIN_ROOT, missing_module_message, re_export


class V1ModuleFinder(MetaPathFinder):
    """Last on ``sys.meta_path``: explains an ``airflow_mlpipe.v1.*`` module that has no file."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.startswith(TWIN_ROOT + "."):
            raise ModuleNotFoundError(missing_module_message(fullname), name=fullname)
        return None


if not any(isinstance(finder, V1ModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(V1ModuleFinder())

re_export(__name__, "azureml", [])
