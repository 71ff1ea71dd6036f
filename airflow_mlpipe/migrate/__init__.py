"""``mlpipe migrate``: a libcst codemod moving Azure ML SDK v1 code (.py files and notebooks) onto
``airflow_mlpipe.v1`` and reporting the v1 calls this package does not support.

Kept light: ``airflow_mlpipe.cli`` imports the command module to register its parser; libcst loads
only when a migration runs.
"""

from __future__ import annotations
