import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--input")
p.add_argument("--out")
a = p.parse_args()
with open(os.path.join(a.input, "input.txt")) as fh:
    text = fh.read().strip()
with open(os.path.join(a.out, "data.txt"), "w") as fh:
    fh.write(text.upper())
