import argparse
import os

import pandas as pd
from azureml.core import Run

p = argparse.ArgumentParser()
p.add_argument("--raw")
p.add_argument("--out")
a = p.parse_args()
run = Run.get_context()
run.log("raw_is_file", os.path.isfile(a.raw))  # a one-file dataset arrives as that file
data = pd.read_csv(a.raw).dropna()
os.makedirs(a.out, exist_ok=True)
data.to_csv(os.path.join(a.out, "clean.csv"), index=False)
