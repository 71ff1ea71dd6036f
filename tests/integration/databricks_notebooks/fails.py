# Databricks notebook source
threshold = int(getArgument("threshold"))

# COMMAND ----------

if threshold < 0:
    raise ValueError(f"threshold must be positive, got {threshold}")
dbutils.notebook.exit("unreachable")
