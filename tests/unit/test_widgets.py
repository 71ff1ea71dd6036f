"""The pure parts of RunDetails: durations, metric summaries, the text and HTML tables, redraws."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

from airflow_mlpipe.client.run_table import (
    RunDetailsData,
    StepRow,
    change_key,
    format_duration,
    format_html,
    format_metrics,
    format_reused,
    format_table,
    format_value,
    redraw,
)
from airflow_mlpipe.client.widgets import in_notebook

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def data(status: str = "Running") -> RunDetailsData:
    return RunDetailsData(
        "features/manual__1",
        status,
        [
            StepRow(
                "produce",
                "Finished",
                T0,
                T0 + timedelta(seconds=12.34),
                None,
                {"ratio": 0.123456, "series": [1, 2, 3], "row": {"a": 1, "b": "x"}},
            ),
            StepRow(
                "consume",
                "Finished",
                T0 + timedelta(seconds=13),
                T0 + timedelta(seconds=14),
                {"dag_id": "features", "run_id": "manual__0", "task_id": "consume"},
                {"values": "<b>"},
            ),
            StepRow("after", "Running", T0 + timedelta(seconds=15)),
            StepRow("later", "NotStarted"),
        ],
    )


def test_durations():
    assert [format_duration(s) for s in (None, 0, 4.25, 59.9, 185, 7620)] == [
        "-",
        "0.0s",
        "4.2s",
        "59.9s",
        "3m 05s",
        "2h 07m",
    ]
    running = data().steps[2]
    assert running.duration(T0 + timedelta(seconds=75)) == 60.0  # a running step's clock runs
    assert data().steps[3].duration() is None


def test_metric_values_and_summaries():
    assert format_value(0.123456) == "0.1235"
    assert format_value(True) == "True"
    assert format_value([1, 2, 3]) == "[1, 2, 3]"
    assert format_value(list(range(10))) == "[10 values, last 9]"
    assert format_value({"a": 1, "b": "x"}) == "{a: 1, b: x}"
    assert format_value("x" * 50) == "x" * 23 + "…"
    assert format_metrics({}) == "-"
    assert format_metrics({"a": 1, "b": 2.5}) == "a=1, b=2.5"
    assert format_metrics({"a": "y" * 20, "b": 2}, width=10) == "a=yyyyyyy…"


def test_reused_names_the_origin_run_and_its_dag_when_another():
    assert format_reused(None) == "-"
    assert format_reused({"dag_id": "d", "run_id": "r"}, "d") == "r"
    assert format_reused({"dag_id": "other", "run_id": "r"}, "d") == "other/r"


def test_text_table_is_aligned_with_every_column():
    lines = format_table(data(), now=T0 + timedelta(seconds=20), width=100)
    assert lines[0] == "PipelineRun features/manual__1: Running (2/4 steps done)"
    assert lines[1].split() == ["Step", "Status", "Duration", "Reused", "from", "Metrics"]
    rows = {ln.split()[0]: ln for ln in lines[3:]}
    assert rows["produce"].split()[1:4] == ["Finished", "12.3s", "-"]
    assert rows["produce"].endswith("  ratio=0.1235, row={a: 1, b: x}, series=[1, 2, 3]")  # by name
    assert rows["consume"].split()[1:5] == ["Finished", "1.0s", "manual__0", "values=<b>"]
    assert rows["after"].split()[1:3] == ["Running", "5.0s"]
    assert rows["later"].split()[1:] == ["NotStarted", "-", "-", "-"]
    # every column starts at the same offset on every row
    starts = {ln.index("Finished") for ln in (rows["produce"], rows["consume"])}
    assert starts == {lines[1].index("Status")}
    assert all(len(ln) <= 100 for ln in lines)


def test_narrow_table_cuts_the_metrics_column():
    lines = format_table(data(), width=70)
    assert lines[3].endswith("…") and len(lines[3]) == 70
    assert format_table(data(), width=10)[3].endswith("  ratio=0.1235, row={…")  # 20 at least


def test_html_escapes_and_colors():
    page = format_html(data())
    assert "values = &lt;b&gt;" in page  # a metric's text is escaped, never markup
    assert page.count("<tr>") == 5
    assert "color:#107c10'>Finished" in page
    assert "2025-01-01 00:00:13" in page


def test_log_output_changes_on_status_not_on_a_running_clock():
    a, b = data(), data()
    b.steps[2].end = None
    assert change_key(a) == change_key(b)
    b.steps[2].status = "Finished"
    assert change_key(a) != change_key(b)
    assert change_key(data("Running")) != change_key(data("Finished"))


def test_redraw_moves_up_clears_and_cuts_lines_to_the_terminal():
    assert redraw(0, ["a", "b"], 80) == "a\nb\n"
    assert redraw(3, ["a", "bcdef"], 4) == "\x1b[3F\x1b[Ja\nbcd\n"


def test_done_and_finished_steps():
    assert not data("Running").done and data("Failed").done and data("Canceled").done
    assert data().finished_steps == 2


def test_not_a_notebook_here_and_importing_stays_light():
    assert in_notebook() is False
    code = (
        "import sys, airflow_mlpipe.client.widgets; "
        "print(sorted(m for m in ('IPython', 'ipywidgets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_logged_images_are_found_in_the_run_files_and_shown_inline():
    from airflow_mlpipe.client.run_table import _image_files

    result = {
        "metrics": {"loss": {"image": "images/loss.png", "description": ""}, "acc": 0.9},
        "files": {
            "datastore": "lake",
            "path": "mlpipe/runs/d/r/t/try1-x/_files",
            "names": {"images/loss.png": 9},
        },
    }
    assert _image_files(result) == {
        "loss": {"datastore": "lake", "path": "mlpipe/runs/d/r/t/try1-x/_files/images/loss.png"}
    }
    assert _image_files({"metrics": result["metrics"]}) == {}  # no stored file, no image
    table = data("Finished")
    table.steps[0].metrics["loss"] = result["metrics"]["loss"]
    page = format_html(table, T0, images={("produce", "loss"): "data:image/png;base64,AAAA"})
    assert "<img src='data:image/png;base64,AAAA'" in page
    assert page.count("<img") == 1
