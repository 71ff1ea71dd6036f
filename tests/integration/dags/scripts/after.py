from airflow_mlpipe import Run

Run.get_context().log("after_ran", True)
