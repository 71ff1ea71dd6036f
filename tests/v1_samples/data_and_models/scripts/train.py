import argparse
import os
import pickle

from azureml.core import Run
from sklearn.tree import DecisionTreeClassifier

p = argparse.ArgumentParser()
p.add_argument("--features")
a = p.parse_args()
run = Run.get_context()
data = run.input_datasets["features_in"].to_pandas_dataframe()
run.log("rows", len(data))
model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
    data.drop(columns=["species"]), data["species"]
)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pkl", "wb") as fh:
    pickle.dump(model, fh)
registered = run.register_model(
    model_name="iris_model",
    model_path="outputs/model.pkl",
    tags={"algo": "tree"},
    model_framework="ScikitLearn",
)
run.log("model_version", registered.version)
