import argparse

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--greeting")
args = parser.parse_args()
print(args.greeting, "world")
Run.get_context().log("said", args.greeting)
