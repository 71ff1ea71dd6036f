"""An Azure Files (File service REST) emulator for tests: no local server speaks the protocol.

It serves, with Shared Key or service SAS auth and Azure's XML errors, the operations the official
azure-storage-file-share client uses: shares, directories, files (create, put range, get with
ranges, properties, rename, delete), listing with continuation, file leases, and Copy File (the
emulator fetches the source URL itself; Abort Copy File). The modules: files_state.py (the tree),
files_ops.py (the operations), files_server.py (HTTP, auth, routing), copying.py (SAS and copies). File bodies are
sparse files in a data folder, so large files cost disk, not memory. Run it as its own process
(``start_file_emulator``) so a test's memory and its lifetime are the client's alone.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .copying import read_events
from .files_server import Server

PACKAGE_PARENT = Path(__file__).resolve().parents[1]  # the folder holding storage_emulators/


# running it as a process ----------------------------------------------------------------------


@dataclass
class FileEmulator:
    """A running emulator process: its endpoint and the account's connection string."""

    process: subprocess.Popen[bytes]
    port: int
    account: str
    key: str = field(repr=False)  # the account key never shows in a repr or a test report
    data_dir: Path | None = None

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """What the emulator logged: 'copy-fetch' (it fetched a copy source), 'sas-read' (it served
        a SAS-signed read), 'sas-refused' (it refused one)."""
        return read_events(self.data_dir, event) if self.data_dir else []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
                f"FileEndpoint={self.endpoint};")  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_file_emulator(
    data_dir: Path, *, account: str = "devstoreaccount1", page_size: int = 5000, copy_delay: float = 0.0
) -> FileEmulator:
    """Start the emulator in its own process group on a free loopback port; stop() ends it.
    ``copy_delay`` holds every Copy File pending that many seconds after its bytes arrived."""
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    data_dir.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "MLPIPE_FILE_EMULATOR_KEY": key, "PYTHONPATH": path}
    module = f"{__package__}.files" if __package__ else "storage_emulators.files"
    cmd = [sys.executable, "-m", module, str(data_dir), account, str(page_size), str(copy_delay)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"the Azure Files emulator did not start (said {line!r})")
    return FileEmulator(proc, int(line.split()[1]), account, key, data_dir)


def main(argv: list[str]) -> None:
    data_dir, account, page_size = Path(argv[0]), argv[1], int(argv[2])
    key = base64.b64decode(os.environ.pop("MLPIPE_FILE_EMULATOR_KEY"))
    server = Server(0, account, key, data_dir, page_size, float(argv[3]) if len(argv) > 3 else 0.0)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
