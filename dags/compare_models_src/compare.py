"""Compare the trained models on a sample of the iris table (step 'compare.py').

--param1 (the pipeline parameter 'pipeline_arg') seeds the evaluation sample, so changing it
changes the scores.
"""

import argparse
import os
import pickle

from airflow_mlpipe import Run

parser = argparse.ArgumentParser()
parser.add_argument("--models", required=True)
parser.add_argument("--param1", type=int, required=True)
args = parser.parse_args()

run = Run.get_context()
table = run.input_datasets["iris_data"].to_pandas_dataframe()
sample = table.sample(frac=0.4, random_state=args.param1)
x, y = sample.drop(columns=["species"]), sample["species"]

scores = {}
for file in sorted(os.listdir(args.models)):
    if file.endswith(".pkl"):
        with open(os.path.join(args.models, file), "rb") as fh:
            model = pickle.load(fh)
        name = file[: -len(".pkl")]
        scores[name] = round(float(model.score(x, y)), 4)
        run.log(f"accuracy_{name}", scores[name])
        print(f"{name}: accuracy {scores[name]} on {len(sample)} rows (seed {args.param1})")
best = max(sorted(scores), key=lambda n: scores[n])
print(f"best model: {best}")
run.log("evaluation_rows", len(sample))
run.log("best_model", best)
run.parent.log("best_model", best)
run.parent.log("best_accuracy", scores[best])
