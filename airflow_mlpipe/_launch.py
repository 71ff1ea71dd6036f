"""Start a step script so that it dies with the task process that started it.

``python -m airflow_mlpipe._launch <interpreter> <its args...>`` asks Linux to send SIGKILL to this process
when its parent dies (PR_SET_PDEATHSIG; kept across exec), then execs the real interpreter. A task
process killed with SIGKILL cannot stop its script itself; this way the script stops anyway.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
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
