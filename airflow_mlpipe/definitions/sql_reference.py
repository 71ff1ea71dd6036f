"""SqlDataReference and StoredProcedureParameter (Azure ML v1's ``azureml.data.sql_data_reference``
and ``azureml.data.stored_procedure_parameter``): a table, a query or a stored procedure of a SQL
datastore (PostgreSQL, MySQL/MariaDB, Azure SQL), the source or sink of a DataTransferStep."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from airflow_mlpipe.definitions.datastore import DataReference, Datastore
from airflow_mlpipe.exceptions import UserErrorException

# a table or procedure name: up to three dot-separated parts, each a plain identifier or quoted
# with "..." or `...` or [...]; anything else is better written as a query
_PART = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"]+"|`[^`]+`|\[[^\]]+\])'
_QUALIFIED = re.compile(rf"^{_PART}(?:\.{_PART}){{0,2}}$")
_WHAT = ("sql_table", "sql_query", "sql_stored_procedure")


class StoredProcedureParameterType(Enum):
    """The type of a stored procedure parameter's value (v1's names)."""

    String = "String"
    Int = "Int"
    Decimal = "Decimal"
    Guid = "Guid"
    Boolean = "Boolean"
    Date = "Date"


class StoredProcedureParameter:
    """One named argument of a stored procedure; ``value`` may be a PipelineParameter (set per run)."""

    def __init__(self, name: str, value: Any, type: StoredProcedureParameterType | None = None):
        if not isinstance(name, str) or not re.match(r"^@?[A-Za-z_][A-Za-z0-9_]*$", name):
            raise UserErrorException(
                f"StoredProcedureParameter: name must be a parameter name such as 'since', got {name!r}"
            )
        if type is not None and not isinstance(type, StoredProcedureParameterType):
            raise UserErrorException(
                f"StoredProcedureParameter {name!r}: type must be a StoredProcedureParameterType, got {type!r}"
            )
        self.name = name
        self.value = value
        self.type = type or StoredProcedureParameterType.String

    def __repr__(self) -> str:
        return f"StoredProcedureParameter(name={self.name!r}, value={self.value!r}, type={self.type.value})"


class SqlDataReference(DataReference):
    """Exactly one of ``sql_table``, ``sql_query`` and ``sql_stored_procedure`` of a SQL datastore."""

    _sql = True  # lets DataReference accept a SQL datastore

    def __init__(
        self,
        datastore: Datastore,
        data_reference_name: str | None = None,
        sql_table: str | None = None,
        sql_query: str | None = None,
        sql_stored_procedure: str | None = None,
        sql_stored_procedure_params: list[StoredProcedureParameter] | None = None,
    ):
        if not isinstance(datastore, Datastore):
            raise UserErrorException(f"SqlDataReference: datastore must be a Datastore, got {datastore!r}")
        where = f"SqlDataReference on datastore {datastore.name!r}"
        if not datastore.is_sql:
            raise UserErrorException(
                f"{where}: it is a {datastore.datastore_type} datastore; a SqlDataReference needs a SQL "
                "datastore (Datastore.register_azure_sql_database, register_azure_postgre_sql or "
                "register_azure_my_sql); refer to files with DataReference"
            )
        given = {
            k: v
            for k, v in zip(_WHAT, (sql_table, sql_query, sql_stored_procedure), strict=True)
            if v is not None
        }
        if len(given) != 1:
            raise UserErrorException(
                f"{where}: give exactly one of sql_table, sql_query and sql_stored_procedure"
                + (f" (got {sorted(given)})" if given else "")
            )
        ((what, text),) = given.items()
        if not isinstance(text, str) or not text.strip():
            raise UserErrorException(f"{where}: {what} must be a non-empty string, got {text!r}")
        text = text.strip()
        if what != "sql_query" and not _QUALIFIED.match(text):
            raise UserErrorException(
                f"{where}: {what} {text!r} is not a name such as 'sales' or 'dbo.sales' (quote a part "
                "with double quotes, backticks or brackets); for anything else use sql_query"
            )
        if sql_stored_procedure_params is not None and what != "sql_stored_procedure":
            raise UserErrorException(f"{where}: sql_stored_procedure_params go with sql_stored_procedure")
        params = list(sql_stored_procedure_params or [])
        bad = [p for p in params if not isinstance(p, StoredProcedureParameter)]
        if bad or isinstance(sql_stored_procedure_params, (str, dict)):
            raise UserErrorException(
                f"{where}: sql_stored_procedure_params must be a list of StoredProcedureParameter, "
                f"got {sql_stored_procedure_params!r}"
            )
        names = [p.name.lstrip("@") for p in params]
        if len(set(names)) != len(names):
            raise UserErrorException(f"{where}: stored procedure parameter names repeat: {names}")
        self.sql_table = text if what == "sql_table" else None
        self.sql_query = text if what == "sql_query" else None
        self.sql_stored_procedure = text if what == "sql_stored_procedure" else None
        self.sql_stored_procedure_params = params or None
        default_name = re.sub(r"\W", "_", self.sql_table or self.sql_stored_procedure or datastore.name)
        super().__init__(datastore, data_reference_name=data_reference_name or default_name)

    @property
    def sql_kind(self) -> str:
        """'table', 'query' or 'procedure'."""
        return "table" if self.sql_table else "query" if self.sql_query else "procedure"

    @property
    def sql_text(self) -> str:
        return str(self.sql_table or self.sql_query or self.sql_stored_procedure)

    def encode(self, builder: Any, step: Any, role: str) -> dict[str, Any]:
        """The spec of this reference for ``step``: ``{"kind": "sql", "datastore", "table"|"query"|
        "procedure", "params"}``; parameter values may be PipelineParameters."""
        params = [
            {
                "name": p.name.lstrip("@"),
                "type": p.type.value,
                "value": builder.encode_value(step, f"{role} parameter {p.name!r}", p.value),
            }
            for p in self.sql_stored_procedure_params or []
        ]
        return {
            "kind": "sql",
            "datastore": builder.datastore(self.datastore),
            self.sql_kind: self.sql_text,
            "params": params,
        }

    # v1 refused what makes no sense for a table or query, with these messages
    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        raise NotImplementedError("SqlDataReference does not support `path` operation.")

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        raise NotImplementedError(
            "SqlDataReference does not support `download` operation. Copy the table to files with a "
            "DataTransferStep and read those."
        )

    def as_upload(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        raise NotImplementedError("SqlDataReference does not support `upload` operation.")

    def as_mount(self) -> DataReference:
        raise NotImplementedError(
            "SqlDataReference does not support `mount` operation. Copy the table to files with a "
            "DataTransferStep and read those."
        )

    def to_config(self) -> Any:
        raise NotImplementedError("SqlDataReference does not support `to_config` operation.")

    def _clone(self) -> SqlDataReference:
        return SqlDataReference(
            self.datastore,
            self.data_reference_name,
            self.sql_table,
            self.sql_query,
            self.sql_stored_procedure,
            self.sql_stored_procedure_params,
        )

    def __repr__(self) -> str:
        return f"SqlDataReference(datastore={self.datastore.name!r}, {self.sql_kind}={self.sql_text!r})"
