# Databricks notebook source
# Waits until the test writes the release file it names (on DBFS), then exits with its content.
import os
import time

release = "/dbfs" + dbutils.widgets.get("release")
deadline = time.time() + 600
while not os.path.exists(release):
    if time.time() > deadline:
        raise TimeoutError(f"{release} never appeared")
    time.sleep(0.5)

# COMMAND ----------

with open(release) as fh:
    dbutils.notebook.exit(fh.read().strip())
