"""A loopback TCP balancer for tests: each connection goes to the first backend that accepts it.

It stands in for Caddy in front of the replicas: a capture client's WebSocket reaches replica 1
while it lives, and the next live replica once it is gone, exactly as a proxy with failover does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

import anyio
import anyio.abc


async def _pipe(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream) -> None:
    try:
        async for chunk in source:
            await sink.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    finally:
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, NotImplementedError):
            await sink.send_eof()


@asynccontextmanager
async def running_balancer(backends: Sequence[int]) -> AsyncIterator[str]:
    """Listen on a free loopback port; yields the base URL (`http://127.0.0.1:PORT`)."""

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with client:
            for port in backends:
                try:
                    upstream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    continue
                async with upstream, anyio.create_task_group() as tg:
                    tg.start_soon(_pipe, client, upstream)
                    await _pipe(upstream, client)
                    tg.cancel_scope.cancel()
                return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio's typed attribute
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()
