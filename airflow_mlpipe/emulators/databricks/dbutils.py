"""The `dbutils` object of the Databricks emulator: widgets, DBFS file commands and notebook.exit.

It follows Databricks' documented dbutils API so notebooks written for a workspace run unchanged on
local files; what needs a real workspace (secrets, libraries, notebook.run) says so when used.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class InputWidgetNotDefined(Exception):
    """A notebook asked for a widget that was neither defined nor passed as a parameter."""


class TaskError(Exception):
    """A task failed for a reason the runtime states itself (error is "Type: message")."""

    def __init__(self, error: str, trace: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.trace = trace


class NotebookExit(BaseException):
    """Raised by dbutils.notebook.exit to stop a notebook successfully with a value.

    A BaseException so that a notebook's own `except Exception` blocks do not swallow it.
    """

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


@dataclass(frozen=True)
class FileInfo:
    """One entry of dbutils.fs.ls, with Databricks' field names (directories end with "/")."""

    path: str
    name: str
    size: int
    modificationTime: int


class WidgetsUtils:
    """dbutils.widgets: job parameters (base_parameters) win over the defaults a notebook defines."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self._parameters = {str(k): str(v) for k, v in parameters.items()}
        self._defined: dict[str, str] = {}

    def _define(self, name: str, default_value: Any, choices: list[str] | None = None) -> None:
        default = "" if default_value is None else str(default_value)
        if choices is not None:
            allowed = [str(c) for c in choices]
            for value in default.split(",") if default else []:
                if value not in allowed:
                    raise ValueError(
                        f"widget {name!r}: default value {value!r} is not one of its choices {allowed}"
                    )
        self._defined[name] = default

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self._define(name, defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._define(name, defaultValue, list(choices))

    def combobox(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        # a combobox also accepts values outside its choices
        self._define(name, defaultValue)

    def multiselect(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._define(name, defaultValue, list(choices))

    def get(self, name: str) -> str:
        if name in self._parameters:
            return self._parameters[name]
        if name in self._defined:
            return self._defined[name]
        raise InputWidgetNotDefined(f"No input widget named {name} is defined")

    def getArgument(self, name: str, defaultValue: str | None = None) -> str | None:
        try:
            return self.get(name)
        except InputWidgetNotDefined:
            if defaultValue is None:
                raise
            return defaultValue

    def getAll(self) -> dict[str, str]:
        return {**self._defined, **self._parameters}

    def remove(self, name: str) -> None:
        if name not in self._defined:
            raise InputWidgetNotDefined(f"No input widget named {name} is defined")
        del self._defined[name]

    def removeAll(self) -> None:
        self._defined.clear()

    def help(self) -> None:
        print(
            "dbutils.widgets: text, dropdown, combobox, multiselect, get, getArgument, getAll, remove, removeAll"
        )


class FsUtils:
    """dbutils.fs on the emulator's DBFS folder: "dbfs:/x" and "/x" are DBFS paths, "file:/x" local ones."""

    def __init__(self, dbfs_root: str | os.PathLike[str] = "/dbfs") -> None:
        self._root = Path(dbfs_root)

    def _local(self, path: str) -> Path:
        if path.startswith("file:"):
            return Path("/" + path[len("file:") :].lstrip("/"))
        if path.startswith("dbfs:"):
            path = path[len("dbfs:") :]
        if not path.startswith("/"):
            raise ValueError(
                f"dbutils.fs: {path!r} is not an absolute DBFS path; write dbfs:/{path} or /{path}"
            )
        # the root itself, without "..": DBFS paths never leave DBFS
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"dbutils.fs: {path!r} contains '..'; use a path without it")
        return self._root.joinpath(*parts)

    def _display(self, original: str, local: Path) -> str:
        if original.startswith("file:"):
            return "file:" + str(local)
        rel = local.relative_to(self._root).as_posix()
        return "dbfs:/" + ("" if rel == "." else rel)

    def ls(self, dir: str) -> list[FileInfo]:
        local = self._local(dir)
        if not local.exists():
            raise FileNotFoundError(f"dbutils.fs.ls: {dir} does not exist")
        entries = sorted(local.iterdir()) if local.is_dir() else [local]
        infos = []
        for entry in entries:
            stat = entry.stat()
            is_dir = entry.is_dir()
            path = self._display(dir, entry) + ("/" if is_dir else "")
            name = entry.name + ("/" if is_dir else "")
            infos.append(FileInfo(path, name, 0 if is_dir else stat.st_size, int(stat.st_mtime * 1000)))
        return infos

    def mkdirs(self, dir: str) -> bool:
        self._local(dir).mkdir(parents=True, exist_ok=True)
        return True

    def put(self, file: str, contents: str, overwrite: bool = False) -> bool:
        local = self._local(file)
        if local.exists() and not overwrite:
            raise FileExistsError(f"dbutils.fs.put: {file} already exists; pass overwrite=True to replace it")
        local.parent.mkdir(parents=True, exist_ok=True)
        data = contents.encode()
        local.write_bytes(data)
        print(f"Wrote {len(data)} bytes.")
        return True

    def head(self, file: str, maxBytes: int = 65536) -> str:
        with self._local(file).open("rb") as handle:
            return handle.read(maxBytes).decode(errors="replace")

    def cp(self, from_: str, to: str, recurse: bool = False) -> bool:
        src, dst = self._local(from_), self._local(to)
        if src.is_dir():
            if not recurse:
                raise IsADirectoryError(
                    f"dbutils.fs.cp: {from_} is a directory; pass recurse=True to copy it"
                )
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst / src.name if dst.is_dir() else dst)
        return True

    def mv(self, from_: str, to: str, recurse: bool = False) -> bool:
        src, dst = self._local(from_), self._local(to)
        if src.is_dir() and not recurse:
            raise IsADirectoryError(f"dbutils.fs.mv: {from_} is a directory; pass recurse=True to move it")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        return True

    def rm(self, dir: str, recurse: bool = False) -> bool:
        local = self._local(dir)
        if local == self._root:
            raise ValueError("dbutils.fs.rm: refusing to remove the DBFS root")
        if not local.exists() and not local.is_symlink():
            return False
        if local.is_dir() and not local.is_symlink():
            if not recurse and any(local.iterdir()):
                raise IsADirectoryError(f"dbutils.fs.rm: {dir} is a non-empty directory; pass recurse=True")
            shutil.rmtree(local)
        else:
            local.unlink()
        return True

    def help(self) -> None:
        print("dbutils.fs: ls, cp, mv, rm, mkdirs, put, head (paths dbfs:/..., /... or file:/...)")


