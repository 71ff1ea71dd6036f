"""First step of the tracking test pipeline: a folder output, a metric, a file in ./outputs."""

import argparse
import os

from airflow_mlpipe import Run

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int)
parser.add_argument("--salt")
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(os.path.join(args.out, "sub"), exist_ok=True)
with open(os.path.join(args.out, "data.txt"), "w") as fh:
    fh.write("".join(f"{i}\n" for i in range(args.n * 10)))
with open(os.path.join(args.out, "sub", "more.txt"), "w") as fh:
    fh.write(f"n={args.n}\n")
os.makedirs("outputs", exist_ok=True)
with open("outputs/prepared.txt", "w") as fh:
    fh.write(f"prepared {args.n}\n")
Run.get_context().log("rows", args.n * 10)
