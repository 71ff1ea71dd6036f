"""C# DateTime format strings ("O", "yyyy-MM-dd", ...) as DuckDB strftime and Spark datetime patterns."""

from __future__ import annotations

import re

from airflow_mlpipe.usql.errors import UsqlError

_STANDARD = {
    "O": "yyyy-MM-ddTHH:mm:ss.fffffff",
    "o": "yyyy-MM-ddTHH:mm:ss.fffffff",
    "s": "yyyy-MM-ddTHH:mm:ss",
    "u": "yyyy-MM-dd HH:mm:ssZ",
    "d": "M/d/yyyy",
    "D": "dddd, MMMM d, yyyy",
    "g": "M/d/yyyy h:mm tt",
    "G": "M/d/yyyy h:mm:ss tt",
    "t": "h:mm tt",
    "T": "h:mm:ss tt",
}
# C# token -> (strftime, Java pattern)
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
}
_TOKEN_RE = re.compile("|".join(sorted((re.escape(t) for t in _TOKENS), key=len, reverse=True)))


def translate(fmt: str, line: int = 0, script: str = "script.usql") -> tuple[str, str]:
    """The (DuckDB strftime, Spark pattern) pair for a C# standard or custom DateTime format."""
    custom = _STANDARD.get(fmt, fmt)
    duck, java, i = [], [], 0
    while i < len(custom):
        m = _TOKEN_RE.match(custom, i)
        if m:
            d, j = _TOKENS[m.group(0)]
            duck.append(d)
            java.append(j)
            i = m.end()
            continue
        c = custom[i]
        if c in "'\"":  # a quoted literal
            end = custom.find(c, i + 1)
            if end < 0:
                raise UsqlError(
                    "dateTimeFormat", line, f"unclosed quote in the DateTime format {fmt!r}", script=script
                )
            lit = custom[i + 1 : end]
            i = end + 1
        elif c == "\\" and i + 1 < len(custom):
            lit = custom[i + 1]
            i += 2
        elif c.isalpha() and c not in "TZ":
            raise UsqlError(
                "dateTimeFormat",
                line,
                f"the DateTime format {fmt!r} uses {c!r}, which the engine "
                "does not translate; use yyyy MM dd HH hh mm ss fff tt and literals",
                script=script,
            )
        else:
            lit = c
            i += 1
        duck.append(lit.replace("%", "%%"))
        java.append(
            "'" + lit.replace("'", "''") + "'" if any(ch.isalpha() or ch == "'" for ch in lit) else lit
        )
    return "".join(duck), "".join(java)
