"""A minted device token is good until its `exp`, and so is the link opened with it: at that instant
the hub fails the device's pending calls, sends a fatal `token_expired` error and closes 1008; a
static token's link stays up. Real uvicorn on loopback, a real `websockets` client, and the real
capture client on a real Xvnc."""

# pyright: reportPossiblyUnboundVariable=false
# (names bound inside `async with create_task_group()`: anyio types its __aexit__ `-> bool`, so pyright
# assumes the block may swallow an exception and leave them unbound.)

from __future__ import annotations

import logging
import math
import time
from typing import Any

import anyio
import pytest
import websockets
from pydantic import SecretStr

from capture_client.backends import get_backends
from capture_client.client import DeviceService
from capture_client.connection import CaptureClient, ClientConfig, RefusedError
from capture_client.guard import DisplayGuard
from servers.app import create_app
from servers.hub.device import CaptureRequest, DeviceUnavailableError, Frame
from servers.hub.endpoint import EXPIRED_CODE
from servers.hub.relay import RelayDevice
from servers.settings import Settings
from tests.support.auth import SECRET, token
from tests.support.fake_device import (
    MAIN,
    FakeDevice,
    connect,
    device_hub,
    display_geometry,
    frame_message,
    wait_for_device,
)
from tests.support.http import serve
from tests.support.xvnc import running_xvnc
from wire import protocol as p

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120), pytest.mark.slow]

# Slow heartbeats, so a test device that is busy waiting is never dropped as silent, and a capture
# timeout far past every bound here, so a pending call can only fail because the link ended.
HUB: dict[str, Any] = {
    "auth": True,
    "token_secret": SECRET,
    "device_heartbeat_interval": 10,
    "capture_timeout": 45,
}
LIFETIME = 1.5
"""Seconds a minted token has left: `exp` is whole seconds, so 1.5 to 2.5 s (room for a slow handshake).
The token is issued earlier (`iat` in the past), so the wait is short while the ttl stays realistic."""
TTL = 6
BOUND = TTL + 15
"""How long a test waits for the expiry: generous, for a loaded runner."""


def expiring_token(device: str) -> tuple[str, int]:
    """A `device`-scoped token with LIFETIME to LIFETIME + 1 s left, and its `exp`."""
    exp = math.ceil(time.time() + LIFETIME)
    return token(device, scopes=("device",), ttl=TTL, now=exp - TTL), exp


def relay_of(hub, device_id: str) -> RelayDevice:
    device = hub.devices.get(device_id)
    assert isinstance(device, RelayDevice), device
    return device


async def answered_capture(device: FakeDevice, relay: RelayDevice) -> Frame:
    """A capture through the hub that the device answers with a frame: proof the link works."""
    frames: list[Frame] = []

    async def call() -> None:
        frames.append(await relay.capture(CaptureRequest()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        request = await device.next_message()
        assert isinstance(request, p.Capture), request
        await device.send(frame_message(display_geometry(MAIN), request_id=request.request_id))
    return frames[0]


async def test_an_expiring_token_ends_its_link_with_a_fatal_error_and_close_1008(caplog):
    caplog.set_level(logging.DEBUG)
    bearer, exp = expiring_token("mac-1")
    failures: list[DeviceUnavailableError] = []
    async with device_hub(**HUB) as (hub, url):
        async with connect(url, token=bearer) as device:
            assert isinstance(device.welcome, p.Welcome)
            await wait_for_device(hub, "mac-1")
            relay = relay_of(hub, "mac-1")

            async def pending_capture() -> None:
                with pytest.raises(DeviceUnavailableError) as failed:
                    await relay.capture(CaptureRequest())
                failures.append(failed.value)

            with anyio.fail_after(BOUND):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pending_capture)
                    assert isinstance(await device.next_message(BOUND), p.Capture)  # left unanswered
                    ended = await device.next_message(BOUND)
                    ended_at = time.time()
                    with pytest.raises(websockets.ConnectionClosed):
                        await device.ws.recv()
            assert isinstance(ended, p.ErrorMessage) and ended.fatal, ended
            assert ended.code == EXPIRED_CODE == "token_expired"
            assert "expired" in ended.message
            assert "`realtime-mcp token mint --device mac-1 --scopes device`" in ended.message
            assert ended_at >= exp - 0.05  # not cut short: the link lived until the token's exp
            assert device.ws.close_code == 1008
        await wait_for_device(hub, "mac-1", present=False)
        # The pending call failed when the link ended, long before its 45 s capture timeout.
        assert len(failures) == 1 and "disconnected (its device token expired at" in str(failures[0])
        # Connecting again with the same token is refused at the upgrade, as the capture client sees.
        with anyio.fail_after(15), pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {bearer}"}):
                pytest.fail("the hub opened a WebSocket for an expired token")
        assert refused.value.response.status_code == 401
        assert "(expired)" in refused.value.response.headers["WWW-Authenticate"]
    hub_logs = [r for r in caplog.records if not r.name.startswith("websockets.client")]
    assert any("token expired" in r.getMessage() for r in hub_logs)
    assert all(bearer not in r.getMessage() for r in hub_logs)


async def test_a_static_token_link_outlives_an_expiring_one():
    bearer, _ = expiring_token("mac-1")
    async with (
        device_hub(**HUB) as (hub, url),
        connect(url, token="tok-2", device_id="mac-2") as static,
        connect(url, token=bearer) as minted,
    ):
        await wait_for_device(hub, "mac-1")
        static_relay = relay_of(hub, "mac-2")
        ended = await minted.next_message(BOUND)
        assert isinstance(ended, p.ErrorMessage) and ended.code == EXPIRED_CODE
        await wait_for_device(hub, "mac-1", present=False)
        # Past the other token's exp, the static link still carries a capture both ways.
        frame = await answered_capture(static, static_relay)
        assert frame.geometry.display == MAIN.index
        assert not static_relay.closed and [d.id for d in hub.devices.connected()] == ["mac-2"]


async def test_the_capture_client_stops_with_the_expired_token_message(caplog):
    caplog.set_level(logging.DEBUG)
    settings = Settings(
        auth=True, token_secret=SecretStr(SECRET), local_device=False, servers=["screen"], skills_reload=False
    )
    app = create_app(settings)
    with running_xvnc(640, 480) as x:
        service = DeviceService(lambda: get_backends(display=x.display), DisplayGuard())
        try:
            async with serve(app) as url:
                bearer, exp = expiring_token("desk")  # minted once the X server and the suite are up
                client = CaptureClient(
                    ClientConfig(server=url, token=bearer, platform="x11", reconnect_min=0.05), service
                )
                with anyio.fail_after(BOUND), pytest.raises(RefusedError) as refused:
                    await client.run()
                stopped_at = time.time()
                assert app.state.hub.devices.connected() == []
        finally:
            await service.aclose()
    assert client.device_id == "desk"  # it was connected before the token ran out
    assert stopped_at >= exp - 0.05
    message = str(refused.value)
    assert message.startswith("token_expired: The device token expired at"), message
    assert "`realtime-mcp token mint --device desk --scopes device`" in message
    logs = [r.getMessage() for r in caplog.records]
    assert not any("reconnecting" in line for line in logs)  # stopped for good, no retry loop
    assert all(bearer not in line for line in logs)
