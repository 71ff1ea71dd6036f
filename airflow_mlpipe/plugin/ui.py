"""The tracking pages in Airflow's UI: which apps the plugin registers, and where their files are.

``[mlpipe] tracking_ui`` (env ``AIRFLOW__MLPIPE__TRACKING_UI``) chooses how they are shown:
``react`` (default) registers the pages as React apps that Airflow renders inside its own UI;
``iframe`` registers the same pages as external views, a standalone build (React bundled) shown in
an iframe, for a deployment whose UI cannot load plugin bundles; ``off`` registers no page and no
link. Both builds come from ``ui/`` in the repository and are written into ``static/`` (shipped in
the wheel). Static files hold code only; the data comes from the authorized /tracking/v1 routes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from airflow_mlpipe.operators.links import NAV_ROUTE, RUN_ROUTE, STEP_ROUTE
from airflow_mlpipe.registry.published import ROUTES_MOUNT

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
BUNDLE = "mlpipe-tracking.umd.js"
STANDALONE = STATIC / "standalone"
ICON = "mlpipe.svg"
MODES = ("react", "iframe", "off")
STATIC_PATH = "/static"  # under ROUTES_MOUNT
STANDALONE_PATH = "/tracking/app"


def ui_mode() -> str:
    """``[mlpipe] tracking_ui``; an unknown value is logged (naming the option) and read as ``react``."""
    from airflow.configuration import conf

    mode = (conf.get("mlpipe", "tracking_ui", fallback="react") or "react").strip().lower()
    if mode not in MODES:
        log.warning("[mlpipe] tracking_ui = %r is not one of %s; using 'react'", mode, ", ".join(MODES))
        return "react"
    return mode


def _url(path: str) -> str:
    """A URL relative to Airflow's <base href>, so a deployment under a sub-path works too."""
    return f"{ROUTES_MOUNT.strip('/')}{path}"


def bundle_stamp() -> str:
    """A short hash of the bundle's content: the browser reloads it exactly when it changed."""
    from airflow_mlpipe import __version__

    try:
        return hashlib.sha256((STATIC / BUNDLE).read_bytes()).hexdigest()[:12]
    except OSError:
        return __version__


# (name, destination, url_route, the bundle's view, the standalone page's query: Airflow fills in {...})
PAGES = (
    ("ML experiments", "nav", NAV_ROUTE, "nav", ""),
    ("ML run", "dag_run", RUN_ROUTE, "run", "?view=run&dag_id={DAG_ID}&run_id={RUN_ID}"),
    (
        "ML step",
        "task_instance",
        STEP_ROUTE,
        "step",
        "?view=step&dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}",
    ),
)


def _page(name: str, destination: str, route: str, **where: str) -> dict:
    """One page's registration: ``where`` is its ``bundle_url`` or ``href``; a nav page goes in Browse."""
    page = {"name": name, **where, "destination": destination, "url_route": route}
    if destination == "nav":
        page["category"] = "browse"
    return {**page, "icon": _url(f"{STATIC_PATH}/{ICON}")}


def react_apps() -> list[dict]:
    """The three pages as React apps. Each app has its own bundle URL: Airflow's loader imports the
    URL as an ES module, which a page evaluates once, so a shared URL would leave the second app
    without its component."""
    stamp = bundle_stamp()
    return [
        _page(name, dest, route, bundle_url=_url(f"{STATIC_PATH}/{BUNDLE}?v={stamp}&view={view}"))
        for name, dest, route, view, _ in PAGES
    ]


def external_views() -> list[dict]:
    """The same pages from the standalone build, in iframes (Airflow fills in the {...} fields)."""
    page = _url(f"{STANDALONE_PATH}/")
    return [_page(name, dest, route, href=page + query) for name, dest, route, _, query in PAGES]


def registrations() -> tuple[list[dict], list[dict], list]:
    """(react_apps, external_views, global_operator_extra_links) for the configured mode."""
    from airflow_mlpipe.operators.links import MlpipeStepLink

    mode = ui_mode()
    if mode == "off":
        return [], [], []
    if mode == "iframe":
        return [], external_views(), [MlpipeStepLink()]
    return react_apps(), [], [MlpipeStepLink()]
