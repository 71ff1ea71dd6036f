"""DockerEnvironmentHook against a real private dockerd with the Debian python base image."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile

import pytest

pytestmark = pytest.mark.integration


from docker_engine import BASE_IMAGE, docker_engine  # noqa: E402

from airflow_mlpipe.exceptions import StepFailedError  # noqa: E402
from airflow_mlpipe.hooks.docker_build import conda_to_pip, missing_packages, name_last_stage  # noqa: E402
from airflow_mlpipe.hooks.docker_env import PYTHON, DockerEnvironmentHook, EnvironmentBuildError  # noqa: E402

PROBE_SECRET = "s3cret-index-password"


def probe_wheel() -> bytes:
    """A tiny pure-Python wheel, ``mlpipe-probe-pkg 0.1``, that only the private index below serves."""
    dist = "mlpipe_probe_pkg-0.1.dist-info"
    files = {
        "mlpipe_probe_pkg.py": "VALUE = 'from the private index'\n",
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: mlpipe-probe-pkg\nVersion: 0.1\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def private_index():
    """A PEP 503 index on loopback that needs basic auth; yields its port."""
    wheel = probe_wheel()
    expected = "Basic " + base64.b64encode(f"probe:{PROBE_SECRET}".encode()).decode()
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="probe"')
                self.end_headers()
                return
            name = "mlpipe_probe_pkg-0.1-py3-none-any.whl"
            if self.path.rstrip("/") == "/simple/mlpipe-probe-pkg":
                body = (
                    f'<a href="/files/{name}#sha256={hashlib.sha256(wheel).hexdigest()}">{name}</a>'.encode()
                )
                kind = "text/html"
            elif self.path == f"/files/{name}":
                body, kind = wheel, "application/octet-stream"
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], requests
    finally:
        server.shutdown()
        server.server_close()


class Lines:
    """A logger stand-in that keeps what the hook logs (``log.info(fmt, *args)``)."""

    def __init__(self):
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def info(self, fmt, *args):
        with self._lock:
            self.lines.append(fmt % args if args else fmt)

    def text(self) -> str:
        return "\n".join(self.lines)


def definition(name="env", conda=None, pip=None, python_version=None, base_image=None, **python):
    return {
        "name": name,
        "version": "1",
        "python": {
            "user_managed_dependencies": python.get("user_managed", False),
            "interpreter_path": python.get("interpreter_path", "python"),
            "conda": {
                "channels": ["conda-forge"],
                "conda_packages": conda or [],
                "pip_packages": pip or [],
                "python_version": python_version,
                "pip_options": [],
            },
        },
        "docker": {"enabled": True, "base_image": base_image, "base_dockerfile": None, "shm_size": None},
        "environment_variables": {},
    }


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with docker_engine(tmp_path_factory.mktemp("dockerd")) as url:
        yield url


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlpipe-home")
    with pytest.MonkeyPatch.context() as mp:  # module fixtures below run before per-test fixtures
        mp.setenv("MLPIPE_HOME", str(folder))
        yield folder


@pytest.fixture(autouse=True)
def _shared_home(home, monkeypatch):
    # one $MLPIPE_HOME for the module: the last-used index and the build locks persist across tests
    monkeypatch.setenv("MLPIPE_HOME", str(home))


@pytest.fixture(scope="module")
def built(engine, home):
    """One environment built once for the module: six from pip, packaging as a conda package."""
    hook = DockerEnvironmentHook(base_url=engine, default_base_image=BASE_IMAGE)
    log = Lines()
    # an image Docker Hub would have: it cannot be pulled here, so the default base image is used
    env = definition(
        "six-env",
        conda=["packaging=24.1"],
        pip=["six==1.16.0"],
        python_version="3.8",
        base_image="continuumio/miniconda3",
    )
    tag = hook.ensure_image(env, "prep", log)
    return hook, env, tag, log


def test_build_installs_pip_and_conda_packages_and_logs(built):
    hook, env, tag, log = built
    assert tag.startswith("mlpipe-env:") and len(tag.split(":")[1]) == 20
    assert hook.stats.builds == 1 and hook.stats.reuses == 0
    text = log.text()
    assert "conda is not in the base image: installing conda packages packaging==24.1 with pip" in text
    assert "python_version 3.8 was asked for" in text and "the image's Python 3.11" in text
    assert "using the default base image mlpipe-python:3.11 instead of continuumio/miniconda3" in text
    assert "Successfully installed" in text  # pip's own output streamed line by line
    labels = hook.client.inspect_image(tag)["Config"]["Labels"]
    assert labels["mlpipe.env.name"] == "six-env" and labels["mlpipe.env.python"] == "/opt/mlpipe/bin/python"
    out = Lines()
    code = hook.run_container(
        tag,
        [
            PYTHON,
            "-c",
            "import six, packaging, sys; print(six.__version__, packaging.__version__, sys.prefix)",
        ],
        log=out,
        step="prep",
    )
    assert code == 0, out.text()
    assert out.lines == ["1.16.0 24.1 /opt/mlpipe/venv"]


def test_second_ensure_image_is_a_reuse(built, engine):
    hook, env, tag, _ = built
    log = Lines()
    assert hook.ensure_image(env, "prep", log) == tag
    assert (hook.stats.builds, hook.stats.reuses) == (1, 1)
    # name and version are not part of the hash: a renamed copy reuses the image too
    other = DockerEnvironmentHook(base_url=engine, default_base_image=BASE_IMAGE)
    assert other.ensure_image({**env, "name": "renamed", "version": "7"}, "train", Lines()) == tag
    assert (other.stats.builds, other.stats.reuses) == (0, 1)


def test_concurrent_steps_build_once(engine):
    hook = DockerEnvironmentHook(base_url=engine, default_base_image=BASE_IMAGE)
    env = definition("concurrent", pip=["six==1.15.0"])
    logs, tags, errors = [Lines() for _ in range(3)], [], []

    def go(i):
        try:
            tags.append(hook.ensure_image(env, f"step{i}", logs[i]))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors and len(set(tags)) == 1 and len(tags) == 3
    assert (hook.stats.builds, hook.stats.reuses) == (1, 2)
    assert sum("building environment image" in log.text() for log in logs) == 1
    assert not any("was asked for" in log.text() for log in logs)  # no python_version: no note


def test_uninstallable_package_fails_naming_it_and_the_step(engine):
    hook = DockerEnvironmentHook(base_url=engine, default_base_image=BASE_IMAGE)
    log = Lines()
    with pytest.raises(EnvironmentBuildError) as info:
        hook.ensure_image(definition("bad", pip=["six", "no-such-package-xyz-123"]), "train", log)
    err = info.value
    assert isinstance(err, StepFailedError)
    assert err.packages == ["no-such-package-xyz-123"] and err.step == "train"
    assert "step train" in str(err) and "no-such-package-xyz-123" in str(err)
    assert "No matching distribution found for no-such-package-xyz-123" in str(err)  # the build's last lines
    assert hook.stats.builds == 0
    assert not hook.client.containers(all=True)  # forcerm: no intermediate container left


def test_the_workers_pip_index_settings_reach_the_build_but_no_log_or_image_layer(
    engine, private_index, monkeypatch
):
    port, requests = private_index
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"http://probe:{PROBE_SECRET}@127.0.0.1:{port}/simple/")
    monkeypatch.setenv("PIP_TRUSTED_HOST", "127.0.0.1")
    hook = DockerEnvironmentHook(base_url=engine, default_base_image=BASE_IMAGE)
    log = Lines()
    tag = hook.ensure_image(definition("private", pip=["mlpipe-probe-pkg==0.1"]), "s", log)
    assert "/files/mlpipe_probe_pkg-0.1-py3-none-any.whl" in requests  # installed from the private index
    text = log.text()
    assert "Successfully installed mlpipe-probe-pkg-0.1" in text
    assert PROBE_SECRET not in text and f"127.0.0.1:{port}" not in text
    out = Lines()
    assert (
        hook.run_container(tag, [PYTHON, "-c", "import mlpipe_probe_pkg as m; print(m.VALUE)"], log=out) == 0
    )
    assert out.lines == ["from the private index"]
    history = json.dumps(hook.client.history(tag))
    assert PROBE_SECRET not in history
    image = b"".join(hook.client.get_image(tag))  # every layer of the tagged image, as `docker save`
    assert PROBE_SECRET.encode() not in image and b"mlpipe-build/pip.conf" not in image


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry (the distribution registry) on loopback with a password; yields its address."""
    for tool in ("docker-registry", "htpasswd"):
        assert shutil.which(tool), f"{tool} is not installed: run scripts/setup.sh"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    users = subprocess.run(
        ["htpasswd", "-Bbn", "probe", PROBE_SECRET], check=True, capture_output=True, text=True
    )
    (tmp_path / "htpasswd").write_text(users.stdout)
    (tmp_path / "config.yml").write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        f"auth: {{htpasswd: {{realm: mlpipe, path: {tmp_path / 'htpasswd'}}}}}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(tmp_path / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "docker-registry did not start"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_docker_conn_id_logs_in_before_pulling_the_base_image(engine, registry, monkeypatch):
    import docker.errors

    import docker

    plain = docker.APIClient(base_url=engine)
    ref = f"{registry}/team/base:1"
    # a base image that only the password-protected registry has
    marker = plain.create_container(BASE_IMAGE, command=["sh", "-c", "echo from-the-registry > /etc/marker"])
    plain.start(marker)
    plain.wait(marker)
    plain.commit(marker, repository=f"{registry}/team/base", tag="1")
    plain.remove_container(marker)
    auth = {"username": "probe", "password": PROBE_SECRET}
    for line in plain.push(f"{registry}/team/base", tag="1", auth_config=auth, stream=True, decode=True):
        assert "error" not in line, line
    plain.remove_image(ref)
    with pytest.raises(docker.errors.APIError):  # without the login the registry refuses the pull
        plain.pull(f"{registry}/team/base", tag="1")

    conn = {"conn_type": "docker", "host": registry.split(":")[0], "port": int(registry.split(":")[1])}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEAM_REGISTRY", json.dumps({**conn, "login": "probe", "password": PROBE_SECRET})
    )
    hook = DockerEnvironmentHook(docker_conn_id="team_registry", base_url=engine)
    log = Lines()
    tag = hook.ensure_image(definition("registry", base_image=ref, user_managed=True), "s", log)
    assert "using the default base image" not in log.text() and PROBE_SECRET not in log.text()
    out = Lines()
    assert hook.run_container(tag, ["cat", "/etc/marker"], log=out) == 0
    assert out.lines == ["from-the-registry"]


