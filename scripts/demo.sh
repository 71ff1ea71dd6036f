#!/usr/bin/env bash
# The README's main command. From a fresh clone: set up, start the embedded Airflow 3 deployment
# (SQLite, LocalExecutor, loopback ports), submit the example pipeline with the Python client and
# wait (each step's state, reuse and metrics are printed), submit it again (every step is reused),
# trigger the example DAG once more with curl over Airflow's REST API with a parameter in its conf
# and show that run, then stop every process that was started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MLPIPE_HOME="${MLPIPE_HOME:-$PWD/.mlpipe}"
PY=.venv/bin/python
trap '.venv/bin/mlpipe down' EXIT
.venv/bin/mlpipe up

echo; echo "== submitting the example pipeline with the Python client"
$PY scripts/submit_example.py

echo; echo "== triggering DAG compare_models with curl, conf {\"pipeline_arg\": 20}"
URL=$($PY -c 'from airflow_mlpipe.deploy.local import LocalDeployment; print(LocalDeployment().url)')
# the password goes to curl on stdin, never on a command line or into the output
TOKEN=$($PY -c 'import json; from airflow_mlpipe.deploy.local import LocalDeployment as D; print(json.dumps({"username": "admin", "password": D().password()}))' \
  | curl -sf -X POST "$URL/auth/token" -H 'Content-Type: application/json' --data-binary @- \
  | $PY -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
$PY -c 'from airflow_mlpipe.cli import _client; from airflow_mlpipe.deploy.local import LocalDeployment as D; _client(D()).wait_for_dag("compare_models")'
RUN_ID=$(curl -sf -X POST "$URL/api/v2/dags/compare_models/dagRuns" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"logical_date": null, "conf": {"pipeline_arg": 20}}' \
  | $PY -c 'import json, sys; print(json.load(sys.stdin)["dag_run_id"])')
echo "triggered run $RUN_ID"
.venv/bin/mlpipe show compare_models "$RUN_ID" --wait
