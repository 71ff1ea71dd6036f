#!/usr/bin/env bash
# The README's main command: sets up from a fresh clone, starts the embedded Airflow 3 deployment
# (SQLite, LocalExecutor, loopback ports), runs the example pipeline compare_models through Airflow's
# scheduler and workers, prints each step's state and metrics, then stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MLPIPE_HOME="${MLPIPE_HOME:-$PWD/.mlpipe}"
trap '.venv/bin/mlpipe down' EXIT
.venv/bin/mlpipe up
.venv/bin/mlpipe run compare_models --wait "$@"