def test_base_dockerfile_is_the_start_of_the_build(engine):
    dockerfile = f"FROM {BASE_IMAGE}\nRUN echo built-from-dockerfile > /etc/marker\n"
    named = f"FROM {BASE_IMAGE} AS mlpipe-base\nRUN echo built-from-dockerfile > /etc/marker"
    assert name_last_stage(dockerfile) == (named, "mlpipe-base")
    assert name_last_stage("FROM a AS x\nFROM x as final")[1] == "final"
    env = definition("dockerfile", pip=["six==1.16.0"])
    env["docker"]["base_dockerfile"] = dockerfile
    hook = DockerEnvironmentHook(base_url=engine, default_base_image=BASE_IMAGE)
    tag = hook.ensure_image(env, "s", Lines())
    out = Lines()
    code = hook.run_container(
        tag, ["sh", "-c", "cat /etc/marker; python -c 'import six; print(six.__version__)'"], log=out
    )
    assert code == 0 and out.lines == ["built-from-dockerfile", "1.16.0"]  # venv first on PATH


def test_user_managed_runs_the_base_interpreter(engine):
    hook = DockerEnvironmentHook(base_url=engine, default_base_image=BASE_IMAGE)
    env = definition("managed", pip=["ignored-because-user-managed"], user_managed=True)
    tag = hook.ensure_image(env, "s", Lines())
    assert hook.image_python(tag) == "python"
    out = Lines()
    assert hook.run_container(tag, [PYTHON, "-c", "import sys; print(sys.executable)"], log=out) == 0
    assert out.lines and out.lines[0].startswith("/usr/") and "venv" not in out.lines[0]


