"""Parser of U-SQL statements into the intermediate form; refuses constructs outside the subset."""

from __future__ import annotations

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.lexer import tokenize
from airflow_mlpipe.usql.queryparser import QueryParser

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


class Parser(QueryParser):
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


def parse(text: str, name: str = "script.usql") -> tuple[list[ir.Stmt], list[str]]:
    """Parse a whole script; returns its statements and the warnings (ignored statements)."""
    p = Parser(text, name)
    return p.script(), p.warnings
