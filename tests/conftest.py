from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
pytest_plugins = ["reuse_fixtures"]  # the reuse tests' small pipeline and cache


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own embedded workspace and runs outside any project config."""
    monkeypatch.setenv("MLPIPE_HOME", str(tmp_path / "mlpipe-home"))
    monkeypatch.delenv("MLPIPE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield


def pytest_collection_modifyitems(config, items):
    # unit tests first: they fail fast; integration tests start real processes
    items.sort(key=lambda item: "integration" in str(item.fspath))


os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
