"""SqlStore against real PostgreSQL and MariaDB servers (Debian's packages, started on loopback)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import tracemalloc

import pyarrow.parquet as pq
import pytest
from sql_servers import mariadb_server, postgres_server

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.sql import SqlStore


@pytest.fixture(scope="module")
def pg_server():
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def maria_server():
    with mariadb_server() as server:
        yield server


@pytest.fixture(params=["postgres", "mysql"])
def db(request, monkeypatch):
    """(server, store) for each database; the store reaches it through an Airflow connection."""
    server = request.getfixturevalue("pg_server" if request.param == "postgres" else "maria_server")
    monkeypatch.setenv("AIRFLOW_CONN_SQLDB", server.conn_json())
    conn = server.connect()
    cur = conn.cursor()
    for table in _tables(server, cur):  # every test starts from an empty database
        cur.execute(f"DROP TABLE {_q(server, table)}")
    conn.commit()
    conn.close()
    return server, SqlStore("sqldb", server.kind, name="warehouse")


def _q(server, name: str) -> str:
    q = '"' if server.kind == "postgres" else "`"
    return q + name.replace(q, q + q) + q


def _tables(server, cur) -> list[str]:
    if server.kind == "postgres":
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    else:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
    return sorted(r[0] for r in cur.fetchall())


def _sql(server, *statements, params=None):
    """Run statements as the test user; returns the last one's rows."""
    conn = server.connect()
    try:
        cur = conn.cursor()
        rows = None
        for sql in statements:
            cur.execute(sql, params)
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else None
        conn.commit()
        return rows
    finally:
        conn.close()


def _people(server) -> None:
    ts = "TIMESTAMP" if server.kind == "postgres" else "DATETIME"
    _sql(
        server,
        f"CREATE TABLE people (id INTEGER, name VARCHAR(50), score NUMERIC(10,2), seen {ts})",
        "INSERT INTO people VALUES (1, 'ann', 1.50, '2024-01-02 03:04:05'), "
        "(2, 'bob, jr', NULL, NULL), (3, 'cé \"q\"', 3.25, '2024-02-03 00:00:00')",
    )


def _csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_query_to_csv_binds_params_and_writes_a_header(db, tmp_path):
    server, store = db
    _people(server)
    out = tmp_path / "out" / "people.csv"
    rows = store.query_to_file(
        out, query="SELECT id, name, score FROM people WHERE id >= %s ORDER BY id;\n", params=[2]
    )
    assert rows == 2
    assert _csv(out) == [["id", "name", "score"], ["2", "bob, jr", ""], ["3", 'cé "q"', "3.25"]]
    assert [p.name for p in out.parent.iterdir()] == ["people.csv"]  # no temporary file left


def test_table_to_parquet_keeps_types(db, tmp_path):
    server, store = db
    _people(server)
    out = tmp_path / "people.parquet"
    assert store.query_to_file(out, table="people") == 3
    table = pq.read_table(out).sort_by("id")
    assert table.column_names == ["id", "name", "score", "seen"]
    assert str(table.schema.field("id").type) == "int64"
    assert str(table.schema.field("score").type) == "decimal128(10, 2)"
    assert str(table.schema.field("seen").type) == "timestamp[us]"
    assert table.column("name").to_pylist() == ["ann", "bob, jr", 'cé "q"']
    assert table.column("score").to_pylist() == [decimal.Decimal("1.50"), None, decimal.Decimal("3.25")]
    assert table.column("seen").to_pylist()[0] == dt.datetime(2024, 1, 2, 3, 4, 5)


def test_an_empty_result_still_gives_the_columns(db, tmp_path):
    server, store = db
    _people(server)
    assert store.query_to_file(tmp_path / "none.csv", query="SELECT id, name FROM people WHERE id < 0") == 0
    assert _csv(tmp_path / "none.csv") == [["id", "name"]]
    assert (
        store.query_to_file(tmp_path / "none.parquet", query="SELECT id, name FROM people WHERE id < 0") == 0
    )
    assert pq.read_table(tmp_path / "none.parquet").column_names == ["id", "name"]


def test_a_large_result_streams_in_bounded_memory(db, tmp_path):
    server, store = db
    n = 100_000
    if server.kind == "postgres":
        query = f"SELECT g AS n, repeat('x', 100) AS pad FROM generate_series(1, {n}) g"
    else:
        query = f"SELECT seq AS n, REPEAT('x', 100) AS pad FROM seq_1_to_{n}"
    store.batch_rows = 1000
    tracemalloc.start()
    try:
        rows = store.query_to_file(tmp_path / "big.csv", query=query)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == n
    assert (tmp_path / "big.csv").stat().st_size > n * 100
    # the whole result as Python rows takes ~25 MB; batches of 1000 stay under 1 MB
    assert peak < 8 * 1024 * 1024, peak


