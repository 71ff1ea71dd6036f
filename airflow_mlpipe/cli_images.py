"""``mlpipe images``: the environment images built on this worker's Docker engine, and pruning them."""

from __future__ import annotations

import argparse
import time
from typing import Any


def _engine(args: argparse.Namespace) -> Any:
    from airflow_mlpipe.definitions.workspace import Workspace
    from airflow_mlpipe.operators.container_run import docker_hook

    ws = Workspace.from_config(args.config)
    return docker_hook({"docker": ws.docker})


def _age(seconds: float | None) -> str:
    from airflow_mlpipe.client.run_table import format_duration

    return "never" if seconds is None else f"{format_duration(seconds)} ago"


def cmd_images(args: argparse.Namespace) -> int:
    from airflow_mlpipe.cli import _table

    now = time.time()
    rows = [
        [
            img["tag"],
            img.get("env_name") or "-",
            f"{img['size'] / 1e6:.0f} MB",
            _age(now - img["last_used"] if img.get("last_used") else None),
        ]
        for img in sorted(_engine(args).images(), key=lambda i: i.get("last_used") or 0, reverse=True)
    ]
    if not rows:
        print("no environment images on this Docker engine")
        return 0
    _table(rows, ["image", "environment", "size", "last used"])
    return 0


def cmd_images_prune(args: argparse.Namespace) -> int:
    from airflow_mlpipe.definitions.workspace import parse_duration

    older = parse_duration(args.older_than, "--older-than")
    removed = _engine(args).prune(older)
    print(
        f"removed {len(removed)} image(s) not used for {args.older_than}"
        + "".join(f"\n  {t}" for t in removed)
    )
    return 0


def add_images_parser(sub: Any) -> None:
    images = sub.add_parser("images", help="list the environment images built on this Docker engine")
    images.add_argument("--config", default=None, help="workspace config file (default: found as usual)")
    images.set_defaults(func=cmd_images)
    images_sub = images.add_subparsers(dest="images_command")
    prune = images_sub.add_parser("prune", help="remove environment images not used for a while")
    prune.add_argument("--older-than", required=True, help="e.g. 7d, 12h, 3600")
    prune.add_argument("--config", default=None, help="workspace config file (default: found as usual)")
    prune.set_defaults(func=cmd_images_prune)
