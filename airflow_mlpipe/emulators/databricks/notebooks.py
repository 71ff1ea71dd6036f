"""Databricks notebooks as cells: parse and render the SOURCE and JUPYTER formats of the Workspace API.

A cell is {"magic": "python"|"md"|"sql"|"sh"|"scala"|"r"|"run"|"pip"|..., "source": str} plus an
optional "title" (a SOURCE cell's "DBTITLE" line). Empty cells are dropped. The magic of a cell in the notebook's own language is
that language; SOURCE keeps other cells behind "MAGIC"-prefixed comment lines, JUPYTER as "%magic" lines.
"""

from __future__ import annotations

import json
import re
from typing import Any

LANGUAGES = ("PYTHON", "SQL", "SCALA", "R")
# the comment that starts every line Databricks adds to a SOURCE file, by notebook language
_COMMENT = {"PYTHON": "#", "R": "#", "SQL": "--", "SCALA": "//"}
_HEADER = "Databricks notebook source"
_SEPARATOR = "COMMAND ----------"
# magics whose argument sits on the magic line itself ("%run ./other", "%pip install x")
LINE_MAGICS = frozenset({"run", "pip", "conda", "fs"})
_CELL_META = "application/vnd.databricks.v1+cell"
_MAGIC_LINE = re.compile(r"^%%?([A-Za-z][\w-]*)(?:[ \t]+(.*))?$")


def _language(language: str | None) -> str:
    lang = (language or "PYTHON").upper()
    if lang not in LANGUAGES:
        raise ValueError(f"notebook language {language!r} is not one of {', '.join(LANGUAGES)}")
    return lang


def detect_format(data: bytes) -> str:
    """What AUTO means for these bytes: JUPYTER for an .ipynb JSON document, SOURCE otherwise."""
    head = data.lstrip()[:1]
    if head == b"{":
        try:
            doc = json.loads(data)
        except ValueError:
            return "SOURCE"
        if isinstance(doc, dict) and "cells" in doc:
            return "JUPYTER"
    return "SOURCE"


def detect_language(data: bytes, fmt: str = "AUTO", default: str = "PYTHON") -> str:
    """The notebook language these bytes declare (SOURCE header comment, Jupyter metadata), else default."""
    fmt = detect_format(data) if fmt.upper() == "AUTO" else fmt.upper()
    if fmt == "JUPYTER":
        meta = json.loads(data).get("metadata", {})
        name = (
            meta.get("application/vnd.databricks.v1+notebook", {}).get("language")
            or meta.get("language_info", {}).get("name")
            or meta.get("kernelspec", {}).get("language")
            or default
        )
        return name.upper() if name.upper() in LANGUAGES else _language(default)
    first = data.decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0].strip()
    if first == f"-- {_HEADER}":
        return "SQL"
    if first == f"// {_HEADER}":
        return "SCALA"
    return _language(default)


def _split_magic(text: str) -> tuple[str, str] | None:
    """("sql", body) for a cell text whose first line is "%sql"; None for a cell without a magic."""
    first, _, rest = text.partition("\n")
    match = _MAGIC_LINE.match(first.rstrip())
    if not match:
        return None
    magic, inline = match.group(1), (match.group(2) or "").strip()
    if inline:
        return magic, inline + ("\n" + rest if rest else "")
    return magic, rest


def _join_magic(magic: str, source: str) -> str:
    if magic in LINE_MAGICS:
        first, sep, rest = source.partition("\n")
        return f"%{magic} {first}{sep}{rest}" if first else f"%{magic}" + (f"\n{rest}" if sep else "")
    return f"%{magic}" + (f"\n{source}" if source else "")


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def parse_notebook(data: bytes, fmt: str, language: str | None = None) -> list[dict[str, Any]]:
    """The cells of a notebook in SOURCE, JUPYTER or AUTO format; a plain script is one cell."""
    fmt = fmt.upper()
    if fmt == "AUTO":
        fmt = detect_format(data)
    if fmt == "JUPYTER":
        return _parse_jupyter(data, language)
    if fmt == "SOURCE":
        return _parse_source(data, language)
    raise ValueError(f"notebook format {fmt!r} is not supported by the emulator; use SOURCE, JUPYTER or AUTO")


