"""The cluster layer (issue 13): its pure parts directly, and two hubs in one process on a real
redis-server with fake devices (device requests over Redis, claims, a gone replica, an outage)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette

from servers.hub.cluster import codec
from servers.hub.cluster.errors import ClusterUnavailableError, safe_url
from servers.hub.cluster.frames import frame_record, stored_from
from servers.hub.cluster.keys import Keys
from servers.hub.cluster.presence import DeviceRecord
from servers.hub.cluster.remote import RemoteDevice
from servers.hub.device import (
    BlackFrameError,
    CaptureRequest,
    DeviceError,
    DeviceUnavailableError,
    Frame,
    PointerResult,
)
from servers.hub.endpoint import DEVICE_PATH, create_device_route
from servers.hub.frames import StaleLayoutError, StoredFrame, UnknownFrameError
from servers.hub.hub import Hub
from servers.hub.registry import DeviceRegistry
from tests.support.fake_device import LEFT, MAIN, connect, display_geometry, relay_settings, wait_for_device
from tests.support.http import serve
from tests.support.redis_server import RedisServer, running_redis
from wire.geometry import Rect

GEOMETRY = display_geometry(MAIN)


# --- pure parts ------------------------------------------------------------------------------


def test_a_message_keeps_its_header_and_binary_payload_apart() -> None:
    payload = b"\xff\xd8jpeg\nwith\nnewlines\x00"
    message = codec.decode(codec.encode("rep", payload, id="r1", body={"text": "a\nb"}))
    assert message.kind == "rep" and message.payload == payload
    assert message.header == {"id": "r1", "body": {"text": "a\nb"}}


@pytest.mark.parametrize("data", [b"no header line", b"[1]\n", b"{bad json\n", b'{"x": 1}\n'])
def test_bytes_that_are_no_message_are_refused(data: bytes) -> None:
    with pytest.raises(codec.MessageError):
        codec.decode(data)


def test_a_frame_and_a_capture_request_cross_unchanged() -> None:
    frame = Frame(b"\x00pixels\n", "image/jpeg", GEOMETRY, 12.5, "stale", "f_1", 7)
    body, data = codec.frame_body(frame)
    assert codec.frame_from(codec.decode(codec.encode("rep", data, **body)).header, data) == frame
    request = CaptureRequest(display=1, region=Rect(x=-5, y=2, width=30, height=40), max_edge=640, quality=70)
    assert codec.capture_request_from(codec.capture_request_body(request)) == request
    result = PointerResult(1.5, 2.0, display=0, overlay=True, pointer_moved=False, note=None)
    assert codec.pointer_from(codec.pointer_body(result)) == result
    assert codec.displays_from(codec.displays_body([MAIN, LEFT])) == [MAIN, LEFT]


def test_domain_errors_cross_with_their_type_and_others_without_their_text() -> None:
    again = codec.error_from(codec.error_body(BlackFrameError("lid closed")))
    assert type(again) is BlackFrameError and str(again) == "lid closed"
    stale = codec.error_from(codec.error_body(StaleLayoutError("moved")))
    assert type(stale) is StaleLayoutError
    bug = codec.error_from(codec.error_body(KeyError("/secret/path")))
    assert type(bug) is DeviceError and "secret" not in str(bug)


def test_a_shared_frame_answers_like_the_local_store() -> None:
    stored = StoredFrame("f_abc", GEOMETRY, "mac-1", 0.0, 42)
    record = frame_record(stored, expires_at=1000.0)
    again = stored_from("f_abc", record, caller="mac-1", ttl=300, now=900.0, monotonic=5000.0)
    assert (again.geometry, again.device_id, again.layout_epoch) == (GEOMETRY, "mac-1", 42)
    assert again.created_at == pytest.approx(5000.0 - 200.0)
    with pytest.raises(UnknownFrameError, match="unknown"):  # another device's frame: never issued
        stored_from("f_abc", record, caller="mac-2", ttl=300, now=900.0, monotonic=0)
    with pytest.raises(UnknownFrameError, match="expired"):
        stored_from("f_abc", record, caller=None, ttl=300, now=1000.0, monotonic=0)


def test_keys_records_and_urls() -> None:
    keys = Keys("p")
    assert keys.device_id_of(keys.device("mac:1")) == "mac:1"
    record = DeviceRecord("mac-1", "replica-a", 9)
    assert DeviceRecord.decode("mac-1", record.encode()) == record
    assert safe_url("redis://:hunter2@redis:6379/0") == "redis://:***@redis:6379/0"
    assert safe_url("redis://user:hunter2@redis/1") == "redis://user:***@redis/1"
    assert safe_url("redis://redis:6379/0") == "redis://redis:6379/0"


class _Directory:
    def __init__(self, devices: dict[str, Any]) -> None:
        self.devices = devices

    async def remote_device(self, device_id: str) -> Any:
        return self.devices.get(device_id)

    async def device_ids(self) -> list[str]:
        return sorted(self.devices)


@pytest.mark.anyio
async def test_the_registry_finds_other_replicas_devices_but_a_token_only_its_own() -> None:
    registry = DeviceRegistry()
    elsewhere = RemoteDevice("mac-1", "replica-b", 3, bus=None, capture_timeout=1)  # type: ignore[arg-type]
    registry.attach_directory(_Directory({"mac-1": elsewhere}), lambda *_: None)
    assert await registry.find(None) is elsewhere
    assert await registry.find("mac-1", caller="mac-1") is elsewhere
    with pytest.raises(DeviceUnavailableError) as seen:
        await registry.find("mac-1", caller="mac-2")
    assert "mac-1" in str(seen.value) and "none connected" in str(seen.value)
    with pytest.raises(DeviceUnavailableError, match="mac-1"):
        await registry.find("mac-9")


# --- two hubs on a real Redis ----------------------------------------------------------------


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@asynccontextmanager
async def replica(redis: RedisServer, **changes: Any) -> AsyncIterator[tuple[Hub, str]]:
    """A hub in the cluster behind its device endpoint on real uvicorn; yields it and the ws:// URL."""
    hub = Hub(relay_settings(redis_url=redis.url, cluster_heartbeat=0.2, capture_timeout=2, **changes))
    app = Starlette(routes=[create_device_route(hub)])
    async with hub.running(), serve(app) as url:  # running() leaves the cluster, then closes the devices
        yield hub, url.replace("http://", "ws://") + DEVICE_PATH


