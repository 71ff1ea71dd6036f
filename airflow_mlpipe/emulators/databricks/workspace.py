"""Workspace API 2.0 on a local folder: notebooks, files and directories under ``ROOT/workspace``.

An object at workspace path ``/Users/a/nb`` keeps its bytes, exactly as imported, in
``ROOT/workspace/Users/a/nb`` and its metadata (object type, language, format) in the hidden sidecar
``ROOT/workspace/Users/a/.nb.wsmeta.json``. Converting between SOURCE and JUPYTER uses notebooks.py.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.databricks import ApiError, Params, already_exists, invalid, not_found
from airflow_mlpipe.emulators.databricks.dbfs import decode_b64

log = logging.getLogger(__name__)

LANGUAGES = ("PYTHON", "SCALA", "SQL", "R")
EXTENSIONS = {".py": "PYTHON", ".scala": "SCALA", ".sql": "SQL", ".r": "R"}
FILE_TYPES = {"PYTHON": "py", "SCALA": "scala", "SQL": "sql", "R": "r"}
NOTEBOOK_HEADERS = (
    "# Databricks notebook source",
    "-- Databricks notebook source",
    "// Databricks notebook source",
)
MAX_IMPORT = 10 * 1024 * 1024
META_SUFFIX = ".wsmeta.json"


def _meta_path(local: Path) -> Path:
    return local.with_name(f".{local.name}{META_SUFFIX}")


def _is_meta(name: str) -> bool:
    return name.startswith(".") and name.endswith(META_SUFFIX)


def normalize(path: str | None, field: str = "path") -> str:
    """``/Workspace/Users/a/./nb`` -> ``/Users/a/nb``; relative paths and ``..`` escapes are errors."""
    if not path:
        raise invalid(f"Missing required field: {field}")
    if not path.startswith("/"):
        raise invalid(f"{field} {path!r} must be an absolute workspace path such as /Users/me/notebook")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise invalid(f"{field} {path!r} escapes the workspace root with '..'")
            parts.pop()
        else:
            parts.append(part)
    if parts[:1] == ["Workspace"]:
        parts = parts[1:]
    return "/" + "/".join(parts)


def load_object(workspace_dir: Path, path: str) -> dict[str, Any] | None:
    """The stored object at a workspace path: its metadata plus ``local`` (the file with its bytes).

    Usable without a running server (e.g. to resolve ``%run`` inside a job); None if nothing is there.
    """
    norm = normalize(path)
    local = Path(workspace_dir) / norm.lstrip("/")
    if not local.exists() or local.is_dir():
        return None
    meta_file = _meta_path(local)
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {"object_type": "FILE"}
    return {**meta, "path": norm, "local": local}


class Workspace:
    """The Workspace API over ``ROOT/workspace``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "workspace"
        for folder in ("Users", "Shared"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def local(self, norm: str) -> Path:
        return self.root / norm.lstrip("/") if norm != "/" else self.root

    def _info(self, norm: str, local: Path) -> dict[str, Any]:
        st = local.stat()
        if local.is_dir():
            return {"object_type": "DIRECTORY", "path": norm, "object_id": st.st_ino}
        obj = load_object(self.root, norm) or {}
        info: dict[str, Any] = {
            "object_type": obj.get("object_type", "FILE"),
            "path": norm,
            "object_id": st.st_ino,
            "created_at": obj.get("created_at", int(st.st_mtime * 1000)),
            "modified_at": int(st.st_mtime * 1000),
        }
        if info["object_type"] == "NOTEBOOK":
            info["language"] = obj["language"]
        else:
            info["size"] = st.st_size
        return info

    def _existing(self, p: Params) -> tuple[str, Path]:
        norm = normalize(p.text("path", required=True))
        local = self.local(norm)
        if not local.exists():
            raise not_found(f"Path ({norm}) doesn't exist.")
        return norm, local

    # --- API ----------------------------------------------------------------------------------

    def import_(self, p: Params) -> dict[str, Any]:
        """POST workspace/import: a notebook (SOURCE, JUPYTER, AUTO) or a file (RAW, AUTO)."""
        norm = normalize(p.text("path", required=True))
        fmt = (p.text("format") or "SOURCE").upper()
        language = (p.text("language") or "").upper() or None
        data = decode_b64(p.raw("content", ""), "content", "workspace/import")
        if len(data) > MAX_IMPORT:
            raise ApiError(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", f"content of {norm} exceeds {MAX_IMPORT} bytes")
        if fmt not in ("SOURCE", "JUPYTER", "AUTO", "RAW"):
            raise ApiError(
                501,
                "NOT_IMPLEMENTED",
                f"Import format {fmt} (path {norm}) is not implemented by the mlpipe Databricks emulator; "
                "use SOURCE, JUPYTER, AUTO or RAW",
            )
        if language is not None and language not in LANGUAGES:
            raise invalid(f"language {language} of {norm} must be one of {', '.join(LANGUAGES)}")
        object_type = "NOTEBOOK"
        if fmt == "AUTO":
            norm, fmt, object_type, language = self._detect(norm, data, language)
        elif fmt == "RAW":
            object_type = "FILE"
        if fmt == "SOURCE" and language is None:
            raise invalid(f"language is required to import {norm} in SOURCE format (PYTHON, SCALA, SQL or R)")
        if fmt == "JUPYTER":
            language = language or _jupyter_language(data, norm)
        local = self.local(norm)
        with self._lock:
            if norm == "/" or local.is_dir():
                raise already_exists(f"Path ({norm}) already exists as a directory.")
            if local.exists() and not p.flag("overwrite"):
                raise already_exists(f"Path ({norm}) already exists; pass overwrite=true to replace it.")
            if not local.parent.is_dir():
                raise not_found(f"The parent folder ({normalize(str(Path(norm).parent))}) does not exist.")
            meta = {"object_type": object_type, "language": language, "format": fmt, "created_at": _now_ms()}
            _write_atomic(local, data)
            _write_atomic(_meta_path(local), json.dumps(meta).encode())
        log.info("workspace import %s (%s %s, %s bytes)", norm, object_type, fmt, len(data))
        return {}

    def _detect(self, norm: str, data: bytes, language: str | None) -> tuple[str, str, str, str | None]:
        """AUTO import: a notebook by its header or .ipynb extension (extension dropped), else a file."""
        stem, ext = os.path.splitext(norm)
        head = data[:200].decode("utf-8", "replace").lstrip("\ufeff")
        if ext.lower() == ".ipynb":
            return stem, "JUPYTER", "NOTEBOOK", language
        if any(head.startswith(h) for h in NOTEBOOK_HEADERS):
            lang = language or EXTENSIONS.get(ext.lower()) or _header_language(head)
            return (stem if ext.lower() in EXTENSIONS else norm), "SOURCE", "NOTEBOOK", lang
        return norm, "RAW", "FILE", None

    def export(self, p: Params) -> dict[str, Any] | tuple[bytes, str]:
        """GET workspace/export: ``{"content": base64, "file_type"}`` (or the bytes with direct_download)."""
        norm, local = self._existing(p)
        if local.is_dir():
            raise ApiError(
                501,
                "NOT_IMPLEMENTED",
                f"Exporting the directory {norm} is not implemented by the mlpipe Databricks emulator; export each object",
            )
        obj = load_object(self.root, norm)
        assert obj is not None
        fmt = (p.text("format") or "SOURCE").upper()
        data = local.read_bytes()
        if obj["object_type"] != "NOTEBOOK":
            file_type = os.path.splitext(norm)[1].lstrip(".")
        elif fmt in ("SOURCE", "JUPYTER"):
            if fmt != obj["format"]:
                from airflow_mlpipe.emulators.databricks import notebooks

                cells = notebooks.parse_notebook(data, obj["format"], obj["language"])
                data = notebooks.render(cells, fmt, obj["language"])
            file_type = "ipynb" if fmt == "JUPYTER" else FILE_TYPES[obj["language"]]
        else:
            raise ApiError(
                501,
                "NOT_IMPLEMENTED",
                f"Export format {fmt} (path {norm}) is not implemented by the mlpipe Databricks emulator; "
                "use SOURCE or JUPYTER",
            )
        if p.flag("direct_download"):
            return data, "application/octet-stream"
        return {"content": base64.b64encode(data).decode("ascii"), "file_type": file_type}

    def get_status(self, p: Params) -> dict[str, Any]:
        """GET workspace/get-status."""
        norm, local = self._existing(p)
        return self._info(norm, local)

    def list(self, p: Params) -> dict[str, Any]:
        """GET workspace/list: a directory's objects (Databricks omits ``objects`` when empty)."""
        norm, local = self._existing(p)
        if not local.is_dir():
            return {"objects": [self._info(norm, local)]}
        prefix = norm.rstrip("/")
        objects = [
            self._info(f"{prefix}/{child.name}", child)
            for child in sorted(local.iterdir())
            if not _is_meta(child.name) and not child.name.endswith(".wstmp")
        ]
        return {"objects": objects} if objects else {}

    def mkdirs(self, p: Params) -> dict[str, Any]:
        """POST workspace/mkdirs: like ``mkdir -p``; an object in the way is RESOURCE_ALREADY_EXISTS."""
        norm = normalize(p.text("path", required=True))
        local = self.local(norm)
        probe = local
        while probe != self.root:
            if probe.exists() and not probe.is_dir():
                raise already_exists(
                    f"Cannot create directory {norm}: an object exists at /{probe.relative_to(self.root)}"
                )
            probe = probe.parent
        local.mkdir(parents=True, exist_ok=True)
        return {}

    def delete(self, p: Params) -> dict[str, Any]:
        """POST workspace/delete: DIRECTORY_NOT_EMPTY unless recursive for a non-empty folder."""
        norm, local = self._existing(p)
        if norm == "/":
            raise invalid("Cannot delete the workspace root")
        with self._lock:
            if local.is_dir():
                if any(local.iterdir()) and not p.flag("recursive"):
                    raise ApiError(
                        400,
                        "DIRECTORY_NOT_EMPTY",
                        f"Folder ({norm}) is not empty; pass recursive=true to delete it.",
                    )
                shutil.rmtree(local)
            else:
                local.unlink()
                _meta_path(local).unlink(missing_ok=True)
        log.info("workspace delete %s", norm)
        return {}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{threading.get_ident()}.wstmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _header_language(head: str) -> str:
    if head.startswith("-- "):
        return "SQL"
    if head.startswith("// "):
        return "SCALA"
    return "PYTHON"


def _jupyter_language(data: bytes, norm: str) -> str:
    """The language of an ipynb: its kernelspec/language_info, PYTHON if it says nothing."""
    try:
        nb = json.loads(data)
    except ValueError:
        raise invalid(f"content of {norm} is not a Jupyter notebook (not JSON)") from None
    meta = nb.get("metadata", {}) if isinstance(nb, dict) else {}
    name = str(
        (meta.get("language_info") or {}).get("name") or (meta.get("kernelspec") or {}).get("language") or ""
    )
    return {"scala": "SCALA", "sql": "SQL", "r": "R"}.get(name.lower(), "PYTHON")
