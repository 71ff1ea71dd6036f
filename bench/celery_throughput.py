"""Benchmark: throughput of N independent short steps on 1 and 2 Celery workers (issue 16).

    .venv/bin/python bench/celery_throughput.py [--steps 200] [--repeats 1] [--workers 1,2|2]
        [--reuse-in-triggerer auto|on|off] [--write]

Root only (network and mount namespaces). The namespace topology of the Celery tests
(tests/celery_topology.py): host "control" runs Azurite and `mlpipe up --executor celery` (no
worker), "worker1" and "worker2" a Celery worker each for the default queue. Phase 1 measures with
worker1 only; worker2 is then started on the same topology (cheaper than a second topology: the
control host's start is most of a topology's start), and phase 2 measures with both.

Two DAGs of N independent tasks each, same DAG settings (bench/celery_dags/throughput.py): "ours",
a Pipeline of PythonScriptSteps with a PipelineParameter set anew per run (no step is reused), and
"baseline", no-op PythonOperators. Alternated within each phase. Per run: throughput N / (last task
end - first task start) from the task instances (REST API v2), and the wall time from trigger to
the run's end. Checked: every task succeeded, and no step of "ours" was reused (its XCom result).
Target: ours within 1.3x of the baseline's time on the same topology.

Run time: about 9 minutes at the default 200 steps on a quiet 2-core machine (the runs scale with
the steps). `--reuse-in-triggerer off` measures ours with steps that start on workers directly; its
section of docs/performance.md is its own. The phase table reads the task logs on the worker hosts
directly (one command per host instead of a request per task), and the CPU table reads /proc
(bench/proc_cpu.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the topology helpers of the integration tests (they import tests/integration/conftest.py as conftest)
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests" / "integration"), str(REPO / "tests")]
from celery_topology import HOST_HOME, api_client, celery_topology, start_worker, workspace_config  # noqa: E402
from proc_cpu import ROLES, delta, machine_busy, snapshot  # noqa: E402
from report import DOC, write_section  # noqa: E402

DAGS = REPO / "bench" / "celery_dags"
KINDS = {"ours": "throughput_ours", "baseline": "throughput_baseline"}
WARMUP = "throughput_warmup"  # 4 steps run once before the measured runs (bench/celery_dags)
CONTAINER = "mlpipe-throughput"
TARGET = 1.3
PROGRESS_EVERY = 10.0  # seconds between progress lines
POLL = 1.0  # seconds between run-state polls (the wall time comes from the run's end_date)


def ts(value: str | None) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else float("nan")


def wait_for_worker(log: Path, timeout: float = 180) -> None:
    """Until the Celery worker writing ``log`` says it is ready for tasks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and " ready." in log.read_text(errors="replace"):
            return
        time.sleep(1)
    raise RuntimeError(f"the worker logging to {log} was not ready within {timeout:.0f}s")


def run_once(client, kind: str, n: int, label: str) -> dict:
    """Trigger one run of ``kind``, show progress, check it, and return its figures."""
    dag_id = KINDS[kind]
    conf = {"tag": uuid.uuid4().hex[:12]} if kind == "ours" else {}
    cpu_before, busy_before = snapshot(), machine_busy()
    triggered = time.time()
    run = client.trigger(dag_id, conf)
    run_id, shown = run["dag_run_id"], time.monotonic()
    while run["state"] not in ("success", "failed"):
        time.sleep(POLL)
        run = client.dag_run(dag_id, run_id)
        if time.monotonic() - shown >= PROGRESS_EVERY:
            shown = time.monotonic()
            done = sum(t["state"] == "success" for t in client.task_instances(dag_id, run_id))
            print(f"  {label}: {done}/{n} tasks done, {time.time() - triggered:.0f}s", flush=True)
    cpu = {role: used / n for role, used in delta(cpu_before, snapshot()).items()}
    busy = (machine_busy() - busy_before) / n
    tis = client.task_instances(dag_id, run_id)
    states = {t["task_id"]: t["state"] for t in tis}
    bad = {t: s for t, s in states.items() if s != "success"}
    if run["state"] != "success" or bad or len(states) != n:
        raise RuntimeError(
            f"{label}: run {run_id} ended {run['state']}; {len(states)} tasks, not success: {bad}"
        )
    if kind == "ours":
        check_not_reused(client, dag_id, run_id, conf["tag"], n)
    starts, ends = [ts(t["start_date"]) for t in tis], [ts(t["end_date"]) for t in tis]
    span = max(ends) - min(starts)
    fig = {
        "kind": kind,
        "run_id": run_id,
        "span": span,
        "rate": n / span,
        "wall": ts(run["end_date"]) - triggered,
        "task": statistics.median(e - s for s, e in zip(starts, ends, strict=True)),
        # a step that starts in the triggerer is queued for a worker once the triggerer hands it over
        "triggerer": statistics.median(max(0.0, ts(t["queued_when"]) - ts(t["start_date"])) for t in tis)
        if kind == "ours"
        else 0.0,
        "hosts": sorted({t["hostname"] for t in tis}),
        "ran_on": {t["task_id"]: t["hostname"] for t in tis},
        "cpu": cpu,  # CPU seconds per task, by role (bench/proc_cpu.py)
        "busy": busy,  # the machine's busy CPU seconds per task
    }
    print(
        f"  {label}: {fig['rate']:.2f} tasks/s (span {span:.1f}s, wall {fig['wall']:.1f}s, "
        f"median task {fig['task']:.2f}s, {busy:.2f} CPU s per task) on {', '.join(fig['hosts'])}",
        flush=True,
    )
    return fig


