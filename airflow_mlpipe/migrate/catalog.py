"""What airflow-mlpipe knows of each Azure ML SDK v1 name: supported, unsupported (and what to do), or unknown.

The tables in ``airflow_mlpipe.v1._support`` are the primary source; the ``airflow_mlpipe.v1`` twin modules
(their ``__all__`` and the ImportError they raise for unsupported names) are asked at run time.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from airflow_mlpipe.v1 import _support

V1_ROOT = "azureml"
TWIN_ROOT = "airflow_mlpipe.v1"
_MISSING: Any = object()


def to_v1(dotted: str) -> str | None:
    """The v1 dotted name for an ``azureml.*`` or already migrated ``airflow_mlpipe.v1.*`` name, else None."""
    for root in (V1_ROOT, TWIN_ROOT):
        if dotted == root or dotted.startswith(root + "."):
            return V1_ROOT + dotted[len(root) :]
    return None


def twin_name(v1_name: str) -> str:
    """``azureml.core.Workspace`` -> ``airflow_mlpipe.v1.core.Workspace``."""
    return TWIN_ROOT + v1_name[len(V1_ROOT) :]


def _related(a: str, b: str) -> bool:
    """Whether two v1 modules may export the same class: one contains the other below ``azureml.<package>``
    (v1 re-exports ``azureml.core.environment.Environment`` as ``azureml.core.Environment``)."""
    short, long = sorted((a, b), key=len)
    return short.count(".") >= 1 and (long == short or long.startswith(short + "."))


def _same_object(key: str, v1_name: str) -> bool:
    """Whether two v1 names reach one object through related modules: ``azureml.core.Workspace.from_config``
    and ``azureml.core.workspace.Workspace.from_config`` (same tail, related modules)."""
    a, b = key.split("."), v1_name.split(".")
    for tail in range(1, min(len(a), len(b)) - 1):
        if a[-tail:] == b[-tail:] and _related(".".join(a[:-tail]), ".".join(b[:-tail])):
            return True
    return False


def _unknown(v1_name: str, what: str) -> str:
    return (
        f"{v1_name} is not known to airflow-mlpipe: it has no {what} in {TWIN_ROOT}; replace this use "
        "or keep it on Azure ML (see docs/migration.md)"
    )


class Catalog:
    """Answers, with caching, whether a v1 module or name has a working twin and what to report if not."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self._twin: dict[str, bool] = {}
        self._modules: dict[str, ModuleType | None] = {}

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def has_twin(self, v1_module: str) -> bool:
        """Whether ``airflow_mlpipe.v1.<...>`` exists as a module (found without importing it)."""
        if v1_module not in self._twin:
            name = twin_name(v1_module)
            try:
                found = importlib.util.find_spec(name) is not None
            except ModuleNotFoundError:
                found = False
            except Exception as exc:  # a twin package that fails to import: say so, treat as missing
                self._warn(f"could not look up {name}: {type(exc).__name__}: {exc}")
                found = False
            self._twin[v1_module] = found
        return self._twin[v1_module]

    def _twin_module(self, v1_module: str) -> ModuleType | None:
        if v1_module not in self._modules:
            module = None
            if self.has_twin(v1_module):
                try:
                    module = importlib.import_module(twin_name(v1_module))
                except Exception as exc:
                    self._warn(
                        f"could not import {twin_name(v1_module)} to check the names taken from it "
                        f"({type(exc).__name__}: {exc}); those names were not checked"
                    )
            self._modules[v1_module] = module
        return self._modules[v1_module]

    def exports(self, v1_module: str) -> set[str] | None:
        """The names the twin module supports (its ``__all__``), or None when it cannot be imported."""
        module = self._twin_module(v1_module)
        if module is None:
            return None
        names = getattr(module, "__all__", None)
        if names is None:
            names = [n for n in vars(module) if not n.startswith("_")]
        return set(names)

    def unsupported(self, v1_name: str) -> str | None:
        """The table's message for a v1 class/function, also when reached through another module re-exporting it."""
        if v1_name in _support.UNSUPPORTED:
            return _support.unsupported_message(v1_name)
        for key in _support.UNSUPPORTED:
            if _same_object(key, v1_name):
                return _support.unsupported_message(key)
        return None

    def unsupported_arguments(self, v1_callable: str) -> tuple[str, dict[str, str]] | None:
        """(v1 name, {keyword: advice}) for a callable with refused keyword arguments, matched like unsupported()."""
        if v1_callable in _support.UNSUPPORTED_ARGUMENTS:
            return v1_callable, _support.UNSUPPORTED_ARGUMENTS[v1_callable]
        for key, table in _support.UNSUPPORTED_ARGUMENTS.items():
            if _same_object(key, v1_callable):
                return key, table
        return None

    def module_problem(self, v1_module: str) -> str | None:
        """What to report for importing a v1 module: None when its twin exists."""
        parts = v1_module.split(".")
        for i in range(len(parts), 1, -1):
            message = _support.unsupported_message(".".join(parts[:i]))
            if message is not None and ".".join(parts[:i]) in _support.UNSUPPORTED_MODULES:
                return message + "; the import was left unchanged"
        if self.has_twin(v1_module):
            return None
        return _unknown(v1_module, "module") + "; the import was left unchanged"

    def name_problem(self, v1_module: str, name: str) -> str | None:
        """What to report for ``name`` taken from a v1 module that has a twin: None when the twin supports it."""
        full = f"{v1_module}.{name}"
        message = self.unsupported(full)
        if message is not None:
            return message
        if self.has_twin(full):
            return None
        exports = self.exports(v1_module)
        if exports is None or name in exports:
            return None
        module = self._twin_module(v1_module)
        try:
            value = getattr(module, name, _MISSING)
        except ImportError as exc:  # the twin's own refusal message
            return str(exc) or _unknown(full, "equivalent")
        except Exception:
            value = _MISSING
        return None if value is not _MISSING else _unknown(full, "equivalent")

    def from_target(self, v1_module: str, names: list[str] | None) -> str | None:
        """The twin module to import ``names`` from: the module's own twin, else the nearest twin package
        that exports all of them (``azureml.core.workspace`` -> ``airflow_mlpipe.v1.core``), else None."""
        if self.has_twin(v1_module):
            return twin_name(v1_module)
        if not names:
            return None
        parts = v1_module.split(".")
        for i in range(len(parts) - 1, 1, -1):
            ancestor = ".".join(parts[:i])
            exports = self.exports(ancestor) if self.has_twin(ancestor) else None
            if exports is not None and all(n in exports for n in names):
                return twin_name(ancestor)
        return None
