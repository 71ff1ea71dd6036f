import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "partial.txt"), "w") as fh:
    fh.write("half")
raise ValueError("bad input row 7")
