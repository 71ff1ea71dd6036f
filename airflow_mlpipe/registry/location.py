"""Where the pipeline registry lives: ONE answer for every component of a deployment.

The API server's plugin, the DAG processor's registry DAG file, the workers that run a schedule's
``plan`` task and the CLI all call ``registry_store()`` and get the same records:

- no workspace config (the embedded deployment of ``mlpipe up``): the folder ``$MLPIPE_HOME/registry``;
- a workspace config (``MLPIPE_CONFIG``, or ``mlpipe.json`` found as ``Workspace.from_config`` finds it)
  whose ``api.registry`` names a folder: that folder (an explicit override, e.g. a volume every
  component mounts);
- a workspace config whose default datastore is a local folder: ``$MLPIPE_HOME/registry`` (a local
  folder cannot be shared between machines, so such a config describes one machine);
- a workspace config whose default datastore is remote (Azure Blob in production): that datastore,
  under ``mlpipe/registry/_pipelines/``, beside the registered datasets, models and environments
  (``mlpipe/registry/<kind>/``; asset kinds start with a letter, so they never meet ``_pipelines``).

See docs/architecture.md ("Where shared state lives").
"""

from __future__ import annotations

import threading
from pathlib import Path

from airflow_mlpipe.definitions.workspace import mlpipe_home
from airflow_mlpipe.storage.base import Store
from airflow_mlpipe.storage.local import LocalStore
from airflow_mlpipe.storage.prefixed import PrefixedStore

REGISTRY_PREFIX = "mlpipe/registry/_pipelines"  # on the default datastore

_cache: dict[tuple[str, int, str], Store] = {}
_cache_lock = threading.Lock()


def embedded_registry_folder() -> Path:
    return mlpipe_home() / "registry"


def registry_store() -> Store:
    """The deployment's registry (see the module docstring)."""
    from airflow_mlpipe.definitions.workspace_config import CONFIG_FILE_NAME, find_config

    config = find_config(None, CONFIG_FILE_NAME)
    if config is None:
        return LocalStore(embedded_registry_folder())
    key = (str(config), config.stat().st_mtime_ns, str(mlpipe_home()))
    with _cache_lock:  # the API server asks at every request: one datastore client per config
        if key not in _cache:
            _cache[key] = _store_of_config(config)
        return _cache[key]


def _store_of_config(config: Path) -> Store:
    from airflow_mlpipe.definitions.workspace import Workspace

    ws = Workspace.from_config(config)
    folder = ws.api.get("registry")
    if folder:
        return LocalStore(folder)
    datastore = ws.get_default_datastore()
    if datastore.spec["type"] == "local":
        return LocalStore(embedded_registry_folder())
    return PrefixedStore(datastore.store, REGISTRY_PREFIX)


def open_registry(root: str | Path | Store | None) -> Store:
    """The registry a constructor argument means: None -> the deployment's; a Store -> records at
    its root; a folder path -> that folder."""
    if isinstance(root, Store):
        return root
    if root is None or str(root) == "":
        return registry_store()
    return LocalStore(root)
