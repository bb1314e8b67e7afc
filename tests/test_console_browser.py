"""The console in real headless Chromium against a running suite: a capture client on Xvfb shows
up with its screen as a thumbnail and the last point_at on it; the Talk button sends a real
WebRTC offer through the suite to the fake Realtime service and the call is listed."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from tests.support.auth import auth_settings, auth_suite, mcp_client, token, write_skill
from tests.support.bridge import bridged_suite
from tests.support.browser import FAKE_MEDIA, Chromium, chromium_page
from tests.support.capture_client import running_capture_client
from tests.support.fake_device import wait_for_device
from tests.support.fake_sdp import BrowserFakeRealtime
from tests.support.xserver import running_xvfb

if TYPE_CHECKING:
    from playwright.async_api import Playwright

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("chromium"), pytest.mark.slow]

DEVICE = "laptop"
COLOURS = [(220, 40, 40), (40, 180, 60), (40, 80, 220), (240, 200, 30)]
SCREENSHOT = os.environ.get("REALTIME_MCP_CONSOLE_SCREENSHOT")
"""Where to keep the page's screenshot too (the README's docs/console.png is made this way)."""


def quadrants(width: int, height: int) -> Image.Image:
    picture = Image.new("RGB", (width, height))
    for i, colour in enumerate(COLOURS):
        x, y = (i % 2) * width // 2, (i // 2) * height // 2
        picture.paste(colour, (x, y, x + width // 2, y + height // 2))
    return picture


async def sign_in(page: Any, url: str, value: str) -> None:
    await page.goto(f"{url}/console")
    await page.get_by_label("Access token").fill(value)
    await page.keyboard.press("Enter")
    await page.get_by_text("Connected: realtime-mcp").wait_for()


@pytest.fixture(scope="module")
async def playwright() -> AsyncIterator[Playwright]:
    """One Playwright driver (a Node process, ~1 CPU-s to start) for this module's pages: its tests run
    on the event loop it lives on."""
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        yield driver


THUMB_COLOURS = """(img) => {
  const c = document.createElement("canvas"); c.width = 20; c.height = 20;
  const g = c.getContext("2d"); g.drawImage(img, 0, 0, 20, 20);
  const at = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3));
  return [[5, 5], [15, 5], [5, 15], [15, 15]].map(([x, y]) => at(x, y));
}"""


async def test_console_shows_a_capture_client_with_its_screen_and_last_point(
    tmp_path: Path, chromium: Chromium, playwright: Playwright
) -> None:
    settings = auth_settings(write_skill(tmp_path / "skills", "blender"))
    with running_xvfb(1280, 800, picture=quadrants(1280, 800)) as xserver:
        async with (
            auth_suite(settings) as (url, app),
            running_capture_client(url, token(DEVICE, ("device",)), xserver.display),
        ):
            await wait_for_device(app.state.hub, DEVICE)
            async with mcp_client(f"{url}/screen/mcp", token(DEVICE, ("screen",))) as screen:
                shot = await screen.call_tool("capture_screen", {"max_edge": 640})
            frame = shot.structured_content
            assert frame is not None
            async with mcp_client(f"{url}/pointer/mcp", token(DEVICE, ("pointer",))) as pointer:
                await pointer.call_tool("point_at", {"x": 480, "y": 100, "frame_id": frame["frame_id"]})

            async with chromium_page(chromium, playwright=playwright) as page:
                await sign_in(page, url, token(DEVICE, ("console",)))
                thumb = page.get_by_role("img", name=f"Latest frame of {DEVICE}")
                await page.wait_for_function(
                    "(id) => { const i = document.querySelector(`img[data-device='${id}']`);"
                    " return i && i.complete && i.naturalWidth > 0 && i.dataset.frameId; }",
                    arg=DEVICE,
                )
                assert await thumb.get_attribute("data-frame-id") == frame["frame_id"]
                # The thumbnail is the screen: its four quarters have the four colours shown on Xvfb.
                pixels = await thumb.evaluate(THUMB_COLOURS)
                for i, colour in enumerate(COLOURS):
                    got = pixels[i]
                    assert all(abs(a - b) < 40 for a, b in zip(got, colour, strict=True)), (i, got, colour)
                marker = page.get_by_role("img", name="Last point at (480, 100)")
                await marker.wait_for()
                left = await marker.evaluate("(m) => parseFloat(m.style.left)")
                assert abs(left - 100 * 480.5 / frame["width"]) < 0.01
                assert await page.get_by_text("1 loaded, 0 skipped").count() == 1
                path = tmp_path / "console.png"
                await page.screenshot(path=str(path))
                with Image.open(path) as png:
                    assert png.size == (1280, 900)
                if SCREENSHOT:
                    await page.screenshot(path=SCREENSHOT)


async def test_skills_search_filters_the_list_by_keyboard(
    tmp_path: Path, chromium: Chromium, playwright: Playwright
) -> None:
    skills = write_skill(tmp_path / "skills", "blender")
    write_skill(skills, "gimp")
    settings = auth_settings(skills)
    async with auth_suite(settings) as (url, _), chromium_page(chromium, playwright=playwright) as page:
        await sign_in(page, url, token(DEVICE, ("console",)))
        search = page.get_by_label("Search skills")
        await search.focus()
        await page.keyboard.type("gim")
        await page.get_by_text("2 loaded, 0 skipped; 1 shown.").wait_for()
        assert await page.locator("#skills li").all_inner_texts() == ["gimp — A gimp skill for tests."]


async def test_the_page_asks_for_a_token_and_never_puts_it_in_a_url(
    tmp_path: Path, chromium: Chromium, playwright: Playwright
) -> None:
    settings = auth_settings(write_skill(tmp_path / "skills"))
    async with auth_suite(settings) as (url, _), chromium_page(chromium, playwright=playwright) as page:
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        await page.goto(f"{url}/console")
        await page.get_by_text("A bearer token with the `console` scope is required.").wait_for()
        secret = token(DEVICE, ("console",))
        await sign_in(page, url, secret)
        assert await page.evaluate("() => sessionStorage.getItem('realtime-mcp-token')") == secret
        assert requested and not any(secret in u for u in requested)


async def test_talk_sends_the_browser_offer_through_the_suite_and_lists_the_call(
    tmp_path: Path, chromium: Chromium, playwright: Playwright
) -> None:
    async with (
        BrowserFakeRealtime() as fake,
        bridged_suite(tmp_path, fake) as (url, _),
        chromium_page(chromium, extra_flags=FAKE_MEDIA, playwright=playwright) as page,
    ):
        await sign_in(page, url, token(DEVICE, ("console", "call")))
        await page.get_by_role("button", name="Talk").click()
        await page.get_by_text("In call rtc_").or_(page.get_by_text("could not be applied")).wait_for()
        state = await page.locator("#talk-state").inner_text()
        assert state.startswith("In call "), state
        assert len(fake.offers) == 1
        offer = fake.offers[0]
        assert "m=audio" in offer and "a=fingerprint:" in offer and "webrtc-datachannel" in offer
        call_id = state.split()[2].rstrip(":")
        assert call_id in fake.calls
        row = page.locator(f"#calls tr[data-call-id='{call_id}']")
        await row.wait_for()
        assert DEVICE in await row.inner_text()
        # The model calls a tool over the bridge: the row lists it among the call's last tool calls.
        fake_call = fake.calls[call_id]
        await fake_call.wait_connected()
        load = await fake_call.model_calls_function("load_skill", {"name": "blender"})
        await fake_call.wait_for("conversation.item.create", lambda e: e["item"].get("call_id") == load)
        await row.locator("td", has_text="load_skill").wait_for()
        # Push-to-talk: the microphone is on only while Space is held.
        mic = "() => talk.stream.getAudioTracks()[0].enabled"
        await page.get_by_label("Push-to-talk").check()
        await page.get_by_text("Microphone off: hold Space to speak.").wait_for()
        assert await page.evaluate(mic) is False
        await page.keyboard.down("Space")
        await page.get_by_text("Listening (microphone on).").wait_for()
        assert await page.evaluate(mic) is True
        await page.keyboard.up("Space")
        await page.get_by_text("Microphone off: hold Space to speak.").wait_for()
        assert await page.evaluate(mic) is False
        await page.get_by_role("button", name="Hang up").click()
        await page.get_by_text("Not talking.").wait_for()
        await row.wait_for(state="detached")  # a hung-up call leaves the list
        assert fake.calls[call_id].ended
