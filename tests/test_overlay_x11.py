"""The overlay on real X servers, checked from outside the suite: an `xwd` screenshot shows the
cursor (or frame) where the tool says, xdotool says the user's mouse has not moved, a click at the
spot reaches the window below, and a capture right after holds no overlay pixels. Locally, through a
relayed capture client (over real HTTP), and on a two-monitor screen (the local suite's tools called
in-process: what they draw, not how MCP travels, is tested here)."""

from __future__ import annotations

import dataclasses
import io
import math
import subprocess
from collections.abc import Iterator

import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent
from PIL import Image
from pydantic import SecretStr

from capture_client.overlay.x11 import ACCENT, X11Overlay
from servers.app import create_app
from servers.settings import Settings
from tests.support.capture_client import running_capture_client
from tests.support.http import serve
from tests.support.inproc import Where, in_process, mcp_target
from tests.support.xinput import ClickRecorder, click_at, colour_box, mouse_location
from tests.support.xserver import XServer, running_xvfb
from tests.support.xwd import screenshot
from wire.geometry import Rect

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

GREY = (128, 128, 128)
TOKEN = "desk-token"


@pytest.fixture
def xserver() -> Iterator[XServer]:
    with running_xvfb(1600, 1000, picture=Image.new("RGB", (1600, 1000), GREY)) as server:
        yield server


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def capture(where: Where, arguments: dict) -> dict:
    async with Client(mcp_target(where, "screen")) as client:
        result = await client.call_tool("capture_screen", arguments)
    assert not result.is_error and result.structured_content is not None, text_of(result)
    return {"frame": result.structured_content, "result": result}


def image_of(result: CallToolResult) -> Image.Image:
    import base64

    from mcp_types import ImageContent

    (image,) = [c for c in result.content if isinstance(c, ImageContent)]
    return Image.open(io.BytesIO(base64.b64decode(image.data))).convert("RGB")


async def call(where: Where, tool: str, arguments: dict) -> CallToolResult:
    async with Client(mcp_target(where, "pointer")) as client:
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return result


def local_settings(xserver: XServer, **overrides) -> Settings:
    return Settings(display=xserver.display, servers=["screen", "pointer"], **overrides)


def relay_app():
    return create_app(
        Settings(
            auth=False,
            local_device=False,
            device_tokens={"desk": SecretStr(TOKEN)},
            servers=["screen", "pointer"],
            skills_reload=False,
        )
    )


async def check_point_at(where: Where, display: str, *, capture_args: dict, x: float, y: float) -> None:
    """point_at on a downscaled frame, then everything the user and the model would see."""
    mouse_before = mouse_location(display)
    frame = (await capture(where, capture_args))["frame"]
    result = await call(where, "point_at", {"x": x, "y": y, "frame_id": frame["frame_id"], "label": "Save"})
    facts = result.structured_content
    assert facts is not None and facts["overlay"] is True and facts["pointer_moved"] is False
    assert "An overlay cursor is shown" in text_of(result) and "mouse did not move" in text_of(result)
    sx, sy = facts["screen_x"], facts["screen_y"]

    # An independent screenshot: the arrow's tip is at the reported spot, its label beside it.
    shot = screenshot(display)
    around = (math.floor(sx) - 40, math.floor(sy) - 40, math.floor(sx) + 200, math.floor(sy) + 80)
    box = colour_box(shot, ACCENT, around)
    assert box is not None, "no overlay pixels near the reported spot"
    assert abs(box[0] - sx) <= 2 and abs(box[1] - sy) <= 2, (box, sx, sy)
    assert box[2] - box[0] > 40, "the label sits beside the arrow"
    assert mouse_location(display) == mouse_before  # the user's mouse stayed where it was

    # The model's next frame never shows the overlay; the user still sees it afterwards.
    again = await capture(where, {**capture_args, "format": "png"})
    seen = image_of(again["result"])
    geometry_scale = frame["width"] / (again["frame"]["width"] or 1)
    assert geometry_scale == 1
    fx, fy = x, y
    assert colour_box(seen, ACCENT, (int(fx) - 30, int(fy) - 30, int(fx) + 150, int(fy) + 60)) is None
    assert colour_box(screenshot(display), ACCENT, around) == box

    # Click-through: a click at the spot reaches the window below.
    return None


