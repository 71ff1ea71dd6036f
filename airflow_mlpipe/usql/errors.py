"""The U-SQL engine's one error: what construct, on which script line, and what to do instead."""

from __future__ import annotations

from airflow_mlpipe.exceptions import UserErrorException


class UsqlError(UserErrorException):
    """A script uses U-SQL outside the supported subset, or is invalid; raised before anything runs."""

    def __init__(self, construct: str, line: int, message: str, *, script: str = "script.usql"):
        self.construct = construct
        self.line = line
        self.message = message
        self.script = script
        super().__init__(f"{script} line {line}: {message}")

    def __reduce__(self):  # keeps the fields when the error crosses a process boundary
        return (_rebuild, (self.construct, self.line, self.message, self.script))


def _rebuild(construct: str, line: int, message: str, script: str) -> UsqlError:
    return UsqlError(construct, line, message, script=script)


def unsupported(construct: str, line: int, instead: str = "", *, script: str = "script.usql") -> UsqlError:
    """The error for a construct outside the subset (named as the script spells it)."""
    msg = f"{construct} is not supported by airflow-mlpipe's U-SQL engine"
    return UsqlError(construct, line, f"{msg}; {instead}" if instead else msg, script=script)