def check_not_reused(client, dag_id: str, run_id: str, tag: str, n: int) -> None:
    """Every step of the run ran its script with this run's tag: none reused a committed result."""
    reused = []
    for ti in client.task_instances(dag_id, run_id):
        result = client.xcom(dag_id, run_id, ti["task_id"])
        if not isinstance(result, dict) or result.get("reused_from") is not None:
            reused.append(ti["task_id"])
    if reused:
        raise RuntimeError(
            f"run {run_id}: {len(reused)}/{n} steps were reused or have no result: {reused[:5]}"
        )


# phases of a task, from its worker log: (name, line that starts it, line that ends it) by prefix
PHASES = [
    ("start: task process up, DAG parsed", "::group::Pre Execute", "Worker startup parse complete"),
    ("of which DAG file parse", "Filling up the DagBag", "Worker startup parse complete"),
    ("reuse decision on the worker", "::endgroup::", "reuse: the step runs"),
    ("script run and result committed", "reuse: the step runs", "reuse: committed"),
    ("callable", "::endgroup::", "Done. Returned value"),
    ("end: XCom push, post-execute", "::group::Post Execute", "::endgroup::"),
]


def worker_logs(topo, dag_id: str, fig: dict) -> dict[str, list[tuple[float, str]]]:
    """task id -> (timestamp, event) of each line of its worker log, read on the worker hosts (the
    api-server cannot read a remote worker's served logs in this topology: its port differs)."""
    folder = f"{HOST_HOME}/airflow/logs/dag_id={dag_id}/run_id={fig['run_id']}"
    found: dict[str, list[tuple[float, str]]] = {}
    for host in fig["hosts"]:
        script = f'for f in "{folder}"/task_id=*/attempt=1.log; do echo "### $f"; cat "$f"; echo; done'
        task = None
        for line in topo[host].run(["sh", "-c", script]).stdout.splitlines():
            if line.startswith("### "):
                task = line.split("task_id=")[1].split("/")[0]
                found[task] = []
            elif line.strip() and task is not None:
                item = json.loads(line)
                if item.get("timestamp"):
                    found[task].append((ts(item["timestamp"]), str(item.get("event", ""))))
    return found


