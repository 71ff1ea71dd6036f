import argparse
import time

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--seconds", type=float)
a = p.parse_args()
time.sleep(a.seconds)  # long enough for a failing sibling to fail first
Run.get_context().log("bystander_ran", True)
print("bystander done", flush=True)
