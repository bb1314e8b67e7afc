"""End to end on a display that really reconfigures: Xvnc + the capture client + the suite + MCP.

The suite runs on real uvicorn with no local display; the real capture client connects to it over
loopback and captures a real Xvnc. A real MCP client (`mcp.Client` over HTTP) calls
`capture_screen` and `point_at` while the test resizes the screen, switches its output off and on,
and blanks it. Every image that reaches the MCP client is decoded and checked: never black, fresh
frames always of the layout the X server has, and `point_at` lands where the X server says.
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from PIL import Image

from servers.app import create_app
from servers.settings import Settings
from tests.support.capture_client import running_capture_client
from tests.support.http import serve
from tests.support.xserver import XServer, pointer_position, show_picture
from tests.support.xvnc import output_off, running_xvnc, screen_size, set_mode

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180), pytest.mark.slow]

TOKEN = "desk-token"
BLACK_LEVEL = 12


def suite_settings(**changes: Any) -> Settings:
    base: dict[str, Any] = {
        "auth": False,
        "local_device": False,
        "device_tokens": {"desk": TOKEN},
        "servers": ["screen", "pointer"],
        "capture_timeout": 3.0,
        "skills_reload": False,
        # Where the pointer lands is the evidence here: the old behaviour's setting moves it (the
        # overlay itself is tests/test_overlay_x11.py).
        "move_cursor": True,
    }
    return Settings(**(base | changes))


def decode(result) -> Image.Image:
    image = next(c for c in result.content if c.type == "image")
    return Image.open(io.BytesIO(base64.b64decode(image.data))).convert("RGB")


def is_black(image: Image.Image) -> bool:
    return max(high for _, high in image.getextrema()) <= BLACK_LEVEL  # type: ignore[misc]


class Recorder:
    """Calls capture_screen and checks every image that comes back."""

    def __init__(self, screen: Client, hub) -> None:
        self.screen = screen
        self.hub = hub
        self.images = 0
        self.stale = 0
        self.errors: list[str] = []

    async def capture(self, **arguments: Any) -> tuple[dict[str, Any], Any] | None:
        result = await self.screen.call_tool("capture_screen", {"max_edge": 2000, **arguments})
        if result.is_error:
            self.errors.append(getattr(result.content[0], "text", ""))
            return None
        image = decode(result)
        info = result.structured_content
        assert info is not None
        assert not is_black(image), f"a black frame reached the MCP client: {info}"
        assert image.size == (info["width"], info["height"])
        self.images += 1
        self.stale += bool(info["stale"])
        return info, self.hub.frames.get(info["frame_id"]).geometry

    async def fresh_frame_of(self, size: tuple[int, int], timeout: float = 30) -> tuple[dict[str, Any], Any]:
        """Capture until a fresh (not stale) frame arrives; it must show the X server's `size`."""
        with anyio.fail_after(timeout):
            while True:
                got = await self.capture()
                if got is not None and not got[0]["stale"]:
                    info, geometry = got
                    assert (geometry.area.width, geometry.area.height) == size, geometry
                    assert (geometry.capture_width, geometry.capture_height) == size
                    return info, geometry


async def point_lands(
    pointer: Client, server: XServer, info: dict[str, Any], geometry, x: int, y: int
) -> None:
    result = await pointer.call_tool("point_at", {"x": x, "y": y, "frame_id": info["frame_id"]})
    assert not result.is_error, result.content
    expected = (
        math.floor(geometry.area.x + (x + 0.5) * geometry.area.width / geometry.image_width),
        math.floor(geometry.area.y + (y + 0.5) * geometry.area.height / geometry.image_height),
    )
    assert pointer_position(server.display) == expected


def blank(server: XServer) -> None:
    """Paint the root window black: what a panel shows while it reconfigures or sleeps."""
    from capture_client.backends.x11 import open_xlib_display

    d = open_xlib_display(server.display)
    try:
        root = d.screen().root
        root.change_attributes(background_pixel=d.screen().black_pixel)
        root.clear_area(0, 0, 0, 0)
        d.sync()
    finally:
        d.close()


