"""Tables from files: what TabularDataset reads (outside a step and, as TabularInput, inside one).

One reader, ``read_table(files, options)``, serves both, so a dataset reads the same in a notebook
and in a step. ``options`` is the JSON dict a dataset's spec carries: the file format and its
parsing options, ``include_path``, ``partition_keys`` (folders named ``<key>=<value>``) and
``transforms`` (take, skip, keep/drop columns, one half of a random split), applied in order.

Imports pandas (and pyarrow for parquet) only on first use: step scripts pay for what they use.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote, unquote

from airflow_mlpipe.exceptions import UserErrorException

FORMATS = ("delimited", "parquet")
# Azure ML v1's PromoteHeadersBehavior, by value: 0 no headers ... 3 all files have the same headers
HEADER_MODES = (
    "no_header",
    "only_first_file_has_headers",
    "combine_all_files_headers",
    "all_files_same_headers",
)
# v1's encoding names -> Python codec names
ENCODINGS = {
    "utf8": "utf-8",
    "iso88591": "iso-8859-1",
    "latin1": "latin-1",
    "ascii": "ascii",
    "utf16": "utf-16",
    "utf32": "utf-32",
    "utf8bom": "utf-8-sig",
    "windows1252": "cp1252",
}
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # folder value of a missing key (Hive's convention)
ROWS_PER_FILE = 1_000_000  # to_csv_files / to_parquet_files write one file per this many rows
READ_CHOICES = ("null", "fail")


# --- option builders ------------------------------------------------------------------------


def header_mode(header: Any) -> str:
    """A header argument (bool, v1's PromoteHeadersBehavior, or a mode name) as a mode name."""
    if isinstance(header, bool):
        return "all_files_same_headers" if header else "no_header"
    value = getattr(header, "value", header)  # PromoteHeadersBehavior members carry 0..3
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(HEADER_MODES):
        return HEADER_MODES[value]
    if isinstance(header, str) and header in HEADER_MODES:
        return header
    raise UserErrorException(
        f"header {header!r} is invalid: use True, False, a PromoteHeadersBehavior or one of {list(HEADER_MODES)}"
    )


def delimited_options(
    separator: str = ",",
    header: Any = True,
    encoding: str = "utf8",
    infer_column_types: bool = True,
    include_path: bool = False,
    empty_as_string: bool = False,
    support_multi_line: bool = False,
) -> dict[str, Any]:
    """The options of a table read from delimited files (v1's ``from_delimited_files`` arguments)."""
    if not isinstance(separator, str) or not separator:
        raise UserErrorException(
            f"separator {separator!r} is invalid: use a non-empty string such as ',' or '\\t'"
        )
    if encoding not in ENCODINGS:
        raise UserErrorException(f"encoding {encoding!r} is not supported; use one of {sorted(ENCODINGS)}")
    return {
        "format": "delimited",
        "separator": separator,
        "header": header_mode(header),
        "infer_column_types": bool(infer_column_types),
        "include_path": bool(include_path),
        "empty_as_string": bool(empty_as_string),
        "encoding": encoding,
        "support_multi_line": bool(support_multi_line),
    }


def parquet_options(include_path: bool = False) -> dict[str, Any]:
    """The options of a table read from parquet files (v1's ``from_parquet_files`` arguments)."""
    return {"format": "parquet", "include_path": bool(include_path)}


def with_transform(options: dict[str, Any], transform: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` with one more transform at the end (datasets are immutable)."""
    out = copy.deepcopy(options)
    out["transforms"] = [*out.get("transforms", []), transform]
    return out


def check_read_arguments(on_error: str, out_of_range_datetime: str) -> None:
    for name, value in (("on_error", on_error), ("out_of_range_datetime", out_of_range_datetime)):
        if value not in READ_CHOICES:
            raise UserErrorException(f"to_pandas_dataframe: {name} must be 'null' or 'fail', got {value!r}")


# --- reading --------------------------------------------------------------------------------


def read_table(files: list[Any], options: dict[str, Any], root: str | Path | None = None) -> Any:
    """Read ``files`` as one pandas DataFrame, as ``options`` say.

    ``root`` is the folder the files were downloaded into; the ``Path`` column (include_path)
    holds each file's path below it, as ``/relative/path``. Without it, the files' common folder.
    """
    import pandas as pd

    fmt = options.get("format", "delimited")
    if fmt not in FORMATS:
        raise UserErrorException(f"table format {fmt!r} is unknown; expected one of {list(FORMATS)}")
    paths = sorted(str(f) for f in files)
    frames = _read_delimited(paths, options) if fmt == "delimited" else [_read_parquet(p) for p in paths]
    keys = list(options.get("partition_keys", []))
    base = str(root) if root is not None else _common_folder(paths)
    for path, frame in zip(paths, frames, strict=True):
        for key, value in _partition_values(path, keys).items():
            frame[key] = value
        if options.get("include_path"):
            frame.insert(0, "Path", "/" + PurePath(os.path.relpath(path, base)).as_posix())
    if not frames:
        table = pd.DataFrame()
    elif len(frames) == 1:
        table = frames[0]
    else:
        table = pd.concat(frames, ignore_index=True)
    for key, dtype in options.get("partition_key_types", {}).items():
        if key in table.columns:
            table[key] = _cast_key(table[key], key, dtype)
    for transform in options.get("transforms", []):
        table = apply_transform(table, transform)
    return table.reset_index(drop=True)


def _common_folder(paths: list[str]) -> str:
    if not paths:
        return "."
    return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])


def _read_delimited(paths: list[str], options: dict[str, Any]) -> list[Any]:
    import pandas as pd

    mode = header_mode(options.get("header", "all_files_same_headers"))
    encoding = ENCODINGS.get(options.get("encoding", "utf8"), options.get("encoding", "utf8"))
    frames: list[Any] = []
    names: list[str] | None = None
    for i, path in enumerate(paths):
        has_header = mode != "no_header" and (i == 0 or mode != "only_first_file_has_headers")
        kwargs: dict[str, Any] = {"header": 0 if has_header else None}
        if i > 0 and names and mode in ("only_first_file_has_headers", "all_files_same_headers"):
            kwargs["names"] = names  # later files take the first file's column names
        try:
            frame = pd.read_csv(
                path,
                sep=options.get("separator", ","),
                encoding=encoding,
                dtype=None if options.get("infer_column_types", True) else str,
                keep_default_na=not options.get("empty_as_string", False),
                **kwargs,
            )
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame(columns=names or [])
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise UserErrorException(
                f"cannot read {path} as a delimited file (separator {options.get('separator', ',')!r}, "
                f"encoding {options.get('encoding', 'utf8')!r}): {exc}"
            ) from exc
        if mode == "no_header":
            frame.columns = [f"Column{j + 1}" for j in range(len(frame.columns))]  # v1's names
        if i == 0:
            names = [str(c) for c in frame.columns]
        frames.append(frame)
    return frames


def _read_parquet(path: str) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except ImportError as exc:
        raise UserErrorException(
            f"reading parquet files needs pyarrow: pip install 'pyarrow>=14' ({exc})"
        ) from exc
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a bad file
        raise UserErrorException(f"cannot read {path} as a parquet file: {exc}") from exc


def _partition_values(path: str, keys: list[str]) -> dict[str, Any]:
    """Values of partition keys from ``<key>=<value>`` folders in ``path`` (innermost wins)."""
    found: dict[str, Any] = {}
    for part in reversed(PurePath(path).parts[:-1]):
        name, sep, value = part.partition("=")
        key = unquote(name)
        if sep and key in keys and key not in found:
            value = unquote(value)
            found[key] = None if value == NULL_PARTITION else value
    missing = [k for k in keys if k not in found]
    if missing:
        raise UserErrorException(
            f"file {path} is in no '<key>=<value>' folder for partition key(s) {missing}; a partitioned "
            "dataset reads files laid out by TabularDataset.partition_by"
        )
    return {k: found[k] for k in keys}  # the columns come in the keys' order


def _cast_key(values: Any, key: str, dtype: str) -> Any:
    """Partition key values (folder names) back to the column's type before partitioning."""
    import pandas as pd

    try:
        if dtype == "bool":
            return values.map({"True": True, "False": False})
        if dtype.startswith("datetime64"):
            return pd.to_datetime(values, format="ISO8601").astype(dtype)
        if dtype.startswith(("int", "uint", "float", "Int", "UInt", "Float")):
            return pd.to_numeric(values).astype(dtype)
        return values.astype(dtype)
    except (TypeError, ValueError) as exc:
        raise UserErrorException(
            f"partition key {key!r}: cannot read its folder values as {dtype}: {exc}"
        ) from exc


# --- transforms -----------------------------------------------------------------------------


def apply_transform(table: Any, transform: dict[str, Any]) -> Any:
    op = transform.get("op")
    if op == "take":
        return table.iloc[: transform["count"]]
    if op == "skip":
        return table.iloc[transform["count"] :]
    if op in ("keep_columns", "drop_columns"):
        columns = list(transform["columns"])
        check_columns(op, columns, list(table.columns))
        if op == "keep_columns":
            return table[list(dict.fromkeys(columns))]
        return table.drop(columns=columns)
    if op == "random_split":
        import numpy as np

        chosen = np.random.default_rng(transform["seed"]).random(len(table)) < transform["percentage"]
        return table[chosen if transform["part"] == 0 else ~chosen]
    raise UserErrorException(
        f"table transform {transform!r} is unknown; this dataset was made by a newer version"
    )


def check_columns(what: str, columns: list[str], present: list[Any]) -> None:
    missing = [c for c in columns if c not in present]
    if missing:
        raise UserErrorException(
            f"{what}: column(s) {missing} not found; the dataset has columns {[str(c) for c in present]}"
        )


# --- writing --------------------------------------------------------------------------------


def write_table(table: Any, folder: Path, fmt: str, separator: str = ",") -> list[Path]:
    """Write ``table`` into ``folder`` as ``part-00000.csv`` (or ``.parquet``), ... ; one file at least."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n, start in enumerate(range(0, max(len(table), 1), ROWS_PER_FILE)):
        chunk = table.iloc[start : start + ROWS_PER_FILE]
        if fmt == "csv":
            path = folder / f"part-{n:05d}.csv"
            chunk.to_csv(path, sep=separator, index=False)
        else:
            path = folder / f"part-{n:05d}.parquet"
            chunk.to_parquet(path, index=False)
        out.append(path)
    return out


def write_partitions(table: Any, folder: Path, keys: list[str]) -> dict[str, str]:
    """Write ``table`` as ``<key>=<value>/.../part-00000.parquet`` under ``folder``, without the key
    columns (the folders hold them); returns the key columns' dtypes, to restore them on reading."""
    types = {k: str(table[k].dtype) for k in keys}
    rest = [c for c in table.columns if c not in keys]
    for values, group in table.groupby(keys, dropna=False, sort=True, observed=True):
        values = values if isinstance(values, tuple) else (values,)
        parts = [f"{quote(str(k), safe='')}={_folder_value(v)}" for k, v in zip(keys, values, strict=True)]
        target = folder.joinpath(*parts)
        target.mkdir(parents=True, exist_ok=True)
        group[rest].to_parquet(target / "part-00000.parquet", index=False)
    return types


def _folder_value(value: Any) -> str:
    import pandas as pd

    return NULL_PARTITION if pd.isna(value) else quote(str(value), safe="")


class TabularInput:
    """A tabular dataset input inside a step: ``to_pandas_dataframe()`` reads the local copy with the
    dataset's options, as ``TabularDataset.to_pandas_dataframe()`` does outside a step."""

    def __init__(self, name: str, files: list[str], options: dict[str, Any], root: str | None = None):
        self.name = name
        self.files = files
        self.options = options
        self.root = root

    @property
    def partition_keys(self) -> list[str]:
        return list(self.options.get("partition_keys", []))

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        check_read_arguments(on_error, out_of_range_datetime)
        return read_table(self.files, self.options, self.root)

    def __repr__(self) -> str:
        return f"TabularInput(name={self.name!r}, files={len(self.files)})"
