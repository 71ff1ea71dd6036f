"""The package's layers (docs/architecture.md, "Layers"): a module imports, at module level, only
from its own layer or the layers before it. An import inside a function may reach a later layer
only where LATE_IMPORTS says why: each is a v1 method that acts on a deployment (v1 puts
`Pipeline.publish` on the pipeline and `Dataset.register` on the dataset) or a small lookup whose
owner sits later. A new one fails here until it is either moved or listed with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_mlpipe"

# in order; a part is a module or subpackage directly under airflow_mlpipe
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"exceptions", "dotnet_datefmt", "tables", "usql", "run", "_launch"}),
    ("storage", {"storage", "step_calls"}),
    ("definitions and spec", {"definitions", "spec_builder", "spec"}),
    ("reuse", {"reuse", "snapshots"}),
    (
        "provider",
        {"hooks", "emulators", "timetables", "runstatus", "triggers", "sensors", "operators"},
    ),
    ("translator", {"translator"}),
    ("registry and plugin", {"registry", "plugin"}),
    (
        "client and CLI",
        {
            "client",
            "deploy",
            "v1",
            "migrate",
            "provider",
            "cli",
            "cli_adla",
            "cli_databricks",
            "cli_deploy",
            "cli_images",
            "cli_schedules",
            "__init__",
        },
    ),
]

# (importing module, imported part): why it imports a later layer, at call time only
LATE_IMPORTS = {
    ("airflow_mlpipe.run", "client"): "v1's Run.get: a PipelineRun, read over the REST API",
    ("airflow_mlpipe.run", "definitions"): "v1's Experiment.workspace and Run.register_model",
    ("airflow_mlpipe.storage.local", "reuse"): "a file's content hash, the one the fingerprints use",
    ("airflow_mlpipe.definitions.compute", "client"): "v1's ComputeTarget.get_status: its Airflow pool",
    (
        "airflow_mlpipe.definitions.databricks_compute",
        "client",
    ): "v1's DatabricksCompute.attach: its Airflow connection",
    (
        "airflow_mlpipe.definitions.datastore_registry",
        "client",
    ): "v1's Datastore.register_*: its Airflow connection",
    ("airflow_mlpipe.definitions.environment", "client"): "v1's Environment.register/get over HTTP",
    ("airflow_mlpipe.definitions.model", "client"): "v1's Model.register/list over HTTP",
    ("airflow_mlpipe.definitions.registered", "client"): "v1's Dataset.register/get_by_name over HTTP",
    ("airflow_mlpipe.definitions.registered", "reuse"): "Dataset.register pins the data's fingerprint",
    ("airflow_mlpipe.definitions.workspace", "client"): "v1's Workspace.experiments",
    ("airflow_mlpipe.definitions.pipeline", "client"): "v1's Pipeline.publish and submit",
    ("airflow_mlpipe.definitions.pipeline", "reuse"): "Pipeline.plan: what would be reused",
    ("airflow_mlpipe.definitions.pipeline", "translator"): "Pipeline.to_dag",
    (
        "airflow_mlpipe.operators.base",
        "translator",
    ): "a called pipeline's DAG params, as the translator writes them",
    ("airflow_mlpipe.operators.run_records", "registry"): "the DAG run conf key a submission writes",
}


def layer_of(part: str) -> int:
    for index, (_, parts) in enumerate(LAYERS):
        if part in parts:
            return index
    raise AssertionError(f"airflow_mlpipe.{part} is in no layer of tests/unit/test_layers.py: add it")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The part of airflow_mlpipe a module belongs to ("__init__" for the package itself)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def imported_parts(node: ast.AST) -> list[str]:
    """The parts of airflow_mlpipe an import statement reads (``from airflow_mlpipe import x``:
    x when it is a module or subpackage). The package itself is not counted: Python imports it
    before any of its modules, and it imports none of them until asked (test_provider.py)."""
    if isinstance(node, ast.Import):
        return [part_of(a.name) for a in node.names if a.name.startswith("airflow_mlpipe.")]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == "airflow_mlpipe":
            return [
                a.name
                for a in node.names
                if (PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir()
            ]
        if node.module.split(".")[0] == "airflow_mlpipe":
            return [part_of(node.module)]
    return []


def imports(path: Path) -> tuple[list[str], list[str]]:
    """(parts imported at module level, parts imported inside functions) by one file."""
    tree = ast.parse(path.read_text(), str(path))
    top, late = [], []
    top_nodes = set()
    for node in tree.body:
        # module level, including under if/try at module level; not TYPE_CHECKING blocks
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else [node]:
            top_nodes.add(id(inner))
            top += imported_parts(inner)
    for node in ast.walk(tree):
        if id(node) not in top_nodes:
            late += imported_parts(node)
    return top, late


def modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in PACKAGE.rglob("*.py"))


def test_every_part_is_in_a_layer():
    parts = {part_of(name) for name, _ in modules()}
    for part in parts:
        layer_of(part)


def test_module_level_imports_follow_the_layers():
    wrong = []
    for name, path in modules():
        own = layer_of(part_of(name))
        for part in imports(path)[0]:
            if layer_of(part) > own:
                wrong.append(
                    f"{name} imports airflow_mlpipe.{part} ({LAYERS[layer_of(part)][0]}) at module level"
                )
    assert wrong == []


def test_call_time_imports_of_later_layers_are_the_listed_ones():
    found = set()
    for name, path in modules():
        own = layer_of(part_of(name))
        found |= {(name, part) for part in imports(path)[1] if layer_of(part) > own}
    assert sorted(found - LATE_IMPORTS.keys()) == [], (
        "unlisted imports of a later layer: move them or list why"
    )
    assert sorted(LATE_IMPORTS.keys() - found) == [], "listed imports that no longer exist: remove them"


def test_importing_the_definitions_imports_no_client_airflow_or_sdk():
    """The call-time imports above stay call-time: a v1 program's definitions load alone."""
    import subprocess
    import sys

    names = sorted(name for name, _ in modules() if part_of(name) in LAYERS[2][1])
    code = (
        "import importlib, sys\n"
        f"for m in {names!r}: importlib.import_module(m)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
        "('airflow', 'azure', 'databricks', 'docker')} | "
        "{m for m in sys.modules if m.split('.')[:2] in (['airflow_mlpipe', 'client'], ['airflow_mlpipe', 'translator'])}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(names) > 20
    assert out.stdout.strip() == "[]"
