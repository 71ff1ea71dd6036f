"""The private servers of a Celery deployment: a PostgreSQL cluster (the metadata database and
Celery's result backend) and a Redis (the broker), each in a folder of the deployment's home, on a
free port of the deployment's address, with passwords from its secrets.json.

PostgreSQL refuses to run as root: as root it runs as the ``postgres`` user (Debian's package makes
it), which must be able to reach its folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import MlpipeError

DB_USER = "airflow"
DB_NAME = "airflow"
Spawn = Callable[..., int]  # LocalDeployment._spawn(name, cmd, env, user=None) -> pid


class ServerError(MlpipeError):
    pass


def server_binary(name: str, package: str) -> str:
    """A server program from a Debian package (PostgreSQL's live in /usr/lib/postgresql/<v>/bin)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise ServerError(f"{name} is not installed: install Debian's {package!r} (scripts/setup.sh does)")
    return found[-1]


def service_user() -> str | None:
    """Who runs PostgreSQL: ``postgres`` when we are root (it refuses root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServerError(
            "running as root, and PostgreSQL refuses to: create a 'postgres' user (Debian's postgresql package does)"
        ) from None
    return "postgres"


def _as_user(cmd: list[str], user: str | None, what: str) -> None:
    done = subprocess.run(cmd, user=user, cwd="/", capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ServerError(f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout)[-2000:]}")


def _own(path: Path, user: str | None, mode: int = 0o700) -> None:
    path.chmod(mode)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def database_url(host: str, port: int, password: str, driver: str = "postgresql+psycopg2") -> str:
    return f"{driver}://{DB_USER}:{password}@{host}:{port}/{DB_NAME}"


def broker_url(host: str, port: int, password: str) -> str:
    return f"redis://:{password}@{host}:{port}/0"


def start_postgres(
    folder: Path, host: str, port: int, password: str, spawn: Spawn, env: dict[str, str]
) -> int:
    """initdb (once) and ``postgres`` on ``host:port``; returns its pid once it accepts the
    ``airflow`` role, and the ``airflow`` database exists."""
    user = service_user()
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    _own(folder, user)
    if user is not None:  # the postgres user must reach the folder: say so rather than fail in initdb
        probe = subprocess.run(["test", "-w", str(folder)], user=user, cwd="/")
        if probe.returncode != 0:
            raise ServerError(
                f"PostgreSQL runs as 'postgres', which cannot reach {folder}: a parent folder is closed to "
                "other users; set MLPIPE_HOME to a folder it can reach (e.g. under /srv or /var/lib)"
            )
    if not (data / "PG_VERSION").exists():
        pwfile = folder / "initdb.pw"
        pwfile.write_text(password)
        _own(pwfile, user, 0o600)
        try:
            _as_user(
                [server_binary("initdb", "postgresql"), "-D", str(data), "-U", DB_USER, f"--pwfile={pwfile}",
                 "--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale", "-E", "UTF8"],
                user,
                "initdb",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        # other hosts (Celery workers) connect over TCP, always with the password
        with open(data / "pg_hba.conf", "a") as fh:
            fh.write("host all all 0.0.0.0/0 scram-sha-256\n")
    pid = spawn(
        "postgres",
        [server_binary("postgres", "postgresql"), "-D", str(data), "-h", host, "-p", str(port),
         "-c", "unix_socket_directories=", "-c", "max_connections=200"],
        env,
        user=user,
    )  # fmt: skip
    _wait(lambda: _create_database(host, port, password), f"PostgreSQL on {host}:{port}", pid)
    return pid


def _create_database(host: str, port: int, password: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=host, port=port, user=DB_USER, password=password, dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        conn.close()


def start_redis(folder: Path, host: str, port: int, password: str, spawn: Spawn, env: dict[str, str]) -> int:
    """``redis-server`` on ``host:port`` with a password and no persistence (the broker only holds
    queued task messages; Airflow re-queues what it loses); returns its pid once it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "redis.conf"
    conf.write_text(
        f'bind {host}\nport {port}\nrequirepass "{password}"\nsave ""\nappendonly no\n'
        f"dir {folder}\ndaemonize no\nprotected-mode yes\n"
    )
    conf.chmod(0o600)  # the password is in it, not on the command line
    pid = spawn("redis", [server_binary("redis-server", "redis-server"), str(conf)], env)
    _wait(lambda: _redis_ping(host, port, password), f"Redis on {host}:{port}", pid)
    return pid


def _redis_ping(host: str, port: int, password: str) -> None:
    import redis

    client = redis.Redis(host=host, port=port, password=password, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _wait(probe: Callable[[], Any], what: str, pid: int, timeout: float = 60) -> None:
    from airflow_mlpipe.deploy.processes import pid_alive

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise ServerError(f"{what} exited while starting; see its log in the deployment's logs folder")
        try:
            probe()
            return
        except Exception as exc:  # not accepting connections yet
            last = exc
            time.sleep(0.2)
    raise ServerError(f"{what} did not answer within {timeout:.0f}s: {last}")
