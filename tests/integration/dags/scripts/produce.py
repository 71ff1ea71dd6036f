import argparse
import os
import sys

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--out")
p.add_argument("--flag")
p.add_argument("--ratio", type=float)
p.add_argument("--ref")
a = p.parse_args()
run = Run.get_context()
print("hello from produce")
print("warn line", file=sys.stderr)
leaked = [k for k in os.environ if k.startswith("AIRFLOW_CONN_")] + [
    k for k, v in os.environ.items() if "probe-value-that-must-never-leak" in v
]
ref_files = sorted(os.listdir(a.ref))
with open(os.path.join(a.ref, ref_files[0])) as fh:
    ref_text = fh.read().strip()
os.makedirs(os.path.join(a.out, "nested"), exist_ok=True)
with open(os.path.join(a.out, "values.txt"), "w") as fh:
    fh.write(f"{a.flag} {a.ratio}\n")
with open(os.path.join(a.out, "nested", "ref.txt"), "w") as fh:
    fh.write(ref_text)
run.log("flag", a.flag)
run.log("ratio", a.ratio)
run.log("mode_env", os.environ["AML_PARAMETER_mode"])
run.log("fixed_env", os.environ["AML_PARAMETER_fixed"])
run.log("leaked_env", len(leaked))
run.log("ref_text", ref_text)
run.log_list("series", [1, 2, 3])
run.log_row("row", a=1, b="x")
run.parent.log("from_produce", "yes")
