"""The libcst codemod: rewrites Azure ML SDK v1 imports and references to ``airflow_mlpipe.v1`` and finds
the v1 calls this package does not support, keeping all other source text byte for byte."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TypeVar

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata import (
    ImportAssignment,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    QualifiedNameSource,
    ScopeProvider,
)

from airflow_mlpipe.migrate.catalog import V1_ROOT, Catalog, to_v1, twin_name

Code = TypeVar("Code", str, bytes)


@dataclass(frozen=True, order=True)
class Finding:
    """One thing to report: a 1-based line (in the cell, for a notebook) and what to do."""

    line: int
    message: str
    cell: int | None = None


@dataclass
class Outcome:
    """The migrated source (same type as the input) and the findings in it."""

    code: str | bytes
    findings: list[Finding] = field(default_factory=list)
    encoding: str = "utf-8"


class MigrateParseError(Exception):
    """The source is not valid Python: where and why."""

    def __init__(self, line: int, column: int, reason: str, cell: int | None = None) -> None:
        super().__init__(f"{f'cell {cell}, ' if cell else ''}line {line}, column {column}: {reason}")
        self.line = line
        self.column = column
        self.reason = reason
        self.cell = cell


def _twin_root() -> cst.Attribute:
    return cst.Attribute(value=cst.Name("airflow_mlpipe"), attr=cst.Name("v1"))


def _replace_root(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``azureml.a.b`` -> ``airflow_mlpipe.v1.a.b``, replacing only the leftmost name (formatting kept)."""
    if isinstance(expr, cst.Name):
        return _twin_root()
    assert isinstance(expr, cst.Attribute)
    return expr.with_changes(value=_replace_root(expr.value))


def _is_v1(dotted: str | None) -> bool:
    return dotted is not None and (dotted == V1_ROOT or dotted.startswith(V1_ROOT + "."))


