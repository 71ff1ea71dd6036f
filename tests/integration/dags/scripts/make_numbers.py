import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--out")
p.add_argument("--count", type=int)
a = p.parse_args()
with open(os.path.join(a.out, "numbers.txt"), "w") as fh:
    fh.write("\n".join(str(i) for i in range(a.count)))
