"""A step independent of boom.py: it waits until boom is failing, then works long enough that the
pipeline (continue_on_step_failure=False) stops it before it can finish, whatever the machine's
load; with continue_on_step_failure=True it finishes."""

import argparse
import os
import time
from pathlib import Path

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--seconds", type=float)
a = p.parse_args()
run = Run.get_context()
flag = Path(os.environ["MLPIPE_TEST_FLAGS"], "failing-" + run.parent.id.replace("/", "_").replace(":", "_"))
deadline = time.monotonic() + 120
while not flag.exists() and time.monotonic() < deadline:
    time.sleep(0.2)
print("boom is failing:", flag.exists(), flush=True)
time.sleep(a.seconds)
run.log("bystander_ran", True)
print("bystander done", flush=True)
