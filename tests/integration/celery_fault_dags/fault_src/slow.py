"""Writes half its output, then works for SLOW_SECONDS before finishing it: a kill in between
leaves only a local, partial file on the worker."""

import argparse
import os
import socket
import time

from airflow_mlpipe import Run

SLOW_SECONDS = 20

p = argparse.ArgumentParser()
p.add_argument("--tag")
p.add_argument("--out")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "data.txt"), "w") as fh:
    fh.write(f"tag={a.tag}\n")
    fh.flush()
    time.sleep(SLOW_SECONDS)
    fh.write(f"host={socket.gethostname()}\n")
Run.get_context().log("host", socket.gethostname())
