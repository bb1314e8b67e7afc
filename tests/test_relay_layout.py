"""Frames of a relayed device stop being usable once its display layout changes: real MCP clients
over HTTP against the whole app on real uvicorn, a scripted device over a real WebSocket."""

# pyright: reportPossiblyUnboundVariable=false
# (names bound inside `async with create_task_group()`: anyio types its __aexit__ `-> bool`, so pyright
# assumes the block may swallow an exception and leave them unbound.)

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent
from pydantic import SecretStr

from servers.app import create_app
from servers.hub.endpoint import DEVICE_PATH
from servers.settings import Settings
from tests.support.fake_device import LEFT, MAIN, FakeDevice, connect, display_geometry, frame_message
from tests.support.http import serve
from wire import protocol as p
from wire.geometry import DisplayInfo, FrameGeometry

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

RESIZED = MAIN.model_copy(update={"width": 1024, "height": 768, "pixel_width": 2048, "pixel_height": 1536})


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


class Responder:
    """Answers the hub as a capture client would, for the layout it currently has; records requests."""

    def __init__(self, device: FakeDevice, displays: list[DisplayInfo]) -> None:
        self.device = device
        self.displays = displays
        self.requests: list[p.HubMessage] = []

    def _geometry(self, request: p.Capture) -> FrameGeometry:
        wanted = request.display if isinstance(request.display, int) else 0
        display = next(d for d in self.displays if d.index == wanted)
        geometry = display_geometry(display)
        if request.region is None:
            return geometry
        region = request.region
        return geometry.model_copy(
            update={
                "area": region,
                "capture_width": round(region.width * 2),
                "capture_height": round(region.height * 2),
                "image_width": round(region.width * 2),
                "image_height": round(region.height * 2),
            }
        )

    async def run(self) -> None:
        while True:
            message = await self.device.next_message(timeout=60)
            self.requests.append(message)
            if isinstance(message, p.Capture):
                await self.device.send(frame_message(self._geometry(message), request_id=message.request_id))
            elif isinstance(message, p.MovePointer):
                await self.device.send(p.PointerDone(request_id=message.request_id, x=message.x, y=message.y))
            elif isinstance(message, p.Highlight):
                await self.device.send(p.PointerDone(request_id=message.request_id, x=0, y=0))

    async def change_layout(self, hub, displays: list[DisplayInfo]) -> None:
        """Tell the hub, and wait (bounded) until it has taken the new layout."""
        self.displays = displays
        await self.device.send(p.DisplaysChanged(displays=displays, reason="mode set"))
        with anyio.fail_after(10):
            while await hub.devices.resolve("mac-1").list_displays() != displays:
                await anyio.sleep(0.01)


@asynccontextmanager
async def suite() -> AsyncIterator[tuple[Any, str, Client, Client]]:
    settings = Settings(
        auth=False,
        local_device=False,
        device_tokens={"mac-1": SecretStr("tok-1")},
        servers=["screen", "pointer"],
        skills_reload=False,
        capture_timeout=5.0,
    )
    app = create_app(settings)
    async with (
        serve(app) as url,
        Client(f"{url}/screen/mcp") as screen,
        Client(f"{url}/pointer/mcp") as pointer,
    ):
        yield app.state.hub, url.replace("http://", "ws://") + DEVICE_PATH, screen, pointer


async def capture(screen: Client, **arguments: Any) -> str:
    result = await screen.call_tool("capture_screen", arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content["frame_id"]


async def refused_everywhere(screen: Client, pointer: Client, frame_id: str) -> None:
    """point_at, highlight and zoom on `frame_id` all answer the stale-layout error."""
    results = [
        await pointer.call_tool("point_at", {"x": 10, "y": 10, "frame_id": frame_id}),
        await pointer.call_tool(
            "highlight", {"x": 1, "y": 1, "width": 20, "height": 10, "frame_id": frame_id}
        ),
        await screen.call_tool("zoom", {"frame_id": frame_id, "x": 0, "y": 0, "width": 50, "height": 50}),
    ]
    for result in results:
        assert result.is_error
        text = text_of(result)
        assert f"Frame {frame_id!r} was taken before the display layout of device 'mac-1' changed" in text
        assert "Capture again" in text


async def test_a_display_change_notice_retires_old_frames_and_new_ones_work():
    async with suite() as (hub, url, screen, pointer), connect(url, displays=[MAIN, LEFT]) as device:
        responder = Responder(device, [MAIN, LEFT])
        async with anyio.create_task_group() as tg:
            tg.start_soon(responder.run)
            old = await capture(screen)
            left = await capture(screen, display=1)
            assert not (await pointer.call_tool("point_at", {"x": 5, "y": 5, "frame_id": old})).is_error

            await responder.change_layout(hub, [RESIZED, LEFT])
            sent_before = len(responder.requests)
            await refused_everywhere(screen, pointer, old)
            # Every frame of the old layout goes, even one of a display that did not change.
            await refused_everywhere(screen, pointer, left)
            assert responder.requests[sent_before:] == []  # nothing reached the device

            new = await capture(screen)
            moved = await pointer.call_tool("point_at", {"x": 320, "y": 240, "frame_id": new})
            assert not moved.is_error, text_of(moved)
            request = responder.requests[-1]
            assert isinstance(request, p.MovePointer)
            # Pixel (320, 240) of a 640x480 image of the 1024x768 display: (512.8, 384.8).
            assert (request.x, request.y) == (pytest.approx(512.8), pytest.approx(384.8))
            zoomed = await screen.call_tool(
                "zoom", {"frame_id": new, "x": 0, "y": 0, "width": 64, "height": 48}
            )
            assert not zoomed.is_error, text_of(zoomed)
            tg.cancel_scope.cancel()


async def test_the_same_layout_announced_again_keeps_frames_usable():
    async with suite() as (hub, url, screen, pointer), connect(url, displays=[MAIN]) as device:
        responder = Responder(device, [MAIN])
        async with anyio.create_task_group() as tg:
            tg.start_soon(responder.run)
            frame = await capture(screen)
            await responder.change_layout(hub, [MAIN])
            result = await pointer.call_tool("point_at", {"x": 5, "y": 5, "frame_id": frame})
            assert not result.is_error, text_of(result)
            tg.cancel_scope.cancel()


async def test_a_new_hello_retires_the_frames_of_the_connection_it_replaces():
    async with suite() as (_hub, url, screen, pointer):
        async with connect(url, displays=[MAIN]) as first:
            responder = Responder(first, [MAIN])
            async with anyio.create_task_group() as tg:
                tg.start_soon(responder.run)
                old = await capture(screen)
                tg.cancel_scope.cancel()
        async with connect(url, displays=[RESIZED]) as second:
            responder = Responder(second, [RESIZED])
            async with anyio.create_task_group() as tg:
                tg.start_soon(responder.run)
                await refused_everywhere(screen, pointer, old)
                assert responder.requests == []
                new = await capture(screen)
                assert not (await pointer.call_tool("point_at", {"x": 1, "y": 1, "frame_id": new})).is_error
                tg.cancel_scope.cancel()
