"""Parser of U-SQL statements into the intermediate form; refuses constructs outside the subset."""

from __future__ import annotations

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.exprparser import ExprParser
from airflow_mlpipe.usql.lexer import tokenize

_CATALOG = "the engine reads and writes files only: EXTRACT from files and OUTPUT to files instead"
_REFUSED_STARTS = {
    "USE": ("USE", _CATALOG),
    "INSERT": ("INSERT", _CATALOG),
    "DROP": ("DROP", _CATALOG),
    "ALTER": ("ALTER", _CATALOG),
    "TRUNCATE": ("TRUNCATE", _CATALOG),
    "DEPLOY": ("DEPLOY RESOURCE", "inline the data the resource held into an input file"),
    "IMPORT": ("IMPORT PACKAGE", "inline the package's statements"),
    "IF": ("IF ... THEN", "decide in the pipeline which script to run"),
    "SET": ("SET", "remove the option; the engine has no job options"),
    "EXPORT": ("EXPORT", _CATALOG),
}


class Parser(ExprParser):
    """Statements: DECLARE, @r = EXTRACT/SELECT, OUTPUT, CREATE DATABASE IF NOT EXISTS (ignored)."""

    def __init__(self, text: str, name: str):
        super().__init__(tokenize(text, name), name)
        self.warnings: list[str] = []

    def script(self) -> list[ir.Stmt]:
        stmts: list[ir.Stmt] = []
        while self.tok.kind != "eof":
            if self.accept_op(";"):
                continue
            st = self.statement()
            if st is not None:
                stmts.append(st)
            if self.tok.kind != "eof":
                self.expect_op(";")
        return stmts

    def statement(self) -> ir.Stmt | None:
        t = self.tok
        if t.kind == "var" and self.peek().kind == "op" and self.peek().value == "=":
            self.next()
            self.next()
            return self.assignment(t)
        if t.is_kw("DECLARE"):
            return self.declare()
        if t.is_kw("OUTPUT"):
            return self.output()
        if t.is_kw("REFERENCE"):
            raise self.unsupported(
                "REFERENCE ASSEMBLY",
                t.line,
                "the engine runs no .NET code: rewrite the assembly's functions as "
                "built-in C# expressions, or run them in a PythonScriptStep",
            )
        if t.is_kw("CREATE"):
            return self.create()
        if t.is_kw("PROCESS", "REDUCE", "COMBINE"):
            raise self._udo(t)
        if t.kind == "name" and t.value.upper() in _REFUSED_STARTS:
            construct, instead = _REFUSED_STARTS[t.value.upper()]
            raise self.unsupported(construct, t.line, instead)
        raise self.error("a statement (DECLARE, @rowset = EXTRACT/SELECT, OUTPUT)")

    def _udo(self, t) -> Exception:
        return self.unsupported(
            t.value.upper(),
            t.line,
            "user-defined operators run .NET code: express the logic with SELECT, "
            "GROUP BY and CROSS APPLY EXPLODE, or move it to a PythonScriptStep",
        )

    def create(self) -> ir.Stmt | None:
        t = self.next()
        what = self.tok
        if what.is_kw("DATABASE"):
            self.next()
            if self.accept_kw("IF"):
                self.expect_kw("NOT")
                self.expect_kw("EXISTS")
                name = self.ident("a database name")
                self.warnings.append(
                    f"{self.name} line {t.line}: CREATE DATABASE IF NOT EXISTS {name} was ignored "
                    "(the engine keeps no catalog)"
                )
                return None
            raise self.unsupported(
                "CREATE DATABASE",
                t.line,
                "only CREATE DATABASE IF NOT EXISTS is accepted (and ignored); " + _CATALOG,
            )
        words = ["CREATE"]
        while (
            self.tok.kind == "name"
            and len(words) < 3
            and self.tok.value.upper()
            in (
                "TABLE",
                "VIEW",
                "FUNCTION",
                "PROCEDURE",
                "TYPE",
                "SCHEMA",
                "ASSEMBLY",
                "CREDENTIAL",
                "DATA",
                "SOURCE",
                "STATISTICS",
                "PACKAGE",
                "EXTERNAL",
                "INDEX",
                "CLUSTERED",
                "OR",
                "REPLACE",
            )
        ):
            words.append(self.next().value.upper())
        return self._raise(" ".join(words) if len(words) > 1 else f"CREATE {what.value}", t.line, _CATALOG)

    def _raise(self, construct: str, line: int, instead: str):
        raise self.unsupported(construct, line, instead)

    def declare(self) -> ir.Declare:
        t = self.next()
        external = self.accept_kw("EXTERNAL")
        if self.tok.kind != "var":
            raise self.error("a @variable name after DECLARE")
        name = self.next().value
        typ = self.type_ref()
        self.expect_op("=")
        return ir.Declare(t.line, name, typ, self.expr(), external)

    def assignment(self, target) -> ir.Stmt:
        t = self.tok
        if t.is_kw("EXTRACT"):
            return self.extract(target)
        if t.is_kw("PROCESS", "REDUCE", "COMBINE"):
            raise self._udo(t)
        if t.is_kw("SELECT") or self.at_op("("):
            return ir.Assign(target.line, target.value, self.query())
        if t.is_kw("SSTREAM", "EXTRACT_SSTREAM"):
            raise self.unsupported(t.value, t.line, "use EXTRACT with a built-in extractor")
        raise self.error("EXTRACT or SELECT after '='")

    def extract(self, target) -> ir.Extract:
        line = self.next().line
        cols = [self._column_def()]
        while self.accept_op(","):
            cols.append(self._column_def())
        self.expect_kw("FROM")
        paths = [self.expr()]
        while self.accept_op(","):
            paths.append(self.expr())
        self.expect_kw("USING")
        kind, args = self._builtin("Extractors", "custom extractor", line)
        return ir.Extract(line, target.value, cols, paths, kind, args)

    def _column_def(self) -> ir.ColumnDef:
        t = self.tok
        name = self.ident("a column name")
        return ir.ColumnDef(name, self.type_ref(), t.line)

    def _builtin(self, cls: str, what: str, line: int) -> tuple[str, dict[str, ir.Expr]]:
        """USING Extractors.Csv(name: value, ...) / Outputters.Tsv(...): the kind and the named arguments."""
        t = self.tok
        if t.value == "new" or not (t.kind == "name" and t.value == cls and self.peek().value == "."):
            text = ""
            while self.tok.kind != "eof" and not self.at_op(";", "("):
                word = self.next()
                text += (" " if text and word.kind == "name" and not text.endswith(".") else "") + word.value
            raise self.unsupported(
                f"{what} {text}".strip(),
                t.line,
                f"use {cls}.Csv(), {cls}.Tsv() or {cls}.Text() with their parameters",
            )
        self.next()
        self.expect_op(".")
        kind_tok = self.tok
        kind = self.ident(f"{cls}.Csv, .Tsv or .Text")
        if kind not in ("Csv", "Tsv", "Text"):
            raise self.unsupported(
                f"{cls}.{kind}", kind_tok.line, f"use {cls}.Csv(), {cls}.Tsv() or {cls}.Text()"
            )
        self.expect_op("(")
        args: dict[str, ir.Expr] = {}
        while not self.at_op(")"):
            name = self.ident("a parameter name such as skipFirstNRows")
            self.expect_op(":")
            args[name] = self.expr()
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return kind, args

    def output(self) -> ir.Output:
        t = self.next()
        if self.tok.kind != "var":
            if self.at_op("("):
                raise self.unsupported(
                    "OUTPUT of a query", t.line, "assign the query to a @rowset and OUTPUT it"
                )
            raise self.error("a @rowset after OUTPUT")
        rowset = self.next().value
        self.expect_kw("TO")
        path = self.expr()
        order = self._order_by() if self.tok.is_kw("ORDER") else []
        self.expect_kw("USING")
        kind, args = self._builtin("Outputters", "custom outputter", t.line)
        return ir.Output(t.line, rowset, path, kind, args, order)

    # ---- queries ----

    def query(self) -> ir.Query:
        line = self.tok.line
        first = self._select_or_paren()
        q = ir.Query(line, first)
        while self.tok.is_kw("UNION", "INTERSECT", "EXCEPT", "OUTER"):
            t = self.next()
            if t.is_kw("OUTER"):
                raise self.unsupported("OUTER UNION", t.line, "use UNION ALL with matching columns")
            distinct = not self.accept_kw("ALL")
            self.accept_kw("DISTINCT")
            q.rest.append((t.value.upper(), distinct, self._select_or_paren()))
        return q

    def _select_or_paren(self) -> ir.Select:
        if self.at_op("("):
            self.next()
            q = self.query()
            self.expect_op(")")
            if q.rest:
                raise self.unsupported(
                    "a parenthesized set operation", q.line, "assign it to a @rowset first"
                )
            return q.first
        return self.select()

    def select(self) -> ir.Select:
        t = self.expect_kw("SELECT")
        distinct = self.accept_kw("DISTINCT")
        self.accept_kw("ALL")
        items = [self._select_item()]
        while self.accept_op(","):
            items.append(self._select_item())
        sel = ir.Select(t.line, items, distinct, None)
        if self.accept_kw("FROM"):
            sel.source = self._source()
            self._joins(sel)
        if self.accept_kw("WHERE"):
            sel.where = self.expr()
        if self.tok.is_kw("GROUP"):
            self.next()
            self.expect_kw("BY")
            sel.group_by = [self.expr()]
            while self.accept_op(","):
                sel.group_by.append(self.expr())
        if self.accept_kw("HAVING"):
            sel.having = self.expr()
        if self.tok.is_kw("ORDER"):
            sel.order_by = self._order_by()
            if self.accept_kw("OFFSET"):
                sel.offset = self.additive()
                self.expect_kw("ROW", "ROWS")
            if self.accept_kw("FETCH"):
                self.accept_kw("FIRST", "NEXT")
                sel.fetch = self.additive()
                self.expect_kw("ROW", "ROWS")
                self.accept_kw("ONLY")
        elif self.tok.is_kw("FETCH"):
            raise self.unsupported("FETCH without ORDER BY", self.tok.line, "add ORDER BY before FETCH")
        return sel

    def _select_item(self) -> ir.SelectItem:
        t = self.tok
        e = self.expr()
        alias = None
        if self.accept_kw("AS"):
            alias = self.ident("a column name after AS")
        return ir.SelectItem(e, alias, t.line)

    def _order_by(self) -> list[ir.OrderItem]:
        self.expect_kw("ORDER")
        self.expect_kw("BY")
        items = []
        while True:
            e = self.expr()
            desc = False
            if self.accept_kw("DESC"):
                desc = True
            else:
                self.accept_kw("ASC")
            items.append(ir.OrderItem(e, desc))
            if not self.accept_op(","):
                return items

    def _source(self) -> ir.Source:
        t = self.tok
        if t.kind == "var":
            self.next()
            src = ir.Source(t.line, rowset=t.value)
        elif self.at_op("("):
            self.next()
            if self.accept_kw("VALUES"):
                rows = []
                while True:
                    self.expect_op("(")
                    row = [self.expr()]
                    while self.accept_op(","):
                        row.append(self.expr())
                    self.expect_op(")")
                    rows.append(row)
                    if not self.accept_op(","):
                        break
                src = ir.Source(t.line, values=rows)
            else:
                src = ir.Source(t.line, query=self.query())
            self.expect_op(")")
        elif t.kind == "name" and not t.is_kw("EXTRACT"):
            raise self.unsupported(
                f"reading the catalog table {t.value}",
                t.line,
                "EXTRACT the table's files into a @rowset instead",
            )
        else:
            raise self.error("a @rowset, (SELECT ...) or (VALUES ...) after FROM")
        if self.accept_kw("AS") or (self.tok.kind == "name" and not self.tok.is_kw(*_CLAUSE_WORDS)):
            src.alias = self.ident("an alias")
            if self.at_op("("):
                self.next()
                src.column_aliases = [self.ident("a column name")]
                while self.accept_op(","):
                    src.column_aliases.append(self.ident("a column name"))
                self.expect_op(")")
        if src.values is not None and not src.column_aliases:
            raise self.error("AS T(column, ...) after (VALUES ...)")
        return src

    def _joins(self, sel: ir.Select) -> None:
        while True:
            t = self.tok
            if t.is_kw("CROSS", "OUTER") and self.peek().is_kw("APPLY"):
                outer = self.next().is_kw("OUTER")
                self.next()
                sel.applies.append(self._apply(t.line, outer))
                continue
            kind = None
            if t.is_kw("JOIN", "INNER"):
                self.accept_kw("INNER")
                kind = "INNER"
            elif t.is_kw("LEFT", "RIGHT", "FULL"):
                kind = self.next().value.upper()
                if self.accept_kw("SEMIJOIN"):
                    kind = "SEMI" if kind == "LEFT" else "RSEMI"
                elif self.accept_kw("ANTISEMIJOIN"):
                    kind = "ANTI" if kind == "LEFT" else "RANTI"
                else:
                    self.accept_kw("OUTER")
            elif t.is_kw("CROSS"):
                self.next()
                kind = "CROSS"
            elif t.is_kw("SEMIJOIN", "ANTISEMIJOIN"):
                kind = "SEMI" if t.is_kw("SEMIJOIN") else "ANTI"
                self.next()
            else:
                return
            if kind in ("RSEMI", "RANTI"):
                raise self.unsupported(
                    f"RIGHT {'SEMI' if kind == 'RSEMI' else 'ANTISEMI'}JOIN",
                    t.line,
                    "swap the two sides and use LEFT SEMIJOIN / LEFT ANTISEMIJOIN",
                )
            if kind not in ("SEMI", "ANTI"):
                self.expect_kw("JOIN")
            src = self._source()
            on = None
            if kind != "CROSS":
                self.expect_kw("ON")
                on = self.expr()
            sel.joins.append(ir.Join(t.line, kind, src, on))

    def _apply(self, line: int, outer: bool) -> ir.Apply:
        t = self.tok
        if not t.is_kw("EXPLODE"):
            raise self.unsupported(
                "CROSS APPLY with a user-defined applier",
                t.line,
                "only CROSS APPLY EXPLODE(...) AS T(column) is supported",
            )
        self.next()
        self.expect_op("(")
        e = self.expr()
        self.expect_op(")")
        self.expect_kw("AS")
        alias = self.ident("an alias after AS")
        self.expect_op("(")
        cols = [self.ident("a column name")]
        while self.accept_op(","):
            cols.append(self.ident("a column name"))
        self.expect_op(")")
        return ir.Apply(line, e, alias, cols, outer)


_CLAUSE_WORDS = (
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "CROSS",
    "OUTER",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "ON",
    "FETCH",
    "OFFSET",
    "SEMIJOIN",
    "ANTISEMIJOIN",
    "USING",
    "OPTION",
)


def parse(text: str, name: str = "script.usql") -> tuple[list[ir.Stmt], list[str]]:
    """Parse a whole script; returns its statements and the warnings (ignored statements)."""
    p = Parser(text, name)
    return p.script(), p.warnings
