#!/usr/bin/env bash
# The project's test command (README "Run the tests"): sets up, lints, then runs the whole suite,
# including the integration tests that start real Airflow 3 processes and Azurite on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[test] ruff check + format check"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] pytest"
exec .venv/bin/python -m pytest "$@"
