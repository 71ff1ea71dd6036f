"""Start a step script so that it dies with the task process that started it.

``python -m airflow_mlpipe._launch <interpreter> <its args...>`` on the worker asks Linux to send
SIGKILL to this process when its parent dies (PR_SET_PDEATHSIG; kept across exec), then execs the
interpreter. A task process killed with SIGKILL cannot stop its script itself; this way the script
stops anyway.

In a container the task process is not a parent Linux knows about. There ``MLPIPE_LIFELINE`` names
a FIFO whose writing end the task process holds open: this process starts the script as its child,
and when the FIFO reads end-of-file (the task process is gone, however it died) it stops the script
and exits, so the container ends (and, created with auto-remove, disappears). SIGTERM from
``docker stop`` is passed on to the script.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading


def _watch_lifeline(fifo: str, child: subprocess.Popen) -> None:
    # non-blocking: the task process opened the FIFO before the container started, so a writer
    # exists from the start (a blocking open would wait forever if the task died before it)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    while True:
        # read before waiting: if the task process died before this open, Linux never reports
        # the FIFO ready to select() (no writer seen since the open), but read() gives end-of-file
        try:
            if not os.read(fd, 4096):
                break  # end-of-file: no writer left
        except BlockingIOError:
            pass
        select.select([fd], [], [])
    os.close(fd)
    if child.poll() is None:  # end-of-file: the task process is gone
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def _supervise(fifo: str) -> None:
    child = subprocess.Popen(sys.argv[1:])
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    threading.Thread(target=_watch_lifeline, args=(fifo, child), daemon=True).start()
    sys.exit(child.wait())


def main() -> None:
    fifo = os.environ.pop("MLPIPE_LIFELINE", "")
    if fifo:
        _supervise(fifo)
    expected_parent = int(os.environ.pop("MLPIPE_PARENT_PID", "0"))
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if expected_parent and os.getppid() != expected_parent:
            os._exit(137)  # the parent died before the signal was armed
    os.execv(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
