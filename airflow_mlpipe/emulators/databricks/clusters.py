"""Clusters API (get, start, list) over clusters configured on the command line.

The emulator has no real clusters: jobs run as local processes. A configured cluster only carries the
state Databricks would report, so start/wait logic in clients and in the Jobs life cycle is exercised.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from airflow_mlpipe.emulators.databricks import ApiError, Params, invalid

log = logging.getLogger(__name__)

DEFAULT_CLUSTER_ID = "0101-000000-emulator"
SPARK_VERSION = "15.4.x-scala2.12"
START_SECONDS = 1.0  # TERMINATED -> PENDING -> RUNNING takes this long
CONFIGURABLE_STATES = ("RUNNING", "TERMINATED")


class Clusters:
    """All-purpose clusters by id, with the state transitions of clusters/start."""

    def __init__(self, clusters: dict[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._clusters: dict[str, dict[str, Any]] = {}
        self._timers: list[threading.Timer] = []
        for cluster_id, state in (clusters or {DEFAULT_CLUSTER_ID: "RUNNING"}).items():
            if state.upper() not in CONFIGURABLE_STATES:
                raise ValueError(
                    f"cluster {cluster_id}: state {state!r} must be one of {', '.join(CONFIGURABLE_STATES)}"
                )
            self._clusters[cluster_id] = self._record(cluster_id, state.upper())

    @staticmethod
    def _record(cluster_id: str, state: str) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "cluster_id": cluster_id,
            "cluster_name": f"emulator-{cluster_id}",
            "state": state,
            "state_message": "" if state == "RUNNING" else "Terminated by the emulator's configuration",
            "spark_version": SPARK_VERSION,
            "node_type_id": "local",
            "driver_node_type_id": "local",
            "num_workers": 0,
            "spark_conf": {},
            "spark_env_vars": {},
            "autotermination_minutes": 0,
            "cluster_source": "API",
            "creator_user_name": "emulator",
            "start_time": now,
            "last_state_loss_time": 0,
            "default_tags": {"Vendor": "Databricks", "Creator": "emulator", "ClusterId": cluster_id},
        }

    def exists(self, cluster_id: str) -> bool:
        with self._lock:
            return cluster_id in self._clusters

    def state(self, cluster_id: str) -> str:
        with self._lock:
            return self._clusters[cluster_id]["state"]

    def record(self, cluster_id: str) -> dict[str, Any]:
        """A copy of the cluster's description (what clusters/get answers)."""
        with self._lock:
            if cluster_id not in self._clusters:
                raise invalid(f"Cluster {cluster_id} does not exist")
            return dict(self._clusters[cluster_id])

    def start_cluster(self, cluster_id: str) -> None:
        """TERMINATED -> PENDING now -> RUNNING after START_SECONDS; PENDING stays as it is."""
        with self._lock:
            cluster = self._clusters.get(cluster_id)
            if cluster is None:
                raise invalid(f"Cluster {cluster_id} does not exist")
            if cluster["state"] == "RUNNING":
                raise ApiError(400, "INVALID_STATE", f"Cluster {cluster_id} is in unexpected state Running.")
            if cluster["state"] == "PENDING":
                return
            cluster.update(state="PENDING", state_message="Starting Spark")
            timer = threading.Timer(START_SECONDS, self._running, args=(cluster_id,))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        log.info("cluster %s starting", cluster_id)

    def _running(self, cluster_id: str) -> None:
        with self._lock:
            self._clusters[cluster_id].update(
                state="RUNNING", state_message="", start_time=int(time.time() * 1000)
            )
        log.info("cluster %s running", cluster_id)

    # --- API ----------------------------------------------------------------------------------

    def get(self, p: Params) -> dict[str, Any]:
        """GET clusters/get."""
        return self.record(p.text("cluster_id", required=True) or "")

    def start(self, p: Params) -> dict[str, Any]:
        """POST clusters/start."""
        self.start_cluster(p.text("cluster_id", required=True) or "")
        return {}

    def list(self, p: Params) -> dict[str, Any]:
        """GET clusters/list."""
        with self._lock:
            return {"clusters": [dict(c) for c in self._clusters.values()]}

    def stop(self) -> None:
        """Cancel pending state transitions (the server is stopping)."""
        for timer in self._timers:
            timer.cancel()
