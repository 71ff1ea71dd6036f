import argparse
import os

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--scored")
args = parser.parse_args()
with open(os.path.join(args.scored, "result.txt")) as fh:
    text = fh.read().strip()
print("report read:", text)
Run.get_context().log("report_lines", len(text.splitlines()))
