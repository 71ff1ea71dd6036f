import argparse

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--factor", type=int)
args = parser.parse_args()
Run.get_context().log("scaled", args.factor * 5)
