"""Writers that change one endpoint and one schedule at once from several processes (spawned, each
with its own store client), for the lost-update tests of the pipeline registry."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

# what each schedule writer sets, one setting per process: the last value of each must survive
SCHEDULE_KEYS = ("description", "pipeline_parameters", "name")


def open_registry(where: dict[str, str]) -> Any:
    """A ScheduleRegistry (endpoints and published pipelines too) on a folder or on Azurite."""
    from airflow_mlpipe.registry.schedules import ScheduleRegistry

    if where["kind"] == "folder":
        return ScheduleRegistry(where["folder"])
    from airflow_mlpipe.registry.location import REGISTRY_PREFIX
    from airflow_mlpipe.storage.blob import BlobStore
    from airflow_mlpipe.storage.prefixed import PrefixedStore

    os.environ["AIRFLOW_CONN_AZURITE"] = where["conn"]
    return ScheduleRegistry(PrefixedStore(BlobStore("azurite", where["container"]), REGISTRY_PREFIX))


def value(key: str, writer: int, i: int) -> Any:
    if key == "pipeline_parameters":
        return {"writer": writer, "i": i}
    return f"{key}-{writer}-{i}"


def _writer(where: dict[str, str], ids: dict[str, str], writer: int, rounds: int, barrier: Any) -> None:
    registry = open_registry(where)
    key = SCHEDULE_KEYS[writer] if writer < len(SCHEDULE_KEYS) else None  # the others: endpoint only
    barrier.wait()
    for i in range(rounds):
        registry.update_endpoint(ids["endpoint"], add_pipeline=ids["pipeline"])
        if key is not None:
            registry.update_schedule(ids["schedule"], {key: value(key, writer, i)})


def run_writers(where: dict[str, str], ids: dict[str, str], writers: int, rounds: int) -> None:
    """``writers`` processes, each adding ``rounds`` versions to the endpoint and (the first three)
    setting its own schedule setting ``rounds`` times, all started together; raises if any failed."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(writers)
    procs = [ctx.Process(target=_writer, args=(where, ids, w, rounds, barrier)) for w in range(writers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(timeout=300)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * writers, "a writer process failed (see its traceback above)"


def make_targets(registry: Any, tmp: Path) -> dict[str, str]:
    """A published pipeline, an endpoint on it and a schedule of it."""
    from airflow_mlpipe import Pipeline, PythonScriptStep, Workspace

    (tmp / "s.py").write_text("print(1)\n")
    ws = Workspace.from_config()
    spec = Pipeline(ws, [PythonScriptStep("s.py", name="s", source_directory=str(tmp))]).to_spec()
    pipeline = registry.publish(spec, "contended")
    endpoint = registry.create_endpoint("contended", None, pipeline["id"])
    settings = {
        k: None for k in ("datastore", "datastore_name", "data_path_parameter_name", "path_on_datastore")
    }
    settings.update(name="nightly", recurrence={"frequency": "Day", "interval": 1}, polling_interval=5,
                    first_run="next_slot", catchup=False, recursive=False, per_blob=False)  # fmt: skip
    schedule = registry.create_schedule({"pipeline_id": pipeline["id"]}, "exp", settings)
    return {"pipeline": pipeline["id"], "endpoint": endpoint["id"], "schedule": schedule["id"]}


def check_nothing_lost(registry: Any, ids: dict[str, str], writers: int, rounds: int) -> None:
    endpoint = registry.get_endpoint(ids["endpoint"])
    numbers = sorted(int(v["version"]) for v in endpoint["versions"])
    assert numbers == list(range(writers * rounds + 1)), json.dumps(endpoint)[:2000]
    schedule = registry.get_schedule(ids["schedule"])
    for writer in range(min(writers, len(SCHEDULE_KEYS))):
        key = SCHEDULE_KEYS[writer]
        assert schedule[key] == value(key, writer, rounds - 1), (key, schedule[key])
