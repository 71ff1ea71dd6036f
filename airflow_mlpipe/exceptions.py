"""Errors raised by airflow-mlpipe. Each says what was wrong, where, and what to do instead."""

from __future__ import annotations


class MlpipeError(Exception):
    """Base class of every error this package raises on purpose."""


AzureMLException = MlpipeError  # Azure ML v1's base exception name


class UserErrorException(MlpipeError, ValueError):
    """Invalid input from user code (Azure ML v1 raised ``UserErrorException`` in the same places)."""


class PipelineValidationError(UserErrorException):
    """A pipeline cannot be translated; raised while the DAG file is parsed."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"pipeline is invalid ({len(self.problems)} problem(s)):\n{lines}")


class ComputeTargetException(MlpipeError):
    """A compute target is unknown or cannot be created (Azure ML v1's exception name)."""


class DatastoreError(MlpipeError):
    """A datastore is unknown, misconfigured, or an I/O on it failed."""


class WorkspaceConfigError(UserErrorException):
    """The workspace config file is missing a field or has a wrong value."""


class StepFailedError(MlpipeError):
    """A step's script or job failed; carries the tail of its error output."""


class ActivityFailedException(MlpipeError):
    """A run ended Failed (Azure ML v1's name, raised by ``wait_for_completion(raise_on_error=True)``)."""


class AuthenticationException(MlpipeError):
    """Credentials for the workspace's Airflow deployment are missing or were refused."""
