"""DataTransferStepOperator: a DataTransferStep's copy, run by the worker (Azure Data Factory is not
called; docs/transfer.md). Files move between datastores server-side where the destination's service
can fetch the source, else streamed (storage/transfer_copy.py); a SQL table, query or procedure is
written to a CSV or Parquet file; a file is loaded into a table in one transaction.

The step protocol is StepOperator's: reuse check (the source's content fingerprint, the destination
and the settings), then the copy, then the result and the cache commit. Nothing counts as a result
before the whole copy is in place: files are staged and placed only when all are complete.
"""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError, StepFailedError, UserErrorException
from airflow_mlpipe.operators.base import StepOperator, StepRun, operator_spec
from airflow_mlpipe.reuse.decide import sql_source_args
from airflow_mlpipe.reuse.fingerprint import digest
from airflow_mlpipe.storage.base import normalize_path, safe_segment, split_glob
from airflow_mlpipe.storage.copy_plan import DIRECTORY, FILE, plan_copy

TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class DataTransferStepOperator(StepOperator):
    """Copy ``source_data_reference`` to ``destination_data_reference``.

    Built by the translator from a DataTransferStep, or written by hand with DataTransferStep's
    keyword arguments::

        DataTransferStepOperator(task_id="copy", source_data_reference=raw, destination_data_reference=lake,
                                 compute_target="adf", destination_reference_type="directory")
    """

    template_fields = ()
    ui_color = "#f7e3cf"

    def __init__(
        self, *, step: dict[str, Any] | None = None, pipeline: dict[str, Any] | None = None, **kwargs: Any
    ):
        """From the translator: ``step`` and ``pipeline`` specs. Written by hand: DataTransferStep's
        keyword arguments, the step named after ``task_id``."""
        from airflow_mlpipe.definitions.transfer import DataTransferStep

        step, pipeline = operator_spec("DataTransferStepOperator", DataTransferStep, step, pipeline, kwargs)
        super().__init__(**kwargs)
        self.step = step
        self.pipeline = pipeline

    @property
    def where(self) -> str:
        return f"DataTransferStep {self.step['name']!r}"

    # --- the copy --------------------------------------------------------------------------------

    def compute(
        self, context: Any, parameters: dict[str, Any], decision: dict[str, Any] | None, lease: Any = None
    ) -> dict[str, Any]:
        settings = self.step["settings"]
        source, destination = settings["source"], settings["destination"]
        ti = context["ti"]
        self.key = "/".join(safe_segment(x) for x in (ti.dag_id, ti.run_id, ti.task_id))
        with tempfile.TemporaryDirectory(prefix=f"mlpipe-{safe_segment(self.task_id)}-") as tmp:
            run = StepRun(workdir=Path(tmp), parameters=parameters)
            try:
                if source["kind"] == "sql":
                    stored, report = self._sql_to_file(context, source, destination, parameters, run.workdir)
                elif destination["kind"] == "sql":
                    stored, report = self._file_to_table(context, source, destination, run.workdir)
                else:
                    stored, report = self._files(context, source, destination)
            except (DatastoreError, UserErrorException) as exc:
                raise StepFailedError(f"{self.where}: {exc}") from None
            result = self.step_result(context, run, {settings["output"]: stored})
        result["transfer"] = report
        if decision is not None:
            self.commit(context, decision, result, lease)
        return result

    def _source_files(self, context: Any, ref: dict[str, Any]) -> tuple[str, str, Any, list[Any]]:
        """The source's datastore, path (a folder for globs), store and files."""
        if ref["kind"] == "pipeline_data":
            loc = self.upstream_output(context, ref["data"])
            ds, path = loc["datastore"], loc["path"]
            store = self.datastore_store(ds, "the source")
            files = store.list(path)
            if not self.pipeline["data"].get(ref["data"], {}).get("is_directory", True) and len(files) == 1:
                path = files[0].path  # a single-file PipelineData is that file
            return ds, path, store, files
        inp = next(i for i in self.step["inputs"] if i["name"] == ref["input"])  # bound to this run
        if inp["kind"] == "dataset":
            entries = inp["dataset"]["paths"]
            if len(entries) != 1 or "url" in entries[0]:
                raise UserErrorException(
                    f"the source dataset has {len(entries)} path(s) {[e.get('path', e.get('url')) for e in entries]}; "
                    "a transfer copies one datastore path (a file, a folder or a glob)"
                )
            ds, path = entries[0]["datastore"], entries[0]["path"]
        else:
            ds, path = inp["datastore"], inp["path"]
        store = self.datastore_store(ds, "the source")
        base, pattern = split_glob(normalize_path(path))
        files = [info for info, _ in store.resolve(path)] if pattern else store.list(path)
        return ds, base if pattern else normalize_path(path), store, files

    def _destination(self, context: Any, ref: dict[str, Any]) -> tuple[str, str, bool]:
        """The destination's datastore and path, and whether the path is this try's own."""
        if ref["kind"] == "pipeline_data":
            ds = self.pipeline["data"][ref["data"]]["datastore"]
            return ds, self.output_prefix(context, ref["data"]), True
        return ref["datastore"], normalize_path(ref["path"]), False

    def _files(self, context: Any, source: dict[str, Any], destination: dict[str, Any]) -> tuple[dict, dict]:
        from airflow_mlpipe.storage.transfer_copy import clear_staging, copy_files

        settings = self.step["settings"]
        src_ds, src_path, src, files = self._source_files(context, source)
        dst_ds, dst_path, own = self._destination(context, destination)
        dst = self.datastore_store(dst_ds, "the destination")
        existing = None
        if not own:
            existing = FILE if dst.stat(dst_path) is not None else DIRECTORY if dst.list(dst_path) else None
        try:
            plan = plan_copy(
                self.where,
                src_path,
                files,
                dst_path,
                source_type=settings["source_type"],
                destination_type=settings["destination_type"],
                destination_existing=existing,
            )
        except StepFailedError as exc:
            raise UserErrorException(str(exc).removeprefix(f"{self.where}: ")) from None
        stale = clear_staging(dst, self.key)
        if stale:
            self.log.info("transfer: removed %d staged file(s) an earlier try left", stale)
        self.log.info(
            "transfer: %s %s -> %s %s: %d file(s)",
            plan.source_type,
            src.location(src_path),
            plan.destination_type,
            dst.location(dst_path),
            len(plan.pairs),
        )
        placed, report = copy_files(src, plan.pairs, dst, key=self.key, what="transfer", say=self.log.info)
        self.log.info(
            "transfer: done: %d file(s), %d bytes in %.1f s (%d server-side, %d streamed through the worker)",
            report.files,
            report.bytes,
            report.seconds,
            report.server_side,
            report.streamed,
        )
        by_path = {f.path: f for f in files}
        # the content as a consumer sees it: relative names, sizes and the source's tags (the same
        # for an unchanged source, wherever this try put the copy)
        content = digest(
            sorted((_relative(d, dst_path), by_path[s].size, by_path[s].etag) for s, d in plan.pairs)
        )
        where = dst_path if plan.destination_type == DIRECTORY or own else placed[0].path
        listed = dst.list(where)  # what a consumer (and the reuse check) finds there
        stored = {
            "datastore": dst_ds,
            "path": where,
            "files": len(listed),
            "bytes": sum(f.size for f in listed),
            "content_hash": content,
            "source": {"datastore": src_ds, "path": src_path},
        }
        self._publish(context, destination, dst, stored)
        return stored, _report(report)

    def _publish(self, context: Any, ref: dict[str, Any], dst: Any, stored: dict[str, Any]) -> None:
        """An OutputFileDatasetConfig destination with a named path (``destination=(datastore,
        path)``): the copy, complete in this try's own folder, is published there too, as a step
        publishes its outputs; ``overwrite=False`` refuses a path that holds files."""
        from airflow_mlpipe.operators.step_data import destination_path
        from airflow_mlpipe.storage.transfer_copy import copy_files

        data = self.pipeline["data"].get(ref.get("data", ""), {})
        if ref["kind"] != "pipeline_data" or not data.get("destination"):
            return
        dest = destination_path(data["destination"], f"{context['ti'].run_id}_{self.task_id}", ref["data"])
        existing = dst.check_publish(dest, overwrite=bool(data.get("overwrite")))
        prefix = stored["path"]
        pairs = [(f.path, posixpath.join(dest, _relative(f.path, prefix))) for f in dst.list(prefix)]
        copy_files(dst, pairs, dst, key=self.key, what="publish", say=self.log.info)
        kept = {d for _, d in pairs}
        for info in existing:
            if info.path not in kept:
                dst.delete(info.path)
        self.log.info("output %s: published to %s", ref["data"], dst.location(dest))
        stored["destination"] = dest

    def _sql_to_file(
        self,
        context: Any,
        source: dict[str, Any],
        destination: dict[str, Any],
        parameters: dict[str, Any],
        work: Path,
    ) -> tuple[dict, dict]:
        import time

        settings = self.step["settings"]
        sql = self.datastore_store(source["datastore"], "the SQL source")
        dst_ds, dst_path, own = self._destination(context, destination)
        dst = self.datastore_store(dst_ds, "the destination")
        name = source.get("table") or source.get("procedure") or "query"
        name = name if isinstance(name, str) else ".".join(name)
        suffix = posixpath.splitext(dst_path)[1].lower()
        kind = settings["destination_type"] or (FILE if suffix in TABLE_FORMATS and not own else DIRECTORY)
        target = dst_path if kind == FILE else posixpath.join(dst_path, f"{safe_segment(name)}.csv")
        if kind == FILE and not target:
            raise UserErrorException("a file destination needs a file path, not the datastore's root")
        fmt = TABLE_FORMATS.get(posixpath.splitext(target)[1].lower(), "csv")
        local = work / f"export.{fmt}"
        started = time.monotonic()
        rows = sql.query_to_file(local, fmt=fmt, **sql_source_args(source, parameters))
        dst.upload_file(local, target, overwrite=True)  # one file, made visible whole
        info = dst.stat(target)
        if info is None or info.size != local.stat().st_size:
            raise DatastoreError(f"the export did not store completely at {dst.location(target)}")
        took = time.monotonic() - started
        self.log.info(
            "transfer: %s -> %s: %d rows, %d bytes in %.1f s",
            sql.location(name),
            dst.location(target),
            rows,
            info.size,
            took,
        )
        from airflow_mlpipe.reuse.fingerprint import hash_file

        stored = {
            "datastore": dst_ds,
            "path": dst_path if own else target,
            "files": 1,
            "bytes": info.size,
            "content_hash": hash_file(local),
            "rows": rows,
        }
        self._publish(context, destination, dst, stored)
        return stored, {"files": 1, "bytes": info.size, "rows": rows, "seconds": round(took, 3)}

    def _file_to_table(
        self, context: Any, source: dict[str, Any], destination: dict[str, Any], work: Path
    ) -> tuple[dict, dict]:
        import time

        _, src_path, src, files = self._source_files(context, source)
        if len(files) != 1:
            raise UserErrorException(
                f"a table destination loads one CSV or Parquet file, but the source {src.location(src_path)} "
                f"holds {len(files)} files; point the source at one file"
            )
        info = files[0]
        fmt = TABLE_FORMATS.get(posixpath.splitext(info.path)[1].lower())
        if fmt is None:
            raise UserErrorException(
                f"the source file {src.location(info.path)} is not .csv or .parquet; a table loads only those"
            )
        local = work / f"load.{fmt}"
        started = time.monotonic()
        with open(local, "wb") as out:
            for chunk in src.open_read(info.path):
                out.write(chunk)
        sql = self.datastore_store(destination["datastore"], "the destination table")
        rows = sql.load_file(local, destination["table"], fmt=fmt, mode="append")
        took = time.monotonic() - started
        table = (
            destination["table"] if isinstance(destination["table"], str) else ".".join(destination["table"])
        )
        stored = {
            "datastore": destination["datastore"],
            "path": "",
            "table": table,
            "files": 0,
            "bytes": 0,
            "content_hash": digest([info.path, info.size, info.etag]),
            "rows": rows,
        }
        return stored, {"files": 1, "bytes": info.size, "rows": rows, "seconds": round(took, 3)}


def _relative(path: str, folder: str) -> str:
    """``path`` relative to ``folder``; a file that is the folder itself by its name."""
    if path == folder:
        return posixpath.basename(path)
    return path[len(folder) + 1 :] if folder else path


def _report(report: Any) -> dict[str, Any]:
    return {
        "files": report.files,
        "bytes": report.bytes,
        "server_side": report.server_side,
        "streamed": report.streamed,
        "seconds": round(report.seconds, 3),
    }