def test_run_container_streams_output_env_mounts_and_exit_code(built, tmp_path):
    hook, _, tag, _ = built
    data = tmp_path / "in"
    data.mkdir()
    (data / "x.txt").write_text("from the host\n")
    outdir = tmp_path / "out"
    outdir.mkdir()
    outdir.chmod(0o777)
    script = (
        "import os, sys\n"
        "print(open('/data/in/x.txt').read().strip())\n"
        "print('value', os.environ['MLPIPE_TEST_VAR'])\n"
        "print('to stderr', file=sys.stderr)\n"
        "open('/data/out/result.txt', 'w').write('written in the container')\n"
        "try:\n    open('/data/in/nope.txt', 'w')\nexcept OSError as e:\n    print('read-only', e.errno)\n"
        "print('cwd', os.getcwd())\n"
        "sys.exit(3)\n"
    )
    log = Lines()
    code = hook.run_container(
        tag,
        [PYTHON, "-c", script],
        mounts=[(str(data), "/data/in", True), (str(outdir), "/data/out", False)],
        env={"MLPIPE_TEST_VAR": "hello world"},
        workdir="/tmp",
        log=log,
        step="train",
    )
    assert code == 3
    assert "from the host" in log.lines and "value hello world" in log.lines
    assert "[stderr] to stderr" in log.lines
    assert "read-only 30" in log.lines and "cwd /tmp" in log.lines
    assert (outdir / "result.txt").read_text() == "written in the container"
    assert not hook.client.containers(all=True)  # removed after the run


