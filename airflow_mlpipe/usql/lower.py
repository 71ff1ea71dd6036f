"""Per-dialect SQL: the `__usql_*` markers lowered, and the EXTRACT readers and OUTPUT writers.

DuckDB reads with read_csv and writes with COPY; Spark reads with the csv source and writes a text
directory with one part file. Both read every field as text and convert it in SQL, so C#'s parsing
rules, nullEscape and silent are the same on both; both write lines built in SQL, so quoting, nulls
and the "O" date format are the same too.
"""

from __future__ import annotations

import re

from sqlglot import exp

from airflow_mlpipe.usql.datefmt import translate
from airflow_mlpipe.usql.exprbind import cast, lit_str, marker, num, to_cs_string
from airflow_mlpipe.usql.plan import ExtractStep, OutputStep
from airflow_mlpipe.usql.utypes import UType

SPARK_NULL = "\u0001usql-null\u0001"  # Spark's nullValue: only an unquoted empty field is null
_DUCK_DT = ["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%m/%d/%Y"]
_SPARK_DT = [
    "yyyy-MM-dd'T'HH:mm:ss.SSSSSSS",
    "M/d/yyyy h:mm:ss a",
    "M/d/yyyy H:mm:ss",
    "M/d/yyyy h:mm a",
    "M/d/yyyy H:mm",
    "M/d/yyyy",
]
_INT_RE = r"^\s*[+-]?[0-9]+\s*$"
_NUM_RE = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"


def _f(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _lower_marker(node: exp.Expression, dialect: str) -> exp.Expression:
    if not (isinstance(node, exp.Anonymous) and str(node.this).startswith("__usql_")):
        return node
    name = str(node.this)[len("__usql_") :]
    a = list(node.expressions)
    duck = dialect == "duckdb"
    if name == "error":
        return _f("error" if duck else "raise_error", a[0])
    if name == "parse_datetime":
        if duck:
            formats = exp.Array(expressions=[lit_str(f) for f in _DUCK_DT])
            return exp.Coalesce(
                this=exp.TryCast(this=a[0], to=exp.DataType.build("timestamp"), safe=True),
                expressions=[_f("try_strptime", a[0], formats)],
            )
        tries = [_f("try_to_timestamp", a[0])] + [_f("try_to_timestamp", a[0], lit_str(f)) for f in _SPARK_DT]
        return exp.Coalesce(this=tries[0], expressions=tries[1:])
    if name == "format_datetime":
        d, j = translate(a[1].name)
        return _f("strftime", a[0], lit_str(d)) if duck else _f("date_format", a[0], lit_str(j))
    if name == "make_datetime":
        return _f("make_timestamp", *a)
    if name == "utc_now":
        return (
            _f("timezone", lit_str("UTC"), exp.CurrentTimestamp())
            if duck
            else _f("to_utc_timestamp", exp.CurrentTimestamp(), _f("current_timezone"))
        )
    if name == "round_even":
        return _f("round_even" if duck else "bround", *a)
    if name == "index0":
        one = exp.Add(this=a[1], expression=num(1))
        return _f("list_extract", a[0], one) if duck else _f("element_at", a[0], one)
    if name == "ends_with":
        return _f("suffix", a[0], a[1]) if duck else _f("endswith", a[0], a[1])
    if name == "split":
        if duck:
            return _f("string_split", a[0], a[1])
        sep = (
            lit_str(re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", a[1].name))
            if isinstance(a[1], exp.Literal)
            else (exp.DPipe(this=exp.DPipe(this=lit_str("\\Q"), expression=a[1]), expression=lit_str("\\E")))
        )
        return _f("split", a[0], sep, num(-1))
    if name == "add_interval":
        unit = a[2].name
        if duck:
            fn = {
                "DAY": "to_days",
                "HOUR": "to_hours",
                "MINUTE": "to_minutes",
                "SECOND": "to_seconds",
                "MONTH": "to_months",
                "YEAR": "to_years",
            }[unit]
            return exp.Add(this=a[0], expression=_f(fn, cast(a[1], UType("int"))))
        return _f("timestampadd", exp.var(unit), a[1], a[0])
    if name == "fullmatch":
        return _f("regexp_full_match", a[0], a[1]) if duck else exp.RegexpLike(this=a[0], expression=a[1])
    raise AssertionError(name)


def sql(node: exp.Expression, dialect: str) -> str:
    """Generate one dialect's SQL for a bound expression or query."""
    lowered = node.copy().transform(lambda n: _lower_marker(n, dialect))
    return lowered.sql(dialect=dialect)


def ident(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def _raw(i: int) -> exp.Column:
    return exp.column(exp.to_identifier(f"c{i + 1}", quoted=True))


def _convert(raw: exp.Expression, t: UType) -> exp.Expression:
    """A text field as the column's C# type; NULL when it does not parse."""
    if t.is_text:
        return (
            raw
            if t.name != "char"
            else exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Length(this=raw), expression=num(1)), true=raw)])
        )
    if t.is_integral or t.name in ("double", "float", "decimal"):
        pattern = _INT_RE if t.is_integral else _NUM_RE
        return exp.Case(
            ifs=[
                exp.If(
                    this=marker("fullmatch", raw, lit_str(pattern)),
                    true=exp.TryCast(this=exp.Trim(this=raw), to=t.sql_type(), safe=True),
                )
            ]
        )
    if t.name == "bool":
        low = exp.Lower(this=exp.Trim(this=raw))
        return exp.Case(
            ifs=[
                exp.If(this=exp.EQ(this=low, expression=lit_str("true")), true=exp.true()),
                exp.If(this=exp.EQ(this=low, expression=lit_str("false")), true=exp.false()),
            ]
        )
    if t.name == "DateTime":
        return marker("parse_datetime", raw, exp.true())
    raise AssertionError(t)


