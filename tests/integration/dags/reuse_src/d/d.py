import argparse
import os

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--inp")
a = p.parse_args()
with open(os.path.join(a.inp, "data.txt")) as fh:
    Run.get_context().log("d_saw", fh.read())
