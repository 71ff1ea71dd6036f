"""Notebooks: migrate each code cell of an .ipynb, masking IPython magics and shell lines that libcst cannot
parse, and write the JSON back in the layout it was read in (nbformat's: indent=1, no ASCII escaping)."""

from __future__ import annotations

import json
import re
from typing import Any

from airflow_mlpipe.migrate.catalog import Catalog
from airflow_mlpipe.migrate.codemod import Finding, MigrateParseError, migrate_source

# `var = !cmd` / `var = %magic`: IPython's assignment forms
_ASSIGN_MAGIC = re.compile(r"^\s*[\w.,\s\[\]()]*\w[\w.,\s\[\]()]*=\s*[%!]")
# `obj?`, `obj.attr??`, `?obj`: IPython help
_HELP = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.\[\]()]+\?{1,2})\s*$")
_PIP_V1 = re.compile(r"\bpip3?\s+install\b.*\bazureml[-_.\w]*")
# cell magics whose body is Python: migrated below their first line
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
PIP_ADVICE = (
    "installs Azure ML SDK v1 packages: install airflow-mlpipe instead (pip install airflow-mlpipe); "
    "the line was left unchanged"
)


def _is_magic(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("%", "!")) or bool(_ASSIGN_MAGIC.match(line) or _HELP.match(line))


def _pip_findings(lines: list[str], offset: int = 0) -> list[Finding]:
    return [
        Finding(i + 1 + offset, f"`{line.strip()}` {PIP_ADVICE}")
        for i, line in enumerate(lines)
        if _PIP_V1.search(line)
    ]


def mask_magics(source: str) -> tuple[str, dict[str, str]]:
    """Replace each magic/shell/help line (and its backslash continuations) by a placeholder name at the
    same indentation, one line for one line, so the cell parses and line numbers stay right."""
    lines = source.splitlines(keepends=True)
    masks: dict[str, str] = {}
    out = []
    i = 0
    while i < len(lines):
        if not _is_magic(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        while True:
            token = f"__mlpipe_masked_{len(masks)}__"
            masks[token] = lines[i]
            newline = lines[i][len(lines[i].rstrip("\r\n")) :]
            out.append(f"{indent}{token}{newline}")
            i += 1
            if not masks[token].rstrip("\r\n").endswith("\\") or i >= len(lines):
                break
    return "".join(out), masks


def unmask(code: str, masks: dict[str, str]) -> str:
    """Put the masked lines back exactly."""
    if not masks:
        return code
    return "".join(masks.get(line.strip(), line) for line in code.splitlines(keepends=True))


def migrate_cell(source: str, catalog: Catalog) -> tuple[str, list[Finding]]:
    """Migrate one code cell's source; raise MigrateParseError (with the cell's line) when it is not Python."""
    lines = source.splitlines(keepends=True)
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):
        magic = first.lstrip()[2:].split(maxsplit=1)
        name = magic[0] if magic else ""
        target = magic[1].strip() if len(magic) > 1 else ""
        start = lines.index(first) + 1
        if name in _PYTHON_CELL_MAGICS or (name == "writefile" and target.split()[-1].endswith(".py")):
            try:
                body, findings = migrate_cell("".join(lines[start:]), catalog)
            except MigrateParseError:
                return source, _pip_findings(lines)  # not Python after all: left alone
            shifted = [Finding(f.line + start, f.message) for f in findings]
            return "".join(lines[:start]) + body, shifted
        return source, _pip_findings(lines)  # %%bash and other cell magics are left alone
    try:
        outcome = migrate_source(source, catalog)
        masks: dict[str, str] = {}
    except MigrateParseError:
        masked, masks = mask_magics(source)
        if not masks:
            raise
        outcome = migrate_source(masked, catalog)  # its error, if any, is the real one (magics aside)
    findings = list(outcome.findings)
    findings += _pip_findings([masks.get(line.strip(), "") for line in str(outcome.code).splitlines()])
    return unmask(str(outcome.code), masks), sorted(findings)


def _layout(text: str, nb: Any) -> dict[str, Any]:
    """The json.dumps options that reproduce ``text`` exactly, or nbformat's when none does."""
    second = text.split("\n", 2)[1] if text.count("\n") >= 2 else ""
    indent = (len(second) - len(second.lstrip(" "))) or None
    for ensure_ascii in (False, True):
        options = {"indent": indent, "ensure_ascii": ensure_ascii}
        dumped = json.dumps(nb, **options)
        if dumped == text or dumped + "\n" == text:
            return options
    return {"indent": 1, "ensure_ascii": False}


def migrate_notebook(text: str, catalog: Catalog) -> tuple[str, list[Finding]]:
    """Migrate the code cells of a notebook's JSON text; findings carry 1-based cell numbers.

    Raises MigrateParseError (its message naming the cell) or ValueError for a file that is not a notebook.
    """
    nb = json.loads(text)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no 'cells' list)")
    language = (nb.get("metadata", {}).get("kernelspec") or {}).get("language") or "python"
    if language.lower() != "python":
        return text, []
    layout = _layout(text, nb)
    findings: list[Finding] = []
    changed = False
    for number, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        raw = cell.get("source", "")
        source = "".join(raw) if isinstance(raw, list) else str(raw)
        try:
            new, cell_findings = migrate_cell(source, catalog)
        except MigrateParseError as exc:
            raise MigrateParseError(exc.line, exc.column, exc.reason, cell=number) from None
        findings += [Finding(f.line, f.message, number) for f in cell_findings]
        if new != source:
            cell["source"] = new.splitlines(keepends=True) if isinstance(raw, list) else new
            changed = True
    if not changed:
        return text, findings
    return json.dumps(nb, **layout) + ("\n" if text.endswith("\n") else ""), findings
