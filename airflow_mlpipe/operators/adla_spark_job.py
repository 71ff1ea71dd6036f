"""The Databricks side of an AdlaStep on a Databricks target: a self-contained PySpark script.

AdlaSparkStepOperator uploads this file as it is (the cluster has no airflow-mlpipe) with a plan
(JSON: the Spark SQL statements of the compiled U-SQL script) and runs it as a spark_python_task:
``python adla_spark_job.py /dbfs/<attempt>/source/usql_plan.json``. As ``Program.run_spark``, it
runs the statements in order, each OUTPUT into a temporary directory, and only when all succeeded
moves each output's single part file to the output's path (U-SQL writes one file; Spark writes a
directory). A failed statement raises an error naming the script and its U-SQL line.

The plan holds the statements twice: with ``dbfs:/`` paths (a Databricks cluster's DBFS
filesystem) and with ``file:///dbfs/`` paths (the FUSE mount, for a Spark with no DBFS filesystem,
as the local Databricks emulator's).
"""

from __future__ import annotations

import json
import sys
from typing import Any


class UsqlRunError(RuntimeError):
    """A statement of the script failed on Spark; the message names the script and its line."""


def has_dbfs(spark: Any) -> bool:
    """Whether this Spark has a Hadoop filesystem for ``dbfs:`` (every Databricks cluster has)."""
    jvm = spark.sparkContext._jvm
    try:
        jvm.org.apache.hadoop.fs.FileSystem.getFileSystemClass(
            "dbfs", spark.sparkContext._jsc.hadoopConfiguration()
        )
        return True
    except Exception:  # py4j's error for UnsupportedFileSystemException
        return False


def run(spark: Any, plan: dict[str, Any]) -> dict[str, int]:
    """Run the plan's statements; each output becomes one file. Output path -> bytes written."""
    variant = plan["variants"]["dbfs" if has_dbfs(spark) else "fuse"]
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()

    def fs_path(p: str) -> tuple[Any, Any]:
        path = jvm.org.apache.hadoop.fs.Path(p)
        return path.getFileSystem(conf), path

    written: dict[str, int] = {}
    try:
        for statement in variant["statements"]:
            try:
                spark.sql(statement["sql"])
            except Exception as exc:  # Spark raises py4j / pyspark errors
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
                marker = f"{plan['script']} line "
                if marker in first:  # a conversion error the script's own SQL raised: keep its line
                    raise UsqlRunError(first[first.index(marker) :].split(" SQLSTATE:")[0]) from None
                line = statement.get("line") or 0
                what = f"OUTPUT at line {line}" if statement.get("output") else "a statement"
                raise UsqlRunError(f"{plan['script']} line {line}: {what} failed on Spark: {first}") from None
        for out in variant["outputs"]:
            fs, tmp = fs_path(out["temp"])
            parts = [s.getPath() for s in fs.listStatus(tmp) if s.getPath().getName().startswith("part-")]
            fs_t, target = fs_path(out["target"])
            if fs_t.exists(target):
                fs_t.delete(target, True)
            fs_t.mkdirs(target.getParent())
            if len(parts) == 1:
                fs.rename(parts[0], target)
                crc = jvm.org.apache.hadoop.fs.Path(target.getParent(), f".{target.getName()}.crc")
                if fs_t.exists(crc):  # the local filesystem's checksum file: not part of the output
                    fs_t.delete(crc, False)
            else:  # an empty result may have no part file
                fs_t.create(target, True).close()
            written[out["target"]] = int(fs_t.getFileStatus(target).getLen())
            print(f"U-SQL output {out['target']}: {written[out['target']]} bytes")
    finally:
        for out in variant["outputs"]:
            fs, tmp = fs_path(out["temp"])
            if fs.exists(tmp):
                fs.delete(tmp, True)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        raise SystemExit(f"usage: {argv[0]} <plan.json>")
    from pyspark.sql import SparkSession

    with open(argv[1], encoding="utf-8") as fh:
        plan = json.load(fh)
    spark = SparkSession.builder.getOrCreate()
    print(
        f"running U-SQL script {plan['script']} as Spark SQL ({len(plan['variants']['dbfs']['statements'])} statements)"
    )
    run(spark, plan)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
