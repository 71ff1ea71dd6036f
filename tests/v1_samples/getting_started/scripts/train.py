import os

from azureml.core import Run

run = Run.get_context()
print("training in", run.experiment.name)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as fh:
    fh.write("weights=42")
run.log("accuracy", 0.91)
run.tag("framework", "none")
print("Run id:", run.id)
