from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from airflow_mlpipe.provider import get_provider_info


def test_provider_entry_point_and_info():
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_mlpipe")]
    info = ep.load()()
    assert info == get_provider_info()
    assert info["package-name"] == "airflow-mlpipe"
    modules = [m for op in info["operators"] for m in op["python-modules"]]
    assert "airflow_mlpipe.operators.python_script" in modules


def test_airflow_lists_the_provider(tmp_path):
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "-o", "plain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "airflow-mlpipe" in out.stdout


def test_importing_the_package_is_cheap():
    code = "import sys, airflow_mlpipe; print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'pandas', 'azure')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_layers_below_the_operators_do_not_import_airflow():
    """DESIGN.md's layers: definitions, spec, storage and reuse never import Airflow."""
    modules = [
        "airflow_mlpipe.definitions.pipeline",
        "airflow_mlpipe.spec",
        "airflow_mlpipe.storage.local",
        "airflow_mlpipe.storage.blob",
        "airflow_mlpipe.reuse.cache",
        "airflow_mlpipe.reuse.plan",
        "airflow_mlpipe.run",
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
