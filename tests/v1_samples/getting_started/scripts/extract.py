from azureml.core import Run

run = Run.get_context()
store = run.experiment.workspace.get_default_datastore()
print("default datastore:", store.name)
run.log("datastore", store.name)
