"""U-SQL (C#) types and their SQL types; numeric widening follows C#."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

_ALIASES = {
    "Int32": "int",
    "Int64": "long",
    "Int16": "short",
    "Double": "double",
    "Single": "float",
    "Decimal": "decimal",
    "String": "string",
    "Boolean": "bool",
    "Byte": "byte",
    "Char": "char",
    "sbyte": "short",
    "uint": "long",
    "ushort": "int",
    "ulong": "decimal",
}
_SQL = {
    "int": "int",
    "long": "bigint",
    "short": "smallint",
    "byte": "smallint",
    "double": "double",
    "float": "float",
    "decimal": "decimal(38, 10)",
    "string": "text",
    "char": "text",
    "Guid": "text",
    "bool": "boolean",
    "DateTime": "timestamp",
}
_RANK = ["byte", "short", "int", "long", "decimal", "float", "double"]
REFERENCE = {"string", "array", "null"}  # C# reference types: always nullable


@dataclass(frozen=True)
class UType:
    name: str  # int long short byte double float decimal string char Guid bool DateTime array null
    nullable: bool = False
    element: UType | None = None

    @property
    def is_numeric(self) -> bool:
        return self.name in _RANK

    @property
    def is_integral(self) -> bool:
        return self.name in ("byte", "short", "int", "long")

    @property
    def is_text(self) -> bool:
        return self.name in ("string", "char", "Guid")

    @property
    def maybe_null(self) -> bool:
        return self.nullable or self.name in REFERENCE or self.name == "Guid"

    def with_null(self, nullable: bool = True) -> UType:
        return UType(self.name, nullable, self.element)

    def sql_type(self) -> exp.DataType:
        if self.name == "array":
            inner = (self.element or STRING).sql_type()
            return exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[inner], nested=True)
        return exp.DataType.build(_SQL.get(self.name, "text"))

    def __str__(self) -> str:
        if self.name == "array":
            return f"SQL.ARRAY<{self.element}>"
        return self.name + ("?" if self.nullable and self.name not in REFERENCE else "")


STRING = UType("string")
BOOL = UType("bool")
INT = UType("int")
LONG = UType("long")
DOUBLE = UType("double")
DATETIME = UType("DateTime")
NULL = UType("null", True)


def from_ref(name: str, nullable: bool = False, element: UType | None = None) -> UType:
    """The UType of a C# type name as written (int, Int32, string, DateTime, SQL.ARRAY)."""
    name = _ALIASES.get(name, name)
    if name == "SQL.ARRAY":
        return UType("array", True, element or STRING)
    return UType(name, nullable)


def widen(a: UType, b: UType) -> UType:
    """The C# result type of arithmetic on a and b (int + double -> double); nullable if either is."""
    nullable = a.maybe_null or b.maybe_null
    if a.name == "null":
        return b.with_null()
    if b.name == "null":
        return a.with_null()
    if a.is_numeric and b.is_numeric:
        name = max(a.name, b.name, key=_RANK.index)
        if _RANK.index(name) < _RANK.index("int"):
            name = "int"  # C# promotes byte/short arithmetic to int
        return UType(name, nullable)
    return a.with_null(nullable) if a.name == b.name else UType("string", True)


def unify(a: UType, b: UType) -> UType:
    """The type of `test ? a : b` or a UNION column: the wider of the two."""
    if a.name == b.name:
        return UType(a.name, a.nullable or b.nullable, a.element)
    return widen(a, b)
