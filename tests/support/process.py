"""Stopping servers and helpers the test or benchmark started as child processes."""

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


def terminate(process: subprocess.Popen[Any], timeout: float = 10.0, kill_timeout: float = 5.0) -> None:
    """SIGTERM, as a service manager stops a helper (X server, Chromium, Redis, Caddy); killed if it
    has not exited `timeout` seconds later. Nothing to do if it already exited."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(kill_timeout)
