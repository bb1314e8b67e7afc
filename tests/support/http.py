"""Real uvicorn on loopback for tests that need what only HTTP shows."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

from servers.http_server import uvicorn_config
from servers.settings import Settings


def free_port() -> int:
    """A loopback port for a server to bind, that the kernel will not hand to anyone else meanwhile.

    A port picked by binding to 0 and closing is free again at once, and parallel workers bind to 0
    all the time: another test's server could take it before ours binds it. This one was connected
    to once and closed from the listening side, so it sits in TIME_WAIT for a minute: binding to 0
    skips it, while a server binding it with SO_REUSEADDR (uvicorn, redis-server, Caddy) gets it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()  # closed first on this side: the TIME_WAIT is on `port`
    return port


@asynccontextmanager
async def serve(
    app: Any,
    *,
    port: int | None = None,
    startup_timeout: float = 15.0,
    settings: Settings | None = None,
    log_level: str = "warning",
    send_buffer: int | None = None,
) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 for the duration of the block, configured as `realtime-mcp serve`
    configures uvicorn (limits and protocol fixes from `settings`); yields the base URL.
    `send_buffer`: SO_SNDBUF of every accepted socket (small, so a peer that stops reading fills
    it quickly)."""
    # Bound here and handed to uvicorn: a port picked first and bound later can be taken meanwhile
    # by another worker's server ("address already in use" under parallel runs).
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)  # inherited on accept
    listener.bind(("127.0.0.1", port or 0))
    port = listener.getsockname()[1]
    sockets = [listener]
    config = uvicorn_config(
        app,
        settings or Settings(),
        host="127.0.0.1",
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, sockets)
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
