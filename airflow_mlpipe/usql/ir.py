"""The one intermediate form of a U-SQL script: statements and C# expressions, before binding."""

from __future__ import annotations

from dataclasses import dataclass, field

# ---- expressions (each keeps its script line for errors) ----


@dataclass
class Expr:
    line: int


@dataclass
class Lit(Expr):
    value: object  # str | int | float | bool | None
    kind: str  # string | char | int | long | double | float | decimal | bool | null


@dataclass
class Name(Expr):
    parts: list[str]  # Region, s.Region, int (a type name), DateTime


@dataclass
class Var(Expr):
    name: str  # @name


@dataclass
class Star(Expr):
    qualifier: str | None = None


@dataclass
class Member(Expr):
    target: Expr
    name: str


@dataclass
class Call(Expr):
    func: Expr  # Name (COUNT, int.Parse) or Member (x.Substring)
    args: list[Expr]
    distinct: bool = False


@dataclass
class Index(Expr):
    target: Expr
    index: Expr


@dataclass
class Unary(Expr):
    op: str  # ! - NOT
    operand: Expr


@dataclass
class Binary(Expr):
    op: str  # == != < > <= >= && || AND OR + - * / % ?? LIKE
    left: Expr
    right: Expr


@dataclass
class Cond(Expr):
    test: Expr
    then: Expr
    other: Expr


@dataclass
class CastE(Expr):
    type: TypeRef
    operand: Expr


@dataclass
class IsNull(Expr):
    operand: Expr
    negated: bool


@dataclass
class InList(Expr):
    operand: Expr
    items: list[Expr]
    negated: bool


@dataclass
class Between(Expr):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool


@dataclass
class NewArray(Expr):
    element: TypeRef | None  # SQL.ARRAY<string>{...} / new SQL.ARRAY<string>(x.Split(','))
    items: list[Expr]
    source: Expr | None = None


@dataclass
class TypeRef:
    name: str  # C# type name as written: int, string, DateTime, SQL.ARRAY<string>
    nullable: bool = False
    element: TypeRef | None = None


# ---- statements ----


@dataclass
class Stmt:
    line: int


@dataclass
class Declare(Stmt):
    name: str
    type: TypeRef
    value: Expr
    external: bool = False


@dataclass
class ColumnDef:
    name: str
    type: TypeRef
    line: int


@dataclass
class Extract(Stmt):
    target: str
    columns: list[ColumnDef]
    paths: list[Expr]
    extractor: str  # Csv | Tsv | Text
    args: dict[str, Expr]


@dataclass
class Source:
    line: int
    rowset: str | None = None  # @name
    query: Query | None = None  # (SELECT ...)
    values: list[list[Expr]] | None = None  # (VALUES (...), ...)
    alias: str | None = None
    column_aliases: list[str] | None = None


@dataclass
class Join:
    line: int
    kind: str  # INNER | LEFT | RIGHT | FULL | CROSS | SEMI | ANTISEMI
    source: Source
    on: Expr | None


@dataclass
class Apply:
    line: int
    expr: Expr  # the EXPLODE argument
    alias: str
    columns: list[str]
    outer: bool = False


@dataclass
class SelectItem:
    expr: Expr
    alias: str | None
    line: int


@dataclass
class OrderItem:
    expr: Expr
    desc: bool


@dataclass
class Select:
    line: int
    items: list[SelectItem]
    distinct: bool
    source: Source | None
    joins: list[Join] = field(default_factory=list)
    applies: list[Apply] = field(default_factory=list)
    where: Expr | None = None
    group_by: list[Expr] = field(default_factory=list)
    having: Expr | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    offset: Expr | None = None
    fetch: Expr | None = None


@dataclass
class Query:
    """A SELECT, or set operations of SELECTs (UNION ALL / UNION DISTINCT / INTERSECT / EXCEPT)."""

    line: int
    first: Select
    rest: list[tuple[str, bool, Select]] = field(default_factory=list)  # (op, distinct, select)


@dataclass
class Assign(Stmt):
    target: str
    query: Query


@dataclass
class Output(Stmt):
    rowset: str
    path: Expr
    outputter: str
    args: dict[str, Expr]
    order_by: list[OrderItem] = field(default_factory=list)
