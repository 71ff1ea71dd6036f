"""Twin of ``azureml.pipeline.core``: pipelines, data, parameters, runs, published pipelines, endpoints, schedules."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.pipeline.core",
    [
        "Pipeline",
        "PipelineData",
        "PipelineEndpoint",
        "PipelineParameter",
        "PipelineRun",
        "PortDataReference",
        "PublishedPipeline",
        "Schedule",
        "ScheduleRecurrence",
        "StepRun",
        "StepRunOutput",
        "StepSequence",
        "TimeZone",
    ],
)
