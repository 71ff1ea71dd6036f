"""Runs on the Databricks cluster: reads the notebook's CSV with plain Python, writes a text file."""

import argparse
import glob
import os

import yaml  # a PyPiLibrary of the step
from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--counted")
parser.add_argument("--scored")
parser.add_argument("--threshold", type=int)
args, _ = parser.parse_known_args()  # v1 also passes --AZUREML_RUN_ID and friends

rows = []
for part in sorted(glob.glob(os.path.join(args.counted, "*.csv"))):
    with open(part) as fh:
        rows += [line.strip().split(",") for line in fh if line.strip() and not line.startswith("name")]
kept = [name for name, value in rows if int(value) > args.threshold]
os.makedirs(args.scored, exist_ok=True)
with open(os.path.join(args.scored, "result.txt"), "w") as fh:
    fh.write(yaml.safe_dump({"kept": kept, "threshold": args.threshold}))
run = Run.get_context()
run.log("rows_scored", len(rows))
print("scored", len(rows), "rows; kept", kept)
