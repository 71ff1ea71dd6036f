"""Read the score and log it again: the second step of the published test pipeline."""

import argparse
import json
import os

from airflow_mlpipe import Run

parser = argparse.ArgumentParser()
parser.add_argument("--score")
args = parser.parse_args()
with open(os.path.join(args.score, "score.json")) as fh:
    score = json.load(fh)
Run.get_context().log("reported", score["rows"] * score["scale"])
