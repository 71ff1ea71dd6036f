import argparse
import os
import socket

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--out")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "numbers.txt"), "w") as fh:
    fh.write("\n".join(str(i) for i in range(1, 11)))
Run.get_context().log("host", socket.gethostname())
