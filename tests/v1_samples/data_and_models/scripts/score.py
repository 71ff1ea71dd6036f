import argparse
import os
import pickle

from azureml.core import Run
from azureml.core.model import Model

p = argparse.ArgumentParser()
p.add_argument("--features")
p.add_argument("--out")
a = p.parse_args()
run = Run.get_context()
data = run.input_datasets["features_in"].to_pandas_dataframe()
path = Model.get_model_path("iris_model")
run.log("model_path_name", os.path.basename(path))
with open(path, "rb") as fh:
    model = pickle.load(fh)
accuracy = float((model.predict(data.drop(columns=["species"])) == data["species"]).mean())
run.log("accuracy", accuracy)
with open(os.path.join(a.out, "accuracy.txt"), "w") as fh:
    fh.write(str(accuracy))
