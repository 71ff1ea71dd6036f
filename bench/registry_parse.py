"""Benchmark: the registry DAG file with many registered pipelines of 10 steps each.

    .venv/bin/python bench/registry_parse.py [--pipelines 100] [--repeats 5] [--write]
    .venv/bin/python bench/registry_parse.py --azurite [--pipelines 200] [--repeats 5] [--write]

Each pipeline is a chain of 10 PythonScriptSteps with PipelineData between them and one
parameter. The registry DAG file is parsed with Airflow's DagBag in a fresh interpreter that has
Airflow imported (as the dag-processor has); the median of --repeats parses is reported, against
a DAG file of the same number of EmptyOperators and edges built by hand. Target: <= 2 s.

With --azurite the registry lives on a Blob datastore (Azurite, the workspace's default datastore)
and the parse is timed cold (empty per-host cache: one listing plus a download per entry) against
warm (unchanged registry: one listing, no download), alternated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from report import write_section  # noqa: E402

PARSE = """
import json, sys, time
import airflow.sdk  # noqa: F401
{preload}
from airflow.providers.standard.operators.empty import EmptyOperator  # noqa: F401
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t0
assert not bag.import_errors, bag.import_errors
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values())}))
"""

HAND = """
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
for p in range({pipelines}):
    with DAG(f"hand_{{p}}", schedule=None) as dag:
        prev = None
        for s in range(10):
            t = EmptyOperator(task_id=f"step_{{s}}")
            if prev is not None:
                prev >> t
            prev = t
    globals()[f"dag_{{p}}"] = dag
"""


def parse(folder: Path, env: dict[str, str], preload: str = "") -> dict:
    code = PARSE.replace("{preload}", preload)
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def register(home: Path, count: int) -> None:
    """``count`` registry entries of a 10-step chain, in the registry ``Registry()`` resolves."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace
    from airflow_mlpipe.registry import Registry

    src = home / "src"
    src.mkdir()
    (src / "step.py").write_text("print('step')\n")
    ws = Workspace.from_config()
    registry = Registry()
    prev, steps = None, []
    lr = PipelineParameter("learning_rate", default_value=0.1)
    for s in range(10):
        out = PipelineData(f"out_{s}")
        steps.append(
            PythonScriptStep(
                "step.py",
                name=f"step_{s}",
                arguments=["--lr", lr, "--out", out, *(["--in", prev] if prev is not None else [])],
                inputs=[prev] if prev is not None else [],
                outputs=[out],
                source_directory=str(src),
            )
        )
        prev = out
    spec = Pipeline(ws, steps).to_spec()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: registry.put(f"pipeline_{p:03d}", spec), range(count)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipelines", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--azurite", action="store_true", help="the registry on Blob (Azurite): cold vs warm")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.azurite:
        return on_azurite(args)
    args.pipelines = args.pipelines or 100
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-registry-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "MLPIPE_HOME": str(home), "AIRFLOW_HOME": str(home / "airflow")}
        os.environ["MLPIPE_HOME"] = str(home)
        from airflow_mlpipe.registry.dagfile import write_dag_file

        register(home, args.pipelines)
        ours_dir, hand_dir = home / "registry_dags", home / "hand_dags"
        write_dag_file(ours_dir)
        hand_dir.mkdir()
        (hand_dir / "hand.py").write_text(HAND.format(pipelines=args.pipelines))
        ours, hand = [], []
        for i in range(args.repeats):
            a, b = parse(ours_dir, env), parse(hand_dir, env)
            assert a["dags"] == b["dags"] == args.pipelines and a["tasks"] == b["tasks"]
            ours.append(a["seconds"])
            hand.append(b["seconds"])
            print(
                f"  repeat {i + 1}: registry {a['seconds']:.3f}s, hand-written {b['seconds']:.3f}s",
                flush=True,
            )
    o, h = statistics.median(ours), statistics.median(hand)
    table = "\n".join(
        [
            f"{args.pipelines} registered pipelines x 10 steps; median of {args.repeats} DagBag parses each, alternated.",
            "",
            "| DAG file | median | target |",
            "|---|---|---|",
            f"| registry DAG file ({args.pipelines} DAGs from their specs) | {o:.3f} s | <= 2 s: **{'met' if o <= 2 else 'NOT met'}** |",
            f"| hand-written EmptyOperators, same DAGs and edges | {h:.3f} s | baseline |",
            f"| ratio | {o / h:.2f}x | |",
        ]
    )
    print(table)
    if args.write:
        write_section(
            "The registry DAG file (`bench/registry_parse.py`)",
            table,
            "python bench/registry_parse.py --write",
        )
    if o > 2:
        raise SystemExit(1)


