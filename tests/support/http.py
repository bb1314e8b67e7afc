"""Real uvicorn on loopback for tests that need what only HTTP shows."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def serve(app: Any, *, port: int | None = None, startup_timeout: float = 15.0) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 for the duration of the block; yields the base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(startup_timeout):
            while not server.started:
                if server.should_exit:
                    raise RuntimeError("uvicorn exited during start-up")
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            # The task group then waits for serve() to finish, bounded by the graceful timeout.
            server.should_exit = True
