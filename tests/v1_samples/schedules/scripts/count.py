"""Count the data rows of every file under --data and log them."""

import argparse
import os

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data")
args = parser.parse_args()

rows = 0
for root, _, files in os.walk(args.data):
    for name in sorted(files):
        with open(os.path.join(root, name)) as fh:
            rows += sum(1 for line in fh if line.strip())
print("rows:", rows)
Run.get_context().log("rows", rows)
