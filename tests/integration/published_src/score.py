"""Count the rows of the input data, scale them, store and log the score."""

import argparse
import json
import os

from airflow_mlpipe import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--scale", type=int)
parser.add_argument("--label")
parser.add_argument("--out")
args = parser.parse_args()

rows = 0
for root, _, files in os.walk(args.data):
    for name in files:
        with open(os.path.join(root, name)) as fh:
            rows += sum(1 for _ in fh)
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "score.json"), "w") as fh:
    json.dump({"rows": rows, "scale": args.scale, "label": args.label}, fh)
run = Run.get_context()
run.log("score", rows * args.scale)
run.log("label", args.label)
print("score", rows * args.scale, args.label)