def phase_seconds(lines: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds of each of PHASES found in one task's log (the first end line after its start)."""
    found = {}
    for name, first, last in PHASES:
        begin = next((i for i, (_, e) in enumerate(lines) if e.startswith(first)), None)
        if begin is None:
            continue
        stop = next((t for t, e in lines[begin + 1 :] if e.startswith(last)), None)
        if stop is not None:
            found[name] = stop - lines[begin][0]
    return found


def peak_concurrency(logs: dict[str, list[tuple[float, str]]]) -> int:
    """The most task processes alive at once (first to last line of their worker logs)."""
    edges = sorted(e for lines in logs.values() if lines for e in ((lines[0][0], 1), (lines[-1][0], -1)))
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def add_log_figures(topo, fig: dict) -> None:
    logs = worker_logs(topo, KINDS[fig["kind"]], fig)
    per_task = [phase_seconds(lines) for lines in logs.values()]
    fig["phases"] = {
        name: statistics.median(p[name] for p in per_task if name in p)
        for name, _, _ in PHASES
        if any(name in p for p in per_task)
    }
    fig["in_process"] = statistics.median(lines[-1][0] - lines[0][0] for lines in logs.values() if lines)
    fig["peak"] = peak_concurrency(logs)


def measure_phase(client, workers: int, n: int, repeats: int) -> list[dict]:
    figures = []
    for r in range(repeats):
        order = ("ours", "baseline") if (r + workers) % 2 else ("baseline", "ours")
        for kind in order:
            label = f"{workers} worker(s), {kind}, run {r + 1}/{repeats}"
            print(f"{label}: triggered", flush=True)
            figures.append({**run_once(client, kind, n, label), "workers": workers})
    return figures


def median_of(figures: list[dict], workers: int, kind: str, key: str) -> float:
    return statistics.median(f[key] for f in figures if f["workers"] == workers and f["kind"] == kind)


def phases_of(figures: list[dict]) -> list[int]:
    return sorted({f["workers"] for f in figures})


def table(figures: list[dict], n: int, repeats: int) -> str:
    phases = phases_of(figures)
    rows = [
        f"{n} independent tasks per run; medians of {repeats} run(s) of each kind per row, alternated.",
        "",
        "| workers | kind | tasks/s | span s | wall s | ours / baseline (span) | 2 vs 1 worker |",
        "|---|---|---|---|---|---|---|",
    ]
    for workers in phases:
        for kind in KINDS:
            span = median_of(figures, workers, kind, "span")
            ratio = span / median_of(figures, workers, "baseline", "span") if kind == "ours" else None
            speedup = median_of(figures, 1, kind, "span") / span if workers == 2 and 1 in phases else None
            rows.append(
                f"| {workers} | {kind} | {n / span:.2f} | {span:.1f} | {median_of(figures, workers, kind, 'wall'):.1f} "
                f"| {f'{ratio:.2f}x' if ratio else ''} | {f'{speedup:.2f}x' if speedup else ''} |"
            )
    worst = max(
        median_of(figures, w, "ours", "span") / median_of(figures, w, "baseline", "span") for w in phases
    )
    rows += [
        "",
        f"Target ours / baseline <= {TARGET}x: **{'met' if worst <= TARGET else 'NOT met'}** ({worst:.2f}x).",
    ]
    names = [name for name, _, _ in PHASES if any(name in f["phases"] for f in figures)]
    rows += [
        "",
        "Where a task's time goes: medians over the tasks of a run, seconds, from the task logs on the workers.",
        "",
        "| workers | kind | "
        + " | ".join(names)
        + " | whole task process | triggerer start to queued | peak tasks at once |",
        "|---|---|" + "---|" * (len(names) + 3),
    ]
    for workers in phases:
        for kind in KINDS:
            runs = [f for f in figures if f["workers"] == workers and f["kind"] == kind]
            cells = [
                f"{statistics.median(f['phases'][name] for f in runs):.2f}"
                if name in runs[0]["phases"]
                else ""
                for name in names
            ]
            rows.append(
                f"| {workers} | {kind} | "
                + " | ".join(cells)
                + f" | {median_of(figures, workers, kind, 'in_process'):.2f} "
                f"| {median_of(figures, workers, kind, 'triggerer'):.2f} | {max(f['peak'] for f in runs)} |"
            )
    return "\n".join(rows + ["", cpu_table(figures)])


def cpu_table(figures: list[dict]) -> str:
    """CPU seconds per task by role (bench/proc_cpu.py), medians over the runs of a row; the wall
    times above are these CPU seconds spread over the machine's cores."""
    roles = [role for role, _ in ROLES if any(role in f["cpu"] for f in figures)]
    rows = [
        "CPU seconds per task, by process (from /proc: each process's own time and that of the children "
        "it reaped, so a Celery worker counts its task processes and their step scripts), and the whole "
        "machine's busy CPU per task:",
        "",
        "| workers | kind | " + " | ".join(roles) + " | machine |",
        "|---|---|" + "---|" * (len(roles) + 1),
    ]
    for workers in phases_of(figures):
        for kind in KINDS:
            runs = [f for f in figures if f["workers"] == workers and f["kind"] == kind]
            cells = [f"{statistics.median(f['cpu'].get(role, 0.0) for f in runs):.3f}" for role in roles]
            rows.append(
                f"| {workers} | {kind} | "
                + " | ".join(cells)
                + f" | {median_of(figures, workers, kind, 'busy'):.3f} |"
            )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each kind per phase")
    ap.add_argument("--write", action="store_true", help="write the table into docs/performance.md")
    ap.add_argument(
        "--workers", choices=["1,2", "2"], default="1,2", help="phases: 1 then 2 workers, or only 2"
    )
    ap.add_argument(
        "--reuse-in-triggerer",
        choices=["", "auto", "on", "off"],
        default="",
        help="ours' setting (default: the deployment's)",
    )
    args = ap.parse_args()
    n = args.steps
    started = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="celery-throughput-"))
    config = workspace_config("throughput", CONTAINER)
    env = {"MLPIPE_BENCH_STEPS": str(n), "MLPIPE_BENCH_REUSE_IN_TRIGGERER": args.reuse_in_triggerer}
    names = ["control", "worker1", "worker2"]
    with celery_topology(names, DAGS, config, {"worker1": ["default"]}, logs, env=env) as topo:
        client = api_client(topo)
        for dag_id in [*KINDS.values(), WARMUP]:
            client.wait_for_dag(dag_id, timeout=240)
        print("warm-up run (not measured)", flush=True)
        warm = client.trigger(WARMUP, {"tag": uuid.uuid4().hex[:12]})
        if client.wait_for_run(WARMUP, warm["dag_run_id"], timeout=900)["state"] != "success":
            raise RuntimeError(f"the warm-up run {warm['dag_run_id']} of {WARMUP} failed")
        parallelism = int(topo.worker_env.get("AIRFLOW__CORE__PARALLELISM", "32"))
        concurrency = int(topo.worker_env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "16"))
        figures = measure_phase(client, 1, n, args.repeats) if args.workers == "1,2" else []
        topo.workers["worker2"] = start_worker(topo, "worker2", ["default"], topo.worker_env, logs)
        wait_for_worker(logs / "worker2.log")
        figures += measure_phase(client, 2, n, args.repeats)
        for fig in figures:
            add_log_figures(topo, fig)
    imports = blob_import_cpu()
    total = time.monotonic() - started
    setting = args.reuse_in_triggerer or "the deployment's (auto unless configured)"
    body = (
        f"Ours: `reuse_in_triggerer` = {setting}.\n\n"
        + table(figures, n, args.repeats)
        + f"\n\nWhole benchmark (topology up and down included): {total:.0f} s."
    )
    body += EXPLAIN.format(
        imports=imports,
        parallelism=parallelism,
        concurrency=concurrency,
        peaks=", ".join(
            f"{w} worker(s): {max(f['peak'] for f in figures if f['workers'] == w)}"
            for w in phases_of(figures)
        ),
    )
    print(body)
    if args.write:
        command = "python bench/celery_throughput.py" + (f" --steps {n}" if n != 200 else "")
        command += (f" --repeats {args.repeats}" if args.repeats != 1 else "") + " --write"
        command += f" --workers {args.workers}" if args.workers != "1,2" else ""
        command += f" --reuse-in-triggerer {args.reuse_in_triggerer}" if args.reuse_in_triggerer else ""
        title = "Celery throughput: 1 vs 2 workers"
        title += f", reuse_in_triggerer {args.reuse_in_triggerer}" if args.reuse_in_triggerer else ""
        write_section(f"{title} (`bench/celery_throughput.py`)", body, command)
        print(f"wrote {DOC}")


