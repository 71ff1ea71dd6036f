import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--inp")
p.add_argument("--out")
a = p.parse_args()
with open(os.path.join(a.inp, "data.txt")) as fh:
    text = fh.read()
with open(os.path.join(a.out, "data.txt"), "w") as fh:
    fh.write(text + "|b")
