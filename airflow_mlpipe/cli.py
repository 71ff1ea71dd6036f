"""The ``mlpipe`` command: run the embedded Airflow deployment and pipelines on it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import MlpipeError


def _client(dep: Any) -> Any:
    from airflow_mlpipe.client.rest import AirflowClient
    from airflow_mlpipe.deploy.local import USERNAME

    return AirflowClient(dep.url, USERNAME, dep.password())


def parse_params(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; values are JSON when they parse as JSON (20, true, 1.5), else strings."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise MlpipeError(f"--param {item!r}: expected name=value")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


def sync_pools(client: Any, echo: Any = print) -> None:
    """Create or resize one Airflow pool per compute target of the workspace (slots = max_nodes)."""
    from airflow_mlpipe.definitions.compute import is_pool
    from airflow_mlpipe.definitions.workspace import Workspace

    for name, target in Workspace.from_config().compute_targets.items():
        if is_pool(target.spec):
            client.ensure_pool(name, target.pool_slots, f"AmlCompute {name} (max_nodes={target.pool_slots})")
            echo(f"pool {name}: {target.pool_slots} slot(s)")


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value[:6]) + (", ..." if len(value) > 6 else "") + "]"
    return str(value)


def print_run_table(client: Any, dag_id: str, run: dict[str, Any], echo: Any = print) -> None:
    tis = sorted(
        client.task_instances(dag_id, run["dag_run_id"]), key=lambda t: (t["start_date"] or "", t["task_id"])
    )
    rows = []
    parent: dict[str, Any] = {}
    for ti in tis:
        result = client.xcom(dag_id, run["dag_run_id"], ti["task_id"]) or {}
        metrics = result.get("metrics") or {}
        parent.update(result.get("parent_metrics") or {})
        duration = f"{ti['duration']:.1f}s" if ti.get("duration") is not None else "-"
        reuse = "reused" if result.get("reused_from") else ("ran" if result else "-")
        text = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(metrics.items())) or "-"
        rows.append((ti["task_id"], ti["state"] or "none", duration, reuse, text))
    headers = ("step", "state", "duration", "reuse", "metrics")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    widths[-1] = len(headers[-1])
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    echo(line)
    echo("-" * max(len(line), 60))
    for r in rows:
        echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if parent:
        echo("pipeline metrics: " + ", ".join(f"{k}={format_value(v)}" for k, v in sorted(parent.items())))


def cmd_run(args: argparse.Namespace) -> int:
    from airflow_mlpipe.deploy.local import LocalDeployment

    dep = LocalDeployment()
    client = _client(dep)
    conf = parse_params(args.param)
    print(f"waiting for Airflow to parse DAG {args.dag_id!r}")
    client.wait_for_dag(args.dag_id, timeout=args.timeout)
    sync_pools(client)
    client.set_paused(args.dag_id, False)
    run = client.trigger(args.dag_id, conf)
    print(f"triggered {args.dag_id} run {run['dag_run_id']} with conf {json.dumps(conf)}")
    if not args.wait:
        return 0

    def show(ti: dict[str, Any]) -> None:
        print(f"  {ti['task_id']}: {ti['state'] or 'none'}")

    run = client.wait_for_run(args.dag_id, run["dag_run_id"], timeout=args.timeout, on_change=show)
    print(f"run {run['dag_run_id']}: {run['state']}")
    print_run_table(client, args.dag_id, run)
    if run["state"] != "success":
        for ti in client.task_instances(args.dag_id, run["dag_run_id"]):
            if ti["state"] == "failed":
                print(f"--- end of the log of {ti['task_id']} (try {ti['try_number']}) ---")
                for line in client.task_log(args.dag_id, run["dag_run_id"], ti["task_id"], ti["try_number"])[
                    -25:
                ]:
                    print(f"  {line}")
        return 1
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from airflow_mlpipe.deploy.local import LocalDeployment

    client = _client(LocalDeployment())
    if args.wait:
        run = client.wait_for_run(args.dag_id, args.run_id, timeout=args.timeout)
    else:
        run = client.dag_run(args.dag_id, args.run_id)
    print(
        f"run {run['dag_run_id']} of {args.dag_id}: {run['state']} (conf {json.dumps(run.get('conf') or {})})"
    )
    print_run_table(client, args.dag_id, run)
    return 0 if run["state"] == "success" else 1


def load_pipelines(target: str, dag_id: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(dag_id, spec) of every translated pipeline DAG, or Pipeline, a DAG file or module defines."""
    import importlib
    import runpy

    from airflow_mlpipe.definitions.pipeline import Pipeline

    if target.endswith(".py") or Path(target).is_file():
        namespace = runpy.run_path(target)
    else:
        namespace = vars(importlib.import_module(target))
    found = []
    seen = set()
    for value in namespace.values():
        spec = getattr(value, "mlpipe_spec", None)
        if spec is not None and id(value) not in seen:
            seen.add(id(value))
            found.append((value.dag_id, spec))
    if not found:
        pipelines = [v for v in namespace.values() if isinstance(v, Pipeline)]
        if pipelines and not dag_id:
            raise MlpipeError(f"{target} defines a Pipeline but no DAG: pass --dag-id to name its DAG")
        found = [(dag_id, p.to_spec()) for p in pipelines]
    if dag_id:
        found = [(d, s) for d, s in found if d == dag_id]
    if not found:
        raise MlpipeError(f"{target} defines no pipeline DAG" + (f" named {dag_id!r}" if dag_id else ""))
    return found