def extract_query(step: ExtractStep, raw_view: str, script: str) -> exp.Select:
    """SELECT converting the raw text columns; bad rows are dropped (silent) or fail with the line."""
    sel = exp.select().from_(exp.Table(this=exp.to_identifier(raw_view, quoted=True)))
    bad_any: list[exp.Expression] = []
    for i, (name, t) in enumerate(step.columns):
        raw: exp.Expression = _raw(i)
        if step.options.null_escape is not None:
            raw = exp.Case(
                ifs=[
                    exp.If(
                        this=exp.EQ(this=raw, expression=lit_str(step.options.null_escape)), true=exp.Null()
                    )
                ],
                default=raw,
            )
        if t.name in ("string", "Guid"):  # any text fits: nothing to check
            sel = sel.select(exp.alias_(raw, exp.to_identifier(name, quoted=True)))
            continue
        conv = _convert(raw, t)
        is_null = exp.Is(this=raw, expression=exp.Null())
        bad: exp.Expression = exp.and_(exp.Not(this=is_null), exp.Is(this=conv.copy(), expression=exp.Null()))
        if not t.maybe_null:
            bad = exp.or_(bad, is_null.copy())
        if step.options.silent:
            bad_any.append(bad)
            value = conv
        else:
            msg = exp.DPipe(
                this=lit_str(
                    f"{script} line {step.line}: EXTRACT column {name} ({t}) cannot hold the value '"
                ),
                expression=exp.DPipe(
                    this=exp.Coalesce(this=_raw(i), expressions=[lit_str("<empty>")]),
                    expression=lit_str("'; fix the data, change the column type, or add silent: true"),
                ),
                safe=True,
            )
            value = exp.Case(ifs=[exp.If(this=bad, true=cast(marker("error", msg), t))], default=conv)
        sel = sel.select(exp.alias_(value, exp.to_identifier(name, quoted=True)))
    if bad_any:
        sel = sel.where(exp.not_(exp.or_(*bad_any)))
    return sel


def duckdb_reader(step: ExtractStep, raw_view: str) -> str:
    o = step.options
    cols = ", ".join(f"'c{i + 1}': 'VARCHAR'" for i in range(len(step.columns)))
    paths = "[" + ", ".join(lit_str(p).sql("duckdb") for p in step.paths) + "]"
    quote = '"' if o.quoting else ""
    opts = [
        f"columns={{{cols}}}",
        "header=false",
        "auto_detect=false",
        f"skip={o.skip_rows}",
        f"delim={lit_str(o.delimiter).sql('duckdb')}",
        f"quote='{quote}'",
        f"escape='{quote}'",
        "allow_quoted_nulls=false",
        "null_padding=false",
        f"ignore_errors={str(o.silent).lower()}",
        f"encoding='{o.encoding}'",
    ]
    return (
        f"CREATE OR REPLACE TEMP VIEW {ident(raw_view, 'duckdb')} AS SELECT * FROM read_csv({paths}, "
        + ", ".join(opts)
        + ")"
    )


