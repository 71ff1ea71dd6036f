from __future__ import annotations

import pytest
from helpers import fan_pipeline, write_scripts

from airflow_mlpipe import Workspace
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry import Registry
from airflow_mlpipe.registry.dagfile import registry_dags, write_dag_file


def test_registry_dag_file_builds_each_entry_and_skips_a_broken_one(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    src = write_scripts(tmp_path / "src", ["prep.py", "work.py", "merge.py"])
    spec = fan_pipeline(Workspace.from_config(), src).to_spec()
    reg = Registry(tmp_path / "registry")
    reg.put("exp_one", spec)
    reg.put("exp_two", spec, meta={"experiment": "two"})
    broken = dict(spec, steps=[dict(spec["steps"][0], kind="no_such_kind")])
    reg.put("exp_broken", broken)
    assert sorted(d.dag_id for d in registry_dags(reg.root).values()) == ["exp_one", "exp_two"]
    assert "no operator for step kind 'no_such_kind'" in reg.broken()["exp_broken"]

    dags = tmp_path / "dags"
    write_dag_file(dags)
    monkeypatch.setenv("MLPIPE_HOME", str(tmp_path))  # the DAG file reads $MLPIPE_HOME/registry
    bag = DagBag(dag_folder=str(dags))
    assert not bag.import_errors
    assert sorted(bag.dag_ids) == ["exp_one", "exp_two"]
    assert "mlpipe-registry" in bag.dags["exp_one"].tags


def test_registry_rejects_bad_ids_and_specs(tmp_path):
    reg = Registry(tmp_path)
    with pytest.raises(UserErrorException, match="may only contain"):
        reg.put("bad id", {"format": "mlpipe.pipeline/1"})
    with pytest.raises(UserErrorException, match="not a pipeline spec"):
        reg.put("ok", {"format": "other"})
    assert reg.get("missing") is None
