"""What the benchmarks share: percentiles, timed tool calls, the echo tool that marks the transport's
floor, and serving an app in its own process until `/healthz` answers.

Importing it puts the repository root on `sys.path`, so a script run as `python bench/x.py` can then
import `servers` and `tests.support` like the test suite does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(
    client: Any, tool: str, arguments: Sequence[dict], warmup: int = 5
) -> tuple[list[float], Any]:
    """Seconds per call of `tool`, one call per item of `arguments`, after `warmup` untimed calls with
    its first items; every answer must be a success. Returns (seconds, the last result)."""
    result = None
    for args in arguments[:warmup]:
        result = await client.call_tool(tool, args)
        assert not result.is_error, result.content
    seconds = []
    for args in arguments:
        start = time.perf_counter()
        result = await client.call_tool(tool, args)
        seconds.append(time.perf_counter() - start)
        assert not result.is_error, result.content
    return seconds, result


def echo_server(name: str = "echo"):
    """A bare MCPServer whose `echo` tool does nothing: a call to it is the floor of the transport."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name)

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text."""
        return text

    return server


def run_uvicorn(app: Any, port: int) -> None:
    """Serve `app` on loopback in this process, quietly (no access log)."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def wait_healthy(
    url: str, process: subprocess.Popen[Any], timeout: float = 30, interval: float = 0.1
) -> float:
    """Seconds until `url` answers 200, polled every `interval`; stops at `timeout` or when `process`
    exits."""
    import httpx

    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as http:  # one client: polls as fine as `interval` allows
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if http.get(url).status_code == 200:
                    return time.perf_counter() - start
            if process.poll() is not None:
                raise SystemExit(f"bench server exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit(f"bench server did not answer {url} within {timeout:g} s")
            time.sleep(interval)


@contextlib.contextmanager
def served(script: str, display: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """`python <script> --serve PORT DISPLAY` (the script's own server side) in its own process, as
    in production; yields (base URL, process) once `/healthz` answers, and stops it afterwards."""
    from tests.support.http import free_port
    from tests.support.process import interrupt

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, script, "--serve", str(port), display], env={**os.environ, **env}
    )
    try:
        wait_healthy(f"{url}/healthz", server)
        yield url, server
    finally:
        interrupt(server)
