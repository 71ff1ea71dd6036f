"""``RunDetails(run).show()``: Azure ML v1's run widget, as a live table in Jupyter or the terminal.

In a Jupyter kernel ``show()`` displays an ipywidgets view (the ``widgets`` extra) that a background
thread refreshes until the run ends, and returns at once; elsewhere it draws a text table, redrawn
in place on a terminal or printed on each change in a log, and returns the final status.
"""

from __future__ import annotations

import html
import shutil
import sys
import threading
import time
from typing import Any, TextIO

from airflow_mlpipe.client.run_table import (
    RunDetailsData,
    change_key,
    format_html,
    format_table,
    redraw,
    run_details,
    status_line,
)

INSTALL_NOTE = "Live widget unavailable: pip install airflow-mlpipe[widgets] (showing the text table)"


# --- where it is shown -----------------------------------------------------------------------


def in_notebook() -> bool:
    """True in a Jupyter (IPython kernel) session; False in a terminal, terminal IPython or a script."""
    ipython = sys.modules.get("IPython")  # not imported means not in IPython: keep this check light
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False
    return getattr(shell, "kernel", None) is not None or "IPKernelApp" in getattr(shell, "config", {})


class _WidgetView:
    """An ipywidgets box: status line, progress bar of finished steps, HTML table."""

    def __init__(self, data: RunDetailsData, images: Any = None):
        import ipywidgets as w
        from IPython.display import display

        self.images = images or (lambda data: {})
        self.status = w.HTML()
        self.progress = w.IntProgress(min=0, max=max(1, len(data.steps)), description="Steps")
        self.table = w.HTML()
        self.box = w.VBox([self.status, self.progress, self.table])
        self.update(data)
        display(self.box)

    def update(self, data: RunDetailsData) -> None:
        # a trait set to the value it has sends nothing to the frontend
        self.status.value = f"<b>{html.escape(status_line(data))}</b>"
        self.progress.max = max(1, len(data.steps))
        self.progress.value = data.finished_steps
        self.progress.bar_style = {"Finished": "success", "Failed": "danger"}.get(data.status, "")
        self.table.value = format_html(data, images=self.images(data))

    def error(self, message: str) -> None:
        self.status.value = f"<b>{html.escape(message)}</b>"


class _TextDisplayView:
    """The text table in a notebook without ipywidgets, updated in place through a display id."""

    def __init__(self, data: RunDetailsData):
        from IPython.display import display

        print(INSTALL_NOTE)
        self.handle = display({"text/plain": "\n".join(format_table(data))}, raw=True, display_id=True)

    def update(self, data: RunDetailsData) -> None:
        self.handle.update({"text/plain": "\n".join(format_table(data))}, raw=True)

    def error(self, message: str) -> None:
        self.handle.update({"text/plain": message}, raw=True)


class RunDetails:
    """Azure ML v1's ``azureml.widgets.RunDetails``: ``RunDetails(run).show()`` follows a PipelineRun."""

    def __init__(self, run_instance: Any):
        self.run_instance = run_instance
        self._results: dict[Any, Any] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.data: RunDetailsData | None = None

    def get_widget_data(self) -> dict[str, Any]:
        """The run's status and steps as plain data (one refresh)."""
        data = self._refresh()
        steps = [{**s.__dict__, "duration": s.duration()} for s in data.steps]
        return {"run_id": data.run_id, "status": data.status, "steps": steps}

    def _image_uris(self, data: RunDetailsData) -> dict[tuple[str, str], str]:
        """Data URIs of the logged images, each read once from its datastore."""
        import base64
        import mimetypes

        from airflow_mlpipe.definitions.datastore import Datastore

        cache = self._results.setdefault("images", {})
        for step in data.steps:
            for metric, loc in step.images.items():
                if (step.name, metric) not in cache:
                    store = Datastore.get(self.run_instance.workspace, loc["datastore"]).store
                    raw = store.read_bytes(loc["path"]) or b""
                    kind = mimetypes.guess_type(loc["path"])[0] or "image/png"
                    cache[(step.name, metric)] = f"data:{kind};base64,{base64.b64encode(raw).decode()}"
        return cache

    def _refresh(self) -> RunDetailsData:
        self.data = run_details(self.run_instance, self._results)
        return self.data

    def show(self, poll_interval: float = 2.0) -> str | None:
        """In Jupyter: display a live widget and return at once. Elsewhere: draw the table until the
        run ends (Ctrl-C stops watching, not the run) and return its final status."""
        if in_notebook():
            self._show_in_notebook(poll_interval)
            return None
        return self.watch(poll_interval)

    # --- notebook ------------------------------------------------------------------------------

    def _show_in_notebook(self, poll_interval: float) -> None:
        self.stop()
        data = self._refresh()  # in the cell: wrong credentials or an unknown run fail here, visibly
        try:
            view: Any = _WidgetView(data, self._image_uris)
        except ImportError:
            view = _TextDisplayView(data)
        if data.done:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._follow, args=(view, poll_interval), name=f"RunDetails {data.run_id}", daemon=True
        )
        self._thread.start()

    def _follow(self, view: Any, poll_interval: float) -> None:
        errors = 0
        while not self._stop.wait(poll_interval):
            try:
                data = self._refresh()
            except Exception as exc:  # a restarting API server: show it, retry a few times
                errors += 1
                view.error(f"refresh failed ({errors}/5): {exc}")
                if errors >= 5:
                    return
                continue
            errors = 0
            view.update(data)
            if data.done:
                return

    def wait(self, timeout: float | None = None) -> str | None:
        """Block until the notebook view has shown the run's end; return the final status."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.data.status if self.data else None

    def stop(self) -> None:
        """Stop refreshing the notebook view (the run goes on)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    # --- terminal ------------------------------------------------------------------------------

    def watch(self, poll_interval: float = 2.0, out: TextIO | None = None) -> str:
        """Draw the text table until the run ends: redrawn in place on a terminal, printed on each
        change otherwise (no escape codes in logs). Ctrl-C stops watching; the run goes on."""
        out = out or sys.stdout
        tty = out.isatty()
        drawn: list[str] = []
        last_key, status = None, "NotStarted"
        try:
            while True:
                data = self._refresh()
                status = data.status
                if tty:
                    width = shutil.get_terminal_size().columns
                    lines = format_table(data, width=width)
                    if lines != drawn:
                        out.write(redraw(len(drawn), lines, width))
                        drawn = lines
                elif change_key(data) != last_key:
                    last_key = change_key(data)
                    out.write("\n".join(format_table(data, width=160)) + "\n\n")
                out.flush()
                if data.done:
                    return status
                time.sleep(poll_interval)
        except KeyboardInterrupt:
            out.write(f"\nStopped watching {self.run_instance.id} ({status}); the run goes on.\n")
            out.flush()
            return status
