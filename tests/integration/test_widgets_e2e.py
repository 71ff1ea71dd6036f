"""RunDetails(run).show() against a real Airflow 3 deployment: the text table in a log and on a
terminal (a pty), Ctrl-C, reuse, and the live widget in a real Jupyter kernel run by nbclient."""

from __future__ import annotations

import _thread
import contextlib
import json
import os
import re
import sys
import termios
import threading
import tty

import nbformat
import pytest
from nbclient import NotebookClient

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.client.run import PipelineRun
from airflow_mlpipe.client.widgets import INSTALL_NOTE, RunDetails
from airflow_mlpipe.deploy.local import USERNAME

pytestmark = pytest.mark.integration

DAG = "features"  # produce -> consume -> after, each logging metrics
STEPS = {"produce", "consume", "after"}
DURATION = re.compile(r"^(\d+\.\ds|\d+m \d\ds)$")


def table_rows(lines: list[str]) -> dict[str, list[str]]:
    """Step name -> [status, duration, reused from, metrics], cut at the header's column offsets."""
    head = lines[1]
    cuts = [0, *(head.index(h) for h in ("Status", "Duration", "Reused from", "Metrics")), None]
    rows = {}
    for ln in lines[3:]:
        cells = [ln[a:b].strip() for a, b in zip(cuts, cuts[1:], strict=False)]
        rows[cells[0]] = cells[1:]
    return rows


def assert_final(lines: list[str], run_id: str, reused_from: str) -> None:
    assert lines[0] == f"PipelineRun {DAG}/{run_id}: Finished (3/3 steps done)", lines
    rows = table_rows(lines)
    assert set(rows) == STEPS, lines
    for name, (status, duration, reused, _) in rows.items():
        assert status == "Finished", (name, lines)
        assert DURATION.match(duration), (name, lines)
        assert reused == reused_from, (name, lines)
    # by name, cut to a few characters each
    assert rows["produce"][3].startswith("fixed_env=literal, flag=True, leaked_env=0, mode_env=fast, "), lines
    assert "ratio=0.25, ref_text=reference data v1" in rows["produce"][3], lines
    assert rows["consume"][3] == (
        "files_seen=nested/ref.txt,values.t…, input_path_matches=True, values=True 0.25"
    ), lines
    assert rows["after"][3] == "after_ran=True", lines


class Pty:
    """A pseudo-terminal whose slave end stands in for stdout, and everything written to it."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave, termios.TCSANOW)  # no '\n' -> '\r\n' translation
        self.file = open(slave, "w", encoding="utf-8")  # closed by close()
        self.chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, args=(master,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        with contextlib.suppress(OSError):  # EIO once the slave end is closed
            while chunk := os.read(fd, 65536):
                self.chunks.append(chunk)
        os.close(fd)

    def close(self) -> str:
        self.file.close()
        self._reader.join(10)
        return b"".join(self.chunks).decode()


def test_text_table_in_a_log_then_on_a_terminal_with_ctrl_c_and_reuse(
    client, deployment, capsys, monkeypatch
):
    # first run: every step runs (regenerate_outputs), stdout is not a terminal
    first = client.trigger(DAG, {"regenerate_outputs": True})["dag_run_id"]
    assert RunDetails(PipelineRun(None, DAG, first, client)).show(poll_interval=0.5) == "Finished"
    out = capsys.readouterr().out
    assert "\x1b" not in out  # no escape codes in a log
    tables = out.strip().split("\n\n")
    assert 2 <= len(tables) <= 12, out  # printed on each change, not on each poll
    assert "NotStarted" in tables[0] or "Running" in tables[0] or "Queued" in tables[0], out
    assert_final(tables[-1].splitlines(), first, "-")

    # second run: the same inputs, so every step reuses the first run's result; on a terminal
    second = client.trigger(DAG, {})["dag_run_id"]
    monkeypatch.setenv("COLUMNS", "220")
    own = AirflowClient(deployment.url, USERNAME, deployment.password())  # Ctrl-C may cut a request
    details = RunDetails(PipelineRun(None, DAG, second, own))
    term = Pty()
    timer = threading.Timer(1.5, _thread.interrupt_main)  # Ctrl-C while it watches
    with contextlib.redirect_stdout(term.file):
        timer.start()
        interrupted = details.show(poll_interval=0.3)
        timer.join()
        final = details.show(poll_interval=0.3)
    screen = term.close()
    assert interrupted in ("NotStarted", "Running"), screen
    assert f"Stopped watching {DAG}/{second} ({interrupted}); the run goes on." in screen
    assert final == "Finished"
    assert "\x1b[J" in screen.split("Stopped watching")[1]  # redrawn in place after the restart
    last = screen.rsplit("\x1b[J", 1)[1]
    assert_final(last.splitlines(), second, first)


def test_failed_run_shows_the_failed_step_and_the_stopped_ones(client, capsys):
    run_id = client.trigger("failing", {})["dag_run_id"]
    assert RunDetails(PipelineRun(None, "failing", run_id, client)).show(poll_interval=1) == "Failed"
    lines = capsys.readouterr().out.strip().split("\n\n")[-1].splitlines()
    # boom failed; bystander, running, was stopped (Canceled); never needs boom's output (NotStarted)
    assert lines[0] == f"PipelineRun failing/{run_id}: Failed (2/3 steps done)", lines
    statuses = {name: row[0] for name, row in table_rows(lines).items()}
    assert statuses == {"boom": "Failed", "never": "NotStarted", "bystander": "Canceled"}, lines


NOTEBOOK = [
    """\
