"""A local Databricks REST API emulator: DBFS, Workspace, Clusters and Jobs runs on one machine.

The package imports neither Airflow nor the rest of airflow_mlpipe so it can run anywhere a plain
Python (and, inside job processes, pyspark) is available. Heavy modules load lazily.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.emulators.http import HttpApiError

__all__ = ["ApiError", "DatabricksEmulator", "main"]


class ApiError(HttpApiError):
    """An error answered as Databricks does: an HTTP status and a body {error_code, message}."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(status, error_code, message)
        self.error_code = error_code

    def body(self) -> dict[str, str]:
        """The JSON body Databricks sends with this error."""
        return {"error_code": self.error_code, "message": self.message}


def invalid(message: str) -> ApiError:
    """An INVALID_PARAMETER_VALUE (400) error."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> ApiError:
    """A RESOURCE_DOES_NOT_EXIST (404) error."""
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def already_exists(message: str) -> ApiError:
    """A RESOURCE_ALREADY_EXISTS (400) error."""
    return ApiError(400, "RESOURCE_ALREADY_EXISTS", message)


def __getattr__(name: str) -> Any:
    if name == "DatabricksEmulator":
        from airflow_mlpipe.emulators.databricks.server import DatabricksEmulator

        return DatabricksEmulator
    if name == "main":
        from airflow_mlpipe.emulators.databricks.__main__ import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Params:
    """The parameters of one request (query string or JSON body), read with Databricks' leniency.

    Numbers may arrive as strings ("run_id": "12", what the provider's operators send) and booleans
    as "true"/"false" (query strings); a wrong value is an INVALID_PARAMETER_VALUE naming the field.
    """

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def raw(self, name: str, default: Any = None) -> Any:
        """The value as sent, or ``default``."""
        value = self.data.get(name)
        return default if value is None else value

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        """A string parameter; a missing required one is an error naming it."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise invalid(f"Missing required field: {name} (in {self.where})")
            return default
        if isinstance(value, (dict, list)):
            raise invalid(f"Field {name} of {self.where} must be a string, got {value!r}")
        return str(value)

    def integer(self, name: str, default: int | None = None, *, required: bool = False) -> int | None:
        """An integer parameter, also accepted as a decimal string."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise invalid(f"Missing required field: {name} (in {self.where})")
            return default
        if isinstance(value, bool):
            raise invalid(f"Field {name} of {self.where} must be an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise invalid(f"Field {name} of {self.where} must be an integer, got {value!r}") from None

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter, also accepted as "true"/"false"."""
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise invalid(f"Field {name} of {self.where} must be true or false, got {value!r}")
