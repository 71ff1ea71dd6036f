"""Parser of U-SQL queries: SELECT, FROM sources, joins, CROSS APPLY EXPLODE, set operations."""

from __future__ import annotations

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.exprparser import ExprParser

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


class QueryParser(ExprParser):
    """SELECT ... FROM ... [JOIN ...] [WHERE] [GROUP BY] [HAVING] [ORDER BY ... FETCH], UNION/INTERSECT/EXCEPT."""

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
