import argparse
import os
import socket

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--tag")
p.add_argument("--data")
a = p.parse_args()
with open(os.path.join(a.data, "data.txt")) as fh:
    text = fh.read()
assert text.startswith(f"tag={a.tag}\n") and "host=" in text, text
run = Run.get_context()
run.log("data", text.strip())
run.log("host", socket.gethostname())
