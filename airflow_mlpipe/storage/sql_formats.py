"""The file side of SQL datastores: CSV and Parquet reading and writing, and the mapping between
database column types, Arrow types and SQL types (storage/sql.py moves the rows)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError

_PG_ARROW = {16: "bool", 20: "int64", 21: "int64", 23: "int64", 700: "float64", 701: "float64",
             1082: "date32", 1114: "timestamp", 1184: "timestamptz", 17: "binary", 25: "string",
             1043: "string"}  # fmt: skip
_MYSQL_ARROW = {1: "int64", 2: "int64", 3: "int64", 8: "int64", 9: "int64", 4: "float64", 5: "float64",
                10: "date32", 7: "timestamp", 12: "timestamp"}  # fmt: skip
_DECIMAL_CODES = {"postgres": (1700,), "mysql": (0, 246)}


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, default=str)
    if hasattr(v, "isoformat") and not isinstance(v, str):
        return v.isoformat(sep=" ") if hasattr(v, "hour") and hasattr(v, "day") else v.isoformat()
    return str(v)


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    t = type(v)
    if t is str:
        return v
    return str(v) if t is int or t is float else _text(v)


def _row_bytes(row: Sequence[Any]) -> bytes:
    """An unambiguous encoding of one row: type and text of each value, length-prefixed."""
    out = bytearray()
    for v in row:
        item = b"\x00" if v is None else f"{type(v).__name__}:{_text(v)}".encode()
        out += len(item).to_bytes(4, "big") + item
    return bytes(out)


def _arrow_type(kind: str, desc: Sequence[Any], sample: Any) -> Any:
    """The Parquet column type: from the driver's type code, else from a value, else text."""
    import datetime as dt
    import decimal

    import pyarrow as pa

    named = {"bool": pa.bool_(), "int64": pa.int64(), "float64": pa.float64(), "date32": pa.date32(),
             "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
             "binary": pa.binary(), "string": pa.string()}  # fmt: skip
    code = desc[1]
    precision, scale = desc[4], desc[5]
    known = (_PG_ARROW if kind == "postgres" else _MYSQL_ARROW).get(code if isinstance(code, int) else -1)
    if known:
        return named[known]
    if isinstance(sample, decimal.Decimal) or code in _DECIMAL_CODES[kind]:
        # a decimal with a declared precision keeps it; an unconstrained one stays exact as text
        if isinstance(precision, int) and isinstance(scale, int) and 0 < precision <= 38 and scale >= 0:
            return pa.decimal128(precision, scale)
        return pa.string()
    checks = [(bool, "bool"), (int, "int64"), (float, "float64"), (str, "string"),
              ((bytes, bytearray, memoryview), "binary"), (dt.datetime, "timestamp"), (dt.date, "date32")]  # fmt: skip
    for cls, name in checks:
        if isinstance(sample, cls):
            if name == "timestamp" and sample.tzinfo is not None:
                return named["timestamptz"]
            return named[name]
    if isinstance(sample, dt.time):
        return pa.time64("us")
    return pa.string()


def _write_parquet(
    tmp: Path, kind: str, description: list[Any], batches: Iterator[list[Any]], where: str
) -> int:
    """Rows to a Parquet file, one row group per batch; column types fixed by the first batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names, rows, writer, schema = [d[0] for d in description], 0, None, None
    try:
        for batch in batches:
            cols = [[row[i] for row in batch] for i in range(len(names))]
            if schema is None:
                samples = [next((v for v in c if v is not None), None) for c in cols]
                schema = pa.schema(
                    [
                        pa.field(n, _arrow_type(kind, d, s))
                        for n, d, s in zip(names, description, samples, strict=True)
                    ]
                )
                writer = pq.ParquetWriter(str(tmp), schema)
            arrays = []
            for field, values in zip(schema, cols, strict=True):
                if pa.types.is_string(field.type):
                    values = [None if v is None else _text(v) for v in values]
                elif pa.types.is_binary(field.type):
                    values = [None if v is None else bytes(v) for v in values]
                try:
                    arrays.append(pa.array(values, type=field.type))
                except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                    raise DatastoreError(
                        f"{where}: column {field.name!r} does not fit {field.type}: {exc}"
                    ) from exc
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(batch)
        if writer is None:  # no rows: the columns, typed from the driver's codes
            schema = pa.schema(
                [pa.field(n, _arrow_type(kind, d, None)) for n, d in zip(names, description, strict=True)]
            )
            writer = pq.ParquetWriter(str(tmp), schema)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _sql_type(t: Any, kind: str) -> str:
    """The column type a Parquet column creates."""
    import pyarrow as pa

    pg = kind == "postgres"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return ("NUMERIC(20)" if pg else "BIGINT UNSIGNED") if t == pa.uint64() else "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE PRECISION" if pg else "DOUBLE"
    if pa.types.is_decimal(t):
        return f"NUMERIC({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return ("TIMESTAMPTZ" if t.tz else "TIMESTAMP") if pg else "DATETIME(6)"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_time(t):
        return "TIME" if pg else "TIME(6)"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BYTEA" if pg else "LONGBLOB"
    return "TEXT" if pg else "LONGTEXT"


def _read_file(local: Path, fmt: str, kind: str) -> tuple[list[str], list[str], Iterator[list[tuple]]]:
    """(columns, SQL types to create them with, batches of rows) from a CSV or Parquet file."""
    text = "TEXT" if kind == "postgres" else "LONGTEXT"
    if fmt == "csv":
        with open(local, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
        if not header:
            raise DatastoreError(f"{local.name} is empty; a CSV file to load needs a header row")
        _unique(header, local)

        def csv_batches() -> Iterator[list[tuple]]:
            with open(local, newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                next(reader)
                batch: list[tuple] = []
                for row in reader:
                    if len(row) != len(header):
                        raise DatastoreError(
                            f"{local.name} line {reader.line_num}: {len(row)} fields, the header has {len(header)}"
                        )
                    batch.append(tuple(v if v != "" else None for v in row))
                    if len(batch) >= 5000:
                        yield batch
                        batch = []
                if batch:
                    yield batch

        return header, [text] * len(header), csv_batches()
    import pyarrow.parquet as pq

    schema = pq.read_schema(local)
    _unique(schema.names, local)
    convert = [_from_arrow(f.type, kind) for f in schema]

    def parquet_batches() -> Iterator[list[tuple]]:
        for rb in pq.ParquetFile(local).iter_batches(batch_size=5000):
            cols = [
                [c(v) if v is not None else None for v in col.to_pylist()]
                for c, col in zip(convert, rb.columns, strict=True)
            ]
            yield list(zip(*cols, strict=True))

    return list(schema.names), [_sql_type(f.type, kind) for f in schema], parquet_batches()


def _from_arrow(t: Any, kind: str) -> Any:
    """How a Parquet value is bound: nested values as JSON text, aware times as naive UTC on MySQL."""
    import datetime as dt

    import pyarrow as pa

    if pa.types.is_nested(t):
        return lambda v: json.dumps(v, sort_keys=True, default=str)
    if pa.types.is_timestamp(t) and t.tz and kind == "mysql":
        return lambda v: v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return lambda v: v


def _unique(names: Sequence[str], local: Path) -> None:
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        raise DatastoreError(f"{local.name}: column(s) {dupes} appear more than once in the header")