async def test_point_at_shows_the_overlay_not_the_mouse_and_stays_out_of_frames(xserver):
    with ClickRecorder(xserver.display, Rect(x=900, y=500, width=700, height=500)) as below:
        async with in_process(local_settings(xserver)) as servers:
            # 1600x1000 sent as 1280x800: image pixel (1000, 600) is screen (1250.6, 750.6).
            await check_point_at(servers, xserver.display, capture_args={}, x=1000, y=600)
            click_at(xserver.display, 1254, 760)
            assert below.wait_click() == (1254, 760)


@pytest.mark.slow
async def test_point_at_through_a_relayed_capture_client(xserver):
    with ClickRecorder(xserver.display, Rect(x=0, y=0, width=600, height=400)) as below:
        app = relay_app()
        async with serve(app) as url, running_capture_client(url, TOKEN, xserver.display):
            await check_point_at(url, xserver.display, capture_args={"max_edge": 800}, x=200, y=150)
            # 1600x1000 sent as 800x500: (200, 150) is screen (401, 301).
            click_at(xserver.display, 404, 310)
            assert below.wait_click() == (404, 310)
            # highlight through the relay: 800x500 frame, 2 screen pixels per image pixel.
            frame = (await capture(url, {"max_edge": 800}))["frame"]
            args = {"x": 300, "y": 200, "width": 50, "height": 25, "frame_id": frame["frame_id"]}
            result = await call(url, "highlight", args)
            shot = screenshot(xserver.display)
    facts = result.structured_content
    assert facts is not None and facts["overlay"] is True and facts["device"] == "desk"
    assert facts["area"] == {"x": 600, "y": 400, "width": 100, "height": 50}
    assert colour_box(shot, ACCENT, (550, 350, 750, 500)) == (596, 396, 703, 453)


async def test_point_at_on_the_second_monitor_lands_there():
    with running_xvfb(2560, 1024, picture=Image.new("RGB", (2560, 1024), GREY)) as server:
        for args in (
            ("--setmonitor", "left", "1280/340x1024/270+0+0", "screen"),
            ("--setmonitor", "right", "1280/340x1024/270+1280+0", "none"),
        ):
            subprocess.run(
                ["xrandr", "-d", server.display, *args], check=True, capture_output=True, timeout=15
            )
        async with in_process(local_settings(server)) as servers:
            frame = (await capture(servers, {"display": 1, "max_edge": 640}))["frame"]
            assert frame["display"] == 1
            # 1280x1024 sent as 640x512: (630, 100) is screen (1280 + 1261, 201), by the right edge.
            result = await call(
                servers, "point_at", {"x": 630, "y": 100, "frame_id": frame["frame_id"], "label": "Close"}
            )
            shot = screenshot(server.display)  # while the server (and its overlay) runs
        facts = result.structured_content
        assert facts is not None and facts["display"] == 1 and facts["overlay"] is True
        assert (facts["screen_x"], facts["screen_y"]) == (2541, 201)
        box = colour_box(shot, ACCENT, (2300, 150, 2560, 260))
        assert box is not None
        # The label has no room on the right of the screen: it goes left of the arrow, on this monitor.
        assert 1280 <= box[0] <= 2541 - 40 and abs(box[1] - 201) <= 2 and box[2] < 2560


async def test_highlight_draws_a_frame_whose_corners_the_frame_maps(xserver):
    async with in_process(local_settings(xserver)) as servers:
        frame = (await capture(servers, {}))["frame"]  # 1600x1000 sent as 1280x800: 1.25 per pixel
        mouse_before = mouse_location(xserver.display)
        result = await call(
            servers,
            "highlight",
            {"x": 400, "y": 320, "width": 160, "height": 80, "frame_id": frame["frame_id"]},
        )
        shot = screenshot(xserver.display)
        assert mouse_location(xserver.display) == mouse_before
    facts = result.structured_content
    assert facts is not None and facts["area"] == {"x": 500, "y": 400, "width": 200, "height": 100}
    assert facts["overlay"] is True and "A frame around it is shown" in text_of(result)
    # The frame is drawn just outside the area (4 px thick), so the area itself stays visible.
    assert colour_box(shot, ACCENT, (400, 300, 800, 600)) == (496, 396, 703, 503)
    assert shot.getpixel((600, 450)) == GREY


