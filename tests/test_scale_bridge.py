"""The Realtime bridge across replicas (issue 13): a call held by replica A, its device connected to
replica B. Pushed frames and hosted-MCP captures made on B reach the call on A; B lists the call and
detaches it (routed to A); a token of another device sees none of it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from servers.hub.cluster.remote import RemoteDevice
from servers.hub.device import DeviceUnavailableError
from servers.hub.endpoint import DEVICE_PATH
from tests.support.auth import token
from tests.support.bridge import bearer, bridged_suite, call_token, list_calls, start_call
from tests.support.fake_device import MAIN, connect, display_geometry, frame_message, jpeg, wait_for_device
from tests.support.fake_realtime import FakeRealtime
from tests.support.redis_server import RedisServer, running_redis
from wire import protocol as p

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

KEY = "sk-test-scale-bridge"


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


async def _device_seen_from(app, device_id: str) -> None:
    with anyio.fail_after(10):
        while True:
            with contextlib.suppress(DeviceUnavailableError):  # until the owner's claim is written
                if isinstance(await app.state.hub.devices.find(device_id), RemoteDevice):
                    return
            await anyio.sleep(0.02)


async def test_a_pushed_frame_on_replica_b_reaches_the_call_on_replica_a(tmp_path: Path, redis: RedisServer):
    shared = {"redis_url": redis.url, "cluster_heartbeat": 0.2}
    async with (
        FakeRealtime(api_key=KEY) as fake,
        bridged_suite(tmp_path / "a", fake, **shared) as (a_url, a_app),
        bridged_suite(tmp_path / "b", fake, **shared) as (b_url, b_app),
    ):
        ws_b = b_url.replace("http://", "ws://") + DEVICE_PATH
        async with connect(
            ws_b, token=token("mac-1", ("device",)), device_id="mac-1", displays=[MAIN]
        ) as mac1:
            await wait_for_device(b_app.state.hub, "mac-1")
            await _device_seen_from(a_app, "mac-1")
            call = await start_call(a_url, fake, "mac-1")
            geometry = display_geometry(MAIN)
            image = jpeg(geometry.image_width, geometry.image_height, (10, 200, 10))
            await mac1.send(frame_message(geometry, request_id=None, pushed=True, image=image))
            await call.wait_for("conversation.item.create")
            assert call.images() == [image]

            # B lists the call A holds; another device's token sees nothing; B detaches it.
            listed = await list_calls(b_url)
            assert [c["call_id"] for c in listed] == [call.id]
            assert await list_calls(b_url, "mac-2") == []
            async with httpx.AsyncClient(timeout=30) as http:
                theirs = await http.delete(
                    f"{b_url}/realtime/calls/{call.id}", headers=bearer(call_token("mac-2"))
                )
                detached = await http.delete(
                    f"{b_url}/realtime/calls/{call.id}", headers=bearer(call_token())
                )
            assert theirs.status_code == 404
            assert detached.status_code == 200, detached.text
            assert detached.json()["state"] == "ended"
            assert [c["state"] for c in await list_calls(a_url)] in ([], ["ended"])
            assert await list_calls(b_url) == []


async def test_a_hosted_mcp_capture_on_replica_b_is_shown_to_the_call_on_replica_a(
    tmp_path: Path, redis: RedisServer
):
    shared = {"redis_url": redis.url, "cluster_heartbeat": 0.2}
    async with (
        FakeRealtime(api_key=KEY) as fake,
        bridged_suite(tmp_path / "b", fake, **shared) as (b_url, b_app),
        # A's calls name B's URL in their MCP tools: the model's captures land on B.
        bridged_suite(tmp_path / "a", fake, tools="mcp", public_url=b_url, **shared) as (a_url, a_app),
    ):
        ws_b = b_url.replace("http://", "ws://") + DEVICE_PATH
        geometry = display_geometry(MAIN)
        red = jpeg(geometry.image_width, geometry.image_height, (220, 20, 20))

        async def answer(device) -> None:
            while True:
                message = await device.next_message(timeout=60)
                if isinstance(message, p.Capture):
                    await device.send(frame_message(geometry, request_id=message.request_id, image=red))

        async with (
            connect(ws_b, token=token("mac-1", ("device",)), device_id="mac-1", displays=[MAIN]) as mac1,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(answer, mac1)
            await wait_for_device(b_app.state.hub, "mac-1")
            await _device_seen_from(a_app, "mac-1")
            call = await start_call(a_url, fake, "mac-1")
            await call.model_calls_mcp("capture_screen", {}, server_label="screen")
            await call.wait_for("response.create")
            assert call.images() == [red]
            tg.cancel_scope.cancel()
