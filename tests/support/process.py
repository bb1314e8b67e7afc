"""Stopping a server the test or benchmark started as a child process."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def interrupt(process: subprocess.Popen[Any]) -> None:
    """Ctrl-C, as a user stops the server; killed if it has not exited 15 s later."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
