"""With the `move_cursor` setting (the old behaviour, for users who want it), point_at and highlight
through a real MCP client over HTTP move the real X pointer to where the model saw the thing: for a
downscaled frame, a region frame and a zoomed frame. (The default, the overlay with the pointer left
alone, is tests/test_overlay_x11.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from servers.app import create_app
from servers.settings import Settings
from tests.support.http import serve
from tests.support.inproc import Where, in_process, mcp_target
from tests.support.xserver import XServer, pointer_position, running_xvfb

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def xserver() -> Iterator[XServer]:
    with running_xvfb(2560, 1600) as server:
        yield server


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def capture(url: Where, arguments: dict) -> str:
    async with Client(mcp_target(url, "screen")) as client:
        result = await client.call_tool("capture_screen", arguments)
    assert not result.is_error and result.structured_content is not None, text_of(result)
    return result.structured_content["frame_id"]


async def point(url: Where, tool: str, arguments: dict) -> CallToolResult:
    async with Client(mcp_target(url, "pointer")) as client:
        return await client.call_tool(tool, arguments)


def settings_for(xserver: XServer, **overrides) -> Settings:
    # These tests read the real X pointer as evidence, so pointing moves it (the overlay stays off).
    overrides.setdefault("move_cursor", True)
    return Settings(display=xserver.display, servers=["screen", "pointer"], **overrides)


async def test_point_at_on_a_downscaled_frame_lands_on_that_pixel(xserver):
    # Over real HTTP (the rest of this file uses in-process clients: the same app and tools).
    async with serve(create_app(settings_for(xserver))) as url:
        frame_id = await capture(url, {})  # 2560x1600 sent as 1280x800
        result = await point(
            url, "point_at", {"x": 640, "y": 400, "frame_id": frame_id, "label": "OK button"}
        )
    assert not result.is_error, text_of(result)
    # Image pixel (640, 400) covers screen pixels 1280-1281 x 800-801; its centre is (1281, 801).
    assert pointer_position(xserver.display) == (1281, 801)
    assert result.structured_content is not None
    facts = result.structured_content
    assert (facts["screen_x"], facts["screen_y"], facts["display"]) == (1281, 801, 0)
    assert "OK button" in text_of(result) and "(1281, 801)" in text_of(result)
    assert facts["pointer_moved"] is True and "The user's pointer moved there too" in text_of(result)


async def test_point_at_on_a_region_frame_adds_the_region_offset(xserver):
    async with in_process(settings_for(xserver)) as url:
        frame_id = await capture(url, {"region": {"x": 1000, "y": 600, "width": 320, "height": 200}})
        result = await point(url, "point_at", {"x": 10, "y": 20, "frame_id": frame_id})
    assert not result.is_error, text_of(result)
    assert pointer_position(xserver.display) == (1010, 620)


async def test_point_at_on_a_zoomed_frame(xserver):
    async with in_process(settings_for(xserver)) as url:
        frame_id = await capture(url, {"max_edge": 640})  # a 4x downscale: 640x400
        async with Client(mcp_target(url, "screen")) as client:
            zoomed = await client.call_tool(
                "zoom", {"frame_id": frame_id, "x": 300, "y": 100, "width": 50, "height": 40}
            )
        assert zoomed.structured_content is not None
        # 50x40 image pixels at 4x are 200x160 screen pixels from (1200, 400), sent at full size.
        assert (zoomed.structured_content["width"], zoomed.structured_content["height"]) == (200, 160)
        result = await point(
            url, "point_at", {"x": 7, "y": 150, "frame_id": zoomed.structured_content["frame_id"]}
        )
    assert not result.is_error, text_of(result)
    assert pointer_position(xserver.display) == (1207, 550)


async def test_highlight_moves_to_the_centre_and_reports_the_screen_area(xserver):
    async with in_process(settings_for(xserver)) as url:
        frame_id = await capture(url, {})
        result = await point(
            url,
            "highlight",
            {"x": 100, "y": 50, "width": 40, "height": 20, "frame_id": frame_id, "label": "menu"},
        )
    assert not result.is_error, text_of(result)
    assert pointer_position(xserver.display) == (240, 120)
    assert result.structured_content is not None
    assert result.structured_content["area"] == {"x": 200, "y": 100, "width": 80, "height": 40}
    assert "screen area 80x40 at (200, 100)" in text_of(result)


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("point_at", {"x": 1280, "y": 0}, "outside the 1280x800 image"),
        ("point_at", {"x": -1, "y": 10}, "x must be 0..1279"),
        ("point_at", {"x": 5, "y": 800}, "y 0..799"),
        ("highlight", {"x": 1200, "y": 0, "width": 100, "height": 10}, "does not fit the 1280x800 image"),
        ("highlight", {"x": 0, "y": 0, "width": 0, "height": 10}, "greater than 0"),
        ("point_at", {"x": 1, "y": 1, "frame_id": "f_doesnotexist"}, "is unknown"),
        ("point_at", {"x": 1, "y": 1, "device": "mac-1"}, "captured on device 'local', not 'mac-1'"),
    ],
)
async def test_bad_points_are_errors_and_nothing_moves(xserver, tool, arguments, message):
    async with in_process(settings_for(xserver)) as url:
        frame_id = await capture(url, {})
        before = (await point(url, "point_at", {"x": 3, "y": 3, "frame_id": frame_id})).structured_content
        assert before is not None and pointer_position(xserver.display) == (7, 7)
        result = await point(url, tool, {"frame_id": frame_id, **arguments})
    assert result.is_error and message in text_of(result)
    assert pointer_position(xserver.display) == (7, 7)


async def test_expired_frame_ids_are_errors_and_nothing_moves(xserver):
    async with in_process(settings_for(xserver, frame_cache_size=1)) as url:
        old = await capture(url, {})
        current = await capture(url, {})
        assert not (await point(url, "point_at", {"x": 10, "y": 10, "frame_id": current})).is_error
        result = await point(url, "point_at", {"x": 500, "y": 500, "frame_id": old})
    assert result.is_error and "has expired" in text_of(result) and "capture_screen" in text_of(result)
    assert pointer_position(xserver.display) == (21, 21)
