import argparse

from azureml.core import Run

p = argparse.ArgumentParser()
p.add_argument("--data")
a = p.parse_args()
run = Run.get_context()
frame = run.input_datasets["web_in"].to_pandas_dataframe()
run.log("rows", len(frame))
