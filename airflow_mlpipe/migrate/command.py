"""``mlpipe migrate PATH...``: find .py files and notebooks, migrate them, write atomically, report."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

SKIPPED_FOLDERS = {".venv", "venv", ".git", "node_modules", "__pycache__", ".ipynb_checkpoints"}
SUFFIXES = (".py", ".ipynb")


@dataclass
class Summary:
    """What one run did: files changed (or that would change), findings by location, errors."""

    changed: list[Path] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def add_migrate_parser(sub: Any) -> None:
    """Register ``mlpipe migrate`` on the ``mlpipe`` subparsers."""
    p = sub.add_parser(
        "migrate",
        help="rewrite Azure ML SDK v1 imports to airflow_mlpipe.v1 in .py files and notebooks, "
        "and report the v1 calls airflow-mlpipe does not support",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a .py file, an .ipynb notebook or a folder")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    p.add_argument("--diff", action="store_true", help="print a unified diff of each change")
    p.set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    return run(args.paths, check=args.check, diff=args.diff)


def iter_files(paths: list[str], errors: list[str]) -> Iterator[Path]:
    """The .py and .ipynb files under ``paths`` (sorted, each once), skipping virtualenvs, VCS and hidden
    folders; a missing path or a file of another kind is an error."""
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = []
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS and not d.startswith("."))
                found += [Path(folder, f) for f in files if f.endswith(SUFFIXES)]
            candidates = sorted(found)
        elif path.is_file():
            if not raw.endswith(SUFFIXES):
                errors.append(f"{raw}: not a .py file or an .ipynb notebook; pass those or a folder")
                continue
            candidates = [path]
        else:
            errors.append(f"{raw}: no such file or folder")
            continue
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


def atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder and os.replace it, keeping the file's mode
    (a symlink is followed, so the link stays a link)."""
    path = path.resolve()
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".mlpipe-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def unified_diff(path: Path, old: str, new: str) -> str:
    """A unified diff of one file (``\\ No newline at end of file`` where it applies)."""
    out = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    ):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def migrate_file(path: Path, catalog: Any) -> tuple[bytes, bytes, str, list[str]]:
    """(old bytes, new bytes, encoding, findings formatted with the file's location) for one file."""
    from airflow_mlpipe.migrate.codemod import migrate_source
    from airflow_mlpipe.migrate.notebooks import migrate_notebook

    old = path.read_bytes()
    if path.suffix == ".ipynb":
        text, findings = migrate_notebook(old.decode("utf-8"), catalog)
        where = [f"{path}:cell{f.cell}:{f.line}: {f.message}" for f in findings]
        return old, text.encode("utf-8"), "utf-8", where
    outcome = migrate_source(old, catalog)
    new = outcome.code if isinstance(outcome.code, bytes) else outcome.code.encode(outcome.encoding)
    return old, new, outcome.encoding, [f"{path}:{f.line}: {f.message}" for f in outcome.findings]


def run(
    paths: list[str],
    check: bool = False,
    diff: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Migrate ``paths``; exit status 2 if a path or a file could not be handled, else 1 when ``check``
    found a file to change, else 0."""
    from airflow_mlpipe.migrate.catalog import Catalog
    from airflow_mlpipe.migrate.codemod import MigrateParseError

    out = out or sys.stdout
    err = err or sys.stderr
    summary = Summary()
    catalog = Catalog()
    for path in iter_files(paths, summary.errors):
        try:
            old, new, encoding, findings = migrate_file(path, catalog)
        except MigrateParseError as exc:
            where = f"{path}:cell{exc.cell}:{exc.line}" if exc.cell else f"{path}:{exc.line}"
            summary.errors.append(
                f"{where}:{exc.column}: cannot parse this as Python ({exc.reason}); the file was left "
                "unchanged: fix the syntax and run mlpipe migrate again"
            )
            continue
        except UnicodeDecodeError as exc:
            summary.errors.append(
                f"{path}: cannot decode it ({exc}); save it as UTF-8 or declare its encoding "
                "(# -*- coding: latin-1 -*-); it was left unchanged"
            )
            continue
        except (OSError, ValueError) as exc:
            summary.errors.append(f"{path}: cannot migrate this file ({exc}); it was left unchanged")
            continue
        summary.findings += findings
        if new == old:
            continue
        summary.changed.append(path)
        if diff:
            out.write(unified_diff(path, old.decode(encoding, "replace"), new.decode(encoding, "replace")))
        if not check:
            atomic_write(path, new)
    for error in summary.errors:
        print(f"mlpipe migrate: error: {error}", file=err)
    for warning in catalog.warnings:
        print(f"mlpipe migrate: warning: {warning}", file=err)
    for finding in summary.findings:
        print(finding, file=out)
    verb = "would change" if check else "changed"
    line = f"{len(summary.changed)} file(s) {verb}, {len(summary.findings)} finding(s)"
    if summary.errors:
        line += f", {len(summary.errors)} error(s)"
    print(line, file=out)
    if summary.errors:
        return 2
    return 1 if check and summary.changed else 0