def test_the_container_reaches_the_host_ca_bundle_and_runs_as_user(built):
    hook, _, tag, _ = built
    log = Lines()
    code = hook.run_container(
        tag,
        ["sh", "-c", "id -u; test -s /etc/ssl/certs/ca-certificates.crt && echo ca-ok"],
        user="1234",
        log=log,
    )
    assert code == 0 and log.lines == ["1234", "ca-ok"]


def test_should_stop_stops_the_container(built):
    hook, _, tag, _ = built
    log = Lines()
    asked = threading.Event()
    started = time.monotonic()
    timer = threading.Timer(2.0, asked.set)
    timer.start()
    code = hook.run_container(
        tag,
        [PYTHON, "-u", "-c", "import time\nprint('started')\ntime.sleep(120)"],
        log=log,
        should_stop=asked.is_set,
        poll=0.5,
    )
    assert time.monotonic() - started < 30
    assert code in (137, 143) and "started" in log.lines
    assert not hook.client.containers(all=True)


def test_kill_from_another_thread_leaves_no_container(built):
    hook, _, tag, _ = built
    log = Lines()
    result = {}
    runner = threading.Thread(
        target=lambda: result.setdefault(
            "code", hook.run_container(tag, ["sh", "-c", "echo up; sleep 120"], log=log, step="k")
        )
    )
    runner.start()
    deadline = time.monotonic() + 30
    while "up" not in log.lines and time.monotonic() < deadline:
        time.sleep(0.1)
    # (the engine may list the container as running a moment after its first output: all=True)
    assert "up" in log.lines and hook.client.containers(all=True, filters={"label": "mlpipe.step=k"})
    hook.kill()
    runner.join(timeout=30)
    assert not runner.is_alive() and result["code"] != 0
    assert not hook.client.containers(all=True)


