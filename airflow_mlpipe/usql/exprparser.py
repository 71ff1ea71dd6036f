"""Recursive-descent parser of U-SQL's C# expressions (with U-SQL's SQL-style AND/OR/IN/BETWEEN)."""

from __future__ import annotations

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.errors import UsqlError, unsupported
from airflow_mlpipe.usql.lexer import Token

TYPE_NAMES = {
    "int",
    "long",
    "short",
    "byte",
    "sbyte",
    "uint",
    "ulong",
    "ushort",
    "double",
    "float",
    "decimal",
    "string",
    "bool",
    "DateTime",
    "Guid",
    "char",
    "Int32",
    "Int64",
    "Int16",
    "Double",
    "Single",
    "Decimal",
    "String",
    "Boolean",
    "Byte",
    "Char",
}
_STOP_AFTER_CAST = {
    ")",
    ",",
    ";",
    "]",
    "}",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "?",
    ":",
    "??",
    "*",
    "/",
    "%",
    "=",
}


class TokenStream:
    """Cursor over tokens with the helpers both parsers use."""

    def __init__(self, toks: list[Token], name: str):
        self.toks = toks
        self.i = 0
        self.name = name

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def accept_op(self, op: str) -> bool:
        if self.at_op(op):
            self.next()
            return True
        return False

    def accept_kw(self, *words: str) -> bool:
        if self.tok.is_kw(*words):
            self.next()
            return True
        return False

    def error(self, what: str, t: Token | None = None) -> UsqlError:
        t = t or self.tok
        got = "the end of the script" if t.kind == "eof" else repr(t.value)
        return UsqlError(what, t.line, f"expected {what} but found {got}", script=self.name)

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.error(f"'{op}'")
        return self.next()

    def expect_kw(self, *words: str) -> Token:
        if not self.tok.is_kw(*words):
            raise self.error(" or ".join(words))
        return self.next()

    def ident(self, what: str = "a name") -> str:
        if self.tok.kind != "name":
            raise self.error(what)
        return self.next().value

    def unsupported(self, construct: str, line: int, instead: str = "") -> UsqlError:
        return unsupported(construct, line, instead, script=self.name)