def cmd_plan(args: argparse.Namespace) -> int:
    from airflow_mlpipe.reuse.plan import format_plan, plan_spec

    for dag_id, spec in load_pipelines(args.target, args.dag_id):
        try:
            plans = plan_spec(
                spec, dag_id, parse_params(args.param), args.regenerate_outputs, args.force_rerun
            )
        except ValueError as exc:
            raise MlpipeError(f"DAG {dag_id}: {exc}") from None
        runs = sum(p.decision == "run" for p in plans)
        print(f"DAG {dag_id}: {len(plans) - runs} step(s) reused, {runs} to run")
        print(format_plan(plans))
        print()
    return 0


def cmd_cache_gc(args: argparse.Namespace) -> int:
    from airflow_mlpipe.definitions.workspace import Workspace, parse_duration
    from airflow_mlpipe.reuse.cache import CacheStore

    ws = Workspace.from_config(args.config)
    name = ws.reuse["datastore"] or ws.get_default_datastore().name
    older = parse_duration(args.older_than, "--older-than")
    from airflow_mlpipe.definitions.datastore import Datastore

    cache = CacheStore(Datastore.get(ws, name).store)
    counts = cache.gc(older, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"cache on datastore {name}: {verb} {counts['entries_removed']} entr(ies) older than {args.older_than} "
        f"and {counts['outputs_removed']} output folder(s) no entry references"
    )
    return 0


