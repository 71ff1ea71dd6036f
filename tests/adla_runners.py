"""Runners for `mlpipe adla serve --runner` in the tests: the U-SQL engine, except that a script
holding the comment ``// HOLD`` waits (cancellable) until the file named by MLPIPE_TEST_ADLA_RELEASE
exists, so a test can act while its job runs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.adla.jobs import usql_runner


def held(script: str, ctx: Any) -> None:
    if "// HOLD" in script:
        ctx.running()
        release = Path(os.environ["MLPIPE_TEST_ADLA_RELEASE"])
        while not release.exists():
            ctx.check()  # raises when the job is cancelled
            time.sleep(0.2)
    usql_runner(script, ctx)