async def test_move_cursor_true_moves_the_real_pointer_too(xserver):
    async with in_process(local_settings(xserver)) as servers:
        frame = (await capture(servers, {}))["frame"]
        result = await call(
            servers, "point_at", {"x": 80, "y": 40, "frame_id": frame["frame_id"], "move_cursor": True}
        )
    facts = result.structured_content
    assert facts is not None and facts["pointer_moved"] is True and facts["overlay"] is True
    assert mouse_location(xserver.display) == (100, 50)


async def test_without_the_x_extension_the_tool_says_so_and_nothing_moves(xserver, monkeypatch):
    """Every X server here has SHAPE (Xvfb cannot turn it off), so the overlay asks for one that no
    server has: the same check, against the real server, fails the same way."""
    from capture_client.backends import get_backends
    from servers.hub import local

    class Unshaped(X11Overlay):
        required_extension = "NO-SUCH-EXTENSION"

    def backends_without_shape(**options):
        backends = get_backends(overlay=False, **options)
        overlay = Unshaped(options.get("display"))
        return dataclasses.replace(backends, overlay=overlay)

    monkeypatch.setattr(local, "get_backends", backends_without_shape)
    before = mouse_location(xserver.display)
    async with in_process(local_settings(xserver)) as servers:
        frame = (await capture(servers, {}))["frame"]
        result = await call(servers, "point_at", {"x": 100, "y": 100, "frame_id": frame["frame_id"]})
    facts = result.structured_content
    assert facts is not None and facts["overlay"] is False and facts["pointer_moved"] is False
    assert "NO-SUCH-EXTENSION" in facts["note"] and "could not be shown" in text_of(result)
    assert "move_cursor" in text_of(result)
    assert mouse_location(xserver.display) == before


def test_the_overlay_goes_after_its_timeout_and_then_sleeps(xserver):
    overlay = X11Overlay(xserver.display, timeout=0.5)
    try:
        displays = [_display(1600, 1000)]
        overlay.point(300, 200, None, displays)
        assert colour_box(screenshot(xserver.display), ACCENT, (280, 180, 360, 260)) is not None
        assert overlay.wait_hidden(5)
        assert overlay.wait_asleep(5)  # no timer runs while nothing is shown
        assert colour_box(screenshot(xserver.display), ACCENT, (280, 180, 360, 260)) is None
    finally:
        overlay.close()


def test_the_overlay_goes_when_the_user_moves_the_mouse_far_away(xserver):
    overlay = X11Overlay(xserver.display, timeout=60)
    try:
        overlay.point(300, 200, "here", [_display(1600, 1000)])
        assert not overlay.wait_hidden(0)
        subprocess.run(
            ["xdotool", "mousemove", "--sync", "1500", "900"],
            check=True,
            timeout=10,
            env={"DISPLAY": xserver.display},
        )
        assert overlay.wait_hidden(5)
        assert colour_box(screenshot(xserver.display), ACCENT, (280, 180, 460, 260)) is None
    finally:
        overlay.close()


def _display(width: int, height: int):
    from wire.geometry import DisplayInfo

    return DisplayInfo(
        index=0, x=0, y=0, width=width, height=height, pixel_width=width, pixel_height=height, primary=True
    )


def test_the_readme_screenshot_is_the_overlay_on_a_real_x_server(tmp_path):
    from pathlib import Path

    from tests.support.overlay_shot import CROP, SPOT, overlay_screenshot

    shot = overlay_screenshot(tmp_path / "overlay.png")
    tip = (SPOT[0] - CROP[0], SPOT[1] - CROP[1])
    box = colour_box(shot, ACCENT, (tip[0] - 10, tip[1] - 10, tip[0] + 120, tip[1] + 60))
    assert box is not None and abs(box[0] - tip[0]) <= 2 and abs(box[1] - tip[1]) <= 2
    committed = Image.open(Path(__file__).parent.parent / "docs" / "overlay.png")
    assert committed.size == shot.size  # regenerate with scripts/overlay-screenshot.py
