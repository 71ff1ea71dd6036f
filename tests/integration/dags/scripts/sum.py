import argparse
import os

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--numbers")
a = p.parse_args()
with open(os.path.join(a.numbers, "numbers.txt")) as fh:
    total = sum(int(x) for x in fh.read().split())
Run.get_context().log("total", total)
