import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "rows.csv"), "w") as fh:
    fh.write("name,value\n")
    for i in range(1, 7):
        fh.write(f"row{i},{i}\n")
print("prep wrote 6 rows")
