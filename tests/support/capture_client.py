"""The real capture client, run in-process against a served suite (for end-to-end tests and benches)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from capture_client.backends import get_backends
from capture_client.client import DeviceService
from capture_client.connection import CaptureClient, ClientConfig
from capture_client.guard import DisplayGuard
from capture_client.x11_signals import RandrSignals, ScreenSizeProbe


@asynccontextmanager
async def running_capture_client(
    server_url: str,
    token: str,
    display: str,
    *,
    device_id: str | None = None,
    quiet_period: float = 0.5,
    randr: bool = True,
) -> AsyncIterator[CaptureClient]:
    """A connected capture client for X `display`, with the same signal sources the CLI starts."""
    guard = DisplayGuard(quiet_period=quiet_period)
    signals = RandrSignals(guard, display).start() if randr else None
    probe = ScreenSizeProbe(display)
    service = DeviceService(lambda: get_backends(display=display), guard, layout_probe=probe)
    client = CaptureClient(
        ClientConfig(server=server_url, token=token, device_id=device_id, platform="x11", reconnect_min=0.2),
        service,
    )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.run)
            with anyio.fail_after(15):
                await client.connected.wait()
            yield client
            tg.cancel_scope.cancel()
    finally:
        if signals is not None:
            signals.stop()
        probe.close()
        await service.aclose()
