"""Stopping servers the test or benchmark started as child processes."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def interrupt(*processes: Any) -> None:
    """Ctrl-C to each, as a user stops the server (all at once, so they stop side by side); any not
    exited 15 s later is killed. Each is a `subprocess.Popen` or a `tests.support.launcher.Launched`."""
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
