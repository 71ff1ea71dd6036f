import argparse
import os

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--raw")
p.add_argument("--out")
a = p.parse_args()
with open(a.raw) as fh:  # a one-file dataset arrives as that file
    rows = sum(1 for _ in fh) - 1
with open(os.path.join(a.out, "rows.txt"), "w") as fh:
    fh.write(str(rows))
Run.get_context().log("rows", rows)
