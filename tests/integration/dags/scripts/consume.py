import argparse
import os

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--data")
a = p.parse_args()
run = Run.get_context()
found = sorted(os.path.relpath(os.path.join(d, f), a.data) for d, _, fs in os.walk(a.data) for f in fs)
run.log("files_seen", ",".join(found))
with open(os.path.join(a.data, "values.txt")) as fh:
    run.log("values", fh.read().strip())
if "produced_in" in run.input_datasets:
    run.log("input_path_matches", run.input_datasets["produced_in"] == a.data)
