"""capture_screen, zoom and list_displays through a real MCP client over HTTP, on a real Xvfb showing
a busy UI picture; the images are decoded and compared with what the X server shows."""

from __future__ import annotations

import base64
import io
import subprocess
from collections.abc import Iterator
from typing import cast

import pytest
from mcp import Client
from mcp_types import CallToolResult, ImageContent, TextContent
from PIL import Image, ImageChops, ImageStat

from servers.app import create_app
from servers.settings import Settings
from tests.support.http import serve
from tests.support.inproc import in_process
from tests.support.xserver import XServer, busy_ui_picture, running_xvfb, show_picture, start_x_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def xserver() -> Iterator[XServer]:
    with running_xvfb(2560, 1600) as server:
        yield server


def red_max(image: Image.Image) -> int:
    """The brightest red in the image (a picture, not black or garbage, has some)."""
    extrema = cast("tuple[tuple[int, int], ...]", image.convert("RGB").getextrema())
    return extrema[0][1]


def settings_for(display: str | None, **overrides) -> Settings:
    return Settings(display=display, servers=["screen", "pointer"], **overrides)


def image_of(result: CallToolResult) -> Image.Image:
    assert not result.is_error, result.content
    images = [c for c in result.content if isinstance(c, ImageContent)]
    assert len(images) == 1
    return Image.open(io.BytesIO(base64.b64decode(images[0].data)))


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


async def test_capture_shows_the_screen_downscaled_with_frame_facts(xserver):
    # Over real HTTP (the rest of this file uses in-process clients: the same app and tools).
    async with serve(create_app(settings_for(xserver.display))) as url, Client(f"{url}/screen/mcp") as client:
        result = await client.call_tool("capture_screen", {})
    image = image_of(result)
    assert image.format == "JPEG" and image.size == (1280, 800)
    assert len(base64.b64decode(result.content[1].data)) <= 250_000  # type: ignore[union-attr]
    facts = result.structured_content
    assert facts is not None
    assert (facts["width"], facts["height"], facts["display"]) == (1280, 800, 0)
    frame_id = facts["frame_id"]
    text = text_of(result)
    assert frame_id in text and "1280x800" in text and "x 0..1279 and y 0..799" in text and "point_at" in text
    shown = xserver.shown
    assert shown is not None
    expected = shown.resize(image.size, Image.Resampling.BOX)
    assert mean_difference(image, expected) < 4
    # The comparison can fail: the same picture shifted by a few pixels is far off.
    shifted = shown.crop((24, 0, 2560 + 24, 1600)).resize(image.size, Image.Resampling.BOX)
    assert mean_difference(image, shifted) > 2 * mean_difference(image, expected)


async def test_region_in_png_is_the_exact_pixels_of_that_part(xserver):
    async with in_process(settings_for(xserver.display)) as suite, Client(suite["screen"]) as client:
        result = await client.call_tool(
            "capture_screen",
            {"region": {"x": 101, "y": 203, "width": 640, "height": 400}, "format": "png", "display": 0},
        )
    image = image_of(result)
    assert image.format == "PNG" and image.size == (640, 400)
    assert xserver.shown is not None
    assert (
        ImageChops.difference(image.convert("RGB"), xserver.shown.crop((101, 203, 741, 603))).getbbox()
        is None
    )


async def test_max_edge_and_webp(xserver):
    async with in_process(settings_for(xserver.display)) as suite, Client(suite["screen"]) as client:
        result = await client.call_tool("capture_screen", {"max_edge": 500, "format": "webp", "quality": 60})
    image = image_of(result)
    assert image.format == "WEBP" and image.size == (500, 313)
    assert result.structured_content is not None and result.structured_content["mime_type"] == "image/webp"


async def test_all_displays_capture_has_no_display_index(xserver):
    async with in_process(settings_for(xserver.display)) as suite, Client(suite["screen"]) as client:
        result = await client.call_tool("capture_screen", {"display": "all", "max_edge": 640})
    assert image_of(result).size == (640, 400)
    assert result.structured_content is not None and result.structured_content["display"] is None
    assert "all displays" in text_of(result)


