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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO
from urllib.parse import quote

from airflow_mlpipe.runstatus import FAIL_FAST_EVENT, STATUS_TASK_ID, run_status, task_status

TERMINAL = frozenset({"Finished", "Failed", "Canceled"})
INSTALL_NOTE = "Live widget unavailable: pip install airflow-mlpipe[widgets] (showing the text table)"
_PAGE = 100  # Airflow's default maximum_page_limit


@dataclass
class StepRow:
    """One step (task instance) of a run, with Azure ML's status name and its XCom result's data."""

    name: str
    status: str
    start: datetime | None = None
    end: datetime | None = None
    reused_from: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def duration(self, now: datetime | None = None) -> float | None:
        """Seconds from start to end, or to ``now`` while the step runs."""
        if self.start is None:
            return None
        end = self.end or (now or datetime.now(timezone.utc))
        return max(0.0, (end - self.start).total_seconds())


@dataclass
class RunDetailsData:
    """What the widget shows: the run's status and one row per step."""

    run_id: str
    status: str
    steps: list[StepRow]

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def finished_steps(self) -> int:
        return sum(1 for s in self.steps if s.status in TERMINAL)


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))  # 3.10 lacks the 'Z' form


def _task_instances(client: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """All task instances of a run, paged (AirflowClient.task_instances stops at the first 50)."""
    path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances"
    out: list[dict[str, Any]] = []
    while True:
        page = client.request("GET", path, params={"limit": _PAGE, "offset": len(out)})
        out.extend(page["task_instances"])
        if not page["task_instances"] or len(out) >= page.get("total_entries", 0):
            return out


def _fail_fast_stopped(client: Any, dag_id: str, run_id: str) -> set[str]:
    """Steps Airflow's fail_fast stopped while they ran (Azure ML: Canceled, not Failed)."""
    params = {"dag_id": dag_id, "run_id": run_id, "event": FAIL_FAST_EVENT, "limit": _PAGE}
    logs = client.request("GET", "/api/v2/eventLogs", params=params).get("event_logs", [])
    return {e["task_id"] for e in logs if e.get("task_id")}


def run_details(run: Any, results: dict[Any, Any] | None = None) -> RunDetailsData:
    """Fetch a PipelineRun's status and steps: one dagRun and one taskInstances call, plus the XCom
    result of each step that succeeded since the last call (``results`` caches them by try)."""
    results = {} if results is None else results
    client, dag_id, run_id = run.client, run.dag_id, run.run_id
    dag_run = client.dag_run(dag_id, run_id)  # first: if it is terminal, so are the tasks read next
    status = run_status(dag_run["state"], dag_run.get("note"))
    tis = [t for t in _task_instances(client, dag_id, run_id) if t["task_id"] != STATUS_TASK_ID]
    stopped: set[str] = set()
    if status in TERMINAL and any(t["state"] == "failed" for t in tis):
        if "fail_fast" not in results:  # one event log call, once the run has ended
            results["fail_fast"] = _fail_fast_stopped(client, dag_id, run_id)
        stopped = results["fail_fast"]
    rows = []
    for ti in tis:
        key = (ti["task_id"], ti.get("try_number"))  # a cleared and rerun step gets a new try
        if ti["state"] == "success" and key not in results:
            results[key] = client.xcom(dag_id, run_id, ti["task_id"])
        result = (results.get(key) if ti["state"] == "success" else None) or {}
        step_status = task_status(ti["state"])
        if ti["state"] == "failed" and ti["task_id"] in stopped:
            step_status = "Canceled"
        rows.append(
            StepRow(
                name=ti["task_id"],
                status=step_status,
                start=_when(ti.get("start_date")),
                end=_when(ti.get("end_date")),
                reused_from=result.get("reused_from"),
                metrics=dict(result.get("metrics") or {}),
            )
        )
    rows.sort(key=lambda r: (r.start is None, r.start or datetime.min.replace(tzinfo=timezone.utc), r.name))
    return RunDetailsData(run.id, status, rows)


# --- formatting (pure) -----------------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """'4.2s', '3m 05s' or '2h 07m'; '-' before the step starts."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"


def format_value(value: Any, width: int = 24) -> str:
    """A metric value in a few characters: floats to 4 significant digits, long lists summarized."""
    if isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, list):
        if len(value) <= 3:
            text = "[" + ", ".join(format_value(v, width) for v in value) + "]"
        else:
            text = f"[{len(value)} values, last {format_value(value[-1], width)}]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {format_value(v, width)}" for k, v in value.items()) + "}"
    else:
        text = str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_metrics(metrics: dict[str, Any], width: int | None = None) -> str:
    """'name=value, ...' by name (a reused result's are stored sorted), cut to ``width`` characters."""
    text = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(metrics.items())) or "-"
    if width is not None and len(text) > width:
        text = text[: max(1, width - 1)] + "…"
    return text