def test_stored_procedure_with_params(db, tmp_path):
    server, store = db
    _people(server)
    if server.kind == "postgres":
        _sql(
            server,
            "CREATE FUNCTION top_people(n integer) RETURNS TABLE(id integer, name varchar) "
            "LANGUAGE sql AS $$ SELECT id, name FROM people ORDER BY id LIMIT n $$",
        )
    else:
        _sql(server, "CREATE PROCEDURE top_people(IN n INT) SELECT id, name FROM people ORDER BY id LIMIT n")
    assert store.query_to_file(tmp_path / "top.csv", procedure="top_people", params=[2]) == 2
    assert _csv(tmp_path / "top.csv") == [["id", "name"], ["1", "ann"], ["2", "bob, jr"]]
    # v1's StoredProcedureParameter names (T-SQL's '@' allowed): PostgreSQL binds them by name,
    # MySQL's positional CALL gets them in the order the procedure declares
    assert store.query_to_file(tmp_path / "named.csv", procedure="top_people", params={"@n": 1}) == 1
    assert _csv(tmp_path / "named.csv") == [["id", "name"], ["1", "ann"]]
    if server.kind == "mysql":
        with pytest.raises(
            DatastoreError, match=r"declares parameters \['n'\]; unknown: \['m'\], not given: \['n'\]"
        ):
            store.query_to_file(tmp_path / "bad.csv", procedure="top_people", params={"m": 1})
    _sql(server, "DROP FUNCTION top_people" if server.kind == "postgres" else "DROP PROCEDURE top_people")


def test_csv_to_a_new_table_then_append_and_replace(db, tmp_path):
    server, store = db
    f = tmp_path / "in.csv"
    f.write_text("city,pop\nOslo,700000\nBergen,\n", encoding="utf-8")
    assert store.load_file(f, "cities") == 2
    assert store.table_columns("cities") == ["city", "pop"]
    assert _sql(server, "SELECT city, pop FROM cities ORDER BY city") == [
        ("Bergen", None),
        ("Oslo", "700000"),
    ]
    f.write_text("pop,city\n1,Tromsø\n", encoding="utf-8")  # columns in another order
    assert store.load_file(f, "cities", mode="append") == 1
    assert _sql(server, "SELECT COUNT(*) FROM cities")[0][0] == 3
    f.write_text("city,pop\nAlta,2\n", encoding="utf-8")
    assert store.load_file(f, "cities", mode="replace") == 1
    assert _sql(server, "SELECT city, pop FROM cities") == [("Alta", "2")]
    with pytest.raises(DatastoreError, match="table cities exists already and mode='create'"):
        store.load_file(f, "cities", mode="create")


def test_parquet_to_a_new_table_creates_typed_columns(db, tmp_path):
    server, store = db
    _people(server)
    out = tmp_path / "people.parquet"
    store.query_to_file(out, table="people")
    assert store.load_file(out, "people_copy", mode="create") == 3
    got = _sql(server, "SELECT id, name, score, seen FROM people_copy ORDER BY id")
    assert got[0] == (1, "ann", decimal.Decimal("1.50"), dt.datetime(2024, 1, 2, 3, 4, 5))
    assert got[1] == (2, "bob, jr", None, None)
    assert store.fingerprint(table="people_copy") == store.fingerprint(table="people")


def test_append_checks_the_header_against_the_table(db, tmp_path):
    server, store = db
    _people(server)
    f = tmp_path / "bad.csv"
    f.write_text("id,nme,score,seen,extra\n9,zed,1,,x\n", encoding="utf-8")
    with pytest.raises(DatastoreError) as err:
        store.load_file(f, "people", mode="append")
    message = str(err.value)
    assert "'warehouse'" in message
    assert (
        "columns in the file but not in table people: ['nme', 'extra']; in the table but not in the file: ['name']"
        in message
    )
    assert _sql(server, "SELECT COUNT(*) FROM people")[0][0] == 3


def test_a_failed_load_leaves_the_table_unchanged(db, tmp_path):
    server, store = db
    _people(server)
    f = tmp_path / "rows.csv"
    lines = ["id,name,score,seen"] + [f"{i},p{i},1.00,2024-01-01 00:00:00" for i in range(10, 7010)]
    lines.append("oops,late,1.00,")  # the last row fails, after several batches went in
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for mode in ("append", "replace"):
        with pytest.raises(
            DatastoreError, match="loading rows.csv into table people failed and changed nothing"
        ):
            store.load_file(f, "people", mode=mode)
        assert _sql(server, "SELECT COUNT(*) FROM people")[0][0] == 3
    # a new table whose load fails is not left behind (MySQL: nor its temporary table)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n" + "1,2\n" * 6000 + "3\n", encoding="utf-8")
    with pytest.raises(DatastoreError, match="ragged.csv line 6002: 1 fields, the header has 2"):
        store.load_file(ragged, "fresh")
    conn = server.connect()
    assert _tables(server, conn.cursor()) == ["people"]
    conn.close()


