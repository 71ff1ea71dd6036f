"""The one lazy lookup every ``airflow_mlpipe.v1`` twin module uses: re-exports only, nothing imported early.

A twin declares its v1 module and the names it exports; each name resolves on first use to the very
object ``airflow_mlpipe`` exports (its lazy map says which module implements it).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from airflow_mlpipe.v1._support import SUPPORTED_MODULES, UNSUPPORTED_MODULES, unsupported_message

V1_ROOT = "azureml"
TWIN_ROOT = "airflow_mlpipe.v1"


def twin_of(v1_module: str) -> str:
    """``azureml.core.compute`` -> ``airflow_mlpipe.v1.core.compute``."""
    return TWIN_ROOT + v1_module[len(V1_ROOT) :]


def v1_of(twin_module: str) -> str:
    """``airflow_mlpipe.v1.core.compute`` -> ``azureml.core.compute``."""
    return V1_ROOT + twin_module[len(TWIN_ROOT) :]


def missing_module_message(twin_module: str) -> str:
    """Why ``twin_module`` (under airflow_mlpipe.v1, with no file) cannot be imported, and what to do."""
    v1_module = v1_of(twin_module)
    parts = v1_module.split(".")
    for end in range(len(parts), 1, -1):
        prefix = ".".join(parts[:end])
        if prefix in UNSUPPORTED_MODULES:
            return str(unsupported_message(prefix))
    return (
        f"No module named {twin_module!r}: airflow-mlpipe has no twin of {v1_module}. The v1 modules it "
        f"has twins of: {', '.join(SUPPORTED_MODULES)} (see docs/migration.md)"
    )


def _is_submodule(module: Any, name: str) -> bool:
    folders = getattr(module, "__path__", None) or []
    return name.isidentifier() and any(
        os.path.isfile(os.path.join(folder, name + ".py"))
        or os.path.isfile(os.path.join(folder, name, "__init__.py"))
        for folder in folders
    )


def re_export(module_name: str, v1_module: str, names: Iterable[str]) -> None:
    """Make module ``module_name`` the twin of ``v1_module``, exporting ``names`` lazily.

    An unsupported v1 name raises ImportError with advice (``from m import X`` would turn an
    AttributeError into a bare "cannot import name"); a name v1 never had raises AttributeError.
    """
    import airflow_mlpipe

    if module_name != twin_of(v1_module) or v1_module not in SUPPORTED_MODULES:
        raise RuntimeError(f"{module_name} is not the registered twin of {v1_module}")
    exported = frozenset(names)
    unknown = sorted(exported - set(airflow_mlpipe._LAZY))
    if unknown:
        raise RuntimeError(f"{module_name}: {unknown} are not in airflow_mlpipe's public names")
    module = sys.modules[module_name]

    def __getattr__(name: str) -> Any:
        if name in exported:
            value = getattr(airflow_mlpipe, name)
            setattr(module, name, value)
            return value
        if name.startswith("__"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        message = unsupported_message(f"{v1_module}.{name}")
        if message is not None:
            raise ImportError(message, name=module_name)
        if _is_submodule(module, name):
            return importlib.import_module(f"{module_name}.{name}")
        raise AttributeError(
            f"module {module_name!r} has no attribute {name!r}: {name!r} is not a public name of "
            f"{v1_module}; this twin exports {sorted(exported)} (see docs/migration.md)"
        )

    def __dir__() -> list[str]:
        # dunders, loaded submodules and constants (VERSION); not helpers such as `annotations`
        shown = {
            name
            for name, value in vars(module).items()
            if name.startswith("__") or (name[0] != "_" and (isinstance(value, ModuleType) or name.isupper()))
        }
        return sorted(shown | exported)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    module.__dir__ = __dir__  # type: ignore[method-assign]
    module.__all__ = sorted(exported)
    module._v1_module = v1_module  # type: ignore[attr-defined]
    # name -> implementing module, for tools such as mlpipe migrate
    module._exports = {n: airflow_mlpipe._LAZY[n] for n in sorted(exported)}  # type: ignore[attr-defined]
