"""The relay as a `Device`: captures, fallbacks, push-to-talk, pointer commands, disconnects.

Real uvicorn on loopback serving the device endpoint, a real `websockets` client as the device.
"""

# pyright: reportPossiblyUnboundVariable=false
# (names bound inside `async with create_task_group()`: anyio types its __aexit__ `-> bool`, so pyright
# assumes the block may swallow an exception and leave them unbound.)

from __future__ import annotations

import anyio
import pytest

from servers.hub.device import (
    BlackFrameError,
    CaptureRequest,
    CaptureTimeoutError,
    DeviceError,
    DeviceUnavailableError,
)
from servers.hub.relay import RelayDevice
from tests.support.fake_device import LEFT, MAIN, connect, device_hub, display_geometry, frame_message, jpeg
from wire import protocol as p
from wire.geometry import Rect

pytestmark = pytest.mark.anyio


async def test_capture_asks_the_device_and_returns_its_frame():
    async with device_hub() as (hub, url), connect(url) as device:
        assert isinstance(device.welcome, p.Welcome) and device.welcome.device_id == "mac-1"
        relay = hub.devices.resolve(None)
        assert isinstance(relay, RelayDevice)

        async def answer() -> None:
            request = await device.next_message()
            assert isinstance(request, p.Capture)
            assert (request.display, request.max_edge, request.format) == (None, 1024, "png")
            await device.send(frame_message(display_geometry(MAIN), request_id=request.request_id))

        async with anyio.create_task_group() as tg:
            tg.start_soon(answer)
            frame = await relay.capture(CaptureRequest(max_edge=1024, format="png"))
        assert frame.geometry == display_geometry(MAIN)
        assert frame.data == jpeg(640, 400) and frame.mime_type == "image/jpeg"
        assert frame.stale_reason is None


async def test_list_displays_comes_from_the_hello():
    async with device_hub() as (hub, url), connect(url):
        displays = await hub.devices.resolve("mac-1").list_displays()
    assert displays == [MAIN, LEFT]


async def test_a_failed_capture_falls_back_to_the_latest_good_frame_with_its_age():
    async with device_hub() as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)

        async def answer_then_fail() -> None:
            first = await device.next_message()
            await device.send(frame_message(display_geometry(MAIN), request_id=first.request_id))  # type: ignore[union-attr]
            second = await device.next_message()
            await device.send(
                p.RequestFailed(
                    request_id=second.request_id,  # type: ignore[union-attr]
                    code="reconfiguring",
                    message="displays are reconfiguring",
                    retry_after=1.5,
                )
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(answer_then_fail)
            good = await relay.capture(CaptureRequest())
            stale = await relay.capture(CaptureRequest())
    assert stale.data == good.data and stale.geometry == good.geometry
    assert stale.stale_reason is not None
    assert "reconfiguring" in stale.stale_reason and "last good frame" in stale.stale_reason


async def test_a_good_frame_older_than_frame_ttl_is_no_fallback():
    async with device_hub(frame_ttl=60) as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)
        assert isinstance(relay, RelayDevice)

        async def answer_then_fail() -> None:
            first = await device.next_message()
            await device.send(frame_message(display_geometry(MAIN), request_id=first.request_id))  # type: ignore[union-attr]
            second = await device.next_message()
            await device.send(
                p.RequestFailed(request_id=second.request_id, code="black", message="display asleep")  # type: ignore[union-attr]
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(answer_then_fail)
            await relay.capture(CaptureRequest())
            # The hub's clock moves past frame_ttl: the good frame is now too old to stand in.
            now = relay._clock()
            relay._clock = lambda: now + 61
            with pytest.raises(BlackFrameError, match="display asleep"):
                await relay.capture(CaptureRequest())


async def test_a_failed_capture_with_no_good_frame_is_a_clear_error():
    async with device_hub() as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)

        async def fail() -> None:
            request = await device.next_message()
            await device.send(
                p.RequestFailed(request_id=request.request_id, code="black", message="screen is black")  # type: ignore[union-attr]
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(fail)
            with pytest.raises(BlackFrameError, match="screen is black"):
                await relay.capture(CaptureRequest())


async def test_a_silent_device_times_out_then_a_late_frame_becomes_the_fallback():
    async with device_hub(capture_timeout=0.3) as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)
        with pytest.raises(CaptureTimeoutError, match=r"within 0.3 s"):
            await relay.capture(CaptureRequest())
        late = await device.next_message()
        assert isinstance(late, p.Capture)
        await device.send(frame_message(display_geometry(MAIN), request_id=late.request_id))
        await device.send(p.Ping(seq=7))  # the hub answers in order: the late frame was handled
        assert await device.next_message() == p.Pong(seq=7)  # no error for a late (not unknown) reply
        frame = await relay.capture(CaptureRequest())
    assert frame.geometry == display_geometry(MAIN)
    assert frame.stale_reason is not None and "did not answer within 0.3 s" in frame.stale_reason