def _table(rows: list[list[str]], header: list[str], echo: Any = print) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        echo("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _last_runs(ws: Any, dag_ids: list[str]) -> tuple[dict[str, tuple[str, str]] | None, str | None]:
    """Per DAG that has runs, its newest run's (run_after, Azure ML status); None and a note
    when Airflow cannot be asked."""
    from airflow_mlpipe.client.rest import AirflowApiError
    from airflow_mlpipe.client.run import workspace_client
    from airflow_mlpipe.runstatus import run_status

    try:
        client = workspace_client(ws)
        out = {}
        for dag_id in dag_ids:
            try:
                runs = client.request(
                    "GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 1}
                )["dag_runs"]
            except AirflowApiError as exc:
                if exc.status != 404:
                    raise
                runs = []
            if runs:
                out[dag_id] = (str(runs[0]["run_after"]), run_status(runs[0]["state"], runs[0].get("note")))
        return out, None
    except MlpipeError as exc:
        return None, f"(last runs unknown: {exc})"


def _run_label(run: tuple[str, str]) -> str:
    return f"{run[1]} {run[0][:19]}"


def _default(param: dict[str, Any]) -> str:
    if param["type"] == "datapath":
        return f"{param['default']['datastore']}:{param['default']['path']}"
    if param["type"] == "dataset":
        reg = param["default"].get("registered")
        if reg:
            return f"dataset {reg['name']}:{reg['version']}"
        return "dataset " + ", ".join(
            p.get("url") or f"{p['datastore']}:{p['path']}" for p in param["default"]["paths"]
        )
    return format_value(param["default"])


def cmd_pipelines(args: argparse.Namespace) -> int:
    from airflow_mlpipe.client.registry_api import workspace_registry
    from airflow_mlpipe.definitions.workspace import Workspace

    ws = Workspace.from_config(args.config)
    records = workspace_registry(ws).list_pipelines(active_only=not args.all)
    if not records:
        print("no published pipelines" + ("" if args.all else " are active (--all shows disabled ones)"))
        return 0
    last, note = _last_runs(ws, [r["dag_id"] for r in records])
    rows = [
        [
            r["name"],
            r["id"],
            r["version"] or "-",
            r["status"],
            ", ".join(f"{n}={_default(p)}" for n, p in sorted(r["parameters"].items())) or "-",
            "?" if last is None else (_run_label(last[r["dag_id"]]) if r["dag_id"] in last else "-"),
        ]
        for r in records
    ]
    _table(
        rows, ["NAME", "ID (DAG published_<ID>)", "VERSION", "STATUS", "PARAMETERS (defaults)", "LAST RUN"]
    )
    if note:
        print(note)
    return 0


def cmd_endpoints(args: argparse.Namespace) -> int:
    from airflow_mlpipe.client.registry_api import workspace_registry
    from airflow_mlpipe.definitions.workspace import Workspace
    from airflow_mlpipe.registry.published import NotFoundError

    ws = Workspace.from_config(args.config)
    reg = workspace_registry(ws)
    records = reg.list_endpoints(active_only=not args.all)
    if not records:
        print("no pipeline endpoints" + ("" if args.all else " are active (--all shows the others)"))
        return 0
    pipelines = {}
    for r in records:
        for v in r["versions"]:
            try:
                pipelines[v["pipeline_id"]] = reg.get_pipeline(v["pipeline_id"])
            except NotFoundError:
                pass
    last, note = _last_runs(ws, sorted({p["dag_id"] for p in pipelines.values()}))
    rows = []
    for r in records:
        versions = []
        runs = []
        for v in r["versions"]:
            p = pipelines.get(v["pipeline_id"])
            mark = "*" if v["version"] == r["default_version"] else ""
            label = f"{p['name']}{' v' + p['version'] if p['version'] else ''}" if p else "missing"
            versions.append(f"{v['version']}{mark}={label}")
            if p and last and p["dag_id"] in last:
                runs.append((last[p["dag_id"]], v["version"]))
        newest = "-"
        if runs:
            run, version = max(runs)
            newest = f"{_run_label(run)} (v{version})"
        rows.append([r["name"], r["id"], r["status"], r["default_version"], "; ".join(versions), newest])
    _table(rows, ["NAME", "ID", "STATUS", "DEFAULT", "VERSIONS (* = default)", "LAST RUN"])
    if note:
        print(note)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlpipe", description="Azure ML style pipelines on Apache Airflow 3")
    sub = p.add_subparsers(dest="command", required=True)
    from airflow_mlpipe.cli_deploy import add_deploy_parsers

    add_deploy_parsers(sub)  # up, down, status
    run = sub.add_parser("run", help="trigger a DAG on the embedded deployment")
    run.add_argument("dag_id")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--wait", action="store_true", help="wait and print each step's state and metrics")
    run.add_argument("--timeout", type=float, default=600)
    run.set_defaults(func=cmd_run)
    show = sub.add_parser("show", help="print a DAG run's steps: state, duration, reuse, metrics")
    show.add_argument("dag_id")
    show.add_argument("run_id")
    show.add_argument("--wait", action="store_true", help="wait for the run to finish first")
    show.add_argument("--timeout", type=float, default=600)
    show.set_defaults(func=cmd_show)
    plan = sub.add_parser("plan", help="say per step whether a run would reuse or run, and why")
    plan.add_argument("target", help="a DAG file or an importable module that builds pipeline DAGs")
    plan.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    plan.add_argument("--dag-id", default=None, help="only this DAG (or the DAG id of a bare Pipeline)")
    plan.add_argument("--regenerate-outputs", action="store_true")
    plan.add_argument("--force-rerun", action="append", default=[], metavar="STEP")
    plan.set_defaults(func=cmd_plan)
    pipelines = sub.add_parser("pipelines", help="list published pipelines: version, status, last run")
    pipelines.add_argument("--all", action="store_true", help="include disabled ones")
    pipelines.add_argument("--config", default=None, help="workspace config file (default: found as usual)")
    pipelines.set_defaults(func=cmd_pipelines)
    endpoints = sub.add_parser(
        "endpoints", help="list pipeline endpoints: versions, default, status, last run"
    )
    endpoints.add_argument("--all", action="store_true", help="include disabled and archived ones")
    endpoints.add_argument("--config", default=None, help="workspace config file (default: found as usual)")
    endpoints.set_defaults(func=cmd_endpoints)
    cache = sub.add_parser("cache", help="the reuse cache")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    gc = cache_sub.add_parser("gc", help="remove expired entries and outputs no entry references")
    gc.add_argument("--older-than", required=True, help="e.g. 30d, 12h, 3600")
    gc.add_argument("--dry-run", action="store_true")
    gc.add_argument("--config", default=None, help="workspace config file (default: found as usual)")
    gc.set_defaults(func=cmd_cache_gc)
    from airflow_mlpipe.cli_adla import add_adla_parser
    from airflow_mlpipe.cli_databricks import add_databricks_parser
    from airflow_mlpipe.cli_images import add_images_parser
    from airflow_mlpipe.cli_schedules import add_schedules_parser

    add_databricks_parser(sub)
    add_adla_parser(sub)
    add_schedules_parser(sub)
    from airflow_mlpipe.migrate.command import add_migrate_parser

    add_migrate_parser(sub)
    add_images_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MlpipeError as exc:
        print(f"mlpipe: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
