import argparse
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--inp", default=None)
p.add_argument("--out")
a = p.parse_args()
time.sleep(4)
prev = ""
if a.inp:
    with open(os.path.join(a.inp, "v.txt")) as fh:
        prev = fh.read()
with open(os.path.join(a.out, "v.txt"), "w") as fh:
    fh.write(prev + "+")
