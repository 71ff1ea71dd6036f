import argparse
import os

from airflow_mlpipe import Run

p = argparse.ArgumentParser()
p.add_argument("--counts")
a = p.parse_args()
run = Run.get_context()
frame = run.input_datasets["table"].to_pandas_dataframe()
with open(os.path.join(a.counts, "rows.txt")) as fh:
    counted = int(fh.read())
run.log("table_rows", len(frame))
run.log("agree", counted == len(frame))
