"""Reading a SQL result in batches from a server-side cursor, so that a table of any size streams
through bounded memory (storage/sql.py writes the batches to files or hashes them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError


@contextmanager
def read_batches(
    conn: Any, kind: str, sql: str, params: Any, batch_rows: int, where: str
) -> Iterator[tuple[list[Any], Iterator[list[Any]]]]:
    """(cursor description, batches of at most ``batch_rows`` rows) of ``sql`` run on ``conn``, a
    PostgreSQL (``kind='postgres'``) or MySQL connection; ``where`` names the datastore in errors."""
    if kind == "postgres":
        cur = conn.cursor(name=f"mlpipe_{uuid.uuid4().hex}")
        cur.itersize = batch_rows
    else:
        cur = _unbuffered_cursor(conn)
    try:
        try:
            cur.execute(sql, params)
            first = list(cur.fetchmany(batch_rows))
        except Exception as exc:
            raise DatastoreError(f"{where}: reading failed: {exc}") from exc
        # psycopg2's named cursors describe their rows only after the first fetch
        description = list(cur.description or [])
        if kind == "mysql":
            description = _mysql_precision(description, getattr(cur, "description_flags", None))

        def batches() -> Iterator[list[Any]]:
            batch = first
            while batch:
                yield batch
                if len(batch) < batch_rows:
                    return
                batch = list(cur.fetchmany(batch_rows))

        yield description, batches()
    finally:
        with suppress(Exception):
            cur.close()


def _mysql_precision(description: list[Any], flags: Sequence[int] | None) -> list[Any]:
    """MySQL reports a DECIMAL's display length (digits, point, sign) where precision belongs."""
    out = []
    for i, d in enumerate(description):
        d = list(d)
        if d[1] in (0, 246) and isinstance(d[4], int) and isinstance(d[5], int):
            unsigned = bool(flags and flags[i] & 32)  # UNSIGNED_FLAG
            d[4] -= (1 if d[5] else 0) + (0 if unsigned else 1)
        out.append(d)
    return out


def _unbuffered_cursor(conn: Any) -> Any:
    """A MySQL cursor that streams rows from the server instead of buffering the whole result."""
    if type(conn).__module__.startswith("MySQLdb"):
        import MySQLdb.cursors

        return conn.cursor(MySQLdb.cursors.SSCursor)
    return conn.cursor()  # mysql-connector-python: unbuffered by default
