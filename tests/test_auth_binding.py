"""A token acts on its own device only, end to end: real uvicorn, real capture-client WebSockets
(mac-1 and mac-2, each with its own minted `device` token), real MCP clients with minted tokens."""

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest

from servers.hub.endpoint import DEVICE_PATH
from tests.support.auth import auth_settings, auth_suite, mcp_client, token
from tests.support.fake_device import (
    MAIN,
    FakeDevice,
    connect,
    display_geometry,
    frame_message,
    jpeg,
    wait_for_device,
)
from tests.support.raw_mcp import POST_HEADERS, PROTOCOL, authorization, initialize, request
from wire import protocol as p

pytestmark = pytest.mark.anyio

COLORS = {"mac-1": (200, 30, 30), "mac-2": (30, 30, 200)}


async def _answer(device: FakeDevice, device_id: str, seen: list[p.HubMessage]) -> None:
    """Play the capture client: answer every capture with this device's image, every pointer move."""
    geometry = display_geometry(MAIN)
    image = jpeg(geometry.image_width, geometry.image_height, COLORS[device_id])
    while True:
        message = await device.next_message(timeout=60)
        seen.append(message)
        if isinstance(message, p.Capture):
            await device.send(frame_message(geometry, request_id=message.request_id, image=image))
        elif isinstance(message, p.MovePointer):
            await device.send(
                p.PointerDone(request_id=message.request_id, x=message.x, y=message.y, display=0)
            )


@asynccontextmanager
async def two_devices(tmp_path, **settings) -> AsyncIterator[tuple[str, dict[str, list[p.HubMessage]]]]:
    seen: dict[str, list[p.HubMessage]] = {"mac-1": [], "mac-2": []}
    async with auth_suite(auth_settings(tmp_path, **settings)) as (url, app):
        ws_url = url.replace("http://", "ws://") + DEVICE_PATH
        async with (
            connect(ws_url, token=token("mac-1", ("device",)), device_id="mac-1") as mac1,
            connect(ws_url, token=token("mac-2", ("device",)), device_id="mac-2") as mac2,
            anyio.create_task_group() as tg,
        ):
            for device_id, device in (("mac-1", mac1), ("mac-2", mac2)):
                await wait_for_device(app.state.hub, device_id)
                tg.start_soon(_answer, device, device_id, seen[device_id])
            yield url, seen
            tg.cancel_scope.cancel()


def _text(result) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def test_a_token_captures_only_its_own_device(tmp_path):
    async with (
        two_devices(tmp_path) as (url, seen),
        mcp_client(f"{url}/screen/mcp", token("mac-1", ("screen",))) as screen,
    ):
        own = await screen.call_tool("capture_screen", {})
        assert not own.is_error, _text(own)
        assert own.structured_content is not None and own.structured_content["device"] == "mac-1"
        other = await screen.call_tool("capture_screen", {"device": "mac-2"})
        missing = await screen.call_tool("capture_screen", {"device": "mac-9"})
        displays = await screen.call_tool("list_displays", {"device": "mac-2"})
    assert other.is_error and missing.is_error and displays.is_error
    # Another device answers exactly like one that does not exist.
    assert _text(other) == _text(missing).replace("mac-9", "mac-2")
    assert _text(displays) == _text(other).replace("capture_screen", "list_displays")
    assert [type(m) for m in seen["mac-2"]] == []
    assert [type(m) for m in seen["mac-1"]] == [p.Capture]


async def test_another_devices_frames_are_unknown_to_a_token(tmp_path):
    async with two_devices(tmp_path) as (url, seen):
        async with mcp_client(f"{url}/screen/mcp", token("mac-2", ("screen",))) as screen2:
            theirs = await screen2.call_tool("capture_screen", {})
        assert theirs.structured_content is not None
        their_frame = theirs.structured_content["frame_id"]
        async with (
            mcp_client(f"{url}/screen/mcp", token("mac-1", ("screen",))) as screen1,
            mcp_client(f"{url}/pointer/mcp", token("mac-1", ("pointer",))) as pointer1,
        ):
            zoomed = await screen1.call_tool(
                "zoom", {"frame_id": their_frame, "x": 0, "y": 0, "width": 50, "height": 50}
            )
            pointed = await pointer1.call_tool("point_at", {"x": 10, "y": 10, "frame_id": their_frame})
            never = await pointer1.call_tool("point_at", {"x": 10, "y": 10, "frame_id": "f_neverissued1"})
            mine = await screen1.call_tool("capture_screen", {})
            assert mine.structured_content is not None
            moved = await pointer1.call_tool(
                "point_at", {"x": 10, "y": 10, "frame_id": mine.structured_content["frame_id"]}
            )
    assert zoomed.is_error and pointed.is_error
    assert _text(pointed) == _text(never).replace("f_neverissued1", their_frame)
    assert "mac-2" not in _text(zoomed) + _text(pointed)
    assert not moved.is_error, _text(moved)
    assert not any(isinstance(m, p.MovePointer) for m in seen["mac-2"])
    assert sum(isinstance(m, p.MovePointer) for m in seen["mac-1"]) == 1