IMPORTS = """
import time
import airflow.sdk, airflow_mlpipe.operators.python_script  # what every step's task process has
t = time.process_time()
import azure.storage.blob, airflow.providers.microsoft.azure.hooks.wasb, airflow_mlpipe.storage.blob
print(time.process_time() - t)
"""


def blob_import_cpu(repeats: int = 3) -> float:
    """CPU seconds a fresh task process spends importing the Azure Blob SDK and Airflow's WASB hook
    (the reuse decision's datastore), median of ``repeats`` fresh interpreters."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORTS], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeats)
    )


EXPLAIN = """

What dominates: every host of this topology shares the machine's cores, and both kinds keep them
busy, so a run's span is close to its CPU seconds divided by the cores; the CPU table is the
comparison that matters. A no-op PythonOperator costs its worker Airflow's own per-task work (a
supervisor and a task process forked from the Celery worker, the DAG file parse, the Execution API
calls). A step adds, on the worker: its reuse decision and commit (Blob requests: the cache lookup,
the step's last commit that explains why it runs, the lease, two commit writes), a copy of its
source snapshot, its script in a fresh interpreter, and its run records; Azurite and the API server
serve those requests. Celery workers import the Azure Blob SDK and Airflow's WASB hook once, before
they fork (deploy/celery_preload.py): {imports:.1f} CPU seconds that a fresh interpreter would pay
for every task. With `reuse_in_triggerer = auto` (the default) and more steps in one stage than
[core] parallelism ({parallelism}), each step starts in the triggerer, which fingerprints it and,
finding nothing to reuse (no run here reuses a step of another), hands it to a worker: the
triggerer column is that cost, and "triggerer start to queued" the wait it adds. It buys reuse
without a worker on reruns; for steps that never repeat, `reuse_in_triggerer = off` (or
`allow_reuse=False`) skips it. Each worker runs {concurrency} tasks at once. A warm-up run of 4
steps precedes the measured runs.

Peak tasks running at once: {peaks}. All hosts of the topology share the machine's cores, so a
second worker adds slots but no CPU here: when the first worker's tasks already keep the cores
busy, the second changes little. On separate machines each worker brings its own cores.
"""

if __name__ == "__main__":
    main()
