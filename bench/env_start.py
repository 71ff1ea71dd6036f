"""Benchmark: what a step's container environment costs at start, when its image already exists.

One pipeline, three steps in a row: ``plain`` (the worker's Python), then ``docker_a`` and
``docker_b`` (the same environment: a pip package, so a container). Each script logs the time it
started; the overhead of a step is that time minus its task instance's start. A warm-up run builds
the image (``docker_a`` builds it, ``docker_b`` must not: counted from the task logs); then
``--runs`` measured runs, steps never reused. Target: a container step starts within 1.5 s of the
plain one.

    .venv/bin/python bench/env_start.py [--runs 5] [--write]

Starts its own Docker engine (tests/docker_engine.py) and embedded Airflow deployment.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))
from report import write_section  # noqa: E402

SCRIPT = """
import time
from airflow_mlpipe import Run
Run.get_context().log("started", time.time())
"""
TARGET = 1.5  # seconds: a container step's start may exceed the plain step's by this much


def build_lines(log: list[str]) -> int:
    return sum("building environment image" in line.lower() for line in log)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    from docker_engine import BASE_IMAGE, docker_engine

    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-env-") as tmp, docker_engine(tmp) as url:
        home = Path(tmp)
        import os

        os.environ["MLPIPE_HOME"] = str(home / "mlpipe")
        from airflow_mlpipe import Experiment, Pipeline, PythonScriptStep, Workspace
        from airflow_mlpipe.client.rest import AirflowClient
        from airflow_mlpipe.definitions.conda import CondaDependencies
        from airflow_mlpipe.definitions.runconfig import RunConfiguration
        from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment, free_port

        (home / "dags").mkdir()
        src = home / "src"
        src.mkdir()
        (src / "start.py").write_text(textwrap.dedent(SCRIPT))
        dep = LocalDeployment(
            home=home / "mlpipe",
            dags_folder=home / "dags",
            extra_env={"DOCKER_HOST": url, "MLPIPE_DEFAULT_BASE_IMAGE": BASE_IMAGE},
        )
        dep.up(port=free_port(), timeout=240)
        try:
            client = AirflowClient(dep.url, USERNAME, dep.password())
            ws = Workspace.from_config()
            config = RunConfiguration()
            config.environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["six"])

            def step(name: str, runconfig=None):
                return PythonScriptStep(
                    "start.py", name=name, source_directory=str(src), runconfig=runconfig, allow_reuse=False
                )

            plain, a, b = step("plain"), step("docker_a", config), step("docker_b", config)
            a.run_after(plain)
            b.run_after(a)
            pipeline = Pipeline(ws, [plain, a, b])
            experiment = Experiment(ws, "bench_env")

            def measured():
                run = experiment.submit(pipeline)
                run.wait_for_completion(show_output=False)
                out = {}
                for s in run.get_steps():
                    ti = s._ti()
                    start = datetime.fromisoformat(ti["start_date"].replace("Z", "+00:00")).timestamp()
                    out[s.name] = (s.get_metrics()["started"] - start, s.get_log_lines())
                return out

            warm = measured()
            builds = {name: build_lines(log) for name, (_, log) in warm.items()}
            assert builds["docker_a"] == 1, f"the warm-up run should build once in docker_a: {builds}"
            assert builds["docker_b"] == 0, f"the second step with the same environment rebuilt: {builds}"
            rows = {"plain": [], "docker_a": [], "docker_b": []}
            for _ in range(args.runs):
                got = measured()
                for name in rows:
                    rows[name].append(got[name][0])
                assert all(build_lines(log) == 0 for _, log in got.values()), "a measured run built an image"
            client.session.close()
        finally:
            dep.down()
    med = {name: statistics.median(v) for name, v in rows.items()}
    extra = max(med["docker_a"], med["docker_b"]) - med["plain"]
    lines = [
        "| step | task start → script start (median) | runs |",
        "|---|---|---|",
        *(f"| {name} | {med[name]:.2f} s | {len(rows[name])} |" for name in rows),
        "",
        f"A container step starts **{extra:+.2f} s** after a plain one (target: within {TARGET} s: "
        f"{'met' if extra <= TARGET else 'NOT met'}). Image builds: warm-up run docker_a {builds['docker_a']}, "
        f"docker_b {builds['docker_b']}; measured runs 0.",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(
            "Container environment start (bench/env_start.py)", body, "python bench/env_start.py --write"
        )


if __name__ == "__main__":
    main()
