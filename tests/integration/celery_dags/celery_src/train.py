import argparse
import os
import socket

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--numbers")
p.add_argument("--out")
a = p.parse_args()
with open(os.path.join(a.numbers, "numbers.txt")) as fh:
    total = sum(int(line) for line in fh)
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "model.txt"), "w") as fh:
    fh.write(f"sum={total} trained-on={socket.gethostname()}")
Run.get_context().log("host", socket.gethostname())
