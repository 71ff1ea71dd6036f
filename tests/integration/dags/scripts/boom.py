import argparse
import os
import sys

p = argparse.ArgumentParser()
p.add_argument("--out")
a = p.parse_args()
with open(os.path.join(a.out, "partial.txt"), "w") as fh:
    fh.write("half-written")
print("something broke: code 42", file=sys.stderr)
sys.exit(3)
