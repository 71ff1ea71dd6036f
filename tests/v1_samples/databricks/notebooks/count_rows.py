# Databricks notebook source
# MAGIC %md
# MAGIC Counts the rows of the pipeline's input with Spark and keeps those above the threshold.

# COMMAND ----------

threshold = int(dbutils.widgets.get("threshold"))
raw = getArgument("raw")
counted = getArgument("counted")
print("input", raw, "output", counted, "threshold", threshold)

# COMMAND ----------

df = spark.read.csv(raw, header=True, inferSchema=True)
total = df.count()
df.coalesce(1).write.mode("overwrite").csv(counted, header=True)

# COMMAND ----------

dbutils.notebook.exit(str(total))
