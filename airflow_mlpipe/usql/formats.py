"""The built-in extractors' and outputters' parameters, with U-SQL's documented defaults.

Extractors: delimiter ',' (Text only; Csv ',' and Tsv '\\t' are fixed), encoding UTF8, nullEscape none,
quoting true, silent false, skipFirstNRows 0. Outputters: the same delimiters, dateTimeFormat "O",
nullEscape none (a null is written as nothing), quoting true (string values are quoted), outputHeader false.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_mlpipe.usql.errors import UsqlError, unsupported

ENCODINGS = {"UTF8": "utf-8", "Unicode": "utf-16", "ASCII": "latin-1"}
_DELIMS = {"Csv": ",", "Tsv": "\t", "Text": ","}


@dataclass(frozen=True)
class ExtractOptions:
    delimiter: str = ","
    encoding: str = "utf-8"
    null_escape: str | None = None
    quoting: bool = True
    silent: bool = False
    skip_rows: int = 0


@dataclass(frozen=True)
class OutputOptions:
    delimiter: str = ","
    encoding: str = "utf-8"
    null_escape: str | None = None
    quoting: bool = True
    header: bool = False
    datetime_format: str = "O"
    row_delimiter: str = "\r\n"


_EXTRACT_PARAMS = {
    "delimiter",
    "encoding",
    "nullEscape",
    "quoting",
    "silent",
    "skipFirstNRows",
    "rowDelimiter",
}
_OUTPUT_PARAMS = {
    "delimiter",
    "encoding",
    "nullEscape",
    "quoting",
    "outputHeader",
    "dateTimeFormat",
    "rowDelimiter",
}
_REFUSED = {
    "escapeCharacter": "leave values quoted (quoting: true) instead of escaping",
    "charFormat": "remove it; char columns are read and written as text",
}


def _check(kind: str, cls: str, values: dict[str, object], allowed: set[str], line: int, script: str) -> None:
    for name in values:
        if name in _REFUSED:
            raise unsupported(f"{cls}.{kind}({name}: ...)", line, _REFUSED[name], script=script)
        if name not in allowed:
            raise UsqlError(
                f"{cls}.{kind}",
                line,
                f"{cls}.{kind}() has no parameter {name}; it takes " + ", ".join(sorted(allowed)),
                script=script,
            )
    if "delimiter" in values and kind != "Text":
        raise UsqlError(
            f"{cls}.{kind}",
            line,
            f"{cls}.{kind}() fixes its delimiter; use {cls}.Text(delimiter: ...) for another one",
            script=script,
        )


def _typed(values: dict[str, object], name: str, typ: type, line: int, script: str, cls: str):
    v = values[name]
    if typ is str and isinstance(v, str) and name in ("delimiter",) and len(v) != 1:
        raise UsqlError(f"{cls}({name})", line, f"{name} must be one character, not {v!r}", script=script)
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise UsqlError(
            f"{cls}({name})", line, f"{name} must be a constant {typ.__name__}, not {v!r}", script=script
        )
    return v


def _encoding(v: object, line: int, script: str, cls: str) -> str:
    name = str(v).removeprefix("Encoding.").strip("[]")
    if name not in ENCODINGS:
        raise UsqlError(
            f"{cls}(encoding)",
            line,
            f"encoding {v} is not supported; use Encoding.UTF8, Encoding.Unicode or Encoding.[ASCII]",
            script=script,
        )
    return ENCODINGS[name]


def _row_delimiter(values: dict[str, object], line: int, script: str, cls: str, default: str) -> str:
    if "rowDelimiter" not in values:
        return default
    v = values["rowDelimiter"]
    if v not in ("\n", "\r\n", "\r"):
        raise UsqlError(
            f"{cls}(rowDelimiter)", line, 'rowDelimiter must be "\\n", "\\r\\n" or "\\r"', script=script
        )
    return str(v)


def extract_options(kind: str, values: dict[str, object], line: int, script: str) -> ExtractOptions:
    cls = f"Extractors.{kind}"
    _check(kind, "Extractors", values, _EXTRACT_PARAMS, line, script)
    _row_delimiter(values, line, script, cls, "\n")  # the reader accepts \n, \r\n and \r alike
    opts: dict[str, object] = {"delimiter": _DELIMS[kind]}
    if "delimiter" in values:
        opts["delimiter"] = _typed(values, "delimiter", str, line, script, cls)
    if "encoding" in values:
        opts["encoding"] = _encoding(values["encoding"], line, script, cls)
    if "nullEscape" in values:
        opts["null_escape"] = _typed(values, "nullEscape", str, line, script, cls)
    if "quoting" in values:
        opts["quoting"] = _typed(values, "quoting", bool, line, script, cls)
    if "silent" in values:
        opts["silent"] = _typed(values, "silent", bool, line, script, cls)
    if "skipFirstNRows" in values:
        n = _typed(values, "skipFirstNRows", int, line, script, cls)
        if n < 0:
            raise UsqlError(
                f"{cls}(skipFirstNRows)", line, "skipFirstNRows cannot be negative", script=script
            )
        opts["skip_rows"] = n
    return ExtractOptions(**opts)  # type: ignore[arg-type]


def output_options(kind: str, values: dict[str, object], line: int, script: str) -> OutputOptions:
    cls = f"Outputters.{kind}"
    _check(kind, "Outputters", values, _OUTPUT_PARAMS, line, script)
    opts: dict[str, object] = {
        "delimiter": _DELIMS[kind],
        "row_delimiter": _row_delimiter(values, line, script, cls, "\r\n"),
    }
    if opts["row_delimiter"] == "\r":
        raise unsupported(f'{cls}(rowDelimiter: "\\r")', line, 'write "\\n" or "\\r\\n" rows', script=script)
    if "delimiter" in values:
        opts["delimiter"] = _typed(values, "delimiter", str, line, script, cls)
    if "encoding" in values:
        enc = _encoding(values["encoding"], line, script, cls)
        if enc != "utf-8":
            raise unsupported(
                f"{cls}(encoding: {values['encoding']})", line, "outputs are written as UTF-8", script=script
            )
    if "nullEscape" in values:
        opts["null_escape"] = _typed(values, "nullEscape", str, line, script, cls)
    if "quoting" in values:
        opts["quoting"] = _typed(values, "quoting", bool, line, script, cls)
    if "outputHeader" in values:
        opts["header"] = _typed(values, "outputHeader", bool, line, script, cls)
    if "dateTimeFormat" in values:
        opts["datetime_format"] = _typed(values, "dateTimeFormat", str, line, script, cls)
    return OutputOptions(**opts)  # type: ignore[arg-type]
