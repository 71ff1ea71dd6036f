# Databricks notebook source
print("I am in Notebook1")
dbutils.widgets.get("myparam")
p = getArgument("myparam")
print("Param -'myparam':")
print(p)
dbutils.notebook.exit(p)
