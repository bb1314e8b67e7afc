"""A scripted capture client for relay tests: a real `websockets` connection speaking the protocol."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import websockets
from PIL import Image
from starlette.applications import Starlette

from servers.hub.endpoint import DEVICE_PATH, create_device_route
from servers.hub.hub import Hub
from servers.settings import Settings
from tests.support.http import serve
from wire import protocol as p
from wire.geometry import DisplayInfo, FrameGeometry, Rect

MAIN = DisplayInfo(
    index=0, x=0, y=0, width=1280, height=800, pixel_width=2560, pixel_height=1600, primary=True
)
LEFT = DisplayInfo(index=1, x=-1920, y=0, width=1920, height=1080, pixel_width=1920, pixel_height=1080)


def jpeg(width: int, height: int, color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", quality=80)
    return out.getvalue()


def display_geometry(display: DisplayInfo, image_width: int = 640) -> FrameGeometry:
    image_height = round(display.height * image_width / display.width)
    return FrameGeometry(
        display=display.index,
        area=Rect(x=display.x, y=display.y, width=display.width, height=display.height),
        capture_width=display.pixel_width,
        capture_height=display.pixel_height,
        image_width=image_width,
        image_height=image_height,
    )


def frame_message(
    geometry: FrameGeometry, *, request_id: str | None, pushed: bool = False, image: bytes | None = None
) -> bytes:
    image = image if image is not None else jpeg(geometry.image_width, geometry.image_height)
    header = p.FrameHeader(
        request_id=request_id,
        pushed=pushed,
        geometry=geometry,
        mime_type="image/jpeg",
        captured_at=0.0,
        size=len(image),
    )
    return p.encode_frame(header, image)


def relay_settings(**changes) -> Settings:
    base = {"local_device": False, "device_tokens": {"mac-1": "tok-1", "mac-2": "tok-2"}, "servers": []}
    return Settings(**(base | changes))


@asynccontextmanager
async def device_hub(send_buffer: int | None = None, **settings_changes) -> AsyncIterator[tuple[Hub, str]]:
    """A hub behind its device endpoint on real uvicorn; yields the hub and the ws:// URL."""
    hub = Hub(relay_settings(**settings_changes))
    app = Starlette(routes=[create_device_route(hub)])
    try:
        async with serve(app, send_buffer=send_buffer) as url:
            yield hub, url.replace("http://", "ws://") + DEVICE_PATH
    finally:
        await hub.aclose()


class FakeDevice:
    def __init__(self, ws: websockets.ClientConnection, welcome: p.HubMessage) -> None:
        self.ws = ws
        self.welcome = welcome

    async def send(self, message: p._Message | str | bytes) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else p.encode(message))

    async def next_message(self, timeout: float = 10.0) -> p.HubMessage:
        """The next hub message other than a ping (pings are answered, as a real client does)."""
        with anyio.fail_after(timeout):
            while True:
                message = p.parse_hub_text(await self.ws.recv())
                if isinstance(message, p.Ping):
                    await self.send(p.Pong(seq=message.seq))
                    continue
                return message


@asynccontextmanager
async def connect(
    url: str,
    *,
    token: str = "tok-1",  # noqa: S107 - a test token
    device_id: str | None = "mac-1",
    displays: list[DisplayInfo] | None = None,
) -> AsyncIterator[FakeDevice]:
    hello = p.Hello(
        protocol_version=p.PROTOCOL_VERSION,
        device_id=device_id,
        client_version="test",
        displays=displays if displays is not None else [MAIN, LEFT],
        can_push=True,
    )
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(p.encode(hello))
        with anyio.fail_after(10):
            welcome = p.parse_hub_text(await ws.recv())
        yield FakeDevice(ws, welcome)


async def wait_for_device(hub: Hub, device_id: str, *, present: bool = True, timeout: float = 10.0) -> None:
    """Until the registry has (or no longer has) `device_id`; bounded."""
    with anyio.fail_after(timeout):
        while (device_id in {d.id for d in hub.devices.connected()}) != present:
            await anyio.sleep(0.01)


@asynccontextmanager
async def stuck_device(url: str) -> AsyncIterator[websockets.ClientConnection]:
    """A connected device that has stopped reading and keeps sending bad messages the hub answers."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    # No permessage-deflate: the hub's identical refusals would compress to a few bytes each, and
    # its buffers would then take ~10,000 of them (seconds of CPU) before they filled.
    async with websockets.connect(
        url, sock=sock, max_queue=1, compression=None, additional_headers={"Authorization": "Bearer tok-1"}
    ) as ws:
        hello = p.Hello(protocol_version=p.PROTOCOL_VERSION, device_id="mac-1", displays=[MAIN])
        await ws.send(p.encode(hello))
        with anyio.fail_after(10):
            assert isinstance(p.parse_hub_text(await ws.recv()), p.Welcome)
        async with anyio.create_task_group() as tg:

            async def flood() -> None:
                # Each is answered with a ~130-byte error nobody reads: ~600 fill the hub's buffers
                # (64 KiB in asyncio, 8 KiB in each kernel), so 5,000 keep it stuck with room to spare.
                # 1 KB each, so most of the flood is still unread in the hub's kernel buffer when it
                # aborts the socket: the kernel then resets the connection at once (with nothing
                # unread, its FIN would queue behind replies this client never takes).
                junk = "{not json" + " " * 1000
                for i in range(5_000):
                    await ws.send(junk)
                    if i % 100 == 0:
                        await anyio.sleep(0)  # a send into free socket buffers never yields

            tg.start_soon(flood)
            try:
                yield ws
            finally:
                tg.cancel_scope.cancel()
                # A device that stopped reading cannot take part in a close handshake: it vanishes
                # (otherwise the client would wait its whole close_timeout, 10 s, for an answer).
                ws.transport.abort()
