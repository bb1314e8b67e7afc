"""The server's own display on a real Xvnc, through real MCP clients over HTTP: concurrent captures
(mss's Xlib backend, which Xvnc needs, only works on the thread that opened it) and frames taken
before a real `xrandr` resize being refused."""

from __future__ import annotations

import base64
import io
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent
from PIL import Image

from servers.app import create_app
from servers.settings import Settings
from tests.support.http import serve
from tests.support.xserver import pointer_position
from tests.support.xvnc import running_xvnc, screen_size, set_mode

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120), pytest.mark.slow]


def local_app(display: str):
    # The pointer's position is the evidence here: the old behaviour's setting moves it.
    return create_app(
        Settings(display=display, servers=["screen", "pointer"], skills_reload=False, move_cursor=True)
    )


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def image_size(result: CallToolResult) -> tuple[int, int]:
    image = next(c for c in result.content if c.type == "image")
    return Image.open(io.BytesIO(base64.b64decode(image.data))).size


async def capture(screen: Client, **arguments: Any) -> dict[str, Any]:
    result = await screen.call_tool("capture_screen", arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def test_concurrent_captures_and_pointer_moves_on_xvnc_all_succeed():
    with running_xvnc(1280, 800) as x:
        async with (
            serve(local_app(x.display)) as url,
            Client(f"{url}/screen/mcp") as screen,
            Client(f"{url}/pointer/mcp") as pointer,
        ):
            frame_id = (await capture(screen, max_edge=640))["frame_id"]
            results: list[CallToolResult] = []
            moves: list[CallToolResult] = []

            async def grab(i: int) -> None:
                results.append(await screen.call_tool("capture_screen", {"max_edge": 320 + 16 * i}))

            async def move(i: int) -> None:
                moves.append(await pointer.call_tool("point_at", {"x": i, "y": i, "frame_id": frame_id}))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for i in range(12):
                        tg.start_soon(grab, i)
                        tg.start_soon(move, i)
                        if i % 4 == 0:
                            tg.start_soon(screen.call_tool, "list_displays", {})
    assert len(results) == 12 and len(moves) == 12
    assert [text_of(r) for r in results + moves if r.is_error] == []
    sizes = sorted(image_size(r)[0] for r in results)
    assert sizes == [320 + 16 * i for i in range(12)]


async def test_frames_from_before_an_xrandr_resize_are_refused_and_a_new_capture_works():
    with running_xvnc(1600, 1000) as x:
        app = local_app(x.display)
        async with (
            serve(app) as url,
            Client(f"{url}/screen/mcp") as screen,
            Client(f"{url}/pointer/mcp") as pointer,
        ):
            old = await capture(screen)  # 1600x1000 sent as 1280x800
            moved = await pointer.call_tool("point_at", {"x": 1000, "y": 700, "frame_id": old["frame_id"]})
            assert not moved.is_error and pointer_position(x.display) == (1250, 875)

            set_mode(x, 1024, 768)
            assert screen_size(x) == (1024, 768)
            before = pointer_position(x.display)  # the X server kept the pointer on the smaller screen
            # The device hears of it from RandR (no capture needed): wait, bounded, for it to notice.
            device = app.state.hub.devices.local()
            with anyio.fail_after(10):
                while device.layout_epoch == old_epoch(app, old["frame_id"]):
                    await anyio.sleep(0.02)

            # Image pixel (100, 100) would map to (125, 125) on the new screen: still on it, still wrong.
            refused = [
                await pointer.call_tool("point_at", {"x": 100, "y": 100, "frame_id": old["frame_id"]}),
                await pointer.call_tool(
                    "highlight", {"x": 10, "y": 10, "width": 50, "height": 20, "frame_id": old["frame_id"]}
                ),
                await screen.call_tool(
                    "zoom", {"frame_id": old["frame_id"], "x": 0, "y": 0, "width": 100, "height": 100}
                ),
            ]
            for result in refused:
                assert result.is_error
                assert f"Frame {old['frame_id']!r} was taken before the display layout" in text_of(result)
                assert "Capture again" in text_of(result)
            assert pointer_position(x.display) == before  # nothing moved

            new = await capture(screen, format="png")
            assert (new["width"], new["height"]) == (1024, 768) and new["stale"] is False
            landed = await pointer.call_tool("point_at", {"x": 1000, "y": 700, "frame_id": new["frame_id"]})
            assert not landed.is_error, text_of(landed)
            assert pointer_position(x.display) == (1000, 700)


async def test_a_resize_noticed_by_the_next_capture_also_retires_the_old_frames():
    """Without waiting for RandR: the capture after the resize reads the new layout itself."""
    with running_xvnc(1280, 800) as x:
        async with (
            serve(local_app(x.display)) as url,
            Client(f"{url}/screen/mcp") as screen,
            Client(f"{url}/pointer/mcp") as pointer,
        ):
            old = await capture(screen)
            set_mode(x, 1024, 768)
            new = await capture(screen)
            assert (new["width"], new["height"]) == (1024, 768)
            refused = await pointer.call_tool("point_at", {"x": 5, "y": 5, "frame_id": old["frame_id"]})
            assert refused.is_error and "before the display layout" in text_of(refused)
            assert not (
                await pointer.call_tool("point_at", {"x": 5, "y": 5, "frame_id": new["frame_id"]})
            ).is_error
            assert pointer_position(x.display) == (5, 5)


def old_epoch(app, frame_id: str) -> int:
    return app.state.hub.frames.get(frame_id).layout_epoch
