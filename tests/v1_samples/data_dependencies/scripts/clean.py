import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--input")
parser.add_argument("--output")
args = parser.parse_args()
os.makedirs(args.output, exist_ok=True)
values = []
for name in sorted(os.listdir(args.input)):
    with open(os.path.join(args.input, name)) as fh:
        values += [int(line) for line in fh.read().split()[1:]]
with open(os.path.join(args.output, "values.txt"), "w") as fh:
    fh.write("\n".join(str(v) for v in values))
print("cleaned", len(values), "values")
