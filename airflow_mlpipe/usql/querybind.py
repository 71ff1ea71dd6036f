"""Binds SELECT queries (FROM, joins, CROSS APPLY EXPLODE, GROUP BY, set operations) to sqlglot."""

from __future__ import annotations

import itertools

from sqlglot import exp

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.errors import UsqlError, unsupported
from airflow_mlpipe.usql.exprbind import ExprBinder, Rel, Scope, cast, qcol
from airflow_mlpipe.usql.plan import Columns
from airflow_mlpipe.usql.utypes import UType, unify

_JOINS = {
    "INNER": {},
    "LEFT": {"side": "LEFT"},
    "RIGHT": {"side": "RIGHT"},
    "FULL": {"side": "FULL"},
    "CROSS": {"kind": "CROSS"},
    "SEMI": {"side": "LEFT", "kind": "SEMI"},
    "ANTI": {"side": "LEFT", "kind": "ANTI"},
}


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


class QueryBinder:
    def __init__(self, exprs: ExprBinder, rowsets: dict[str, tuple[str, Columns]]):
        self.x = exprs
        self.rowsets = rowsets
        self._ids = itertools.count(1)

    def err(self, construct: str, line: int, message: str) -> UsqlError:
        return self.x.err(construct, line, message)

    def query(self, q: ir.Query) -> tuple[exp.Query, Columns]:
        node, cols = self.select(q.first)
        for op, distinct, sel in q.rest:
            other, ocols = self.select(sel)
            if len(ocols) != len(cols):
                raise self.err(
                    op,
                    sel.line,
                    f"{op} needs the same number of columns on both sides ({len(cols)} and {len(ocols)})",
                )
            merged = []
            for (name, t), (_, u) in zip(cols, ocols, strict=False):
                if (
                    t.name != u.name
                    and not (t.is_numeric and u.is_numeric)
                    and "null" not in (t.name, u.name)
                ):
                    raise self.err(
                        op, sel.line, f"{op} column {name} is a {t} on one side and a {u} on the other"
                    )
                merged.append((name, unify(t, u)))
            cls = {"UNION": exp.Union, "INTERSECT": exp.Intersect, "EXCEPT": exp.Except}[op]
            node = cls(this=_wrap(node), expression=_wrap(other), distinct=distinct)
            cols = merged
        return node, cols

    def _source(self, src: ir.Source, scope: Scope) -> tuple[exp.Expression, Rel]:
        alias = f"t{next(self._ids)}"
        if src.rowset is not None:
            if src.rowset not in self.rowsets:
                raise self.err(src.rowset, src.line, f"{src.rowset} is not a rowset defined before this line")
            view, cols = self.rowsets[src.rowset]
            node: exp.Expression = exp.Table(this=_ident(view), alias=exp.TableAlias(this=_ident(alias)))
            return node, Rel(alias, src.alias, dict(cols))
        if src.query is not None:
            q, cols = self.query(src.query)
            if not src.alias:
                raise self.err("(SELECT ...)", src.line, "a subquery in FROM needs AS alias")
            return exp.Subquery(this=q, alias=exp.TableAlias(this=_ident(alias))), Rel(
                alias, src.alias, dict(cols)
            )
        rows = [[self.x.bind(v, Scope()) for v in row] for row in src.values or []]
        names = src.column_aliases or []
        if any(len(r) != len(names) for r in rows):
            raise self.err("VALUES", src.line, f"every VALUES row needs {len(names)} values")
        types = []
        for i in range(len(names)):
            t = rows[0][i][1]
            for r in rows[1:]:
                t = unify(t, r[i][1])
            types.append(t)
        tuples = [
            exp.Tuple(
                expressions=[
                    v if vt.name == t.name else cast(v, t) for (v, vt), t in zip(r, types, strict=False)
                ]
            )
            for r in rows
        ]
        node = exp.Values(
            expressions=tuples, alias=exp.TableAlias(this=_ident(alias), columns=[_ident(n) for n in names])
        )
        return node, Rel(alias, src.alias, dict(zip(names, types, strict=False)))

    def select(self, s: ir.Select) -> tuple[exp.Query, Columns]:
        scope = Scope()
        sel = exp.Select()
        if s.source is not None:
            node, rel = self._source(s.source, scope)
            scope.rels.append(rel)
            sel = sel.from_(node)
            for j in s.joins:
                jnode, jrel = self._source(j.source, scope)
                on_scope = Scope(scope.rels + [jrel])
                args = dict(_JOINS[j.kind])
                if j.on is not None:
                    on, _ = self.x.bind(j.on, on_scope)
                    args["on"] = on
                sel = sel.join(exp.Join(this=jnode, **args))
                if j.kind in ("LEFT", "FULL"):
                    jrel.columns = {k: v.with_null() for k, v in jrel.columns.items()}
                if j.kind in ("RIGHT", "FULL"):
                    for r in scope.rels:
                        r.columns = {k: v.with_null() for k, v in r.columns.items()}
                if j.kind not in ("SEMI", "ANTI"):
                    scope.rels.append(jrel)
            for a in s.applies:
                sel = self._apply(sel, a, scope)
        elif s.joins or s.applies:
            raise self.err("JOIN", s.line, "a JOIN needs a FROM")
        if s.where is not None:
            sel = sel.where(self.x.bind(s.where, scope)[0])
        agg_scope = Scope(scope.rels, {}, allow_aggregates=True)
        cols: Columns = []
        for item in s.items:
            for name, (e, t) in self._items(item, agg_scope):
                if name in dict(cols):
                    raise self.err(
                        f"column {name}",
                        item.line,
                        f"the SELECT names column {name} twice; rename one with AS",
                    )
                cols.append((name, t))
                agg_scope.outputs[name] = (e, t)
                sel = sel.select(exp.alias_(e, _ident(name)))
        if s.distinct:
            sel = sel.distinct()
        if s.group_by:
            sel = sel.group_by(*[self.x.bind(g, Scope(scope.rels))[0] for g in s.group_by])
        if s.having is not None:
            sel = sel.having(self.x.bind(s.having, Scope(scope.rels, dict(agg_scope.outputs), True))[0])
        if s.order_by:
            order = []
            for o in s.order_by:
                if isinstance(o.expr, ir.Name) and len(o.expr.parts) == 1 and o.expr.parts[0] in dict(cols):
                    key: exp.Expression = exp.column(_ident(o.expr.parts[0]))
                else:
                    key = self.x.bind(o.expr, Scope(scope.rels, {}, allow_aggregates=bool(s.group_by)))[0]
                order.append(exp.Ordered(this=key, desc=o.desc, nulls_first=not o.desc))
            sel = sel.order_by(*order)
        if s.fetch is not None:
            sel = sel.limit(self._count(s.fetch, "FETCH"))
        if s.offset is not None:
            sel = sel.offset(self._count(s.offset, "OFFSET"))
        return sel, cols

    def _count(self, e: ir.Expr, what: str) -> exp.Expression:
        if isinstance(e, ir.Lit) and e.kind in ("int", "long") and int(e.value) >= 0:  # type: ignore[arg-type]
            return exp.Literal.number(int(e.value))  # type: ignore[arg-type]
        if isinstance(e, ir.Var) and e.name in self.x.scalars:
            v = self.x.scalars[e.name][0]
            if isinstance(v, exp.Literal) and not v.is_string:
                return v.copy()
        raise self.err(what, e.line, f"{what} needs a non-negative integer constant")

    def _items(self, item: ir.SelectItem, scope: Scope):
        e = item.expr
        if isinstance(e, ir.Star):
            rels = scope.rels
            if e.qualifier:
                rels = [r for r in rels if r.user_alias == e.qualifier]
            return [(c, (qcol(r.alias, c), t)) for r in rels for c, t in r.columns.items()]
        bound = self.x.bind(e, scope)
        if bound[1].name == "null":
            raise self.err(
                "null", item.line, "a bare null has no type; cast it, e.g. (string)null or (int?)null"
            )
        name = item.alias
        if name is None:
            if (
                isinstance(e, ir.Name)
                and (len(e.parts) == 1 or any(r.user_alias == e.parts[0] for r in scope.rels))
                and len(e.parts) <= 2
            ):
                name = e.parts[-1]
            else:
                raise self.err(
                    "SELECT", item.line, "an expression in a SELECT list needs a name: add AS Name"
                )
        return [(name, bound)]

    def _apply(self, sel: exp.Select, a: ir.Apply, scope: Scope) -> exp.Select:
        if a.outer:
            raise unsupported("OUTER APPLY", a.line, "use CROSS APPLY EXPLODE", script=self.x.script)
        if len(a.columns) != 1:
            raise unsupported(
                "EXPLODE into several columns (SQL.MAP)",
                a.line,
                "EXPLODE a SQL.ARRAY into one column",
                script=self.x.script,
            )
        e, t = self.x.bind(a.expr, scope)
        if t.name != "array":
            raise self.err(
                "EXPLODE",
                a.line,
                f"EXPLODE needs a SQL.ARRAY (e.g. new SQL.ARRAY<string>(s.Split(';'))), not a {t}",
            )
        alias = f"t{next(self._ids)}"
        lateral = exp.Lateral(
            this=exp.Explode(this=e),
            view=True,
            alias=exp.TableAlias(this=_ident(alias), columns=[_ident(a.columns[0])]),
        )
        sel.append("laterals", lateral)
        scope.rels.append(Rel(alias, a.alias, {a.columns[0]: (t.element or UType("string")).with_null()}))
        return sel


def _wrap(q: exp.Query) -> exp.Query:
    """A set-operation branch with ORDER BY/FETCH must be a subquery."""
    if isinstance(q, exp.Select) and (q.args.get("order") or q.args.get("limit")):
        return exp.select("*").from_(exp.Subquery(this=q, alias=exp.TableAlias(this=_ident("u"))))
    return q
