import argparse

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--version")
parser.add_argument("--n", type=int)
args = parser.parse_args()
run = Run.get_context()
run.log("version", args.version)
run.log("n", args.n)