async def test_zoom_recaptures_the_area_at_full_resolution(xserver):
    async with in_process(settings_for(xserver.display)) as suite, Client(suite["screen"]) as client:
        first = await client.call_tool("capture_screen", {})
        assert first.structured_content is not None
        frame_id = first.structured_content["frame_id"]
        zoomed = await client.call_tool(
            "zoom", {"frame_id": frame_id, "x": 100, "y": 50, "width": 200, "height": 100}
        )
    image = image_of(zoomed)
    # 200x100 image pixels of a 2x downscale are 400x200 screen pixels, sent at full resolution.
    assert image.size == (400, 200)
    assert zoomed.structured_content is not None
    assert zoomed.structured_content["frame_id"] != frame_id
    assert f"zoom into frame {frame_id}" in text_of(zoomed)
    assert xserver.shown is not None
    assert mean_difference(image, xserver.shown.crop((200, 100, 600, 300))) < 4


async def test_list_displays_reports_geometry(xserver):
    async with in_process(settings_for(xserver.display)) as suite, Client(suite["screen"]) as client:
        result = await client.call_tool("list_displays", {})
    assert not result.is_error
    assert result.structured_content is not None
    (display,) = result.structured_content["displays"]
    assert display["index"] == 0 and display["primary"] is True
    assert (display["x"], display["y"], display["width"], display["height"]) == (0, 0, 2560, 1600)
    assert (display["pixel_width"], display["pixel_height"]) == (2560, 1600)


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("capture_screen", {"display": 3}, "There is no display 3"),
        ("capture_screen", {"region": {"x": 2500, "y": 0, "width": 100, "height": 100}}, "does not fit"),
        ("capture_screen", {"region": {"x": 0, "y": 0, "width": 0, "height": 100}}, "greater than 0"),
        ("capture_screen", {"format": "gif"}, "'jpeg', 'png' or 'webp'"),
        ("capture_screen", {"max_edge": 10}, "greater than or equal to 64"),
        ("capture_screen", {"device": "mac-1"}, "No device 'mac-1'"),
        ("zoom", {"frame_id": "f_nope", "x": 0, "y": 0, "width": 10, "height": 10}, "is unknown"),
    ],
)
async def test_bad_capture_requests_get_clear_errors(xserver, tool, arguments, message):
    async with in_process(settings_for(xserver.display)) as suite, Client(suite["screen"]) as client:
        result = await client.call_tool(tool, arguments)
        assert result.is_error and message in text_of(result)
        # The server keeps serving after a bad request.
        assert not (await client.call_tool("list_displays", {})).is_error


async def test_zoom_outside_the_frame_and_expired_frames_are_errors(xserver):
    settings = settings_for(xserver.display, frame_cache_size=1)
    async with in_process(settings) as suite, Client(suite["screen"]) as client:
        first = await client.call_tool("capture_screen", {"max_edge": 640})
        assert first.structured_content is not None
        old = first.structured_content["frame_id"]
        outside = await client.call_tool(
            "zoom", {"frame_id": old, "x": 600, "y": 0, "width": 100, "height": 10}
        )
        assert outside.is_error and "does not fit the 640x400 image" in text_of(outside)
        await client.call_tool("capture_screen", {"max_edge": 640})  # pushes the first frame out
        expired = await client.call_tool("zoom", {"frame_id": old, "x": 0, "y": 0, "width": 10, "height": 10})
        assert expired.is_error and "has expired" in text_of(expired)


async def test_black_screen_is_not_returned_as_the_screen():
    with running_xvfb(640, 400, picture=Image.new("RGB", (640, 400))) as dark:
        async with (
            in_process(settings_for(dark.display)) as suite,
            Client(suite["screen"]) as client,
        ):
            result = await client.call_tool("capture_screen", {})
    assert result.is_error
    assert "came back black" in text_of(result) and "Wake the display" in text_of(result)


async def test_black_screen_after_a_good_one_returns_the_last_good_frame_marked_stale():
    with running_xvfb(640, 400) as xs:
        async with in_process(settings_for(xs.display)) as suite, Client(suite["screen"]) as client:
            good = await client.call_tool("capture_screen", {"format": "png"})
            show_picture(xs, Image.new("RGB", (640, 400)))  # the display "goes to sleep"
            stale = await client.call_tool("capture_screen", {"format": "png"})
    assert not stale.is_error
    assert stale.structured_content is not None and stale.structured_content["stale"] is True
    assert "STALE" in text_of(stale) and "last good frame" in text_of(stale)
    # It is the good picture, not black, under a new frame id of its own.
    assert ImageChops.difference(image_of(stale), image_of(good)).getbbox() is None
    assert red_max(image_of(stale)) > 100


