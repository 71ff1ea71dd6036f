import argparse
import os

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--model")
p.add_argument("--deep")
a = p.parse_args()
run = Run.get_context()
run.log("model_is_file", os.path.isfile(a.model))
run.log("model_path_tail", "/".join(a.model.split(os.sep)[-4:]))
with open(a.model) as fh:
    run.log("model", fh.read())
run.log("deep_files", sorted(os.listdir(a.deep)))
