import argparse
import time

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--seconds", type=float)
args = parser.parse_args()
time.sleep(args.seconds)
Run.get_context().log("slept", args.seconds)
