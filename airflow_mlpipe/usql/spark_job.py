"""U-SQL outputs on Spark, in one self-contained file (stdlib and pyspark only).

``Program.run_spark`` imports ``single_file_outputs`` from it. AdlaSparkStepOperator uploads the file
as it is to a Databricks cluster, which has no airflow-mlpipe, with a plan: the Spark SQL statements
of the compiled U-SQL script, as JSON. The cluster runs it as a spark_python_task:
``python spark_job.py /dbfs/<attempt>/source/usql_plan.json``. It runs the statements in order,
each OUTPUT into a temporary directory. Only when all have succeeded does it move each output's
single part file to the output's path: U-SQL writes one file, Spark writes a directory. A failed
statement raises an error naming the script and its U-SQL line.

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


def _fs_path(spark: Any, p: str) -> tuple[Any, Any]:
    """The Hadoop filesystem and Path of ``p``."""
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(p)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def single_file_outputs(spark: Any, temps: dict[str, str]) -> dict[str, int]:
    """Move the one part file Spark wrote into each temporary directory to its target path (temp ->
    target), replacing what is there; an empty result (no part file) becomes an empty file. Target
    -> bytes. The statements coalesce each output to one partition: more part files is an error."""
    written: dict[str, int] = {}
    for temp, target_path in temps.items():
        fs, tmp = _fs_path(spark, temp)
        parts = [s.getPath() for s in fs.listStatus(tmp) if s.getPath().getName().startswith("part-")]
        if len(parts) > 1:
            raise UsqlRunError(f"Spark wrote {len(parts)} part files for {target_path}; expected one")
        fs_t, target = _fs_path(spark, target_path)
        if fs_t.exists(target):
            fs_t.delete(target, True)
        fs_t.mkdirs(target.getParent())
        if parts:
            fs.rename(parts[0], target)
            crc = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(
                target.getParent(), f".{target.getName()}.crc"
            )
            if fs_t.exists(crc):  # the local filesystem's checksum file: not part of the output
                fs_t.delete(crc, False)
        else:
            fs_t.create(target, True).close()
        written[target_path] = int(fs_t.getFileStatus(target).getLen())
    return written


def remove_dirs(spark: Any, paths: list[str]) -> None:
    """Remove these directories (the outputs' temporary ones) where they exist."""
    for p in paths:
        fs, path = _fs_path(spark, p)
        if fs.exists(path):
            fs.delete(path, True)


def run(spark: Any, plan: dict[str, Any]) -> dict[str, int]:
    """Run the plan's statements; each output becomes one file. Output path -> bytes written."""
    variant = plan["variants"]["dbfs" if has_dbfs(spark) else "fuse"]
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
        written = single_file_outputs(spark, {o["temp"]: o["target"] for o in variant["outputs"]})
        for target, size in written.items():
            print(f"U-SQL output {target}: {size} bytes")
    finally:
        remove_dirs(spark, [o["temp"] for o in variant["outputs"]])
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