async def _remote(hub: Hub, device_id: str) -> RemoteDevice:
    with anyio.fail_after(10):
        while True:
            try:  # until the owner's announcement is written
                device = await hub.devices.find(device_id)
            except DeviceUnavailableError:
                device = None
            if isinstance(device, RemoteDevice):
                return device
            await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_a_device_on_one_hub_answers_through_another(redis: RedisServer) -> None:
    async with replica(redis) as (a, a_url), replica(redis) as (b, _), connect(a_url) as device:
        await wait_for_device(a, "mac-1")
        remote = await _remote(b, "mac-1")
        assert remote.owner == a.cluster.replica_id if a.cluster else False
        assert await remote.list_displays() == [MAIN, LEFT]
        assert remote.layout_epoch == a.devices.resolve("mac-1").layout_epoch

        async def answer_the_capture() -> None:
            from tests.support.fake_device import frame_message
            from wire import protocol as p

            request = await device.next_message()
            assert isinstance(request, p.Capture)
            await device.send(frame_message(GEOMETRY, request_id=request.request_id))

        frame: Frame | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(answer_the_capture)
            frame = await remote.capture(CaptureRequest(max_edge=640))
        assert frame is not None and frame.geometry == GEOMETRY and frame.data[:2] == b"\xff\xd8"
        # The geometry is shared: a frame stored on B is found on A.
        stored = await b.put_frame(frame.geometry, "mac-1", frame.layout_epoch)
        assert (await a.get_frame(stored.frame_id, caller="mac-1")).geometry == GEOMETRY
        with pytest.raises(UnknownFrameError, match="unknown"):
            await a.get_frame(stored.frame_id, caller="mac-2")
        # A pointer request with an epoch the device no longer has is refused by its own replica.
        stale = RemoteDevice("mac-1", remote.owner, remote.layout_epoch - 1, remote._bus, capture_timeout=1)
        with pytest.raises(StaleLayoutError):
            await stale.move_pointer(10, 10)


@pytest.mark.anyio
async def test_a_device_claimed_on_another_hub_replaces_the_first_connection(redis: RedisServer) -> None:
    async with replica(redis) as (a, a_url), replica(redis) as (b, b_url), connect(a_url) as first:
        await wait_for_device(a, "mac-1")
        async with connect(b_url) as _second:
            await wait_for_device(b, "mac-1")
            await wait_for_device(a, "mac-1", present=False)
            with anyio.fail_after(10):  # the old link is closed by its replica
                await first.ws.wait_closed()
            remote = await _remote(a, "mac-1")
            assert b.cluster is not None and remote.owner == b.cluster.replica_id
        # B's device left: A's cached record of it goes with the news, not after its cache time.
        await wait_for_device(b, "mac-1", present=False)
        with anyio.fail_after(5):
            while True:
                try:
                    await a.devices.find("mac-1")
                except ClusterUnavailableError:
                    pass  # a fresh Redis: "not announced yet" for a few heartbeats
                except DeviceUnavailableError as e:
                    assert "No device 'mac-1'" in str(e)
                    break
                await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_a_request_to_a_gone_replica_fails_at_once(redis: RedisServer) -> None:
    async with replica(redis) as (a, _):
        assert a.cluster is not None
        await a.cluster.redis.set(a.cluster.keys.device("mac-1"), DeviceRecord("mac-1", "dead", 1).encode())
        remote = await a.devices.find("mac-1")
        began = time.monotonic()
        with pytest.raises(ClusterUnavailableError, match="gone"):
            await remote.capture(CaptureRequest())
        assert time.monotonic() - began < 1


@pytest.mark.anyio
async def test_during_a_redis_outage_calls_fail_with_a_clear_error_then_recover(redis: RedisServer) -> None:
    async with replica(redis) as (a, a_url), replica(redis) as (b, _), connect(a_url):
        await wait_for_device(a, "mac-1")
        await _remote(b, "mac-1")
        redis.stop()
        began = time.monotonic()
        with pytest.raises(ClusterUnavailableError, match="Redis"):
            device = await b.devices.find("mac-1")  # the record may still be cached: the request fails
            await device.list_displays()
        assert time.monotonic() - began < 10
        redis.start()
        # Redis came back empty: the heartbeat announces the device again. The owner may announce
        # it a moment before its own inbox is subscribed again; a call in that moment fails with
        # the same clear error, and the next one is answered.
        with anyio.fail_after(10):
            while True:
                remote = await _remote(b, "mac-1")
                try:
                    displays = await remote.list_displays()
                except ClusterUnavailableError as e:
                    assert str(e), "an error without a message"
                    await anyio.sleep(0.05)
                    continue
                break
        assert displays == [MAIN, LEFT]