async def test_resize_output_off_and_on_and_blank_never_deliver_black_or_stale_geometry():
    with running_xvnc(1600, 1000) as x:
        app = create_app(suite_settings())
        hub = app.state.hub
        async with (
            serve(app) as url,
            running_capture_client(url, TOKEN, x.display) as client,
            Client(f"{url}/screen/mcp") as screen,
            Client(f"{url}/pointer/mcp") as pointer,
        ):
            assert client.device_id == "desk"
            shots = Recorder(screen, hub)

            # Steady: a fresh frame of the whole screen, and the pointer lands on it.
            info, geometry = await shots.fresh_frame_of((1600, 1000))
            assert info["device"] == "desk" and info["display"] == 0
            await point_lands(pointer, x, info, geometry, 400, 300)
            small = await screen.call_tool("capture_screen", {})
            assert small.structured_content["width"] == 1280  # default max_edge downscales
            small_geometry = hub.frames.get(small.structured_content["frame_id"]).geometry
            await point_lands(pointer, x, small.structured_content, small_geometry, 1279, 799)
            assert pointer_position(x.display) == (1599, 999)

            # Resize while captures run back to back.
            async with anyio.create_task_group() as tg:
                capturing = anyio.Event()

                async def keep_capturing() -> None:
                    done = 0
                    while True:
                        await shots.capture()
                        done += 1
                        if done == 2:
                            capturing.set()

                tg.start_soon(keep_capturing)
                with anyio.fail_after(15):
                    await capturing.wait()  # captures now run back to back as the resize lands
                set_mode(x, 1280, 800)
                assert screen_size(x) == (1280, 800)
                info, geometry = await shots.fresh_frame_of((1280, 800))
                await point_lands(pointer, x, info, geometry, 1000, 700)

                # Output off: Xvnc shrinks the screen to 32x32; then back on at full size.
                output_off(x)
                assert screen_size(x) == (32, 32)
                await shots.fresh_frame_of((32, 32))
                set_mode(x, 1600, 1000)
                info, geometry = await shots.fresh_frame_of((1600, 1000))
                tg.cancel_scope.cancel()
            await point_lands(pointer, x, info, geometry, 1500, 50)

            # The panel goes black: no black frame gets out; the last good one is offered, marked stale.
            blank(x)
            with anyio.fail_after(30):
                while True:
                    got = await shots.capture()
                    if got is not None and got[0]["stale"]:
                        break
            assert got[1].area.width == 1600  # the last good frame, of the current layout
            show_picture(x, x.shown)  # type: ignore[arg-type]
            await shots.fresh_frame_of((1600, 1000))

            displays = await screen.call_tool("list_displays", {})
            assert displays.structured_content["displays"][0]["width"] == 1600
            assert shots.images >= 10
            assert shots.stale >= 1


OPENAI_HEADERS = {
    "user-agent": "openai-mcp/1.0.0",
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
}


async def openai_shaped_call(http: httpx.AsyncClient, url: str, tool: str, arguments: dict) -> dict:
    """One tool call the way OpenAI's hosted client makes it: a fresh classic initialize at
    2025-03-26, `initialized`, then `tools/call`, each a POST; SSE answers parsed."""

    def answer(response: httpx.Response) -> dict:
        assert response.status_code == 200, response.text
        messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
        return next(m for m in messages if "result" in m or "error" in m)

    init = {
        "protocolVersion": "2025-03-26",
        "capabilities": {},
        "clientInfo": {"name": "openai-mcp", "version": "1.0.0"},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}
    assert (
        answer(await http.post(url, json=body, headers=OPENAI_HEADERS))["result"]["protocolVersion"]
        == "2025-03-26"
    )
    notified = await http.post(
        url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=OPENAI_HEADERS
    )
    assert notified.status_code == 202
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    return answer(await http.post(url, json=call, headers=OPENAI_HEADERS))["result"]


async def test_a_realtime_shaped_call_gets_the_remote_screen_and_moves_its_pointer():
    """The production shape: the suite on one side, the capture client on the machine with the
    screen, and the hosted client's wire behaviour calling the tools."""
    with running_xvnc(1600, 1000) as x:
        async with (
            serve(create_app(suite_settings())) as url,
            running_capture_client(url, TOKEN, x.display),
            httpx.AsyncClient(timeout=30) as http,
        ):
            result = await openai_shaped_call(http, f"{url}/screen/mcp", "capture_screen", {})
            assert not result.get("isError")
            text = next(c["text"] for c in result["content"] if c["type"] == "text")
            image = next(c for c in result["content"] if c["type"] == "image")
            frame = result["structuredContent"]
            assert f"{frame['width']}x{frame['height']} image" in text and frame["device"] == "desk"
            picture = Image.open(io.BytesIO(base64.b64decode(image["data"])))
            assert picture.size == (1280, 800) and not is_black(picture.convert("RGB"))
            moved = await openai_shaped_call(
                http, f"{url}/pointer/mcp", "point_at", {"x": 639, "y": 399, "frame_id": frame["frame_id"]}
            )
            assert not moved.get("isError"), moved
            assert pointer_position(x.display) == (799, 499)
