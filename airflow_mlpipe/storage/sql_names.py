"""The naming side of SQL datastores: table and procedure names read as SQL writes them, quoted for
one database kind, and the catalog look-ups that take a name (columns, procedure parameters, engine).
Kept apart from storage/sql.py, which moves the rows, so that every identifier goes through one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError

# one part of a qualified name: "double quoted", `backticked`, [bracketed] or plain
_PART = re.compile(r'"((?:[^"]|"")+)"|`((?:[^`]|``)+)`|\[([^\]]+)\]|([^."`\[\]]+)')


@dataclass(frozen=True)
class SqlNames:
    """Identifier rules of one database kind (``postgres`` or ``mysql``); ``where`` names the
    datastore in errors."""

    kind: str
    where: str

    def quote(self, name: str) -> str:
        """One identifier, quoted for this database (embedded quotes doubled)."""
        limit = 63 if self.kind == "postgres" else 64
        if not isinstance(name, str) or not name or "\x00" in name or len(name.encode()) > limit:
            raise DatastoreError(
                f"{self.where}: {name!r} is not a valid identifier (1 to {limit} bytes, no NUL)"
            )
        q = '"' if self.kind == "postgres" else "`"
        return q + name.replace(q, q + q) + q

    def quote_table(self, table: str | Sequence[str]) -> str:
        """A table or procedure name quoted for this database: see ``parts``."""
        return ".".join(self.quote(p) for p in self.parts(table))

    def parts(self, table: str | Sequence[str]) -> list[str]:
        """The exact identifiers a name means. A string is read as SQL writes it (v1's sql_table):
        dot-separated parts, each plain or quoted with "...", `...` or [...]; PostgreSQL folds plain
        parts to lower case as it does in SQL. A list gives the exact parts (no folding)."""
        if isinstance(table, str):
            parts, pos = [], 0
            while pos <= len(table):
                m = _PART.match(table, pos)
                if m is None or (m.end() < len(table) and table[m.end()] != "."):
                    raise DatastoreError(
                        f"{self.where}: {table!r} is not a name such as 'sales', 'dbo.sales' or "
                        "'\"My Table\"'; give the exact parts as a list instead"
                    )
                dq, bq, br, plain = m.groups()
                if plain is not None:  # unquoted: PostgreSQL folds it to lower case, as in SQL
                    parts.append(plain.strip().lower() if self.kind == "postgres" else plain.strip())
                elif dq is not None:
                    parts.append(dq.replace('""', '"'))
                else:
                    parts.append(bq.replace("``", "`") if bq is not None else br)
                pos = m.end() + 1
        else:
            parts = [str(p) for p in table]
        if not 1 <= len(parts) <= 3:
            raise DatastoreError(
                f"{self.where}: {table!r}: give 'table', 'schema.table' or ['schema', 'table']"
            )
        return parts

    def schema_and_name(self, table: Any) -> tuple[str | None, str]:
        """The schema part (None: the connection's database) and the last part of a name."""
        parts = self.parts(table)
        return (parts[-2] if len(parts) > 1 else None), parts[-1]

    def check_columns(self, label: str, header: list[str], existing: list[str]) -> None:
        """A file's header must name exactly a table's columns, in any order (MySQL: any case)."""
        fold = str.lower if self.kind == "mysql" else str  # MySQL column names ignore case
        have, want = {fold(c) for c in existing}, {fold(c) for c in header}
        extra = [c for c in header if fold(c) not in have]
        missing = [c for c in existing if fold(c) not in want]
        if extra or missing:
            raise DatastoreError(
                f"{self.where}: columns in the file but not in table {label}: {extra}; in the table "
                f"but not in the file: {missing}. Make the file's header name exactly the table's "
                "columns (any order), or load into a new table"
            )

    # catalog look-ups on an open cursor ------------------------------------------------------

    def table_columns(self, cur: Any, table: str | Sequence[str]) -> list[str] | None:
        """The table's column names in order, or None when there is no such table."""
        if self.kind == "postgres":
            cur.execute("SELECT to_regclass(%s)::oid", (self.quote_table(table),))
            oid = cur.fetchone()[0]
            if oid is None:
                return None
            cur.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT "
                "attisdropped ORDER BY attnum",
                (oid,),
            )
            return [r[0] for r in cur.fetchall()]
        schema, name = self.schema_and_name(table)
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
            "AND TABLE_NAME = %s",
            (schema, name),
        )
        if not cur.fetchone()[0]:
            return None
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(%s, "
            "DATABASE()) AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, name),
        )
        return [r[0] for r in cur.fetchall()]

    def procedure_params(self, cur: Any, procedure: Any, named: Mapping[str, Any]) -> list[str]:
        """A MySQL procedure's parameter names in declaration order, checked against ``named``."""
        schema, name = self.schema_and_name(procedure)
        cur.execute(
            "SELECT PARAMETER_NAME FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = "
            "COALESCE(%s, DATABASE()) AND SPECIFIC_NAME = %s AND ROUTINE_TYPE = 'PROCEDURE' "
            "AND PARAMETER_NAME IS NOT NULL ORDER BY ORDINAL_POSITION",
            (schema, name),
        )
        declared = [r[0] for r in cur.fetchall()]
        lower = {d.lower(): d for d in declared}
        unknown = [k for k in named if k.lower() not in lower]
        missing = [d for d in declared if d.lower() not in {k.lower() for k in named}]
        if unknown or missing:
            raise DatastoreError(
                f"{self.where}: procedure {table_label(procedure)} declares parameters {declared}; "
                f"unknown: {unknown}, not given: {missing}"
            )
        by_lower = {k.lower(): k for k in named}
        return [by_lower[d.lower()] for d in declared]

    def require_transactions(self, cur: Any, table: Any) -> None:
        """Refuse to load into a MySQL table whose engine has no transactions (MyISAM, ...)."""
        schema, name = self.schema_and_name(table)
        cur.execute(
            "SELECT t.ENGINE, e.TRANSACTIONS FROM information_schema.TABLES t LEFT JOIN "
            "information_schema.ENGINES e ON e.ENGINE = t.ENGINE WHERE t.TABLE_SCHEMA = "
            "COALESCE(%s, DATABASE()) AND t.TABLE_NAME = %s",
            (schema, name),
        )
        found = cur.fetchone()
        if found and found[0] and found[1] != "YES":
            raise DatastoreError(
                f"{self.where}: table {table_label(table)} uses the {found[0]} engine, which has no "
                "transactions, so a failed load could leave part of the file in it; convert it "
                "(ALTER TABLE ... ENGINE=InnoDB)"
            )


def table_label(table: Any) -> str:
    """A name as given, for messages and logs (a list joined with dots, unquoted)."""
    return table if isinstance(table, str) else ".".join(map(str, table))


def escape_pct(sql: str) -> str:
    """Escape '%' in quoted identifiers of a statement that also binds %s parameters."""
    return sql.replace("%", "%%")
