"""The wheel ships the tracking pages' build (hatch `artifacts`: the build is gitignored) and none
of the front-end's sources or npm's folders. Builds the wheel with uv, as a release would."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "airflow_mlpipe" / "plugin" / "static"


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def test_the_wheel_ships_the_built_pages_and_no_front_end_sources(tmp_path):
    assert (STATIC / "mlpipe-tracking.umd.js").is_file(), "no build of ui/: run scripts/setup.sh"
    subprocess.run(
        [*uv(), "build", "--wheel", "-o", str(tmp_path), str(REPO)], check=True, capture_output=True
    )
    (wheel,) = tmp_path.glob("airflow_mlpipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    built = {p.relative_to(REPO).as_posix() for p in STATIC.rglob("*") if p.is_file()}
    assert "airflow_mlpipe/plugin/static/mlpipe-tracking.umd.js" in names
    assert "airflow_mlpipe/plugin/static/standalone/index.html" in names
    assert built <= set(names), sorted(built - set(names))
    assert not [n for n in names if n.startswith("ui/") or "node_modules" in n]
