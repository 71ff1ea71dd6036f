import argparse
import os

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--cleaned")
parser.add_argument("--extra")
parser.add_argument("--output")
args = parser.parse_args()
with open(os.path.join(args.cleaned, "values.txt")) as fh:
    total = sum(int(v) for v in fh.read().split())
for name in sorted(os.listdir(args.extra)):
    with open(os.path.join(args.extra, name)) as fh:
        total += sum(int(v) for v in fh.read().split()[1:])
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "total.txt"), "w") as fh:
    fh.write(str(total))
Run.get_context().log("total", total)
