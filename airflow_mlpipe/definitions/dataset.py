"""Datasets: files or delimited tables at paths on datastores (Azure ML v1's Dataset API)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.datastore import DataReference, Datastore
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage.base import normalize_path

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_input_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserErrorException(
            f"{what} name {name!r} is invalid: use letters, digits and '_' and start with a letter or '_'"
        )
    return name


Location = tuple  # (Datastore, relative path) or (None, "https://...")


def dataset_paths(path: Any) -> list[Location]:
    """A dataset's paths from v1's forms: (datastore, path) tuples, DataReference, DataPath, http(s)
    URLs, or a list of them."""
    from airflow_mlpipe.definitions.datastore import DataPath

    items = path if isinstance(path, list) else [path]
    out: list[Location] = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore):
            out.append((item[0], normalize_path(item[1])))
        elif isinstance(item, DataReference):
            out.append((item.datastore, item.path_on_datastore))
        elif isinstance(item, DataPath):
            out.append((item.datastore, normalize_path(item.path_on_datastore)))
        elif isinstance(item, str):
            from airflow_mlpipe.storage import web

            if not web.is_url(item):
                raise UserErrorException(
                    f"dataset path {item!r}: give an http(s) URL or a datastore path as a (datastore, "
                    "'relative/path') tuple; upload local files to a datastore first (Datastore.upload)"
                )
            url = web.check_url(item)
            if web.redact_url(url) != url:
                raise UserErrorException(
                    f"dataset URL {web.redact_url(url)}: it carries credentials (a user name, a SAS "
                    "signature or a token), which would be stored in pipeline specs and logs; put the "
                    "data on a datastore whose Airflow connection holds the credentials"
                )
            out.append((None, url))
        else:
            raise UserErrorException(
                f"dataset path {item!r}: expected a (Datastore, path) tuple, a DataPath, an http(s) URL "
                "or a list of them"
            )
    if not out:
        raise UserErrorException("a dataset needs at least one path")
    return out


def location_spec(ds: Datastore | None, path: str) -> dict[str, str]:
    return {"url": path} if ds is None else {"datastore": ds.name, "path": path}


def web_cache_dir() -> Path:
    from airflow_mlpipe.definitions.workspace import mlpipe_home

    return mlpipe_home() / "cache" / "web"


class AbstractDataset:
    """Files at datastore paths or URLs. Registered, it also has a name, a version and an id, and
    is pinned to the content fingerprint its data had when it was registered."""

    kind = "abstract"

    def __init__(self, paths: list[Location], options: dict[str, Any], validate: bool):
        self.paths = paths
        self.options = options
        self.name: str | None = None
        self.version: int | None = None
        self.id: str | None = None
        self.description: str | None = None
        self.tags: dict[str, str] = {}
        self._registration: dict[str, Any] | None = None  # name, version, id, pinned fingerprint
        self._workspace: Any = None
        if validate:
            for ds, p in paths:
                if ds is None:
                    from airflow_mlpipe.storage import web

                    try:
                        web.fingerprint(p)
                    except Exception as exc:
                        raise UserErrorException(
                            f"dataset URL {web.redact_url(p)}: cannot be read ({exc}); pass validate=False "
                            "to define the dataset anyway"
                        ) from None
                elif not ds.store.resolve(p):
                    raise UserErrorException(
                        f"dataset path {p!r} on datastore {ds.name!r} matches no file "
                        f"({ds.store.location(p)}); upload the data first or pass validate=False"
                    )

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    @property
    def workspace(self) -> Any:
        return self._workspace or next((ds.workspace for ds, _ in self.paths if ds is not None), None)

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "type": self.kind,
            "paths": [location_spec(ds, p) for ds, p in self.paths],
            "options": dict(self.options),
        }
        if self._registration is not None:
            spec["registered"] = dict(self._registration)
        return spec

    def datastores(self) -> dict[str, dict[str, Any]]:
        """The specs of the datastores this dataset reads, by name."""
        return {ds.name: ds.spec for ds, _ in self.paths if ds is not None}

    def _download_to(self, target: Path) -> list[Path]:
        from airflow_mlpipe.definitions.registered import check_pinned

        check_pinned(self.to_spec(), self.datastores())
        files: list[Path] = []
        for ds, p in self.paths:
            if ds is None:
                from airflow_mlpipe.storage import web

                files.append(web.download(p, target, web_cache_dir()))
            else:
                files += ds.store.download(p, target)
        return files

    def register(
        self,
        workspace: Any,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
    ) -> AbstractDataset:
        """Register this dataset in ``workspace`` under ``name`` (v1's ``register``): a new version
        pinned to what its data is now; an unchanged definition returns the latest version."""
        from airflow_mlpipe.definitions.registered import register_spec, to_dataset

        record = register_spec(
            workspace, name, self.to_spec(), self.datastores(), description, tags, create_new_version
        )
        return to_dataset(workspace, record)

    def __repr__(self) -> str:
        where = ", ".join(p if ds is None else f"{ds.name}:{p}" for ds, p in self.paths)
        named = f"name={self.name!r}, version={self.version}, " if self.name else ""
        return f"{type(self).__name__}({named}paths=[{where}])"


class MountContext:
    """What ``FileDataset.mount()`` returns: the dataset's files under ``mount_point`` between
    ``start()`` and ``stop()`` (or inside ``with``). On Airflow workers a mount is a download."""

    def __init__(self, dataset: FileDataset, mount_point: str | None):
        self._dataset = dataset
        self._given = mount_point
        self.mount_point = mount_point or tempfile.mkdtemp(prefix="mlpipe-mount-")
        self._started = False

    def start(self) -> None:
        Path(self.mount_point).mkdir(parents=True, exist_ok=True)
        self._dataset._download_to(Path(self.mount_point))
        self._started = True

    def stop(self) -> None:
        if self._started:
            import shutil

            if self._given is None:
                shutil.rmtree(self.mount_point, ignore_errors=True)
            else:  # a folder the caller named: empty it, keep it
                for child in Path(self.mount_point).iterdir():
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            self._started = False

    def __enter__(self) -> MountContext:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class FileDataset(AbstractDataset):
    kind = "file"

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input("input").as_download(path_on_compute)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input("input").as_mount(path_on_compute)

    def download(self, target_path: str | Path | None = None, overwrite: bool = False) -> list[str]:
        """Download the files to ``target_path`` (a new temp folder when None); returns their paths.
        An existing file there is an error unless ``overwrite`` (v1's rule)."""
        target = Path(target_path or tempfile.mkdtemp(prefix="mlpipe-dataset-"))
        if not overwrite and target.is_dir():
            clash = [
                target / rel.lstrip("/") for rel in self.to_path() if (target / rel.lstrip("/")).exists()
            ]
            if clash:
                raise UserErrorException(
                    f"FileDataset.download: {len(clash)} file(s) already exist in {target} (e.g. "
                    f"{clash[0]}); pass overwrite=True to replace them"
                )
        return [str(p) for p in self._download_to(target)]

    def mount(self, mount_point: str | None = None, **kwargs: Any) -> MountContext:
        return MountContext(self, mount_point)

    def to_path(self) -> list[str]:
        out = []
        for ds, p in self.paths:
            if ds is None:
                from airflow_mlpipe.storage import web

                out.append("/" + web.url_file_name(p))
            else:
                out += ["/" + rel for _, rel in ds.store.resolve(p)]
        return out


class DatasetConsumptionConfig:
    """How a step consumes a dataset: its input name and mode (direct, download or mount).

    ``dataset`` may be a PipelineParameter whose default is a dataset: each run binds its own."""

    def __init__(self, name: str, dataset: Any, mode: str = "direct", path_on_compute: str | None = None):
        from airflow_mlpipe.definitions.parameter import PipelineParameter

        self.name = check_input_name(name, "dataset input")
        if isinstance(dataset, PipelineParameter):
            if dataset.type_name != "dataset":
                raise UserErrorException(
                    f"dataset input {name!r}: PipelineParameter {dataset.name!r} has a "
                    f"{dataset.type_name} default; a dataset input needs a dataset default"
                )
            kind = dataset.default_value
        elif isinstance(dataset, AbstractDataset):
            kind = dataset
        else:
            raise UserErrorException(
                f"dataset input {name!r}: expected a dataset or a dataset-valued PipelineParameter, got {dataset!r}"
            )
        self.dataset = dataset
        if mode == "direct" and isinstance(kind, FileDataset):
            mode = "download"  # a file dataset handed to a script is always files on disk
        self.mode = mode
        self.path_on_compute = path_on_compute

    @property
    def parameter(self) -> Any:
        from airflow_mlpipe.definitions.parameter import PipelineParameter

        return self.dataset if isinstance(self.dataset, PipelineParameter) else None

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_hdfs(self) -> DatasetConsumptionConfig:
        raise UserErrorException(f"dataset input {self.name!r}: as_hdfs() needs Spark; use as_download()")

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self.name!r}, mode={self.mode!r})"