import json, os, time
from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.client.run import PipelineRun
from airflow_mlpipe.client.widgets import RunDetails, in_notebook

env = os.environ
client = AirflowClient(env["TEST_API_URL"], env["TEST_API_USER"], env["TEST_API_PASSWORD"])
run_id = client.trigger("features", {})["dag_run_id"]  # so that show() finds it under way
run = PipelineRun(None, "features", run_id, client)
details = RunDetails(run)
t0 = time.monotonic()
returned = details.show(poll_interval=0.5)
took = time.monotonic() - t0
print(json.dumps({"in_notebook": in_notebook(), "returned": returned, "took": took, "run_id": run_id,
                  "live": details._thread is not None, "status": details.data.status}))""",
    'print("final:", details.wait(timeout=300))',
    """\
import sys
sys.modules["ipywidgets"] = None  # as if the widgets extra were not installed
RunDetails(run).show()""",
]


def strip_tags(cell: str) -> str:
    return re.sub(r"<[^>]+>", "", cell)


def test_live_widget_in_a_jupyter_kernel(client, deployment, tmp_path, monkeypatch):
    # a kernel spec for this interpreter, whatever else this machine has installed
    spec = tmp_path / "jupyter" / "kernels" / "mlpipe-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "test", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    for name, value in {
        "TEST_API_URL": deployment.url,
        "TEST_API_USER": USERNAME,
        "TEST_API_PASSWORD": deployment.password(),
    }.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in NOTEBOOK])
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="mlpipe-test",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()

    first, second, third = (c.outputs for c in nb.cells)
    printed = json.loads("".join(o.text for o in first if o.output_type == "stream"))
    assert printed["in_notebook"] is True and printed["returned"] is None
    assert printed["took"] < 5, printed  # show() returns at once, as in v1
    assert printed["live"] and printed["status"] in ("NotStarted", "Running"), printed  # then refreshes
    run_id = printed["run_id"]
    views = [
        o.data["application/vnd.jupyter.widget-view+json"] for o in first if o.output_type == "display_data"
    ]
    assert len(views) == 1, first
    assert "".join(o.text for o in second if o.output_type == "stream").strip() == "final: Finished"

    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    box = state[views[0]["model_id"]]
    assert box["model_name"] == "VBoxModel"
    status, progress, table = (state[c.removeprefix("IPY_MODEL_")] for c in box["state"]["children"])
    assert status["state"]["value"] == f"<b>PipelineRun {DAG}/{run_id}: Finished (3/3 steps done)</b>"
    assert (progress["state"]["value"], progress["state"]["max"]) == (3, 3)
    assert progress["state"]["bar_style"] == "success"
    rows = [
        [strip_tags(td) for td in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        for tr in re.findall(r"<tr>(.*?)</tr>", table["state"]["value"])
        if "<td" in tr  # not the header
    ]
    assert {r[0] for r in rows} == STEPS, rows
    for name, step_status, started, duration, reused, metrics in rows:
        assert step_status == "Finished" and reused and metrics != "-", (name, rows)
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", started) and DURATION.match(duration), rows
    assert {r[0]: r[5] for r in rows}["after"] == "after_ran = True"

    # without ipywidgets: a one-line note and the text table
    stream = "".join(o.text for o in third if o.output_type == "stream")
    assert stream.strip() == INSTALL_NOTE
    shown = [o.data["text/plain"] for o in third if o.output_type == "display_data"]
    assert len(shown) == 1 and shown[0].startswith(f"PipelineRun {DAG}/{run_id}: Finished (3/3 steps done)")