async def test_a_skills_token_cannot_capture_or_point(tmp_path):
    skills_only = token("mac-1", ("skills",))
    async with two_devices(tmp_path) as (url, seen), httpx.AsyncClient() as http:
        for path in ("/screen/mcp", "/pointer/mcp"):
            response = await http.post(
                url + path,
                json=request("tools/list"),
                headers=POST_HEADERS | authorization(skills_only),
            )
            assert response.status_code == 403
    assert seen == {"mac-1": [], "mac-2": []}


async def test_stateful_session_stays_with_the_device_that_opened_it(tmp_path):
    settings = auth_settings(tmp_path, stateless=False, json_response=True)
    async with auth_suite(settings) as (url, _), httpx.AsyncClient() as http:
        opened = await http.post(
            f"{url}/skills/mcp",
            json=initialize(),
            headers=POST_HEADERS | authorization(token("mac-1", ("skills",))),
        )
        session = opened.headers["mcp-session-id"]
        hijack = await http.post(
            f"{url}/skills/mcp",
            json=request("tools/list", 2),
            headers=POST_HEADERS
            | authorization(token("mac-2", ("skills",)))
            | {"mcp-session-id": session, "mcp-protocol-version": PROTOCOL},
        )
    assert opened.status_code == 200
    assert hijack.status_code == 404


async def test_frame_bytes_and_tokens_never_reach_the_logs(tmp_path, caplog):
    bearer = token("mac-1", ("screen",))
    geometry = display_geometry(MAIN)
    image_b64 = base64.b64encode(jpeg(geometry.image_width, geometry.image_height, COLORS["mac-1"])).decode()
    with caplog.at_level(logging.DEBUG):
        async with two_devices(tmp_path) as (url, _), mcp_client(f"{url}/screen/mcp", bearer) as screen:
            result = await screen.call_tool("capture_screen", {})
    assert any(getattr(c, "data", None) == image_b64 for c in result.content)  # the frame did travel
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert len(caplog.records) > 10
    assert image_b64[:200] not in logged and image_b64[-200:] not in logged
    assert bearer not in logged and token("mac-1", ("device",)).split(".")[1] not in logged


async def test_an_expired_frame_of_another_device_answers_exactly_like_an_unknown_one(tmp_path):
    async with (
        two_devices(tmp_path, frame_cache_size=1) as (url, _),
        mcp_client(f"{url}/screen/mcp", token("mac-2", ("screen",))) as screen2,
        mcp_client(f"{url}/pointer/mcp", token("mac-2", ("pointer",))) as pointer2,
        mcp_client(f"{url}/pointer/mcp", token("mac-1", ("pointer",))) as pointer1,
    ):
        first = await screen2.call_tool("capture_screen", {})
        assert first.structured_content is not None
        evicted = first.structured_content["frame_id"]
        await screen2.call_tool("capture_screen", {})  # pushes the first frame out (cache of 1)
        theirs = await pointer1.call_tool("point_at", {"x": 1, "y": 1, "frame_id": evicted})
        never = await pointer1.call_tool("point_at", {"x": 1, "y": 1, "frame_id": "f_AAAAAAAAAAAA"})
        own = await pointer2.call_tool("point_at", {"x": 1, "y": 1, "frame_id": evicted})
    assert theirs.is_error and never.is_error
    assert _text(theirs).replace(evicted, "<id>") == _text(never).replace("f_AAAAAAAAAAAA", "<id>")
    assert own.is_error and "has expired" in _text(own)  # the owner still gets the helpful answer
