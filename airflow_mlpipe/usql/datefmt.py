"""C# DateTime format strings ("O", "yyyy-MM-dd", ...) as DuckDB strftime and Spark datetime patterns."""

from __future__ import annotations

from airflow_mlpipe.dotnet_datefmt import DotnetFormatError, tokenize
from airflow_mlpipe.usql.errors import UsqlError

# C# field -> (strftime, Java pattern); K is empty: U-SQL DateTime values carry no zone
_TOKENS = {
    "yyyy": ("%Y", "yyyy"),
    "yy": ("%y", "yy"),
    "MMMM": ("%B", "MMMM"),
    "MMM": ("%b", "MMM"),
    "MM": ("%m", "MM"),
    "M": ("%-m", "M"),
    "dddd": ("%A", "EEEE"),
    "ddd": ("%a", "EEE"),
    "dd": ("%d", "dd"),
    "d": ("%-d", "d"),
    "HH": ("%H", "HH"),
    "H": ("%-H", "H"),
    "hh": ("%I", "hh"),
    "h": ("%-I", "h"),
    "mm": ("%M", "mm"),
    "m": ("%-M", "m"),
    "ss": ("%S", "ss"),
    "s": ("%-S", "s"),
    "tt": ("%p", "a"),
    "fffffff": ("%f0", "SSSSSSS"),
    "ffffff": ("%f", "SSSSSS"),
    "fff": ("%g", "SSS"),
    "K": ("", ""),
}


def translate(fmt: str, line: int = 0, script: str = "script.usql") -> tuple[str, str]:
    """The (DuckDB strftime, Spark pattern) pair for a C# standard or custom DateTime format."""
    try:
        tokens = tokenize(fmt)
    except DotnetFormatError as e:
        raise UsqlError("dateTimeFormat", line, str(e), script=script) from e
    duck, java = [], []
    for kind, tok in tokens:
        if kind == "field" and tok in _TOKENS:
            d, j = _TOKENS[tok]
            duck.append(d)
            java.append(j)
            continue
        if kind != "text" and tok[0] not in "TZ":
            raise UsqlError(
                "dateTimeFormat",
                line,
                f"the DateTime format {fmt!r} uses {tok[0]!r}, which the engine "
                "does not translate; use yyyy MM dd HH hh mm ss fff tt and literals",
                script=script,
            )
        duck.append(tok.replace("%", "%%"))
        java.append(
            "'" + tok.replace("'", "''") + "'" if any(ch.isalpha() or ch == "'" for ch in tok) else tok
        )
    return "".join(duck), "".join(java)
