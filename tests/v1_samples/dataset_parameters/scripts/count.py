import argparse

from azureml.core import Run

p = argparse.ArgumentParser()
p.add_argument("--data")
a = p.parse_args()
with open(a.data) as fh:  # a one-file dataset arrives as that file
    rows = sum(1 for line in fh if line.strip()) - 1
Run.get_context().log("rows", rows)
