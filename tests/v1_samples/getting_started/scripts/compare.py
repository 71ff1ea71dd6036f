from azureml.core import Run

run = Run.get_context()
run.log_table("scores", {"model": ["a", "b"], "score": [0.91, 0.87]})
run.parent.log("best_model", "a")
print("compared")