# a task process that dies at a chosen point of run_container: "created" stops it between the
# engine's create and start (the kernel may deschedule a task there for as long as it likes)
DYING_TASK = """
import logging, sys, time
from airflow_mlpipe.hooks.docker_env import DockerEnvironmentHook
hook = DockerEnvironmentHook(base_url=sys.argv[1])
if sys.argv[3] == "created":
    def stalled(cid):
        print("created", flush=True)
        time.sleep(600)
    hook.client.start = stalled
hook.run_container(sys.argv[2], ["sh", "-c", "echo running; sleep 600"], log=logging.getLogger("t"), step="dying")
"""


def reapers(engine: str) -> list[int]:
    """The reaper processes that look after containers on this module's engine."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"airflow_mlpipe.hooks.docker_reaper" in argv and engine.encode() in argv:
            found.append(int(pid))
    return found


@pytest.mark.parametrize("when", ["created", "running"])
def test_a_task_process_killed_leaves_no_container(built, engine, when):
    """SIGKILL to the task process, with the container created but not started, or running a
    command that knows no lifeline: the reaper removes it."""
    hook, _, tag, _ = built
    task = subprocess.Popen(
        [sys.executable, "-c", DYING_TASK, engine, tag, when],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        state = None
        while state != when and time.monotonic() < deadline:
            found = hook.client.containers(all=True, filters={"label": "mlpipe.step=dying"})
            state = found[0]["State"] if found else None
            time.sleep(0.2)
        assert state == when, (
            f"the container never got to {when}: {state}; {task.stderr.read() if task.poll() is not None else ''}"
        )
        assert found[0]["Names"][0].startswith("/mlpipe-")
        assert len(reapers(engine)) == 1
    finally:
        task.kill()
        task.wait()
    deadline = time.monotonic() + 60
    while hook.client.containers(all=True, filters={"label": "mlpipe.step=dying"}):
        assert time.monotonic() < deadline, "the container outlived its task process"
        time.sleep(0.2)
    while reapers(engine):
        assert time.monotonic() < deadline, "the reaper outlived its work"
        time.sleep(0.2)


def test_a_finished_run_leaves_no_reaper(built, engine):
    hook, _, tag, _ = built
    assert hook.run_container(tag, ["true"], log=Lines()) == 0
    assert reapers(engine) == []  # it was told the container is gone, and exited without reaping


def test_images_and_prune(built, engine):
    hook, env, tag, _ = built
    listed = {i["tag"]: i for i in hook.images()}
    assert tag in listed
    entry = listed[tag]
    assert entry["name"] == "six-env" and entry["size"] > 0 and entry["hash"].startswith(tag.split(":")[1])
    assert entry["last_used"] >= entry["created"]
    assert hook.prune(3600) == []  # everything was used within the hour
    # an image a (stopped) container still uses is kept, whatever its age
    keep = hook.client.create_container(tag, command=["true"])
    try:
        removed = hook.prune(0)
        assert tag not in removed and set(removed) == set(listed) - {tag}
        assert [i["tag"] for i in hook.images()] == [tag]
    finally:
        hook.client.remove_container(keep["Id"], force=True)
    assert hook.prune(0) == [tag]
    assert hook.images() == []
    assert hook.client.inspect_image(BASE_IMAGE)  # base images are never pruned


def test_conda_specs_become_pip_specs():
    assert conda_to_pip("numpy=1.24") == "numpy==1.24"
    assert conda_to_pip("conda-forge::scikit-learn=1.3.0=py311_0") == "scikit-learn==1.3.0"
    assert conda_to_pip("pandas 2.1") == "pandas==2.1"
    assert conda_to_pip("scipy>=1.10") == "scipy>=1.10"
    assert conda_to_pip("python=3.8") is None and conda_to_pip("pip") is None


def test_missing_packages_from_conda_output():
    lines = [
        "PackagesNotFoundError: The following packages are not available from current channels:",
        "",
        "  - nosuchpkg",
        "  - other=1.0",
        "",
        "Current channels:",
        "  - https://example.invalid/pkgs/main",
    ]
    assert missing_packages(lines) == ["nosuchpkg", "other=1.0"]