class ExprParser(TokenStream):
    """C# expressions, lowest precedence first: ?: ?? ||/OR &&/AND NOT comparisons + * unary postfix."""

    def expr(self) -> ir.Expr:
        test = self.coalesce()
        if self.at_op("?"):
            line = self.next().line
            then = self.expr()
            self.expect_op(":")
            return ir.Cond(line, test, then, self.expr())
        return test

    def coalesce(self) -> ir.Expr:
        left = self.or_()
        if self.at_op("??"):
            line = self.next().line
            return ir.Binary(line, "??", left, self.coalesce())
        return left

    def or_(self) -> ir.Expr:
        left = self.and_()
        while self.at_op("||") or self.tok.is_kw("OR"):
            t = self.next()
            left = ir.Binary(t.line, "||", left, self.and_())
        return left

    def and_(self) -> ir.Expr:
        left = self.not_()
        while self.at_op("&&") or self.tok.is_kw("AND"):
            t = self.next()
            left = ir.Binary(t.line, "&&", left, self.not_())
        return left

    def not_(self) -> ir.Expr:
        if self.tok.is_kw("NOT"):
            t = self.next()
            return ir.Unary(t.line, "!", self.not_())
        return self.compare()

    def compare(self) -> ir.Expr:
        left = self.additive()
        while True:
            t = self.tok
            if self.at_op("==", "!=", "<", ">", "<=", ">="):
                self.next()
                left = ir.Binary(t.line, t.value, left, self.additive())
            elif t.is_kw("IS"):
                self.next()
                neg = self.accept_kw("NOT")
                self.expect_kw("NULL")
                left = ir.IsNull(t.line, left, neg)
            elif t.is_kw("IN", "BETWEEN", "LIKE") or (
                t.is_kw("NOT") and self.peek().is_kw("IN", "BETWEEN", "LIKE")
            ):
                neg = self.accept_kw("NOT")
                kw = self.next().value.upper()
                if kw == "IN":
                    self.expect_op("(")
                    if self.tok.is_kw("SELECT"):
                        raise self.unsupported("IN (SELECT ...)", t.line, "use a SEMIJOIN or a JOIN instead")
                    items = [self.expr()]
                    while self.accept_op(","):
                        items.append(self.expr())
                    self.expect_op(")")
                    left = ir.InList(t.line, left, items, neg)
                elif kw == "BETWEEN":
                    low = self.additive()
                    self.expect_kw("AND")
                    left = ir.Between(t.line, left, low, self.additive(), neg)
                else:
                    like = ir.Binary(t.line, "LIKE", left, self.additive())
                    left = ir.Unary(t.line, "!", like) if neg else like
            else:
                return left

    def additive(self) -> ir.Expr:
        left = self.multiplicative()
        while self.at_op("+", "-"):
            t = self.next()
            left = ir.Binary(t.line, t.value, left, self.multiplicative())
        return left

    def multiplicative(self) -> ir.Expr:
        left = self.unary()
        while self.at_op("*", "/", "%"):
            t = self.next()
            left = ir.Binary(t.line, t.value, left, self.unary())
        return left

    def unary(self) -> ir.Expr:
        t = self.tok
        if self.at_op("!", "-", "+"):
            self.next()
            operand = self.unary()
            return operand if t.value == "+" else ir.Unary(t.line, t.value, operand)
        if self.at_op("(") and self._cast_ahead():
            self.next()
            typ = self.type_ref()
            self.expect_op(")")
            return ir.CastE(t.line, typ, self.unary())
        return self.postfix(self.primary())

    def _cast_ahead(self) -> bool:
        """'(' type [?] ')' followed by the start of an operand: a C# cast."""
        t1 = self.peek()
        if t1.kind != "name" or t1.value not in TYPE_NAMES:
            return False
        k = 2
        if self.peek(k).kind == "op" and self.peek(k).value == "?":
            k += 1
        if not (self.peek(k).kind == "op" and self.peek(k).value == ")"):
            return False
        after = self.peek(k + 1)
        return not (
            after.kind == "eof"
            or (after.kind == "op" and after.value in _STOP_AFTER_CAST)
            or after.is_kw("AS", "FROM", "AND", "OR", "WHERE")
        )

    def type_ref(self) -> ir.TypeRef:
        t = self.tok
        name = self.ident("a type name")
        while self.at_op(".") and self.peek().kind == "name":
            self.next()
            name += "." + self.next().value
        element = None
        if self.at_op("<"):
            self.next()
            element = self.type_ref()
            self.expect_op(">")
        nullable = self.accept_op("?")
        if name.startswith("System."):
            name = name[len("System.") :]
        if name not in TYPE_NAMES and name != "SQL.ARRAY":
            raise self.unsupported(
                f"type {name}",
                t.line,
                "use int, long, double, float, decimal, string, bool, char, Guid, DateTime "
                "(with ? for nullable) or SQL.ARRAY<T>",
            )
        return ir.TypeRef(name, nullable, element)

    def postfix(self, e: ir.Expr) -> ir.Expr:
        while True:
            if self.at_op("."):
                self.next()
                if self.at_op("*") and isinstance(e, ir.Name) and len(e.parts) == 1:
                    self.next()
                    return ir.Star(e.line, e.parts[0])
                name = self.ident("a member name after '.'")
                e = (
                    ir.Name(e.line, [*e.parts, name])
                    if isinstance(e, ir.Name)
                    else ir.Member(e.line, e, name)
                )
            elif self.at_op("("):
                line = self.next().line
                distinct = self.accept_kw("DISTINCT")
                args: list[ir.Expr] = []
                if not self.at_op(")"):
                    args.append(ir.Star(self.next().line) if self.at_op("*") else self.expr())
                    while self.accept_op(","):
                        args.append(self.expr())
                self.expect_op(")")
                e = ir.Call(line, e, args, distinct)
                if self.tok.is_kw("OVER"):
                    raise self.unsupported(
                        "OVER (window functions)",
                        self.tok.line,
                        "compute the ranking in a separate step, or use GROUP BY",
                    )
            elif self.at_op("["):
                line = self.next().line
                idx = self.expr()
                self.expect_op("]")
                e = ir.Index(line, e, idx)
            else:
                return e

    def primary(self) -> ir.Expr:
        t = self.tok
        if t.kind == "num":
            self.next()
            return _number(t, self)
        if t.kind in ("str", "char"):
            self.next()
            return ir.Lit(t.line, t.value, "string" if t.kind == "str" else "char")
        if t.kind == "var":
            self.next()
            return ir.Var(t.line, t.value)
        if self.at_op("("):
            self.next()
            if self.tok.is_kw("SELECT"):
                raise self.unsupported("a scalar subquery (SELECT ...)", t.line, "use a JOIN instead")
            e = self.expr()
            self.expect_op(")")
            return e
        if self.at_op("*"):
            self.next()
            return ir.Star(t.line)
        if t.kind == "name":
            if t.is_kw("TRUE", "FALSE") and t.value in ("true", "false", "TRUE", "FALSE"):
                self.next()
                return ir.Lit(t.line, t.value.lower() == "true", "bool")
            if t.value in ("null", "NULL") and not t.quoted:
                self.next()
                return ir.Lit(t.line, None, "null")
            if t.value == "new" and not t.quoted:
                return self._new()
            if t.is_kw("CASE"):
                raise self.unsupported("CASE", t.line, "use the C# conditional: test ? a : b")
            self.next()
            return ir.Name(t.line, [t.value])
        raise self.error("an expression")

    def _new(self) -> ir.Expr:
        line = self.next().line
        if self.at_op("["):  # new [] {...}
            self.next()
            self.expect_op("]")
            return ir.NewArray(line, None, self._brace_items())
        typ = self.type_ref()
        if self.at_op("["):  # new char[] {...}
            self.next()
            self.expect_op("]")
            return ir.NewArray(line, typ, self._brace_items())
        if typ.name == "SQL.ARRAY":
            if self.at_op("{"):
                return ir.NewArray(line, typ.element, self._brace_items())
            self.expect_op("(")
            source = None if self.at_op(")") else self.expr()
            self.expect_op(")")
            return ir.NewArray(line, typ.element, [], source)
        self.expect_op("(")
        args: list[ir.Expr] = []
        if not self.at_op(")"):
            args.append(self.expr())
            while self.accept_op(","):
                args.append(self.expr())
        self.expect_op(")")
        return ir.Call(line, ir.Name(line, ["new", typ.name]), args)

    def _brace_items(self) -> list[ir.Expr]:
        self.expect_op("{")
        items: list[ir.Expr] = []
        if not self.at_op("}"):
            items.append(self.expr())
            while self.accept_op(","):
                items.append(self.expr())
        self.expect_op("}")
        return items


def _number(t: Token, p: TokenStream) -> ir.Lit:
    text = t.value
    body = text.rstrip("lLuUdDfFmM")
    suffix = text[len(body) :].lower()
    if "m" in suffix:
        return ir.Lit(t.line, body, "decimal")
    if "f" in suffix:
        return ir.Lit(t.line, float(body), "float")
    if "d" in suffix or any(c in body for c in ".eE"):
        return ir.Lit(t.line, float(body), "double")
    value = int(body)
    if "l" in suffix or value > 2**31 - 1:
        return ir.Lit(t.line, value, "long")
    return ir.Lit(t.line, value, "int")
