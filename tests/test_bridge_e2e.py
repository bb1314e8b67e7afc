"""The bridge end to end: a real capture client on a 2560x1600 Xvfb showing a busy picture, the
suite on uvicorn with auth on, and the fake Realtime service. The images that reach the fake are
decoded and compared with what the X server shows."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat
from starlette.applications import Starlette

from tests.support.auth import token
from tests.support.bridge import bridged_suite, start_call, wait_until
from tests.support.capture_client import running_capture_client
from tests.support.fake_device import wait_for_device
from tests.support.fake_realtime import FakeCall, FakeRealtime
from tests.support.xserver import XServer, pointer_position, running_xvfb

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

KEY = "sk-test-bridge-e2e-0a1b2c3d"
DEVICE = "desk-1"


@pytest.fixture(scope="module")
def xserver() -> Iterator[XServer]:
    with running_xvfb(2560, 1600) as server:
        yield server


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def assert_shows_screen(data: bytes, xserver: XServer) -> Image.Image:
    """The image is the X screen, downscaled; a picture shifted by a few pixels would be far off."""
    image = Image.open(io.BytesIO(data))
    shown = xserver.shown
    assert shown is not None
    assert image.format == "JPEG" and image.size == (1280, 800)
    expected = shown.resize(image.size, Image.Resampling.BOX)
    shifted = shown.crop((24, 0, 2560 + 24, 1600)).resize(image.size, Image.Resampling.BOX)
    assert mean_difference(image, expected) < 4
    assert mean_difference(image, shifted) > 2 * mean_difference(image, expected)
    return image


@asynccontextmanager
async def setup(
    tmp_path: Path, xserver: XServer, **changes: Any
) -> AsyncIterator[tuple[str, Starlette, Any, FakeRealtime, FakeCall]]:
    async with (
        FakeRealtime(api_key=KEY) as fake,
        bridged_suite(tmp_path, fake, **changes) as (url, app),
        running_capture_client(url, token(DEVICE, ("device",)), xserver.display) as client,
    ):
        await wait_for_device(app.state.hub, DEVICE)
        call = await start_call(url, fake, DEVICE)
        yield url, app, client, fake, call


def _images(call: FakeCall) -> list[dict[str, Any]]:
    return [
        e for e in call.received if e["type"] == "conversation.item.create" and e["item"]["type"] == "message"
    ]


@pytest.mark.slow
async def test_a_push_to_talk_press_puts_one_image_of_the_screen_into_the_call(tmp_path, xserver, caplog):
    caplog.set_level(logging.DEBUG)  # even at DEBUG: no key, no frame bytes
    async with setup(tmp_path, xserver) as (_, _, client, _, call):
        assert await client.press()
        created = await call.wait_for("conversation.item.create")
        content = created["item"]["content"]
        assert content[0]["type"] == "input_text" and "push-to-talk" in content[0]["text"]
        assert "1280x800" in content[0]["text"] and "point_at" in content[0]["text"]
        [data] = call.images()
        assert_shows_screen(data, xserver)
        # With server VAD the hotkey steers no turn: no audio buffer events, no response.create.
        await client.release()
        load = await call.model_calls_function("load_skill", {"name": "blender"})
        await call.wait_for("conversation.item.create", lambda e: e["item"].get("call_id") == load)
        assert len(_images(call)) == 1 and len(call.images()) == 1
        assert not [e for e in call.received if e["type"].startswith("input_audio_buffer")]
        assert call.invalid == []
    image_text = base64.b64encode(data).decode()
    assert "Authorization" in caplog.text  # the handshake's headers were logged, redacted
    assert KEY not in caplog.text
    assert "data:image" not in caplog.text and image_text[200:260] not in caplog.text


async def test_push_to_talk_turns_clear_attach_commit_then_respond(tmp_path, xserver):
    async with setup(tmp_path, xserver, call_turns="push-to-talk") as (_, _, client, _, call):
        assert call.session["audio"]["input"]["turn_detection"] is None
        assert await client.press()
        await call.wait_for("input_audio_buffer.clear")
        await call.wait_for("conversation.item.create")
        await client.release()
        await call.wait_for("input_audio_buffer.commit")
        await call.wait_for("response.create")
        order = [t for d, t in call.log if d == "in" and t != "session.update"]
        assert order == [
            "input_audio_buffer.clear",
            "conversation.item.create",
            "input_audio_buffer.commit",
            "response.create",
        ]
        assert len(call.images()) == 1 and call.invalid == []


@pytest.mark.slow
async def test_a_press_while_the_model_speaks_interrupts_it(tmp_path, xserver):
    async with setup(tmp_path, xserver, call_turns="push-to-talk") as (url, _, client, _, call):
        call.hold_responses = True  # the model keeps talking until told otherwise
        assert await client.press()
        await client.release()
        await call.wait_for("response.create")
        await wait_until(url, call.id, lambda entry: entry["responding"], DEVICE)  # the bridge saw it
        assert await client.press()  # the user cuts in
        await call.wait_for("response.cancel")
        await call.wait_for("output_audio_buffer.clear")
        cancelled = await call.wait_sent("response.done", lambda e: e["response"]["status"] == "cancelled")
        assert cancelled["response"]["status"] == "cancelled"
        assert call.invalid == []


@pytest.mark.slow
async def test_hosted_mcp_capture_adds_the_image_then_one_response_create_after_response_done(
    tmp_path, xserver
):
    async with setup(tmp_path, xserver, tools="mcp") as (_, _, _, _, call):
        item = await call.model_calls_mcp("capture_screen", {}, server_label="screen", linger=0.3)
        assert item["output"] and "f_" in item["output"]  # hosted MCP output: text only
        create = await call.wait_for("response.create")
        [image_item] = _images(call)
        assert_shows_screen(call.images()[0], xserver)
        log = call.log
        done_at = max(i for i, entry in enumerate(log) if entry == ("out", "response.done"))
        image_at = next(i for i, entry in enumerate(log) if entry == ("in", "conversation.item.create"))
        create_at = next(i for i, entry in enumerate(log) if entry == ("in", "response.create"))
        assert done_at < image_at < create_at  # never before response.done, image first
        frame_id = json.dumps(image_item)
        assert item["output"].split()[1].rstrip(":") in frame_id  # the caption names that frame
        assert "tool_choice" not in create.get("response", {})  # it may still point at what it saw
        await call.wait_idle()
        assert len(call.responses) == 1
        assert not any(
            e.get("error", {}).get("code") == "conversation_already_has_active_response"
            for e in call.sent
            if e["type"] == "error"
        )
        assert call.invalid == []


async def test_after_five_captures_only_call_frames_images_remain(tmp_path, xserver):
    async with setup(tmp_path, xserver, tools="mcp") as (_, _, _, _, call):
        for _ in range(5):
            await call.model_calls_mcp("capture_screen", {"max_edge": 320}, server_label="screen")
            await call.wait_for("response.create")
            await call.wait_idle()
        deletes = [e for e in call.received if e["type"] == "conversation.item.delete"]
        assert len(deletes) == 3
        assert len(call.images()) == 2  # REALTIME_MCP_CALL_FRAMES default
        assert call.invalid == [] and not [e for e in call.sent if e["type"] == "error"]


async def test_function_mode_runs_concurrent_calls_and_each_gets_its_output(tmp_path, xserver):
    async with setup(tmp_path, xserver) as (_, _, _, _, call):
        ids = await call.model_calls_functions([("capture_screen", {}), ("load_skill", {"name": "blender"})])
        outputs = {}
        for _ in ids:
            event = await call.wait_for(
                "conversation.item.create", lambda e: e["item"]["type"] == "function_call_output"
            )
            outputs[event["item"]["call_id"]] = event["item"]["output"]
        assert set(outputs) == set(ids)
        assert "1280x800" in outputs[ids[0]] and "f_" in outputs[ids[0]]
        assert "F12" in outputs[ids[1]]
        await call.wait_for("response.create")
        [data] = call.images()
        assert_shows_screen(data, xserver)
        assert call.invalid == []


async def test_a_cancelled_response_call_is_not_run(tmp_path, xserver):
    async with setup(tmp_path, xserver) as (_, app, _, _, call):
        await call.model_calls_function("capture_screen", {}, status="cancelled")
        await call.model_calls_function("capture_screen", {}, status="incomplete")
        # A later completed capture proves the bridge read past those (captures of one device run
        # in order, so one of theirs would have landed first).
        later = await call.model_calls_function("capture_screen", {})
        output = await call.wait_for(
            "conversation.item.create", lambda e: e["item"]["type"] == "function_call_output"
        )
        assert output["item"]["call_id"] == later
        await call.wait_for("response.create")
        assert len(call.images()) == 1
        assert len(app.state.hub.frames) == 1  # only the completed response's capture ran


async def test_function_mode_point_at_shows_the_overlay_where_the_frame_says(tmp_path, xserver):
    async with setup(tmp_path, xserver) as (_, _, _, _, call):
        mouse_before = pointer_position(xserver.display)
        await call.model_calls_function("capture_screen", {})
        captured = await call.wait_for(
            "conversation.item.create", lambda e: e["item"]["type"] == "function_call_output"
        )
        frame_id = next(w for w in captured["item"]["output"].split() if w.startswith("f_")).rstrip(":")
        await call.wait_for("response.create")
        await call.wait_idle()
        await call.model_calls_function("point_at", {"x": 640, "y": 400, "frame_id": frame_id, "label": "x"})
        pointed = await call.wait_for(
            "conversation.item.create", lambda e: e["item"]["type"] == "function_call_output"
        )
        output = pointed["item"]["output"]
        assert "An overlay cursor is shown" in output, pointed
        # Image pixel (640, 400) covers screen pixels 1280-1281 x 800-801; its centre is (1281, 801).
        assert "screen position (1281, 801)" in output
        assert pointer_position(xserver.display) == mouse_before  # the user's mouse stays put
        follow = await call.wait_for("response.create")
        # point_at alone, no speech: the follow-up asks for a spoken answer, tools off.
        assert follow["response"]["tool_choice"] == "none"
