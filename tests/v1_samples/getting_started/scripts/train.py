import os
import sys

from azureml.core import Run

run = Run.get_context()
print("training in", run.experiment.name)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as fh:
    fh.write("weights=42")
run.log("accuracy", 0.91)
run.tag("framework", "none")
with open("loss.png", "wb") as fh:  # a plot a real script would draw with matplotlib
    fh.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
run.log_image("loss_curve", path="loss.png", description="training loss")
with open("summary.txt", "w") as fh:
    fh.write("trained on 3 rows")
run.upload_file(name="notes/summary.txt", path_or_stream="summary.txt")
print("a warning on stderr", file=sys.stderr)
print("Run id:", run.id)