def format_reused(origin: dict[str, Any] | None, dag_id: str | None = None) -> str:
    """The run a reused step's result comes from ('-' when the step ran)."""
    if not origin:
        return "-"
    run_id = str(origin.get("run_id", "?"))
    if dag_id is not None and origin.get("dag_id") not in (None, dag_id):
        return f"{origin['dag_id']}/{run_id}"
    return run_id


def status_line(data: RunDetailsData) -> str:
    return f"PipelineRun {data.run_id}: {data.status} ({data.finished_steps}/{len(data.steps)} steps done)"


def format_table(data: RunDetailsData, now: datetime | None = None, width: int = 120) -> list[str]:
    """The text table: a status line, then aligned step, status, duration, reused and metrics
    columns; the metrics column takes what is left of ``width``."""
    dag_id = data.run_id.partition("/")[0]
    head = ("Step", "Status", "Duration", "Reused from", "Metrics")
    cells = [
        (s.name, s.status, format_duration(s.duration(now)), format_reused(s.reused_from, dag_id))
        for s in data.steps
    ]
    widths = [max(len(head[i]), *(len(c[i]) for c in cells)) for i in range(4)]
    fixed = sum(widths) + 2 * 4
    rest = max(20, width - fixed)

    def line(parts: tuple[str, ...], metrics: str) -> str:
        return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)) + "  " + metrics

    lines = [status_line(data), line(head[:4], head[4]), line(tuple("-" * w for w in widths), "-" * 7)]
    lines += [line(c, format_metrics(s.metrics, rest)) for c, s in zip(cells, data.steps, strict=True)]
    return [ln.rstrip() for ln in lines]


def change_key(data: RunDetailsData) -> tuple[Any, ...]:
    """What a log shows a new table for: statuses, reuse and metrics, not a running step's clock."""
    return (
        data.status,
        tuple((s.name, s.status, s.end, repr(s.reused_from), repr(s.metrics)) for s in data.steps),
    )


def redraw(previous_lines: int, lines: list[str], width: int) -> str:
    """Terminal text that replaces the last ``previous_lines`` lines with ``lines``, each cut to the
    terminal's width so that none wraps (a wrapped line would break the cursor arithmetic)."""
    up = f"\x1b[{previous_lines}F\x1b[J" if previous_lines else ""
    return up + "".join(ln[: max(1, width - 1)] + "\n" for ln in lines)


_COLORS = {"Finished": "#107c10", "Failed": "#a4262c", "Canceled": "#8a8886", "Running": "#0078d4"}


def format_html(data: RunDetailsData, now: datetime | None = None) -> str:
    """The widget's HTML table of the steps."""
    dag_id = data.run_id.partition("/")[0]
    head = "".join(
        f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
        for h in ("Step", "Status", "Started (UTC)", "Duration", "Reused from", "Metrics")
    )
    body = []
    for s in data.steps:
        color = _COLORS.get(s.status, "inherit")
        started = s.start.strftime("%Y-%m-%d %H:%M:%S") if s.start else "-"
        metrics = "<br>".join(
            f"{html.escape(k)} = {html.escape(format_value(v, 60))}" for k, v in sorted(s.metrics.items())
        )
        cells = [
            html.escape(s.name),
            f"<span style='color:{color}'>{s.status}</span>",
            started,
            format_duration(s.duration(now)),
            html.escape(format_reused(s.reused_from, dag_id)),
            metrics or "-",
        ]
        body.append("<tr>" + "".join(f"<td style='padding:2px 8px'>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


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

    def __init__(self, data: RunDetailsData):
        import ipywidgets as w
        from IPython.display import display

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
        self.table.value = format_html(data)

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
            view: Any = _WidgetView(data)
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
