"""Extract each trained model's settings and training score (step 'extract.py')."""

import argparse
import json
import os
import pickle

from airflow_mlpipe import Run

parser = argparse.ArgumentParser()
parser.add_argument("--models", required=True)
parser.add_argument("--output", required=True)
args = parser.parse_args()

run = Run.get_context()
with open(os.path.join(args.models, "train_scores.json")) as fh:
    train = json.load(fh)
summary = {}
for name in sorted(train["scores"]):
    with open(os.path.join(args.models, f"{name}.pkl"), "rb") as fh:
        model = pickle.load(fh)
    summary[name] = {
        "class": type(model).__name__,
        "params": {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool))},
        "train_accuracy": train["scores"][name],
    }
    print(f"{name}: {summary[name]['class']}, training accuracy {summary[name]['train_accuracy']}")
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "summary.json"), "w") as fh:
    json.dump(summary, fh, indent=2, sort_keys=True)
run.log("models", len(summary))
