"""The capture client's reconnect backoff against a real WebSocket hub on loopback: it grows while the hub
refuses, and starts over once a link has stayed up (a redeploy after hours must not wait 30 s)."""

from __future__ import annotations

import logging
import re

import anyio
import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from capture_client.client import DeviceService
from capture_client.connection import CaptureClient, ClientConfig
from capture_client.guard import DisplayGuard
from tests.support.standin_backends import StandInScreen, standin_backends
from wire import protocol as p

pytestmark = pytest.mark.anyio

REFUSALS = 5


async def test_the_backoff_grows_while_refused_and_starts_over_after_a_link_that_stayed_up(caplog):
    caplog.set_level(logging.INFO, logger="realtime_mcp.capture")
    attempts = 0
    retried_after_the_link = anyio.Event()

    def answer(connection: ServerConnection, request: Request):
        nonlocal attempts
        attempts += 1
        if attempts == REFUSALS + 2:
            retried_after_the_link.set()
        if attempts != REFUSALS + 1:
            return connection.respond(503, "starting up")
        return None

    async def hub(ws) -> None:
        await ws.recv()  # hello
        await ws.send(p.encode(p.Welcome(device_id="desk", heartbeat_interval=30)))
        await anyio.sleep(0.5)  # the link stays up longer than backoff_reset_after, then drops
        await ws.close(1012, "restarting")

    screen = StandInScreen()
    service = DeviceService(lambda: standin_backends(screen), DisplayGuard())
    try:
        async with websockets.serve(hub, "127.0.0.1", 0, process_request=answer) as server:
            port = server.sockets[0].getsockname()[1]
            config = ClientConfig(
                server=f"http://127.0.0.1:{port}",
                token="tok",
                reconnect_min=0.02,
                reconnect_max=5,
                backoff_reset_after=0.3,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(CaptureClient(config, service).run)
                with anyio.fail_after(20):
                    await retried_after_the_link.wait()
                tg.cancel_scope.cancel()
    finally:
        await service.aclose()
    delays = [float(d) for d in re.findall(r"reconnecting in ([\d.]+) s", caplog.text)]
    assert len(delays) == REFUSALS + 1, caplog.text
    refused, after_link = delays[:REFUSALS], delays[REFUSALS]
    assert refused == sorted(refused) and refused[-1] >= 0.2  # 0.02 doubling: 0.32 +- 20 % jitter
    assert after_link <= 0.1, "the backoff did not start over after a link that had stayed up"
