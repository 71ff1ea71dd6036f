"""The Databricks library classes of Azure ML v1 (``azureml.core.databricks``): what a
DatabricksStep's job installs, each with its Jobs API library object."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.exceptions import UserErrorException

_LIBRARY_URIS = ("dbfs:/", "s3://", "s3a://", "abfss://", "wasbs://", "gs://", "/Workspace/", "/Volumes/")


def _text(value: Any, what: str, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise UserErrorException(f"{what} must be a non-empty string, got {value!r}")
    return value


class _Library:
    """A library a Databricks job installs; ``to_jobs_api()`` is its Jobs API library object."""

    def to_jobs_api(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class MavenLibrary(_Library):
    """A Maven package by Gradle-style coordinates ('group:artifact:version')."""

    def __init__(
        self, coordinates: str | None = None, repo: str | None = "", exclusions: list[str] | None = None
    ):
        self.coordinates = _text(coordinates, "MavenLibrary: coordinates")
        if len(self.coordinates.split(":")) < 3 or not all(self.coordinates.split(":")):
            raise UserErrorException(
                f"MavenLibrary: coordinates must be 'group:artifact:version' (e.g. 'org.jsoup:jsoup:1.7.2'), "
                f"got {coordinates!r}"
            )
        self.repo = _text(repo, "MavenLibrary: repo", required=False)
        if exclusions is not None and (
            not isinstance(exclusions, list) or not all(isinstance(e, str) and e for e in exclusions)
        ):
            raise UserErrorException(
                f"MavenLibrary({self.coordinates!r}): exclusions must be a list of 'group:artifact' strings, "
                f"got {exclusions!r}"
            )
        self.exclusions = list(exclusions or [])

    def to_jobs_api(self) -> dict[str, Any]:
        maven: dict[str, Any] = {"coordinates": self.coordinates}
        if self.repo:
            maven["repo"] = self.repo
        if self.exclusions:
            maven["exclusions"] = list(self.exclusions)
        return {"maven": maven}


class PyPiLibrary(_Library):
    """A PyPI package, with an optional exact version ('scikit-learn==1.4.2') and index URL."""

    def __init__(self, package: str | None = None, repo: str | None = ""):
        self.package = _text(package, "PyPiLibrary: package")
        self.repo = _text(repo, "PyPiLibrary: repo", required=False)

    def to_jobs_api(self) -> dict[str, Any]:
        return {"pypi": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


class RCranLibrary(_Library):
    """A CRAN package, with an optional repository URL."""

    def __init__(self, package: str | None = None, repo: str | None = ""):
        self.package = _text(package, "RCranLibrary: package")
        self.repo = _text(repo, "RCranLibrary: repo", required=False)

    def to_jobs_api(self) -> dict[str, Any]:
        return {"cran": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


class _FileLibrary(_Library):
    key = ""

    def __init__(self, library: str | None = None):
        self.library = _text(library, f"{type(self).__name__}: library")
        if not self.library.startswith(_LIBRARY_URIS) or any(c.isspace() for c in self.library):
            raise UserErrorException(
                f"{type(self).__name__}: library must be the URI of the file to install, starting with one "
                f"of {list(_LIBRARY_URIS)} (e.g. 'dbfs:/libs/x.{self.key}'), got {library!r}"
            )

    def to_jobs_api(self) -> dict[str, Any]:
        return {self.key: self.library}


class JarLibrary(_FileLibrary):
    """A JAR on DBFS (or cloud storage) installed on the job's cluster."""

    key = "jar"


class EggLibrary(_FileLibrary):
    """A Python egg on DBFS (or cloud storage) installed on the job's cluster."""

    key = "egg"


LIBRARY_ARGS = (
    ("maven_libraries", MavenLibrary),
    ("pypi_libraries", PyPiLibrary),
    ("egg_libraries", EggLibrary),
    ("jar_libraries", JarLibrary),
    ("rcran_libraries", RCranLibrary),
)
