"""airflow_mlpipe.v1: every v1 module path has a twin that re-exports the flat package's objects, and
every unsupported v1 name or module fails with the advice of airflow_mlpipe.v1._support."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_mlpipe
from airflow_mlpipe.v1._lazy import twin_of
from airflow_mlpipe.v1._support import (
    SUPPORTED_MODULES,
    UNSUPPORTED,
    UNSUPPORTED_ARGUMENTS,
    UNSUPPORTED_MODULES,
)

REPO = Path(__file__).resolve().parents[2]
V1_DIR = REPO / "airflow_mlpipe" / "v1"
MIGRATION_DOC = REPO / "docs" / "migration.md"

EXPORTS = [(v1, name) for v1 in SUPPORTED_MODULES for name in importlib.import_module(twin_of(v1)).__all__]


def _split(v1_name: str) -> tuple[str, str]:
    module, _, name = v1_name.rpartition(".")
    return module, name


def _advice(key: str) -> str:
    return UNSUPPORTED.get(key) or UNSUPPORTED_MODULES[key]


@pytest.mark.parametrize("v1_module", SUPPORTED_MODULES)
def test_every_twin_imports_and_names_its_v1_module(v1_module):
    twin = importlib.import_module(twin_of(v1_module))
    assert twin._v1_module == v1_module
    assert twin.__all__ == sorted(twin.__all__)
    assert set(twin.__all__) <= set(dir(twin))
    assert "annotations" not in dir(twin) and "re_export" not in dir(twin)


def test_every_twin_file_is_registered():
    on_disk = set()
    for path in V1_DIR.rglob("*.py"):
        parts = path.relative_to(V1_DIR).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(p.startswith("_") for p in parts):
            on_disk.add(".".join(("azureml", *parts)))
    assert on_disk == set(SUPPORTED_MODULES)


@pytest.mark.parametrize(("v1_module", "name"), EXPORTS, ids=[f"{m}.{n}" for m, n in EXPORTS])
def test_supported_name_is_the_flat_packages_object(v1_module, name):
    twin = twin_of(v1_module)
    namespace: dict = {}
    exec(f"from {twin} import {name}", namespace)
    assert namespace[name] is getattr(airflow_mlpipe, name)
    assert getattr(importlib.import_module(twin), name) is getattr(airflow_mlpipe, name)


def test_version_of_core():
    import airflow_mlpipe.v1.core

    assert airflow_mlpipe.v1.core.VERSION == airflow_mlpipe.__version__
    assert "VERSION" in dir(airflow_mlpipe.v1.core)


def test_unsupported_names_live_in_twins_and_are_not_exported():
    exported = {f"{m}.{n}" for m, n in EXPORTS}
    for key in UNSUPPORTED:
        assert _split(key)[0] in SUPPORTED_MODULES, key
        assert key not in exported, key
    for key in UNSUPPORTED_MODULES:
        assert key not in SUPPORTED_MODULES, key


@pytest.mark.parametrize("key", sorted(UNSUPPORTED))
def test_unsupported_name_raises_import_error_with_advice(key):
    v1_module, name = _split(key)
    twin = twin_of(v1_module)
    with pytest.raises(ImportError) as by_from:
        exec(f"from {twin} import {name}", {})
    with pytest.raises(ImportError) as by_attribute:
        getattr(importlib.import_module(twin), name)
    for exc in (by_from.value, by_attribute.value):
        assert _advice(key) in str(exc) and key in str(exc)
        assert not isinstance(exc, AttributeError)


def _nearest_unsupported(v1_module: str) -> str:
    parts = v1_module.split(".")
    return next(
        ".".join(parts[:end])
        for end in range(2, len(parts) + 1)
        if ".".join(parts[:end]) in UNSUPPORTED_MODULES
    )


@pytest.mark.parametrize("key", sorted(UNSUPPORTED_MODULES))
def test_unsupported_module_raises_module_not_found_with_advice(key):
    # a nested module is reported by its nearest unsupported ancestor: the import stops there
    with pytest.raises(ModuleNotFoundError) as excinfo:
        importlib.import_module(twin_of(key))
    assert _advice(_nearest_unsupported(key)) in str(excinfo.value)
    parent, last = _split(key)
    if parent in SUPPORTED_MODULES:  # from airflow_mlpipe.v1.core import webservice
        with pytest.raises(ImportError, match=re.escape(_advice(key))):
            exec(f"from {twin_of(parent)} import {last}", {})


def test_unknown_v1_module_names_the_supported_ones():
    with pytest.raises(ModuleNotFoundError) as excinfo:
        importlib.import_module("airflow_mlpipe.v1.pipeline.no_such_module")
    text = str(excinfo.value)
    assert "azureml.pipeline.no_such_module" in text and "azureml.pipeline.steps" in text
    assert "docs/migration.md" in text


def test_name_v1_never_had_is_an_attribute_error():
    import airflow_mlpipe.v1.core as core

    with pytest.raises(AttributeError, match="not a public name of azureml.core.*Workspace"):
        core.NoSuchThing  # noqa: B018
    assert not hasattr(core, "NoSuchThing")
    assert not hasattr(core, "__wrapped__")
    assert getattr(core, "NoSuchThing", None) is None


def test_package_twins_reach_their_submodules_as_attributes():
    import airflow_mlpipe.v1 as v1

    assert v1.pipeline.core.graph.__name__ == "airflow_mlpipe.v1.pipeline.core.graph"
    assert v1.core.compute.AmlCompute is airflow_mlpipe.AmlCompute


def test_importing_twins_stays_light():
    code = (
        "import importlib, sys\n"
        "from airflow_mlpipe.v1._lazy import twin_of\n"
        "from airflow_mlpipe.v1._support import SUPPORTED_MODULES\n"
        "for m in SUPPORTED_MODULES: importlib.import_module(twin_of(m))\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'pandas', 'azure'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stdout


# the arguments each v1 callable needs besides the refused one
_REQUIRED: dict[str, dict] = {
    "azureml.pipeline.steps.PythonScriptStep": {"script_name": "train.py"},
    "azureml.pipeline.core.PipelineData": {"name": "out"},
    "azureml.core.Dataset.File.from_files": {"path": []},
    "azureml.core.Dataset.Tabular.from_delimited_files": {"path": []},
}
_ARGUMENTS = [(key, arg) for key, args in UNSUPPORTED_ARGUMENTS.items() for arg in args]


def _resolve(dotted: str):
    module = max((m for m in SUPPORTED_MODULES if dotted.startswith(m + ".")), key=len)
    obj = importlib.import_module(twin_of(module))
    for part in dotted[len(module) + 1 :].split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize(("key", "argument"), _ARGUMENTS, ids=[f"{k}({a}=)" for k, a in _ARGUMENTS])
def test_unsupported_argument_is_refused_by_the_code(key, argument):
    call = _resolve(key)
    with pytest.raises(airflow_mlpipe.AzureMLException, match=argument):
        call(**_REQUIRED.get(key, {}), **{argument: "x"})


def _doc_table() -> str:
    rows = [line for line in MIGRATION_DOC.read_text().splitlines() if line.startswith("|")]
    assert rows, "docs/migration.md has no table"
    return "\n".join(rows)


def test_migration_doc_lists_every_unsupported_name_and_module():
    table = _doc_table()
    missing = [key for key in [*UNSUPPORTED, *UNSUPPORTED_MODULES] if f"`{key}`" not in table]
    assert not missing, f"add rows to docs/migration.md for {missing}"


def test_migration_doc_lists_every_supported_name():
    table = _doc_table()
    missing = [f"{m}.{n}" for m, n in EXPORTS if f"`{m}.{n}`" not in table]
    assert not missing, f"add rows to docs/migration.md for {missing}"