def _parse_source(data: bytes, language: str | None) -> list[dict[str, Any]]:
    text = data.decode("utf-8").lstrip("\ufeff").replace("\r\n", "\n")
    lang = detect_language(data, "SOURCE", language or "PYTHON")
    comment = _COMMENT[lang]
    lines = text.split("\n")
    if not lines or lines[0].strip() != f"{comment} {_HEADER}":
        source = "\n".join(_trim(lines))
        return [{"magic": lang.lower(), "source": source}]
    chunks: list[list[str]] = [[]]
    for line in lines[1:]:
        if line.rstrip() == f"{comment} {_SEPARATOR}":
            chunks.append([])
        else:
            chunks[-1].append(line)
    cells = []
    magic_prefix = f"{comment} MAGIC"
    title_prefix = f"{comment} DBTITLE "
    for chunk in chunks:
        body = _trim(chunk)
        title = None
        if body and body[0].startswith(title_prefix):
            # "# DBTITLE 1,Load the data": 1 = title shown; the title follows the comma
            title = body[0][len(title_prefix) :].partition(",")[2]
            body = body[1:]
        if not body:
            continue
        if all(line == magic_prefix or line.startswith(magic_prefix + " ") for line in body):
            inner = "\n".join(line[len(magic_prefix) + 1 :] for line in body)
            split = _split_magic(inner)
            cell = (
                {"magic": split[0], "source": split[1]} if split else {"magic": lang.lower(), "source": inner}
            )
        else:
            cell = {"magic": lang.lower(), "source": "\n".join(body)}
        if title is not None:
            cell["title"] = title
        cells.append(cell)
    return cells


def _parse_jupyter(data: bytes, language: str | None) -> list[dict[str, Any]]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"JUPYTER notebook is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise ValueError("JUPYTER notebook has no 'cells' list; export it as an .ipynb (nbformat 4) file")
    lang = detect_language(data, "JUPYTER", language or "PYTHON").lower()
    cells = []
    for raw in doc["cells"]:
        source = raw.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        text = text.replace("\r\n", "\n")
        kind = raw.get("cell_type")
        if kind == "markdown":
            cell = {"magic": "md", "source": text}
        elif kind == "code":
            split = _split_magic(text)
            cell = {"magic": split[0], "source": split[1]} if split else {"magic": lang, "source": text}
        else:
            continue  # raw cells are not run by Jupyter either
        title = (raw.get("metadata") or {}).get(_CELL_META, {}).get("title")
        if title:
            cell["title"] = title
        cells.append(cell)
    return cells


def render(cells: list[dict[str, Any]], fmt: str, language: str | None = None) -> bytes:
    """A notebook file in SOURCE or JUPYTER format holding these cells (parse_notebook reads it back)."""
    fmt = fmt.upper()
    lang = _language(language)
    if fmt == "SOURCE":
        return _render_source(cells, lang)
    if fmt == "JUPYTER":
        return _render_jupyter(cells, lang)
    raise ValueError(f"notebook format {fmt!r} cannot be rendered; use SOURCE or JUPYTER")


def _render_source(cells: list[dict[str, Any]], lang: str) -> bytes:
    comment = _COMMENT[lang]
    parts = []
    for cell in cells:
        magic, source = cell["magic"], cell["source"].strip("\n")
        if magic == lang.lower():
            body = source
        else:
            text = _join_magic(magic, source)
            body = "\n".join(
                f"{comment} MAGIC {line}" if line else f"{comment} MAGIC" for line in text.split("\n")
            )
        if cell.get("title") is not None:
            body = f"{comment} DBTITLE 1,{cell['title']}\n{body}"
        parts.append(body)
    text = f"{comment} {_HEADER}\n" + f"\n\n{comment} {_SEPARATOR}\n\n".join(parts) + "\n"
    return text.encode("utf-8")


def _render_jupyter(cells: list[dict[str, Any]], lang: str) -> bytes:
    out = []
    for cell in cells:
        magic, source = cell["magic"], cell["source"]
        if magic == "md":
            entry: dict[str, Any] = {"cell_type": "markdown", "metadata": {}}
        else:
            text = source if magic == lang.lower() else _join_magic(magic, source)
            entry = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
            source = text
        entry["source"] = source.splitlines(keepends=True)
        if cell.get("title"):
            entry["metadata"] = {_CELL_META: {"title": cell["title"]}}
        out.append(entry)
    doc = {
        "cells": out,
        "metadata": {
            "application/vnd.databricks.v1+notebook": {"language": lang.lower()},
            "language_info": {"name": lang.lower()},
        },
        "nbformat": 4,
        "nbformat_minor": 0,
    }
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
