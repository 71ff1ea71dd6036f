import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--input")
p.add_argument("--out")
a = p.parse_args()
with open(a.input) as fh:  # a one-file dataset arrives as that file
    text = fh.read().strip()
with open(os.path.join(a.out, "data.txt"), "w") as fh:
    fh.write(text.upper())