class NotebookUtils:
    """dbutils.notebook: exit stops the notebook with a value; run needs a workspace scheduler."""

    def exit(self, value: Any) -> None:
        raise NotebookExit(str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: dict[str, str] | None = None) -> str:
        raise NotImplementedError(
            f"dbutils.notebook.run({path!r}) starts another notebook run, which the local Databricks emulator "
            "does not support; submit that notebook as its own DatabricksStep instead"
        )

    def help(self) -> None:
        print("dbutils.notebook: exit(value); run is not supported by the emulator")


class _Unsupported:
    """Stands for a dbutils module that needs a real Databricks workspace."""

    def __init__(self, name: str, advice: str) -> None:
        self._name = name
        self._advice = advice

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise NotImplementedError(
            f"dbutils.{self._name}.{attr} is not available in the local Databricks emulator; {self._advice}"
        )


class DBUtils:
    """The notebook's `dbutils`: widgets from the run's parameters, fs on DBFS, notebook.exit."""

    def __init__(
        self, widgets: dict[str, str] | None = None, dbfs_root: str | os.PathLike[str] = "/dbfs"
    ) -> None:
        self.widgets = WidgetsUtils(widgets or {})
        self.fs = FsUtils(dbfs_root)
        self.notebook = NotebookUtils()
        self.secrets = _Unsupported(
            "secrets", "pass the value as a notebook parameter or in the cluster's spark_env_vars"
        )
        self.library = _Unsupported("library", "declare the library in the step's libraries instead")
        self.jobs = _Unsupported("jobs", "pass values between steps as step outputs")
        self.credentials = _Unsupported("credentials", "use a datastore mounted with --mount")
        self.data = _Unsupported("data", "use spark or pandas to summarize data")

    def help(self) -> None:
        print(
            "dbutils in the local Databricks emulator: fs (DBFS files), widgets (parameters), "
            "notebook.exit; secrets, library, jobs, credentials and notebook.run are not available"
        )
