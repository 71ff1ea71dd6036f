"""Private PostgreSQL and MariaDB servers for the SQL datastore tests (Debian's packages).

Each server gets a fresh data directory under the system temp folder, listens on a free loopback
port and on a socket in that directory, runs in its own process group, and is stopped (killpg)
and its directory removed when the context manager exits. The test user gets a random password;
the admin bootstrap goes through the private socket, so no password is ever written to a file.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0


@dataclass
class SqlServer:
    """A running test server: where it listens and the test user's credentials."""

    kind: str  # "postgres" | "mysql" (the Airflow conn_type)
    host: str
    port: int
    database: str
    login: str
    password: str = field(repr=False)
    socket_dir: Path = field(repr=False, default=Path("."))

    def conn_json(self, *, password: str | None = None, database: str | None = None) -> str:
        """The Airflow connection as JSON, for an ``AIRFLOW_CONN_<ID>`` variable."""
        return json.dumps(
            {
                "conn_type": self.kind,
                "host": self.host,
                "port": self.port,
                "login": self.login,
                "password": self.password if password is None else password,
                "schema": self.database if database is None else database,
            }
        )

    def connect(self) -> Any:
        """A plain DB-API connection as the test user (to arrange and check tables in tests)."""
        if self.kind == "postgres":
            import psycopg2

            return psycopg2.connect(
                host=self.host, port=self.port, user=self.login, password=self.password, dbname=self.database
            )
        import MySQLdb

        return MySQLdb.connect(
            host=self.host, port=self.port, user=self.login, passwd=self.password, db=self.database
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service_user(name: str) -> str | None:
    """The OS user a server runs as: ``name`` (or nobody) when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    for candidate in (name, "nobody"):
        with suppress(KeyError):
            pwd.getpwnam(candidate)
            return candidate
    raise RuntimeError(f"running as root and neither {name!r} nor 'nobody' exists to run the server")


def _private_dir(prefix: str, user: str | None) -> Path:
    # the system temp folder, not pytest's tmp_path: the service user must be able to reach it
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _run(cmd: list[str], user: str | None, what: str) -> None:
    done = subprocess.run(cmd, user=user, capture_output=True, text=True, timeout=120, start_new_session=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {done.returncode}): {done.stderr[-2000:] or done.stdout[-2000:]}"
        )


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left of it."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _wait_ready(proc: subprocess.Popen, probe, log: Path, what: str) -> Any:
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting:\n{tail}")
        try:
            return probe()
        except Exception as exc:  # not accepting connections yet
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not accept connections within {START_TIMEOUT:.0f} s: {last}")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian package 'postgresql')")
    return path


@contextmanager
def postgres_server(database: str = "mlpipe", login: str = "mlpipe") -> Iterator[SqlServer]:
    """A private PostgreSQL: initdb, then ``postgres`` on a free loopback port (scram passwords)."""
    import psycopg2

    user = _service_user("postgres")
    root = _private_dir("mlpipe-pg-", user)
    data, log = root / "data", root / "server.log"
    proc: subprocess.Popen | None = None
    try:
        # local socket connections are trusted (the socket lives in our private folder); TCP needs
        # the password, so the tests exercise real authentication
        _run(
            [_pg_bin("initdb"), "-D", str(data), "-U", "admin", "--auth-local=trust",
             "--auth-host=scram-sha-256", "--no-sync", "--no-locale", "-E", "UTF8"],
            user,
            "initdb",
        )  # fmt: skip
        port = free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [_pg_bin("postgres"), "-D", str(data), "-k", str(root), "-p", str(port), "-h", "127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                user=user, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if user is not None:
            os.chown(log, pwd.getpwnam(user).pw_uid, -1)

        def admin() -> Any:
            return psycopg2.connect(host=str(root), port=port, user="admin", dbname="postgres")

        conn = _wait_ready(proc, admin, log, "postgres")
        password = secrets.token_urlsafe(16)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE ROLE "{login}" LOGIN PASSWORD %s', (password,))
                cur.execute(f'CREATE DATABASE "{database}" OWNER "{login}"')
        finally:
            conn.close()
        yield SqlServer("postgres", "127.0.0.1", port, database, login, password, root)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def mariadb_server(database: str = "mlpipe", login: str = "mlpipe") -> Iterator[SqlServer]:
    """A private MariaDB: mariadb-install-db, then ``mariadbd`` on a free loopback port.

    The admin account authenticates by unix socket (the OS user running the tests); the test
    user has a password and connects over TCP.
    """
    import MySQLdb

    user = _service_user("mysql")
    me = pwd.getpwuid(os.geteuid()).pw_name
    root = _private_dir("mlpipe-maria-", user)
    data, sock, log = root / "data", root / "mysqld.sock", root / "server.log"
    run_as = user or me
    proc: subprocess.Popen | None = None
    try:
        _run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={data}", f"--user={run_as}",
             "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"]
            # root@localhost always authenticates by socket; a non-root tester gets its own account
            + ([] if me == "root" else [f"--auth-root-socket-user={me}"]),
            None,  # the installer switches to --user itself
            "mariadb-install-db",
        )  # fmt: skip
        port = free_port()
        proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
             "--bind-address=127.0.0.1", f"--pid-file={root / 'mysqld.pid'}", f"--log-error={log}",
             f"--user={run_as}", "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
             "--innodb-flush-log-at-trx-commit=0", "--character-set-server=utf8mb4"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

        def admin() -> Any:
            return MySQLdb.connect(unix_socket=str(sock), user=me)

        conn = _wait_ready(proc, admin, log, "mariadbd")
        password = secrets.token_urlsafe(16)
        try:
            cur = conn.cursor()
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
            cur.execute(f"CREATE USER '{login}'@'%%' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{login}'@'%'")
            conn.commit()
        finally:
            conn.close()
        yield SqlServer("mysql", "127.0.0.1", port, database, login, password, root)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)
