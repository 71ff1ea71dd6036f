"""The golden U-SQL scripts on the Spark path (a local SparkSession) give the pandas results too."""

from __future__ import annotations

from pathlib import Path

import pytest
from usql_golden.expected import CASES, DATA, Case, check

from airflow_mlpipe.usql import UsqlError, compile_script

pyspark = pytest.importorskip("pyspark")


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("usql-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    gateway = SparkContext._gateway
    if gateway is not None:  # the JVM this fixture started must not outlive the test run
        gateway.shutdown()
        proc = getattr(gateway, "proc", None)
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        SparkContext._gateway = None
        SparkContext._jvm = None


def locations(prog, out_dir: Path) -> dict[str, str]:
    paths = {p: str(DATA / p.removeprefix("/data/")) for p in prog.inputs}
    paths.update({p: str(out_dir / p.removeprefix("/output/")) for p in prog.outputs})
    return paths


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.script}:{c.output}")
def test_golden_script_on_spark_matches_pandas(spark, case: Case, tmp_path: Path):
    prog = compile_script((DATA / case.script).read_text(), name=case.script)
    paths = locations(prog, tmp_path)
    counts = prog.run_spark(spark, paths)
    out = Path(paths[case.output])
    assert out.is_file(), "run_spark leaves one file where U-SQL writes one, not a Spark directory"
    check(case, out)
    assert counts[case.output] == len(case.compute())
    assert not [p for p in tmp_path.iterdir() if ".usql-" in p.name]


def test_spark_sql_writes_a_directory_with_one_part_file(spark, tmp_path: Path):
    prog = compile_script((DATA / "04_order_by_fetch.usql").read_text(), name="04.usql")
    paths = locations(prog, tmp_path)
    for statement in prog.to_sql("spark", paths):
        spark.sql(statement)
    parts = [p for p in Path(paths["/output/04.tsv"]).iterdir() if p.name.startswith("part-")]
    assert len(parts) == 1
    assert parts[0].read_bytes().decode().split("\n")[0] == '460748\t"yelp"\t1270\r'


def test_a_bad_value_fails_the_spark_job_with_the_script_line(spark, tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,ok\nx,bad\n")
    prog = compile_script(
        '@r =\n  EXTRACT Id int, Name string\n  FROM "/in.csv"\n  USING Extractors.Csv();\n'
        'OUTPUT @r TO "/out.csv" USING Outputters.Csv();',
        name="bad.usql",
    )
    with pytest.raises(UsqlError) as err:
        prog.run_spark(spark, {"/in.csv": str(bad), "/out.csv": str(tmp_path / "out.csv")})
    assert "bad.usql line 2" in str(err.value) and "Id" in str(err.value)
    assert not (tmp_path / "out.csv").exists(), "a failed script writes no output"


def test_skipping_more_than_one_row_is_refused_for_spark_with_the_line():
    prog = compile_script(
        '@r = EXTRACT a string FROM "/in.txt"\n USING Extractors.Text(skipFirstNRows: 3);\n'
        'OUTPUT @r TO "/o" USING Outputters.Csv();'
    )
    with pytest.raises(UsqlError, match="line 1: skipFirstNRows: 3 has no Spark equivalent"):
        prog.to_sql("spark", {"/in.txt": "/x", "/o": "/y"})