def spark_readers(step: ExtractStep, raw_view: str, script: str) -> list[str]:
    from airflow_mlpipe.usql.errors import UsqlError

    o = step.options
    if o.skip_rows > 1:
        raise UsqlError(
            "skipFirstNRows",
            step.line,
            f"skipFirstNRows: {o.skip_rows} has no Spark equivalent (Spark "
            "can skip one header row); run this script on DuckDB or remove the extra rows",
            script=script,
        )
    schema = ", ".join(f"`c{i + 1}` STRING" for i in range(len(step.columns)))

    def s(v: str) -> str:
        return lit_str(v).sql("spark")

    options = {
        "header": "true" if o.skip_rows == 1 else "false",
        "sep": o.delimiter,
        "quote": '"' if o.quoting else "",
        "escape": '"' if o.quoting else "\\",
        "mode": "DROPMALFORMED" if o.silent else "FAILFAST",
        "encoding": {"latin-1": "ISO-8859-1"}.get(o.encoding, o.encoding.upper()),
        "nullValue": SPARK_NULL,
        "emptyValue": "",
        "multiLine": "true" if o.quoting else "false",
        "enforceSchema": "true",
        "ignoreLeadingWhiteSpace": "false",
        "ignoreTrailingWhiteSpace": "false",
    }
    out, parts = [], []
    for k, path in enumerate(step.paths):
        name = raw_view if len(step.paths) == 1 else f"{raw_view}{k}"
        opts = ", ".join(f"{key} {s(v)}" for key, v in [("path", path), *options.items()])
        out.append(
            f"CREATE OR REPLACE TEMPORARY VIEW {ident(name, 'spark')} ({schema}) USING csv OPTIONS ({opts})"
        )
        parts.append(f"SELECT * FROM {ident(name, 'spark')}")
    if len(step.paths) > 1:
        out.append(
            f"CREATE OR REPLACE TEMPORARY VIEW {ident(raw_view, 'spark')} AS " + " UNION ALL ".join(parts)
        )
    return out


def _field(col: exp.Expression, t: UType, o) -> exp.Expression:
    if t.name == "DateTime":
        text = marker("format_datetime", col, lit_str(o.datetime_format))
    else:
        text = to_cs_string(col, t)
    if o.quoting and t.is_text:
        text = exp.DPipe(
            this=exp.DPipe(
                this=lit_str('"'), expression=exp.func("REPLACE", text, lit_str('"'), lit_str('""'))
            ),
            expression=lit_str('"'),
        )
    return exp.Coalesce(this=text, expressions=[lit_str(o.null_escape or "")])


def output_query(step: OutputStep) -> exp.Query:
    """One text column `line` holding each row as U-SQL's outputter writes it (a header row first)."""
    o = step.options
    end = "\r" if o.row_delimiter == "\r\n" else ""
    table = exp.Table(this=exp.to_identifier(step.view, quoted=True))

    def line(parts: list[exp.Expression]) -> exp.Expression:
        items = [parts[0]]
        for part in parts[1:]:
            items += [lit_str(o.delimiter), part]
        if end:
            items.append(lit_str(end))
        joined = items[0]
        for item in items[1:]:
            joined = exp.DPipe(this=joined, expression=item)
        return joined

    body = line([_field(exp.column(exp.to_identifier(c, quoted=True)), t, o) for c, t in step.columns])
    keys = [f"__o{i}" for i in range(len(step.order))]
    if not o.header and not step.order:
        return exp.select(exp.alias_(body, "line")).from_(table)
    rows = exp.select(
        exp.alias_(num(1), "k"),
        exp.alias_(body, "line"),
        *[
            exp.alias_(exp.column(exp.to_identifier(c, quoted=True)), k)
            for (c, _), k in zip(step.order, keys, strict=False)
        ],
    ).from_(table)
    union: exp.Query = rows
    if o.header:
        names = [lit_str('"' + c.replace('"', '""') + '"' if o.quoting else c) for c, _ in step.columns]
        head = exp.select(
            exp.alias_(num(0), "k"),
            exp.alias_(line(names), "line"),
            *[exp.alias_(exp.Null(), k) for k in keys],
        )
        union = exp.union(head, rows, distinct=False)
    order = [exp.Ordered(this=exp.column("k"))] + [
        exp.Ordered(this=exp.column(k), desc=desc, nulls_first=not desc)
        for k, (_, desc) in zip(keys, step.order, strict=False)
    ]
    return (
        exp.select("line")
        .from_(exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier("r"))))
        .order_by(*order)
    )
