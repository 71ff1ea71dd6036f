"""SQL datastores (PostgreSQL, MySQL/MariaDB) through the Postgres and MySQL providers' hooks.

A SQL datastore holds tables, not files: a table, a query or a stored procedure's result is
streamed to a CSV or Parquet file (server-side cursor, bounded memory), and a file is loaded into
a table in one transaction. Credentials stay in the Airflow connection; identifiers are quoted and
values are bound as parameters, never spliced into SQL.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store
from airflow_mlpipe.storage.sql_cursor import read_batches
from airflow_mlpipe.storage.sql_formats import (
    _csv_value,
    _read_file,
    _row_bytes,
    _write_parquet,
)
from airflow_mlpipe.storage.sql_names import SqlNames, escape_pct, table_label

log = logging.getLogger(__name__)

KINDS = ("postgres", "mysql")
FORMATS = ("csv", "parquet")
MODES = ("append", "replace", "create")
Params = Sequence[Any] | Mapping[str, Any] | None


class SqlStore(Store):
    """A PostgreSQL or MySQL/MariaDB database named by an Airflow connection."""

    def __init__(
        self,
        conn_id: str,
        kind: str,
        database: str | None = None,
        *,
        name: str | None = None,
        batch_rows: int = 5000,
    ):
        if kind not in KINDS:
            raise DatastoreError(f"SQL datastore {name or conn_id!r}: kind {kind!r} is not one of {KINDS}")
        self.conn_id = conn_id
        self.kind = kind
        self.database = database
        self.name = name or conn_id
        self.batch_rows = batch_rows
        self._names = SqlNames(kind, self._where())

    def __repr__(self) -> str:
        return f"SqlStore({self.conn_id!r}, {self.kind!r}, {self.database!r}, name={self.name!r})"

    # connections ---------------------------------------------------------------------------

    def _hook(self) -> Any:
        if self.kind == "postgres":
            from airflow.providers.postgres.hooks.postgres import PostgresHook

            return PostgresHook(postgres_conn_id=self.conn_id, database=self.database)
        from airflow.providers.mysql.hooks.mysql import MySqlHook

        return MySqlHook(mysql_conn_id=self.conn_id, schema=self.database)

    def _where(self) -> str:
        return f"SQL datastore {self.name!r} ({self.kind} connection {self.conn_id!r})"

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A DB-API connection (autocommit off); rolled back and closed on the way out."""
        password = None
        try:
            hook = self._hook()
            password = hook.connection.password
            conn = hook.get_conn()
        except Exception as exc:
            text = _scrub(f"{type(exc).__name__}: {exc}", password)
            raise DatastoreError(
                f"{self._where()}: cannot connect ({text}); check the host, port, login, password and "
                f"database of Airflow connection {self.conn_id!r} (AIRFLOW_CONN_<ID> or the Connections page)"
            ) from (None if password and password in str(exc) else exc)
        try:
            yield conn
        finally:
            with suppress(Exception):
                conn.rollback()
            with suppress(Exception):
                conn.close()

    def location(self, path: str = "") -> str:
        """``postgres://host:port/database/<table or query-hash>`` for logs; never a login or password."""
        try:
            conn = self._hook().connection
            host = f"{conn.host or 'localhost'}:{conn.port or ''}".rstrip(":")
            database = self.database or conn.schema or ""
        except Exception:
            host, database = f"conn-{self.conn_id}", self.database or ""
        base = f"{self.kind}://{host}/{database}"
        return f"{base}/{path}" if path else base

    # reading: table / query / procedure -> rows ------------------------------------------------

    def _source(self, query: str | None, table: Any, procedure: Any, params: Params) -> tuple[str, Any, str]:
        """The SQL to run, its parameters, and a label for messages and logs."""
        given = [k for k, v in (("query", query), ("table", table), ("procedure", procedure)) if v]
        if len(given) != 1:
            raise DatastoreError(
                f"{self._where()}: give exactly one of query, table or procedure (got {given or 'none'})"
            )
        if query:
            query = query.strip().rstrip(";")  # a server-side cursor wraps exactly one statement
            return query, params, f"query-{hashlib.sha256(query.encode()).hexdigest()[:12]}"
        if table:
            if params:
                raise DatastoreError(f"{self._where()}: table {table!r} takes no params; use a query")
            return f"SELECT * FROM {self.quote_table(table)}", (), table_label(table)
        name = self.quote_table(procedure)
        if isinstance(params, Mapping):
            named = {str(k).lstrip("@"): v for k, v in params.items()}  # v1 names may carry T-SQL's '@'
            if self.kind == "mysql":  # CALL is positional: order the values as the procedure declares
                with self._connect() as conn:
                    order = self._names.procedure_params(conn.cursor(), procedure, named)
                values: list[Any] = [named.pop(n) for n in order]
                args = ", ".join(["%s"] * len(values))
            else:
                args = ", ".join(f"{escape_pct(self.quote(k))} => %s" for k in named)
                values = list(named.values())
        else:
            values = list(params or ())
            args = ", ".join(["%s"] * len(values))
        # PostgreSQL returns rows from a set-returning function; MySQL from CALL
        sql = f"SELECT * FROM {name}({args})" if self.kind == "postgres" else f"CALL {name}({args})"
        return sql, values, table_label(procedure)

    @contextmanager
    def _read(self, sql: str, params: Any) -> Iterator[tuple[list[Any], Iterator[list[Any]]]]:
        """(cursor description, batches of rows) from a server-side cursor on a new connection."""
        with self._connect() as conn:
            with read_batches(conn, self.kind, sql, params, self.batch_rows, self._where()) as result:
                yield result

    def query_to_file(
        self,
        local_path: str | Path,
        *,
        query: str | None = None,
        table: str | Sequence[str] | None = None,
        procedure: str | Sequence[str] | None = None,
        params: Params = None,
        fmt: str | None = None,
    ) -> int:
        """Write a query's, a table's or a procedure's rows to a CSV or Parquet file; returns the
        row count. The file appears complete or not at all (written beside it, then renamed)."""
        local = Path(local_path)
        fmt = _fmt(fmt, local, self._where())
        sql, values, label = self._source(query, table, procedure, params)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.part-{uuid.uuid4().hex[:8]}")
        started, rows = time.monotonic(), 0
        try:
            with self._read(sql, values) as (description, batches):
                columns = [d[0] for d in description]
                if fmt == "csv":
                    progress = _Progress(f"{label} -> {local.name}")
                    with open(tmp, "w", newline="", encoding="utf-8") as out:
                        writer = csv.writer(out)
                        writer.writerow(columns)
                        for batch in batches:
                            writer.writerows([_csv_value(v) for v in row] for row in batch)
                            rows += len(batch)
                            progress(rows)
                else:
                    rows = _write_parquet(tmp, self.kind, description, batches, where=self._where())
            os.replace(tmp, local)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        took = time.monotonic() - started
        log.info(
            "%s -> %s: %s rows, %s bytes in %.1f s",
            self.location(label),
            local.name,
            rows,
            local.stat().st_size,
            took,
        )
        return rows

    def fingerprint(
        self,
        *,
        query: str | None = None,
        table: str | Sequence[str] | None = None,
        procedure: str | Sequence[str] | None = None,
        params: Params = None,
    ) -> str:
        """A hash of the result (column names and every row), streamed. A table's hash ignores row
        order (a sum of row hashes: a multiset); a query's follows the order the query gives."""
        sql, values, _ = self._source(query, table, procedure, params)
        digest, total = hashlib.sha256(), 0
        with self._read(sql, values) as (description, batches):
            digest.update(json.dumps([d[0] for d in description]).encode())
            for batch in batches:
                for row in batch:
                    one = hashlib.sha256(_row_bytes(row)).digest()
                    if table:
                        total = (total + int.from_bytes(one, "big")) % (1 << 256)
                    else:
                        digest.update(one)
        if table:
            digest.update(total.to_bytes(32, "big"))
        return f"sql-sha256:{digest.hexdigest()}"

    # writing: file -> table ----------------------------------------------------------------------

    def load_file(
        self,
        local_path: str | Path,
        table: str | Sequence[str],
        *,
        fmt: str | None = None,
        mode: str = "append",
    ) -> int:
        """Load a CSV (header row) or Parquet file into ``table`` in one transaction; returns the
        row count. A missing table is created (CSV: text columns; Parquet: types from its schema).
        An existing table must have exactly the file's columns (any order). ``append`` adds rows,
        ``replace`` swaps all rows for the file's, ``create`` requires the table to be absent. A
        failed load changes nothing. CSV: an empty field loads as NULL."""
        local = Path(local_path)
        fmt = _fmt(fmt, local, self._where())
        if mode not in MODES:
            raise DatastoreError(f"{self._where()}: mode {mode!r} is not one of {MODES}")
        if not local.is_file():
            raise DatastoreError(
                f"{self._where()}: no file {local} to load into table {table_label(table)!r}"
            )
        columns, sql_types, batches = _read_file(local, fmt, self.kind)
        label, target = table_label(table), self.quote_table(table)
        started = time.monotonic()
        with self._connect() as conn:
            cur = conn.cursor()
            existing = self.table_columns(table, cur)
            if existing is not None:
                if mode == "create":
                    raise DatastoreError(
                        f"{self._where()}: table {label} exists already and mode='create' requires it to "
                        "be absent; use mode='append' or mode='replace'"
                    )
                self._names.check_columns(label, columns, existing)
            try:
                if self.kind == "mysql":
                    cur.execute(
                        "SET SESSION sql_mode = TRIM(BOTH ',' FROM CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'))"
                    )
                if existing is None and self.kind == "mysql":
                    rows = self._create_mysql(conn, cur, table, columns, sql_types, batches)
                else:
                    if existing is None:
                        cur.execute(self._create_sql(target, columns, sql_types))
                    elif self.kind == "mysql":
                        self._names.require_transactions(cur, table)
                    if existing is not None and mode == "replace":
                        cur.execute(f"DELETE FROM {target}")
                    rows = self._insert(cur, target, columns, batches)
                    conn.commit()
            except DatastoreError:
                raise
            except Exception as exc:
                raise DatastoreError(
                    f"{self._where()}: loading {local.name} into table {label} failed and changed "
                    f"nothing: {exc}"
                ) from exc
        log.info(
            "%s -> %s (%s): %s rows in %.1f s",
            local.name,
            self.location(label),
            mode,
            rows,
            time.monotonic() - started,
        )
        return rows

    def _create_sql(self, target: str, columns: list[str], sql_types: list[str]) -> str:
        cols = ", ".join(f"{self.quote(c)} {t}" for c, t in zip(columns, sql_types, strict=True))
        return f"CREATE TABLE {target} ({cols})" + (" ENGINE=InnoDB" if self.kind == "mysql" else "")

    def _create_mysql(
        self, conn: Any, cur: Any, table: Any, columns: list[str], sql_types: list[str], batches: Any
    ) -> int:
        """MySQL commits DDL at once, so a new table is filled under a temporary name and renamed
        into place (atomic): readers never see it half loaded, a failure leaves nothing."""
        parts = self.parts(table)
        staging = self.quote_table([*parts[:-1], f"_mlpipe_tmp_{uuid.uuid4().hex[:16]}"])
        cur.execute(self._create_sql(staging, columns, sql_types))
        try:
            rows = self._insert(cur, staging, columns, batches)
            conn.commit()
            cur.execute(f"RENAME TABLE {staging} TO {self.quote_table(table)}")
        except BaseException:
            with suppress(Exception):
                conn.rollback()
                cur.execute(f"DROP TABLE IF EXISTS {staging}")
            raise
        return rows

    def _insert(self, cur: Any, target: str, columns: list[str], batches: Iterator[list[tuple]]) -> int:
        """Multi-row INSERTs with bound values, a bounded number of values per statement."""
        per = max(1, min(self.batch_rows, 20000 // max(1, len(columns))))
        names = ", ".join(escape_pct(self.quote(c)) for c in columns)
        head = f"INSERT INTO {escape_pct(target)} ({names}) VALUES "
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        rows, progress = 0, _Progress(f"loading {target}")
        for batch in batches:
            for i in range(0, len(batch), per):
                chunk = batch[i : i + per]
                cur.execute(head + ", ".join([one] * len(chunk)), [v for row in chunk for v in row])
                rows += len(chunk)
            progress(rows)
        return rows

    # identifiers and catalogs ----------------------------------------------------------------

    def quote(self, name: str) -> str:
        """One identifier, quoted for this database (embedded quotes doubled)."""
        return self._names.quote(name)

    def quote_table(self, table: str | Sequence[str]) -> str:
        """A table or procedure name quoted for this database: see ``parts``."""
        return self._names.quote_table(table)

    def parts(self, table: str | Sequence[str]) -> list[str]:
        """The exact identifiers a name means (storage/sql_names.py): a string as SQL writes it
        (plain parts folded by PostgreSQL, "...", `...`, [...]), a list as the exact parts."""
        return self._names.parts(table)

    def table_columns(self, table: str | Sequence[str], cur: Any = None) -> list[str] | None:
        """The table's column names in order, or None when there is no such table."""
        if cur is None:
            with self._connect() as conn:
                return self._names.table_columns(conn.cursor(), table)
        return self._names.table_columns(cur, table)

    # a SQL datastore holds no files ------------------------------------------------------------

    def _no_files(self, *_: Any, **__: Any) -> Any:
        raise DatastoreError(
            f"{self._where()} holds tables, not files; reference it with a SqlDataReference "
            "(sql_table, sql_query or sql_stored_procedure) and copy it to a file datastore with "
            "DataTransferStep"
        )

    def list(self, prefix: str) -> list[FileInfo]:
        return self._no_files()

    exists = upload_file = download_file = read_bytes = write_bytes = delete = _no_files
    acquire_lease = renew_lease = release_lease = _no_files


class _Progress:
    """Progress lines in the task log, at most every ``every`` seconds of a long copy."""

    def __init__(self, what: str, every: float = 10.0):
        self.what, self.every = what, every
        self.started = self.last = time.monotonic()

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            log.info("%s: %s rows so far (%.0f rows/s)", self.what, rows, rows / (now - self.started))


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _fmt(fmt: str | None, local: Path, where: str) -> str:
    fmt = (fmt or ("parquet" if local.suffix.lower() in (".parquet", ".pq") else "csv")).lower()
    if fmt not in FORMATS:
        raise DatastoreError(f"{where}: format {fmt!r} is not one of {FORMATS}")
    return fmt
