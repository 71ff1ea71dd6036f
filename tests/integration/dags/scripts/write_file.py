import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--model")
p.add_argument("--deep")
a = p.parse_args()
assert not os.path.exists(a.model), "a single-file output is a path to create"
with open(a.model, "w") as fh:
    fh.write("weights-v1")
with open(os.path.join(a.deep, "x.txt"), "w") as fh:
    fh.write("deep")
print("deep folder:", a.deep)
