"""What ``RunDetails`` shows of a pipeline run, fetched cheaply and formatted as a text or HTML table.

Fetching: one dagRun and one taskInstances call per refresh, and each step's XCom result once,
when it succeeds. Formatting is pure, so it is tested without a server.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_mlpipe.client.run_base import stored_files
from airflow_mlpipe.runstatus import run_status, task_status

TERMINAL = frozenset({"Finished", "Failed", "Canceled"})


@dataclass
class StepRow:
    """One step (task instance) of a run, with Azure ML's status name and its XCom result's data."""

    name: str
    status: str
    start: datetime | None = None
    end: datetime | None = None
    reused_from: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    # images the script logged (run.log_image): metric name -> where the run file is stored
    images: dict[str, dict[str, str]] = field(default_factory=dict)

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


def run_details(run: Any, results: dict[Any, Any] | None = None) -> RunDetailsData:
    """Fetch a PipelineRun's status and steps: one dagRun and one taskInstances call, plus the XCom
    result of each step that succeeded since the last call (``results`` caches them by try)."""
    results = {} if results is None else results
    client, dag_id, run_id = run.client, run.dag_id, run.run_id
    dag_run = client.dag_run(dag_id, run_id)  # first: if it is terminal, so are the tasks read next
    status = run_status(dag_run["state"], dag_run.get("note"))
    tis = client.task_instances(dag_id, run_id)
    stopped: set[str] = set()
    if status in TERMINAL and any(t["state"] == "failed" for t in tis):
        if "stopped" not in results:  # one request, once the run has ended
            results["stopped"] = client.stopped_steps(dag_id, run_id)
        stopped = results["stopped"]
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
                name=ti.get("task_display_name") or ti["task_id"],
                status=step_status,
                start=_when(ti.get("start_date")),
                end=_when(ti.get("end_date")),
                reused_from=result.get("reused_from"),
                metrics=dict(result.get("metrics") or {}),
                images=_image_files(result),
            )
        )
    rows.sort(key=lambda r: (r.start is None, r.start or datetime.min.replace(tzinfo=timezone.utc), r.name))
    return RunDetailsData(run.id, status, rows)


def _image_files(result: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Where each image metric's file is stored (one of the step's run files)."""
    files = stored_files(result)
    return {
        name: files[value["image"]]
        for name, value in (result.get("metrics") or {}).items()
        if isinstance(value, dict) and value.get("image") in files
    }


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


def format_html(
    data: RunDetailsData, now: datetime | None = None, images: dict[tuple[str, str], str] | None = None
) -> str:
    """The widget's HTML table of the steps; ``images`` maps (step, metric) to an image's data URI."""
    images = images or {}
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
            f"{html.escape(k)} = {html.escape(format_value(v, 60))}"
            + (
                f"<br><img src='{images[(s.name, k)]}' style='max-width:240px'>"
                if (s.name, k) in images
                else ""
            )
            for k, v in sorted(s.metrics.items())
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