class V1Migrator(cst.CSTTransformer):
    """Rewrites v1 imports (when a twin module exists), ``azureml.*`` attribute chains that use an imported
    ``azureml`` in their scope, and collects findings for unsupported names, modules and arguments."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, ScopeProvider, PositionProvider, ParentNodeProvider)

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.catalog = catalog
        self.findings: set[Finding] = set()
        self._in_import = 0
        self._rewrite_aliases: set[cst.ImportAlias] = set()
        self._from_targets: dict[cst.ImportFrom, str] = {}
        self._rename: set[cst.Name] = set()

    # --- helpers -------------------------------------------------------------------------------------

    def _report(self, node: cst.CSTNode, message: str) -> None:
        self.findings.add(Finding(self.get_metadata(PositionProvider, node).start.line, message))

    def _v1_names(self, node: cst.CSTNode) -> set[str]:
        """The v1 dotted names an expression refers to through imports (aliases resolved)."""
        names = self.get_metadata(QualifiedNameProvider, node, set())
        return {
            v1 for q in names if q.source is QualifiedNameSource.IMPORT and (v1 := to_v1(q.name)) is not None
        }

    def _import_rewritten(self, dotted: str) -> bool:
        return dotted == V1_ROOT or self.catalog.has_twin(dotted)

    # --- imports -------------------------------------------------------------------------------------

    def visit_Import(self, node: cst.Import) -> None:
        self._in_import += 1
        for alias in node.names:
            dotted = get_full_name_for_node(alias.name)
            v1 = to_v1(dotted or "")
            if v1 is None:
                continue
            problem = self.catalog.module_problem(v1)
            if problem is not None:
                self._report(alias, problem)
            if _is_v1(dotted) and self._import_rewritten(v1):
                self._rewrite_aliases.add(alias)

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import) -> cst.Import:
        self._in_import -= 1
        names = []
        for original, updated in zip(original_node.names, updated_node.names, strict=True):
            if original in self._rewrite_aliases:
                changes: dict[str, object] = {"name": _replace_root(updated.name)}
                if updated.asname is None and get_full_name_for_node(updated.name) == V1_ROOT:
                    # `import azureml` -> `import airflow_mlpipe.v1 as azureml`: the code using it is unchanged
                    changes["asname"] = cst.AsName(name=cst.Name(V1_ROOT))
                updated = updated.with_changes(**changes)
            names.append(updated)
        return updated_node.with_changes(names=names)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._in_import += 1
        if node.relative or node.module is None:
            return
        dotted = get_full_name_for_node(node.module)
        v1 = to_v1(dotted or "")
        if v1 is None:
            return
        star = isinstance(node.names, cst.ImportStar)
        aliases = [] if isinstance(node.names, cst.ImportStar) else list(node.names)
        names = [a.name.value for a in aliases if isinstance(a.name, cst.Name)]
        target = self.catalog.from_target(v1, None if star else names)
        if target is None:
            found = False
            for alias in aliases:
                message = self.catalog.unsupported(f"{v1}.{get_full_name_for_node(alias.name)}")
                if message is not None:
                    self._report(alias, message + "; the import was left unchanged")
                    found = True
            if not found:
                self._report(node, self.catalog.module_problem(v1) or f"{v1}: the import was left unchanged")
            return
        source = to_v1(target) or v1
        for alias in aliases:
            problem = self.catalog.name_problem(source, get_full_name_for_node(alias.name) or "")
            if problem is not None:
                self._report(alias, problem)
        if _is_v1(dotted) or target != twin_name(v1):
            self._from_targets[node] = target

    def leave_ImportFrom(self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom) -> cst.ImportFrom:
        self._in_import -= 1
        target = self._from_targets.get(original_node)
        if target is None or updated_node.module is None:
            return updated_node
        dotted = to_v1(get_full_name_for_node(updated_node.module) or "")
        if dotted is not None and twin_name(dotted) == target:
            return updated_node.with_changes(module=_replace_root(updated_node.module))
        module = cst.parse_expression(target)
        assert isinstance(module, cst.Attribute)
        return updated_node.with_changes(module=module)

    # --- references ----------------------------------------------------------------------------------

    def _chain(self, node: cst.Name) -> str:
        """The dotted attribute chain that starts at ``node`` (``azureml.core.Workspace.from_config``)."""
        parts = [node.value]
        current: cst.CSTNode = node
        while True:
            parent = self.get_metadata(ParentNodeProvider, current, None)
            if not isinstance(parent, cst.Attribute) or parent.value is not current:
                return ".".join(parts)
            parts.append(parent.attr.value)
            current = parent

    def _should_rename(self, node: cst.Name) -> bool:
        """Whether this ``azureml`` is the module bound by un-aliased ``import azureml.x`` statements only
        (never a local variable, a parameter or a bare ``import azureml``, which keeps its name)."""
        names = self.get_metadata(QualifiedNameProvider, node, set())
        if not names or any(q.name != V1_ROOT or q.source is not QualifiedNameSource.IMPORT for q in names):
            return False
        scope = self.get_metadata(ScopeProvider, node, None)
        if scope is None:
            return False
        imported: dict[str, bool] = {}
        for assignment in scope[V1_ROOT]:
            if not isinstance(assignment, ImportAssignment) or not isinstance(assignment.node, cst.Import):
                return False
            for alias in assignment.node.names:
                dotted = get_full_name_for_node(alias.name) or ""
                if alias.asname is None and _is_v1(dotted):
                    imported[dotted] = alias in self._rewrite_aliases
        if not imported or V1_ROOT in imported:
            return False
        chain = self._chain(node)
        matches = [m for m in imported if chain == m or chain.startswith(m + ".")]
        if matches:
            return imported[max(matches, key=len)]
        return all(imported.values())

    def visit_Name(self, node: cst.Name) -> None:
        if self._in_import:
            return
        if node.value == V1_ROOT and self._should_rename(node):
            self._rename.add(node)
        self._check_usage(node)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return _twin_root() if original_node in self._rename else updated_node

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if not self._in_import:
            self._check_usage(node)

    def _check_usage(self, node: cst.Name | cst.Attribute) -> None:
        v1_names = self._v1_names(node)
        if not v1_names:
            return
        modules = self._v1_names(node.value) if isinstance(node, cst.Attribute) else set()
        for v1 in sorted(v1_names):
            module, _, name = v1.rpartition(".")
            if module in modules and self.catalog.has_twin(module):
                problem = self.catalog.name_problem(module, name)
            else:
                problem = self.catalog.unsupported(v1)
            if problem is not None:
                self._report(node, problem)

    def visit_Call(self, node: cst.Call) -> None:
        for v1 in sorted(self._v1_names(node.func)):
            match = self.catalog.unsupported_arguments(v1)
            if match is None:
                continue
            key, table = match
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value in table:
                    self._report(
                        arg,
                        f"{key}({arg.keyword.value}=...) is not supported by airflow-mlpipe: "
                        f"{table[arg.keyword.value]} (see docs/migration.md)",
                    )


def migrate_source(code: Code, catalog: Catalog) -> Outcome:
    """Migrate one module's source (str, or bytes with its own encoding kept); raise MigrateParseError."""
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError as exc:
        try:  # CPython's own parser places syntax errors precisely and says more
            ast.parse(code)
        except SyntaxError as syntax:
            raise MigrateParseError(syntax.lineno or 1, syntax.offset or 1, syntax.msg) from None
        raise MigrateParseError(exc.raw_line, exc.raw_column + 1, exc.message) from None
    if V1_ROOT not in module.code and "airflow_mlpipe" not in module.code:
        return Outcome(code, [], module.encoding)
    migrator = V1Migrator(catalog)
    new = MetadataWrapper(module).visit(migrator)
    out = new.bytes if isinstance(code, bytes) else new.code
    return Outcome(out, sorted(migrator.findings), module.encoding)
