"""`realtime-mcp serve` as a user runs it: its own process, its own logging, output in a file.

Started through the worker's launcher (tests/support/launcher.py: forked from an interpreter that
imported the suite once, ~20x less CPU than a fresh one) unless `fresh=True`: tests about what a fresh
interpreter prints or does at start-up pass that."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import launcher
from tests.support.http import free_port
from tests.support.launcher import Process
from tests.support.process import interrupt


@dataclass
class ServedCli:
    url: str
    process: Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_healthy(served: list[ServedCli], timeout: float) -> None:
    """Until every server's `/healthz` answers 200 (all started before, so they start side by side)."""
    deadline = time.monotonic() + timeout
    waiting = list(served)
    with httpx.Client(timeout=1) as http:
        while waiting:
            for one in list(waiting):
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{one.url}/healthz").status_code == 200:
                        waiting.remove(one)
                        continue
                if one.process.poll() is not None:
                    raise RuntimeError(f"serve exited with {one.process.returncode}:\n{one.log()}")
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"serve did not answer /healthz within {timeout:g} s:\n{waiting[0].log()}")
            if waiting:
                time.sleep(0.05)


@contextlib.contextmanager
def running_serves(
    count: int,
    *args: str,
    env: dict[str, str] | None = None,
    open_files: int | None = None,
    timeout: float = 30,
    fresh: bool = False,
) -> Iterator[list[ServedCli]]:
    """`count` times `python -m servers.cli serve --port P ARGS` with `env` added, all started, then
    waited for; `open_files` caps their file descriptors (RLIMIT_NOFILE). Yields once every `/healthz`
    answers; each is interrupted (Ctrl-C) afterwards."""
    rlimits = {resource.RLIMIT_NOFILE: (open_files, open_files)} if open_files is not None else None
    served: list[ServedCli] = []
    with tempfile.TemporaryDirectory() as folder:
        try:
            for n in range(count):
                port = free_port()
                log_path = Path(folder) / f"serve-{n}.log"
                with log_path.open("wb") as out:
                    process = launcher.popen(
                        [sys.executable, "-m", "servers.cli", "serve", "--port", str(port), *args],
                        env={**os.environ, **(env or {})},
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        rlimits=rlimits,
                        fresh=fresh,
                    )
                served.append(ServedCli(f"http://127.0.0.1:{port}", process, log_path))
            wait_healthy(served, timeout)
            yield served
        finally:
            interrupt(*(one.process for one in served if one.process.poll() is None))


@contextlib.contextmanager
def running_serve(
    *args: str,
    env: dict[str, str] | None = None,
    open_files: int | None = None,
    timeout: float = 30,
    fresh: bool = False,
) -> Iterator[ServedCli]:
    """One `running_serves`."""
    with running_serves(1, *args, env=env, open_files=open_files, timeout=timeout, fresh=fresh) as served:
        yield served[0]
