"""A device that stops reading: sends to it are bounded, its link is dropped within the heartbeat
window, captures fail within their timeout, and shutdown does not wait for it.

The peer is real: a `websockets` client on a socket with a small receive buffer that never reads
(its queue holds one message, then it stops taking data off the socket) while it sends messages
the hub must answer, so the hub's send buffers fill for real.
"""

from __future__ import annotations

import socket
import time
from contextlib import suppress

import anyio
import pytest
import websockets

from servers.http_server import BoundedWebSocketProtocol
from servers.hub.device import CaptureRequest, DeviceError
from servers.hub.hub import Hub
from servers.hub.relay import RelayDevice
from tests.support.fake_device import device_hub, stuck_device, wait_for_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90), pytest.mark.slow]


async def wedged(hub: Hub, *, silent_for: float = 1.0) -> None:
    """Until the hub's reader has been stuck behind a send for `silent_for` s while the flood goes on."""
    with anyio.fail_after(30):
        await wait_for_device(hub, "mac-1")
        relay = hub.devices.resolve("mac-1")
        assert isinstance(relay, RelayDevice)
        while relay.silence() < silent_for and not relay.closed:
            await anyio.sleep(0.05)


TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8
"""Linux's TCP states (`tcpi_state`, the first byte of TCP_INFO): reset by the peer, or its FIN received."""


@pytest.fixture(autouse=True)
def _prompt_abort(monkeypatch):
    """The server aborts a finished link's socket 0.5 s after the app is done with it, not 5 s."""
    monkeypatch.setattr(BoundedWebSocketProtocol, "abort_after", 0.5)


async def closed(ws: websockets.ClientConnection, timeout: float) -> None:
    """Until the hub has ended the socket, as this client's kernel sees it. The client itself cannot
    tell (its reads are paused and its flood is sent), short of its next keepalive ping, 20 s on."""
    sock: socket.socket = ws.transport.get_extra_info("socket")
    with anyio.fail_after(timeout):
        while sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] not in (TCP_CLOSE, TCP_CLOSE_WAIT):
            await anyio.sleep(0.05)


async def test_a_device_that_stops_reading_is_dropped_within_the_heartbeat_window():
    # Window: 3 intervals of 1 s. The reader is stuck from before `wedged` returns.
    async with (
        device_hub(send_buffer=4096, device_heartbeat_interval=1.0) as (hub, url),
        stuck_device(url) as ws,
    ):
        await wedged(hub, silent_for=0.5)
        started = time.monotonic()
        with anyio.fail_after(15):
            await wait_for_device(hub, "mac-1", present=False)
        assert time.monotonic() - started < 3 + 2  # the window, slack
        await closed(ws, 30)  # the hub aborted the socket: this client never reads, yet sees it end


async def test_a_capture_on_a_device_that_stops_reading_fails_within_its_timeout():
    async with (
        device_hub(send_buffer=4096, device_heartbeat_interval=5, capture_timeout=1.0) as (hub, url),
        stuck_device(url),
    ):
        await wedged(hub)
        relay = hub.devices.resolve("mac-1")
        started = time.monotonic()
        with anyio.fail_after(10), suppress(DeviceError):
            await relay.capture(CaptureRequest())
        assert time.monotonic() - started < 3


async def test_closing_the_hub_ends_a_link_that_stops_reading():
    async with (
        device_hub(send_buffer=4096, device_heartbeat_interval=5) as (hub, url),
        stuck_device(url) as ws,
    ):
        await wedged(hub)
        started = time.monotonic()
        with anyio.fail_after(5):
            await hub.aclose()
        with anyio.fail_after(5):
            await wait_for_device(hub, "mac-1", present=False)
        assert time.monotonic() - started < 3
        await closed(ws, 30)
