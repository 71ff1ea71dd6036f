"""The golden U-SQL scripts run on DuckDB give what a hand-written pandas computation gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from usql_golden.expected import CASES, DATA, Case, check

from airflow_mlpipe.usql import compile_script

SCRIPTS = sorted(p.name for p in DATA.glob("*.usql"))


def locations(prog, out_dir: Path) -> dict[str, str]:
    paths = {p: str(DATA / p.removeprefix("/data/")) for p in prog.inputs}
    paths.update({p: str(out_dir / p.removeprefix("/output/")) for p in prog.outputs})
    return paths


def test_the_suite_has_at_least_15_scripts_and_every_script_has_a_case():
    assert len(SCRIPTS) >= 15
    assert {c.script for c in CASES} == set(SCRIPTS)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.script}:{c.output}")
def test_golden_script_on_duckdb_matches_pandas(case: Case, tmp_path: Path):
    prog = compile_script((DATA / case.script).read_text(), name=case.script)
    paths = locations(prog, tmp_path)
    counts = prog.run_duckdb(paths)
    assert set(counts) == set(prog.outputs)
    check(case, Path(paths[case.output]))
    assert counts[case.output] == len(case.compute())
    assert not [p for p in tmp_path.iterdir() if ".usql-" in p.name], (
        "temporary files must be renamed or removed"
    )
