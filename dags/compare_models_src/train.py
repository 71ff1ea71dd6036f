"""Train two classifiers on the iris data and save them (step 'train.py' of compare_models)."""

import argparse
import json
import os
import pickle

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from airflow_mlpipe import Run

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True, help="the iris CSV file")
parser.add_argument("--output", required=True, help="folder to write the models to")
args = parser.parse_args()

run = Run.get_context()
data = pd.read_csv(args.input)  # a dataset of one file arrives as that file, as in Azure ML v1
features = data.drop(columns=["species"])
x_train, _, y_train, _ = train_test_split(features, data["species"], test_size=0.3, random_state=0)

models = {
    "logistic_regression": LogisticRegression(max_iter=500),
    "decision_tree": DecisionTreeClassifier(max_depth=3, random_state=0),
}
os.makedirs(args.output, exist_ok=True)
scores = {}
for name, model in models.items():
    model.fit(x_train, y_train)
    scores[name] = round(float(model.score(x_train, y_train)), 4)
    with open(os.path.join(args.output, f"{name}.pkl"), "wb") as fh:
        pickle.dump(model, fh)
    run.log(f"train_accuracy_{name}", scores[name])
    print(f"trained {name}: training accuracy {scores[name]}")
with open(os.path.join(args.output, "train_scores.json"), "w") as fh:
    json.dump({"rows": len(x_train), "scores": scores}, fh)
run.log("train_rows", len(x_train))
