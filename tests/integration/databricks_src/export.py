"""Runs on Databricks (python_script_name): writes a report with plain open() to its output."""

import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--report")
args, _ = parser.parse_known_args()
os.makedirs(args.report, exist_ok=True)
with open(os.path.join(args.report, "summary.csv"), "w") as fh:
    fh.write("metric,value\nrows,42\n")
with open(os.path.join(args.report, "debug.log"), "w") as fh:
    fh.write("not kept: as_upload keeps only *.csv\n")
print("exported to", args.report)
