"""compile_script: the subset is checked before anything runs; errors name the construct and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.usql import Program, UsqlError, compile_script

HEAD = '@r =\n    EXTRACT a int, b string\n    FROM "/in.csv"\n    USING Extractors.Csv();\n'  # lines 1-4
TAIL = '\nOUTPUT @r TO "/out.csv" USING Outputters.Csv();\n'

UNSUPPORTED = [
    ("REFERENCE ASSEMBLY MyLib;\n" + HEAD + TAIL, "REFERENCE ASSEMBLY", 1),
    (HEAD + "@p = PROCESS @r PRODUCE a int USING new MyProcessor();" + TAIL, "PROCESS", 5),
    (HEAD + "@p = REDUCE @r ON a PRODUCE a int USING new MyReducer();" + TAIL, "REDUCE", 5),
    (HEAD + "@p = COMBINE @r WITH @r ON a == a USING new MyCombiner();" + TAIL, "COMBINE", 5),
    (HEAD + "@s = SELECT MyNamespace.Udf.Clean(b) AS c FROM @r;" + TAIL, "function MyNamespace.Udf.Clean", 5),
    (HEAD + "@s = SELECT b.Normalize() AS c FROM @r;" + TAIL, "method Normalize", 5),
    (HEAD + "@s = SELECT Helpers.Fix(b) AS c FROM @r;" + TAIL, "function Helpers.Fix", 5),
    (
        '@r = EXTRACT a int FROM "/in.csv"\nUSING new MyExtractors.Json();' + TAIL,
        "custom extractor new MyExtractors.Json",
        2,
    ),
    (HEAD + 'OUTPUT @r TO "/o.json" USING new JsonOutputter();', "custom outputter new JsonOutputter", 5),
    ("CREATE TABLE T(a int);" + TAIL, "CREATE TABLE", 1),
    ("\nCREATE VIEW V AS SELECT 1 AS a;", "CREATE VIEW", 2),
    ("CREATE FUNCTION F() RETURNS int AS BEGIN END;", "CREATE FUNCTION", 1),
    ("CREATE PROCEDURE P() AS BEGIN END;", "CREATE PROCEDURE", 1),
    (HEAD + "INSERT INTO T SELECT * FROM @r;", "INSERT", 5),
    ("USE DATABASE Sales;\n" + HEAD + TAIL, "USE", 1),
    ("DROP TABLE IF EXISTS T;", "DROP", 1),
    (
        HEAD + "@s = SELECT a, ROW_NUMBER() OVER (ORDER BY a) AS n FROM @r;" + TAIL,
        "OVER (window functions)",
        5,
    ),
    (HEAD + "@s = SELECT * FROM dbo.Orders;" + TAIL, "reading the catalog table dbo", 5),
    ('@r = EXTRACT a int FROM "/in/{*}.csv" USING Extractors.Csv();' + TAIL, "file set /in/{*}.csv", 1),
    (
        "@r = EXTRACT a int FROM \"/in.csv\" USING Extractors.Csv(escapeCharacter: '#');" + TAIL,
        "Extractors.Csv(escapeCharacter: ...)",
        1,
    ),
    (
        HEAD + "@s = SELECT a FROM @r CROSS APPLY new Splitter(b) AS T(x);" + TAIL,
        "CROSS APPLY with a user-defined applier",
        5,
    ),
    (HEAD + "@s = SELECT b.TryParse() AS c FROM @r;" + TAIL, "method TryParse", 5),
    (HEAD + "@s = SELECT (SELECT 1) AS c FROM @r;" + TAIL, "a scalar subquery (SELECT ...)", 5),
]


@pytest.mark.parametrize(("script", "construct", "line"), UNSUPPORTED, ids=[c for _, c, _ in UNSUPPORTED])
def test_unsupported_constructs_are_refused_with_construct_and_line(script: str, construct: str, line: int):
    with pytest.raises(UsqlError) as err:
        compile_script(script, name="job.usql")
    e = err.value
    assert isinstance(e, UserErrorException)
    assert (e.construct, e.line) == (construct, line)
    assert str(e).startswith(
        f"job.usql line {line}: {construct} is not supported by airflow-mlpipe's U-SQL engine"
    )


INVALID = [
    (HEAD + "@s = SELECT A FROM @r;" + TAIL, "column A", 5, "case-sensitive: did you mean a?"),
    (HEAD + "@s = SELECT a + 1 FROM @r;" + TAIL, "SELECT", 5, "needs a name: add AS Name"),
    (HEAD + 'OUTPUT @missing TO "/x" USING Outputters.Csv();', "OUTPUT @missing", 5, "not a rowset"),
    (
        "@r = EXTRACT a int FROM \"/in.csv\" USING Extractors.Csv(delimiter: ';');" + TAIL,
        "Extractors.Csv",
        1,
        "fixes its delimiter",
    ),
    (
        '@r = EXTRACT a int FROM "/in.csv" USING Extractors.Csv(skipRows: 1);' + TAIL,
        "Extractors.Csv",
        1,
        "has no parameter skipRows",
    ),
    (HEAD + 'OUTPUT @r TO "/in.csv" USING Outputters.Csv();', "OUTPUT TO /in.csv", 5, "read by the EXTRACT"),
    ('DECLARE @n int = "x";' + HEAD + TAIL, "DECLARE @n", 1, "declared int but its value is a string"),
    (HEAD + "@s = SELECT a.Foo AS c FROM @r;" + TAIL, "member Foo of int", 5, "not supported"),
    (HEAD, "OUTPUT", 1, "no OUTPUT statement"),
    ('@r = EXTRACT a int FROM "/in.csv"\nUSING Extractors.Csv()\nOUTPUT', "';'", 3, "expected ';'"),
    ('@s = SELECT "unclosed FROM @r;', "string literal", 1, "never closed"),
]


@pytest.mark.parametrize(("script", "construct", "line", "text"), INVALID, ids=[c for _, c, _, _ in INVALID])
def test_invalid_scripts_name_the_problem_and_line(script: str, construct: str, line: int, text: str):
    with pytest.raises(UsqlError) as err:
        compile_script(script)
    assert (err.value.construct, err.value.line) == (construct, line)
    assert text in str(err.value)
    assert str(err.value).startswith(f"script.usql line {line}: ")


def test_create_database_if_not_exists_is_a_warned_no_op_and_paths_are_listed():
    prog = compile_script(
        "CREATE DATABASE IF NOT EXISTS Logs;\n"
        'DECLARE @dir string = "/logs/";\n'
        '@a = EXTRACT x int FROM @dir + "a.csv" USING Extractors.Csv();\n'
        '@b = EXTRACT x int FROM "/logs/b.csv", "/logs/a.csv" USING Extractors.Csv();\n'
        "@u = SELECT x FROM @a UNION ALL SELECT x FROM @b;\n"
        'OUTPUT @u TO "/out/u.csv" USING Outputters.Csv();\n'
        'OUTPUT @a TO "/out/a.tsv" USING Outputters.Tsv();\n'
    )
    assert isinstance(prog, Program)
    assert prog.inputs == ["/logs/a.csv", "/logs/b.csv"]
    assert prog.outputs == ["/out/u.csv", "/out/a.tsv"]
    assert prog.warnings == [
        "script.usql line 1: CREATE DATABASE IF NOT EXISTS Logs was ignored (the engine keeps no catalog)"
    ]


def test_declare_external_keeps_the_value_declared_before_it():
    prog = compile_script(
        'DECLARE @in string = "/given.csv";\n'
        'DECLARE EXTERNAL @in string = "/default.csv";\n'
        "@r = EXTRACT x int FROM @in USING Extractors.Csv();\n"
        + 'OUTPUT @r TO "/o.csv" USING Outputters.Csv();'
    )
    assert prog.inputs == ["/given.csv"]


def test_to_sql_reads_and_writes_the_given_locations_in_both_dialects():
    prog = compile_script(HEAD + "@s = SELECT a, b FROM @r WHERE b == null;" + TAIL.replace("@r", "@s"))
    paths = {"/in.csv": "/data/in put.csv", "/out.csv": "/data/o'ut.csv"}
    duck = prog.to_sql("duckdb", paths)
    spark = prog.to_sql("spark", paths)
    assert "read_csv(['/data/in put.csv']" in duck[0]
    assert duck[-1].startswith("COPY (") and "TO '/data/o''ut.csv'" in duck[-1]
    assert any("IS NOT DISTINCT FROM NULL" in s for s in duck), "C# == null matches nulls"
    assert "path '/data/in put.csv'" in spark[0]
    assert spark[-1].startswith("INSERT OVERWRITE DIRECTORY '/data/o\\'ut.csv' USING text")
    with pytest.raises(UsqlError, match="no location was given for /out.csv"):
        prog.to_sql("duckdb", {"/in.csv": "/x"})


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_bytes(text.encode())
    return str(p)


def test_a_value_that_does_not_parse_fails_with_its_line_and_writes_nothing(tmp_path: Path):
    src = write(tmp_path, "in.csv", "1,a\nx,b\n")
    out = tmp_path / "out.csv"
    prog = compile_script(HEAD + TAIL, name="load.usql")
    with pytest.raises(UsqlError) as err:
        prog.run_duckdb({"/in.csv": src, "/out.csv": str(out)})
    assert str(err.value).startswith("load.usql line 2: EXTRACT column a (int) cannot hold the value 'x'")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_a_row_with_too_many_columns_fails_unless_silent(tmp_path: Path):
    src = write(tmp_path, "in.csv", "1,a\n2,b,extra\n3,c\n")
    with pytest.raises(UsqlError, match="OUTPUT at line 6 failed"):
        compile_script(HEAD + TAIL).run_duckdb({"/in.csv": src, "/out.csv": str(tmp_path / "o.csv")})
    silent = compile_script(HEAD.replace("Csv()", "Csv(silent: true)") + TAIL)
    assert silent.run_duckdb({"/in.csv": src, "/out.csv": str(tmp_path / "o.csv")}) == {"/out.csv": 2}
    assert (tmp_path / "o.csv").read_bytes() == b'1,"a"\r\n3,"c"\r\n'


def test_skip_first_n_rows_encoding_and_unquoted_output(tmp_path: Path):
    src = tmp_path / "in.txt"
    src.write_bytes("title line\nsecond line\nnom;ville\nÉlodie;Québec\n".encode("utf-16"))
    prog = compile_script(
        '@r = EXTRACT Name string, City string FROM "/in.txt"\n'
        "  USING Extractors.Text(delimiter: ';', skipFirstNRows: 3, encoding: Encoding.Unicode);\n"
        "@s = SELECT Name.ToUpper() AS Name, City.Length AS L FROM @r;\n"
        "OUTPUT @s TO \"/o.txt\" USING Outputters.Text(delimiter: '#', quoting: false, outputHeader: true);"
    )
    assert prog.run_duckdb({"/in.txt": str(src), "/o.txt": str(tmp_path / "o.txt")}) == {"/o.txt": 1}
    assert (tmp_path / "o.txt").read_bytes().decode() == "Name#L\r\nÉLODIE#6\r\n"


def test_csharp_literals_and_operators(tmp_path: Path):
    src = write(tmp_path, "in.csv", "1,x\n")
    prog = compile_script(
        HEAD + '@s = SELECT "tab\\there" AS Esc, @"C:\\dir\\" AS Verbatim, \'q\' + "\\u00e9" AS Uni,\n'
        "  7 / 2 AS IntDiv, 7.0 / 2 AS Div, -7 % 3 AS Mod, 10L * 3 AS Long, 1 == 1 && !(2 > 3) AS Logic,\n"
        '  (string) null ?? "dflt" AS Coalesced, b == null ? "null" : b.ToUpper() AS Cond\n'
        "FROM @r;\n" + TAIL.replace("@r", "@s")
    )
    prog.run_duckdb({"/in.csv": src, "/out.csv": str(tmp_path / "o.csv")})
    assert (tmp_path / "o.csv").read_bytes().decode() == (
        '"tab\there","C:\\dir\\","qé",3,3.5,-1,30,True,"dflt","X"\r\n'
    )


def test_output_order_by_and_datetime_formats(tmp_path: Path):
    src = write(tmp_path, "in.csv", '3,2024-01-02 03:04:05\n1,"1/2/2024 1:04:05 PM"\n2,\n')
    prog = compile_script(
        '@r = EXTRACT id int, at DateTime? FROM "/in.csv" USING Extractors.Csv();\n'
        '@s = SELECT id, at, at.ToString("yyyy/MM/dd") AS day FROM @r;\n'
        'OUTPUT @s TO "/o.csv" ORDER BY id DESC USING Outputters.Csv(outputHeader: true, nullEscape: "\\\\N");'
    )
    prog.run_duckdb({"/in.csv": src, "/o.csv": str(tmp_path / "o.csv")})
    assert (tmp_path / "o.csv").read_bytes().decode().split("\r\n") == [
        '"id","at","day"',
        '3,2024-01-02T03:04:05.0000000,"2024/01/02"',
        "2,\\N,\\N",
        '1,2024-01-02T13:04:05.0000000,"2024/01/02"',
        "",
    ]


def test_usql_error_survives_pickling():
    import pickle

    e = UsqlError("PROCESS", 3, "PROCESS is not supported", script="a.usql")
    back = pickle.loads(pickle.dumps(e))
    assert (back.construct, back.line, back.script, str(back)) == ("PROCESS", 3, "a.usql", str(e))