def test_identifiers_are_quoted_not_spliced(db, tmp_path):
    server, store = db
    _people(server)
    evil = ['x"`; DROP TABLE people; --']  # a list gives the exact name
    f = tmp_path / "evil.csv"
    f.write_text('"a%b","c""d"\n1,2\n', encoding="utf-8")
    assert store.load_file(f, evil) == 1
    assert store.table_columns(evil) == ["a%b", 'c"d']
    assert store.query_to_file(tmp_path / "back.csv", table=evil) == 1
    assert _csv(tmp_path / "back.csv") == [["a%b", 'c"d'], ["1", "2"]]
    assert _sql(server, "SELECT COUNT(*) FROM people")[0][0] == 3
    with pytest.raises(DatastoreError, match="not a valid identifier"):
        store.query_to_file(tmp_path / "x.csv", table="a" * 70)
    with pytest.raises(DatastoreError, match="is not a name such as"):
        store.query_to_file(tmp_path / "x.csv", table='people"; DROP TABLE people; --')


def test_table_names_read_as_sql_writes_them(db, tmp_path):
    """v1's sql_table strings: plain parts (PostgreSQL folds them to lower case), quoted parts."""
    server, store = db
    _people(server)
    schema = "public" if server.kind == "postgres" else server.database
    assert store.query_to_file(tmp_path / "a.csv", table=f"{schema}.people") == 3
    assert store.query_to_file(tmp_path / "b.csv", table="[people]") == 3
    f = tmp_path / "c.csv"
    f.write_text("k\n1\n", encoding="utf-8")
    store.load_file(f, '"Mixed Case"')
    assert store.table_columns(["Mixed Case"]) == ["k"]
    if server.kind == "postgres":
        assert store.query_to_file(tmp_path / "d.csv", table="PEOPLE") == 3  # folded, as in SQL


def test_fingerprint_follows_the_rows(db):
    server, store = db
    _people(server)
    first = store.fingerprint(table="people")
    assert store.fingerprint(table="people") == first
    query = "SELECT * FROM people ORDER BY id"
    by_query = store.fingerprint(query=query)
    _sql(server, "UPDATE people SET name = 'anne' WHERE id = 1")
    assert store.fingerprint(table="people") != first
    assert store.fingerprint(query=query) != by_query
    _sql(server, "UPDATE people SET name = 'ann' WHERE id = 1")
    assert store.fingerprint(table="people") == first  # same rows, whatever their order on disk
    _sql(server, "INSERT INTO people (id, name) VALUES (1, 'ann')")  # a duplicate row counts too
    assert store.fingerprint(table="people") != first


def test_a_transfer_steps_sql_source_is_part_of_its_reuse_inputs(db):
    """reuse.decide.extra_inputs: what the operator and `mlpipe plan` both fingerprint."""
    from airflow_mlpipe.reuse.decide import extra_inputs

    server, _ = db
    _people(server)
    ref = {
        "kind": "sql",
        "datastore": "wh",
        "query": "SELECT name FROM people WHERE id > %(low)s",
        "params": [],
    }
    ref["params"] = [{"name": "low", "type": "Int", "value": {"parameter": "low"}}]
    step = {"kind": "data_transfer", "settings": {"source": ref}}
    datastores = {"wh": {"type": server.kind, "conn_id": "sqldb", "name": "wh"}}
    one = extra_inputs(step, {"low": 1}, datastores)
    assert list(one) == ["_sql_source"] and one == extra_inputs(step, {"low": 1}, datastores)
    assert extra_inputs(step, {"low": 2}, datastores) != one  # the run's parameter value counts
    _sql(server, "UPDATE people SET name = 'zed' WHERE id = 3")
    assert extra_inputs(step, {"low": 1}, datastores) != one
    assert extra_inputs({**step, "kind": "python_script"}, {}, datastores) == {}


def test_a_wrong_password_names_the_datastore_not_the_password(db, tmp_path, monkeypatch, caplog):
    server, store = db
    secret = "Wr0ng-Pa55word-xyz"
    monkeypatch.setenv("AIRFLOW_CONN_SQLDB", server.conn_json(password=secret))
    with pytest.raises(DatastoreError) as err:
        store.query_to_file(tmp_path / "x.csv", query="SELECT 1")
    text = str(err.value)
    assert "SQL datastore 'warehouse'" in text and "connection 'sqldb'" in text
    assert "cannot connect" in text
    assert secret not in text and secret not in repr(err.value.__cause__) and secret not in caplog.text
    assert secret not in store.location("people") and server.password not in store.location("people")
    assert store.location("people") == f"{server.kind}://127.0.0.1:{server.port}/{server.database}/people"


def test_a_sql_datastore_holds_no_files(db, tmp_path):
    _, store = db
    with pytest.raises(DatastoreError, match="holds tables, not files"):
        store.list("")
    with pytest.raises(DatastoreError, match="SqlDataReference"):
        store.upload_file(tmp_path / "x", "x")


def test_a_missing_connection_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRFLOW_CONN_NOSUCHDB", raising=False)
    store = SqlStore("nosuchdb", "postgres", "sales", name="sales")
    (tmp_path / "x.csv").write_text("a\n1\n")
    with pytest.raises(DatastoreError, match=r"'sales' \(postgres connection 'nosuchdb'\): cannot connect"):
        store.load_file(tmp_path / "x.csv", "t")
    assert store.location("t") == "postgres://conn-nosuchdb/sales/t"
    with pytest.raises(DatastoreError, match="kind 'oracle' is not one of"):
        SqlStore("x", "oracle")
