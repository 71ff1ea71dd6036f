"""Tables from files: what TabularDataset reads (outside a step and, as TabularInput, inside one).

Imports only pandas (and pyarrow for parquet), on first use: step scripts pay for what they use.
"""

from __future__ import annotations

from typing import Any


def read_delimited(files: list[Any], options: dict[str, Any]) -> Any:
    """Read delimited files as one pandas DataFrame, with Dataset.Tabular's options."""
    import pandas as pd

    frames = []
    for f in sorted(str(x) for x in files):
        frame = pd.read_csv(
            f,
            sep=options.get("separator", ","),
            header=None if options.get("header") == "no_header" else 0,
            encoding=options.get("encoding", "utf8"),
            dtype=None if options.get("infer_column_types", True) else str,
            keep_default_na=not options.get("empty_as_string", False),
        )
        if options.get("include_path"):
            frame.insert(0, "Path", f)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


class TabularInput:
    """A tabular dataset input inside a step: ``to_pandas_dataframe()`` reads the local copy."""

    def __init__(self, name: str, files: list[str], options: dict[str, Any]):
        self.name = name
        self.files = files
        self.options = options

    def to_pandas_dataframe(self) -> Any:
        return read_delimited(self.files, self.options)

    def __repr__(self) -> str:
        return f"TabularInput(name={self.name!r}, files={len(self.files)})"
