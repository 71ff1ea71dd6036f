import argparse
import os
import sys
from pathlib import Path

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--out")
a = p.parse_args()
with open(os.path.join(a.out, "partial.txt"), "w") as fh:
    fh.write("half-written")
# tell a sibling step of this run (bystander.py) that this step is failing now
flags = os.environ.get("MLPIPE_TEST_FLAGS")
if flags:
    Path(flags, "failing-" + Run.get_context().parent.id.replace("/", "_").replace(":", "_")).touch()
print("something broke: code 42", file=sys.stderr)
sys.exit(3)