# the Blob client's modules, imported before the clock starts: their import costs cold and warm
# parses alike, and the comparison is about what the per-host cache saves
WASB = "import airflow.providers.microsoft.azure.hooks.wasb  # noqa: F401"


def on_azurite(args: argparse.Namespace) -> None:
    import shutil

    sys.path.insert(0, str(REPO / "tests"))
    from azurite_server import azurite

    count = args.pipelines or 200
    with (
        tempfile.TemporaryDirectory(prefix="mlpipe-bench-registry-") as tmp,
        azurite(Path(tmp) / "az") as conn,
    ):
        home = Path(tmp)
        config = home / "mlpipe.json"
        lake = {"type": "azure_blob", "conn_id": "azurite", "container": "registry-bench"}
        config.write_text(
            json.dumps({"workspace_name": "bench", "default_datastore": "lake", "datastores": {"lake": lake}})
        )
        env = {
            **os.environ,
            "MLPIPE_HOME": str(home),
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW_CONN_AZURITE": json.dumps({"conn_type": "wasb", "extra": {"connection_string": conn}}),
        }
        env["MLPIPE_CONFIG"] = str(config)
        # bytecode cached in the temp folder (never in the venv), as any installed deployment has it
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
        env["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"] = "300"
        os.environ.update({k: env[k] for k in ("MLPIPE_HOME", "AIRFLOW_CONN_AZURITE", "MLPIPE_CONFIG")})
        from airflow_mlpipe.registry.dagfile import write_dag_file
        from airflow_mlpipe.registry.location import registry_store

        assert registry_store().base.kind == "azure_blob"  # the registry is on the datastore
        register(home, count)
        dags = home / "registry_dags"
        write_dag_file(dags)
        cold, warm = [], []
        parse(dags, env, WASB)  # compiles the bytecode once; not counted
        for i in range(args.repeats):
            shutil.rmtree(home / "cache", ignore_errors=True)
            a, b = parse(dags, env, WASB), parse(dags, env, WASB)
            assert a["dags"] == b["dags"] == count and a["tasks"] == b["tasks"]
            cold.append(a["seconds"])
            warm.append(b["seconds"])
            print(f"  repeat {i + 1}: cold {a['seconds']:.3f}s, warm {b['seconds']:.3f}s", flush=True)
    c, w = statistics.median(cold), statistics.median(warm)
    table = "\n".join(
        [
            f"{count} registered pipelines x 10 steps on a Blob datastore (Azurite on loopback); median of "
            f"{args.repeats} DagBag parses each, cold and warm alternated, in a fresh interpreter with Airflow "
            "and the Blob client imported before the clock starts (their import is the same for both).",
            "",
            "| parse of the registry DAG file | median | Blob requests |",
            "|---|---|---|",
            f"| cold: empty per-host cache | {c:.3f} s | 1 listing + {count} downloads |",
            f"| warm: unchanged registry | {w:.3f} s | 1 listing |",
            f"| cold / warm | {c / w:.2f}x | |",
        ]
    )
    print(table)
    if args.write:
        write_section(
            "The registry DAG file on Blob, cold vs warm (`bench/registry_parse.py --azurite`)",
            table,
            "python bench/registry_parse.py --azurite --write",
        )


if __name__ == "__main__":
    main()
