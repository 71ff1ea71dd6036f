"""DAG "throughput_baseline" of bench/celery_throughput.py: N (``MLPIPE_BENCH_STEPS``) no-op
PythonOperators in a plain Airflow DAG, with throughput_ours.py's DAG settings (a file of its own:
a worker parses only the file of the DAG it runs a task of)."""

import os

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

N = int(os.environ.get("MLPIPE_BENCH_STEPS", "10"))


def nothing() -> None:
    """The baseline task: no work at all."""


with DAG("throughput_baseline", schedule=None, max_active_tasks=N, max_active_runs=1, catchup=False) as dag:
    for i in range(N):
        PythonOperator(task_id=f"step_{i:03d}", python_callable=nothing)
