"""AdlaJobTrigger: waits in the triggerer for an ADLA job (``GET jobs/{id}``, async) to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_mlpipe.hooks.adla import AdlaHook, JobState


def event_for(job_id: str, state: JobState) -> dict[str, Any] | None:
    """The event a state calls for: None while the job runs; at its end, its state (``job_state``,
    JobState.to_json) with status "success" or "error"."""
    if not state.is_terminal:
        return None
    return {
        "status": "success" if state.is_successful else "error",
        "job_id": job_id,
        "job_state": state.to_json(),
    }


class AdlaJobTrigger(BaseTrigger):
    """Polls job ``job_id`` of the ADLA account behind connection ``adla_conn_id`` every
    ``polling_period_seconds`` and yields one event when it ends (or when it cannot be read)."""

    def __init__(self, job_id: str, adla_conn_id: str, polling_period_seconds: float = 5.0):
        super().__init__()
        self.job_id = job_id
        self.adla_conn_id = adla_conn_id
        self.polling_period_seconds = polling_period_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "adla_conn_id": self.adla_conn_id,
                "polling_period_seconds": self.polling_period_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = AdlaHook(self.adla_conn_id)
        while True:
            try:
                state = await hook.a_get_job_state(self.job_id)
            except Exception as exc:  # the hook already retried: the task decides what to do
                yield TriggerEvent(
                    {"status": "error", "job_id": self.job_id, "message": f"{type(exc).__name__}: {exc}"}
                )
                return
            event = event_for(self.job_id, state)
            if event is not None:
                yield TriggerEvent(event)
                return
            self.log.info("ADLA job %s: %s", self.job_id, state.state)
            await asyncio.sleep(self.polling_period_seconds)

    async def on_kill(self) -> None:
        """Cancel the job when the task waiting on it is killed (marked failed or cleared by a user):
        Airflow calls this as it cancels the trigger for a user's action."""
        from asgiref.sync import sync_to_async

        self.log.info("cancelling ADLA job %s", self.job_id)
        await sync_to_async(AdlaHook(self.adla_conn_id).cancel_job)(self.job_id)