async def test_a_dark_region_of_a_lit_screen_is_content_not_a_black_frame():
    picture = busy_ui_picture(640, 400)
    picture.paste((0, 0, 0), (100, 100, 300, 200))  # a dark-mode pane
    with running_xvfb(640, 400, picture=picture) as xs:
        async with in_process(settings_for(xs.display)) as suite, Client(suite["screen"]) as client:
            result = await client.call_tool(
                "capture_screen",
                {"region": {"x": 120, "y": 120, "width": 100, "height": 50}, "format": "png"},
            )
    image = image_of(result)
    assert image.size == (100, 50) and image.convert("RGB").getextrema()[0] == (0, 0)
    assert result.structured_content is not None and result.structured_content["stale"] is False


@pytest.mark.slow
async def test_after_the_display_resizes_captures_use_the_new_layout():
    """Xvnc resizes for real: the old capture instance fails, the device makes a new one and retries."""
    command = ["Xvnc", "-geometry", "1280x800", "-depth", "24", "-SecurityTypes", "None", "-rfbport", "-1"]
    xs = start_x_server(command)
    try:
        show_picture(xs, busy_ui_picture(1280, 800))
        async with in_process(settings_for(xs.display)) as suite, Client(suite["screen"]) as client:
            before = await client.call_tool("capture_screen", {})
            resize = ["xrandr", "-d", xs.display, "--output", "VNC-0", "--mode", "1024x768"]
            subprocess.run(resize, check=True, timeout=10, capture_output=True)
            after = await client.call_tool("capture_screen", {"format": "png"})
            displays = await client.call_tool("list_displays", {})
    finally:
        xs.stop()
    assert image_of(before).size == (1280, 800)
    assert image_of(after).size == (1024, 768)
    assert red_max(image_of(after)) > 100  # a picture, not garbage or black
    assert displays.structured_content is not None
    assert displays.structured_content["displays"][0]["width"] == 1024


async def test_without_a_display_the_server_starts_and_tools_explain(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    async with in_process(settings_for(None)) as suite:
        async with Client(suite["screen"]) as client:
            capture = await client.call_tool("capture_screen", {})
            displays = await client.call_tool("list_displays", {})
        async with Client(suite["pointer"]) as client:
            point = await client.call_tool("point_at", {"x": 1, "y": 1, "frame_id": "f_none"})
    for result in (capture, displays):
        assert result.is_error
        assert "DISPLAY is not set" in text_of(result) and "realtime-mcp capture" in text_of(result)
    assert point.is_error and "is unknown" in text_of(point)


async def test_an_unreachable_display_is_explained():
    async with in_process(settings_for(":4097")) as suite, Client(suite["screen"]) as client:
        result = await client.call_tool("capture_screen", {})
    assert result.is_error and "Cannot open X display ':4097'" in text_of(result)


async def test_tools_are_described_for_the_model():
    async with in_process(settings_for(None)) as suite:
        async with Client(suite["screen"]) as client:
            screen_tools = {t.name: t for t in (await client.list_tools()).tools}
        async with Client(suite["pointer"]) as client:
            pointer_tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(screen_tools) == {"list_displays", "capture_screen", "zoom"}
    assert set(pointer_tools) == {"point_at", "highlight"}
    for tool in screen_tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert "device" in tool.input_schema["properties"]
    for tool in pointer_tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is False
        assert tool.annotations.destructive_hint is False
        assert set(tool.input_schema["required"]) >= {"x", "y", "frame_id"}
    capture = screen_tools["capture_screen"]
    assert capture.output_schema is not None
    assert {"frame_id", "width", "height", "display"} <= set(capture.output_schema["properties"])
    assert "image's own pixel" in (capture.description or "")
    assert capture.input_schema["properties"]["format"]["anyOf"][0]["enum"] == ["jpeg", "png", "webp"]
