"""``wait_for_completion(show_output=True)``'s output, as Azure ML v1 printed it: the run's status,
each step's status changes, its driver log streamed while it runs, and execution summaries."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.client.run_base import DRIVER_LOG

TERMINAL = ("Finished", "Failed", "Canceled")


class RunStreamer:
    """Prints what changed since the last ``poll``; a log line is printed once."""

    def __init__(self, run: Any, out: Any = None):
        self.run = run
        self._out = out
        self._status: str | None = None
        self._step_status: dict[str, str] = {}
        self._printed_lines: dict[str, int] = {}
        self._done: set[str] = set()
        self._streaming: str | None = None
        self._say(f"PipelineRunId: {run.id}")
        self._say(f"Link to Airflow: {run.get_portal_url()}")

    def _say(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def poll(self, status: str, final: bool = False) -> None:
        """Print what changed, given the run's status as just read."""
        if status != self._status:
            self._status = status
            self._say(f"PipelineRun Status: {status}")
        for step in self.run.get_steps():  # one request lists every step with its state
            st = step._listed_status()
            if self._step_status.get(step.name) != st:
                if step.name not in self._step_status:
                    self._say(f"\n\nStepRunId: {step.id}")
                self._step_status[step.name] = st
                self._say(f"StepRun({step.name}) Status: {st}")
            if step.name in self._done or st in ("NotStarted", "Queued"):
                continue
            self._stream_log(step)
            if st in TERMINAL or final:
                self._done.add(step.name)
                self._step_summary(step, st)

    def _stream_log(self, step: Any) -> None:
        lines = step.get_log_lines()
        start = self._printed_lines.get(step.name, 0)
        if len(lines) <= start:
            return
        if self._streaming != step.name:
            self._streaming = step.name
            header = f"Streaming {step.name} {DRIVER_LOG}"
            self._say(f"\n{header}\n{'=' * len(header)}")
        for line in lines[start:]:
            self._say(line)
        self._printed_lines[step.name] = len(lines)

    def _step_summary(self, step: Any, status: str) -> None:
        title = f"StepRun({step.name}) Execution Summary"
        self._say(f"\n{title}\n{'=' * len(title)}")
        self._say(f"StepRun({step.name}) Status: {status}")
        ti = step._ti_cache or step._ti()  # as listed in this poll
        reused_from = (step._result() or {}).get("reused_from") if status == "Finished" else None
        times = {"startTimeUtc": ti.get("start_date"), "endTimeUtc": ti.get("end_date")}
        self._say(str({"runId": step.id, "status": status, **times, "reused_from": reused_from}))
        self._streaming = None

    def summary(self, status: str) -> None:
        title = "PipelineRun Execution Summary"
        self._say(f"\n{title}\n{'=' * len(title)}")
        self._say(f"PipelineRun Status: {status}")
        run = self.run._run_cache or self.run._run()  # read by the last get_status()
        times = {"startTimeUtc": run.get("start_date"), "endTimeUtc": run.get("end_date")}
        self._say(str({"runId": self.run.id, "status": status, **times}))
