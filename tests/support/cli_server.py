"""`realtime-mcp serve` as a user runs it: its own process, its own logging, output in a file."""

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

from tests.support.http import free_port
from tests.support.process import interrupt


@dataclass
class ServedCli:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_serve(
    *args: str, env: dict[str, str] | None = None, open_files: int | None = None, timeout: float = 30
) -> Iterator[ServedCli]:
    """`python -m servers.cli serve --port P ARGS` with `env` added; `open_files` caps its file
    descriptors (RLIMIT_NOFILE). Yields once `/healthz` answers; interrupted (Ctrl-C) afterwards."""
    port = free_port()

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "serve.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "servers.cli", "serve", "--port", str(port), *args],
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=limit if open_files is not None else None,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            with httpx.Client(timeout=1) as http:
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if http.get(f"{url}/healthz").status_code == 200:
                            break
                    if process.poll() is not None:
                        raise RuntimeError(f"serve exited with {process.returncode}:\n{log_path.read_text()}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"serve did not answer /healthz within {timeout:g} s")
                    time.sleep(0.05)
            yield ServedCli(url, process, log_path)
        finally:
            if process.poll() is None:
                interrupt(process)
