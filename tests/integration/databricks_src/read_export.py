import argparse
import os

from airflow_mlpipe import Run

parser = argparse.ArgumentParser()
parser.add_argument("--report")
args = parser.parse_args()
names = sorted(os.listdir(args.report))
with open(os.path.join(args.report, "summary.csv")) as fh:
    rows = fh.read().splitlines()
Run.get_context().log("files", len(names))
Run.get_context().log("rows", rows[1])
print("read", names, rows)
