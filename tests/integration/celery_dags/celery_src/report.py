import argparse
import os
import socket

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--model")
a = p.parse_args()
with open(os.path.join(a.model, "model.txt")) as fh:
    text = fh.read()
run = Run.get_context()
run.log("model", text)
run.log("host", socket.gethostname())
