"""Schedule a published pipeline on a recurrence, then on new data landing on a datastore: the
pattern of Azure ML's "set up a schedule for a published pipeline" sample (create, list, get,
update, disable; a datastore schedule that passes the changed path to a DataPath parameter).
Written as Azure ML SDK v1 code."""

import os
import tempfile
import time

from azureml.core import Datastore, Workspace
from azureml.data.datapath import DataPath, DataPathComputeBinding
from azureml.pipeline.core import Pipeline, PipelineParameter
from azureml.pipeline.core.schedule import Schedule, ScheduleRecurrence, TimeZone
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
datastore = Datastore(workspace=ws, name="workspaceblobstore")
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
# how often the datastore schedule polls, in minutes (v1's default is 5)
poll_minutes = float(os.environ.get("SCHEDULE_POLL_MINUTES", "5"))

local = tempfile.mkdtemp()
with open(os.path.join(local, "seed.csv"), "w") as fh:
    fh.write("1\n")
datastore.upload_files([os.path.join(local, "seed.csv")], target_path="schedule-sample/seed", overwrite=True)

data_path = PipelineParameter(
    name="input_data", default_value=DataPath(datastore=datastore, path_on_datastore="schedule-sample/seed")
)
data_binding = (data_path, DataPathComputeBinding(mode="mount"))
count_step = PythonScriptStep(
    name="count_rows",
    script_name="count.py",
    arguments=["--data", data_binding],
    inputs=[data_binding],
    source_directory=src,
    allow_reuse=False,
)
pipeline = Pipeline(workspace=ws, steps=[count_step])
published_pipeline = pipeline.publish(name="Schedule_Sample", description="counts the rows of new data")
pub_pipeline_id = published_pipeline.id
print(f"Newly published pipeline id: {pub_pipeline_id}")

# --- a time-based schedule: every other day at 10:30pm Pacific time -------------------------------
recurrence = ScheduleRecurrence(
    frequency="Day", interval=2, hours=[22], minutes=[30], time_zone=TimeZone.PacificStandardTime
)
schedule = Schedule.create(
    workspace=ws,
    name="My_Schedule",
    pipeline_id=pub_pipeline_id,
    experiment_name="Schedule_Run",
    recurrence=recurrence,
    wait_for_provisioning=True,
    description="Schedule Run",
)
schedule_id = schedule.id
print(f"Created schedule with id: {schedule_id}")
print("listed:", schedule_id in [s.id for s in Schedule.list(ws)])


def stop_by_schedule_id(ws, schedule_id):
    s = next(s for s in Schedule.list(ws) if s.id == schedule_id)
    s.disable()
    return s


stop_by_schedule_id(ws, schedule_id)
fetched_schedule = Schedule.get(ws, schedule_id)
print(f"Using schedule with id: {fetched_schedule.id} status: {fetched_schedule.status}")

fetched_schedule.update(
    name="My_Updated_Schedule",
    description="Updated_Schedule_Run",
    status="Active",
    wait_for_provisioning=True,
    recurrence=ScheduleRecurrence(frequency="Hour", interval=2),
)
print(
    "Updated schedule:", fetched_schedule.name, fetched_schedule.status, fetched_schedule.recurrence.frequency
)
fetched_schedule.disable(wait_for_provisioning=True)
print(f"Disabled schedule {fetched_schedule.id}. New status is: {fetched_schedule.status}")
print("runs of the time-based schedule:", len(fetched_schedule.get_pipeline_runs()))

try:
    Schedule.create(ws, name="bad", pipeline_id=pub_pipeline_id, experiment_name="Schedule_Run",
                    recurrence=recurrence, datastore=datastore)  # fmt: skip
except ValueError as e:
    print("both:", e)

# --- a change-based schedule: a run when files land under a path of the datastore -------------------
schedule = Schedule.create(
    workspace=ws,
    name="My_Datastore_Schedule",
    pipeline_id=pub_pipeline_id,
    experiment_name="Schedule_Run",
    datastore=datastore,
    path_on_datastore="schedule-sample/incoming",
    polling_interval=poll_minutes,
    data_path_parameter_name="input_data",
    wait_for_provisioning=True,
    description="Schedule Run",
)
for name, rows in (("a.csv", 2), ("b.csv", 3), ("c.csv", 4)):
    with open(os.path.join(local, name), "w") as fh:
        fh.write("x\n" * rows)
datastore.upload_files(
    [os.path.join(local, n) for n in ("a.csv", "b.csv", "c.csv")],
    target_path="schedule-sample/incoming",
    overwrite=True,
)

run = None
for _ in range(120):
    run = schedule.get_last_pipeline_run()
    if run is not None:
        break
    time.sleep(2)
run.wait_for_completion(show_output=False)
print("triggered run:", run.get_status())
print("rows counted:", run.find_step_run("count_rows")[0].get_metrics()["rows"])
print("runs of the datastore schedule:", len(schedule.get_pipeline_runs()))
schedule.disable(wait_for_provisioning=True)
print("DONE")