async def test_a_pushed_frame_answers_the_next_capture_once():
    async with device_hub(capture_timeout=0.5) as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)
        await device.send(frame_message(display_geometry(MAIN), request_id=None, pushed=True))
        await device.send(p.Ping(seq=1))
        assert await device.next_message() == p.Pong(seq=1)
        pushed = await relay.capture(CaptureRequest())
        assert pushed.stale_reason is not None and "push-to-talk" in pushed.stale_reason
        # Used once: the next capture asks the device again.
        async with anyio.create_task_group() as tg:
            tg.start_soon(device.next_message)
            with pytest.raises(CaptureTimeoutError):
                await relay.capture(CaptureRequest(region=Rect(x=0, y=0, width=10, height=10)))


async def test_point_and_highlight_are_delivered_and_acknowledged():
    async with device_hub() as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)
        seen: list[p.HubMessage] = []

        async def ack_two() -> None:
            for _ in range(2):
                message = await device.next_message()
                seen.append(message)
                if isinstance(message, p.MovePointer):
                    await device.send(
                        p.PointerDone(request_id=message.request_id, x=message.x, y=message.y, display=1)
                    )
                elif isinstance(message, p.Highlight):
                    centre_x = message.area.x + message.area.width / 2
                    centre_y = message.area.y + message.area.height / 2
                    await device.send(
                        p.PointerDone(request_id=message.request_id, x=centre_x, y=centre_y, display=0)
                    )

        async with anyio.create_task_group() as tg:
            tg.start_soon(ack_two)
            moved = await relay.move_pointer(-100.5, 40)
            marked = await relay.highlight(Rect(x=100, y=100, width=50, height=20), "Save")
    assert (moved.x, moved.y, moved.display) == (-100.5, 40, 1)
    assert (marked.x, marked.y) == (125, 110)
    assert isinstance(seen[1], p.Highlight) and seen[1].label == "Save"


async def test_a_point_outside_every_display_is_refused_without_moving():
    async with device_hub() as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)
        with pytest.raises(DeviceError, match="outside every display"):
            await relay.move_pointer(5000, 5000)
        await device.send(p.Ping(seq=2))
        assert await device.next_message() == p.Pong(seq=2)  # nothing was sent before the pong


async def test_a_capture_of_a_display_the_device_lacks_is_refused_up_front():
    async with device_hub() as (hub, url), connect(url):
        with pytest.raises(DeviceError, match=r"no display 5 \(displays: 0, 1\)"):
            await hub.devices.resolve(None).capture(CaptureRequest(display=5))


async def test_disconnect_mid_capture_fails_the_pending_call_fast():
    async with device_hub(capture_timeout=30) as (hub, url):
        async with connect(url) as device:
            relay = hub.devices.resolve(None)

            async def drop_after_request() -> None:
                await device.next_message()
                await device.ws.close()

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(drop_after_request)
                    with pytest.raises(DeviceUnavailableError, match="disconnected"):
                        await relay.capture(CaptureRequest())
        with pytest.raises(DeviceUnavailableError):
            await relay.capture(CaptureRequest())
        assert hub.devices.connected() == []


async def test_reconnect_replaces_the_old_connection_without_a_restart():
    async with device_hub(capture_timeout=30) as (hub, url), connect(url) as first:
        old = hub.devices.resolve("mac-1")

        async def capture_on_old() -> None:
            with pytest.raises(DeviceUnavailableError, match="replaced"):
                await old.capture(CaptureRequest())

        async with anyio.create_task_group() as tg:
            tg.start_soon(capture_on_old)
            await first.next_message()  # the capture is pending on the old link
            async with connect(url) as second:
                new = hub.devices.resolve(None)
                assert new is not old and [d.id for d in hub.devices.connected()] == ["mac-1"]

                async def answer() -> None:
                    request = await second.next_message()
                    await second.send(frame_message(display_geometry(LEFT), request_id=request.request_id))  # type: ignore[union-attr]

                tg.start_soon(answer)
                frame = await new.capture(CaptureRequest(display=1))
                assert frame.geometry.display == 1
