"""The device endpoint under bad input: versions, malformed, oversized and out-of-order
messages, decompression bombs, frames for displays that are gone, and dead links.

Real uvicorn on loopback, a real `websockets` client. After every bad message the link must still
work (a ping gets its pong, a capture gets its frame): nothing crashes or wedges the hub.
"""

from __future__ import annotations

import io
import struct
import zlib

import anyio
import pytest
import websockets
from PIL import Image

from servers.hub.device import CaptureRequest, DeviceError
from tests.support.fake_device import (
    LEFT,
    MAIN,
    FakeDevice,
    connect,
    device_hub,
    display_geometry,
    frame_message,
    jpeg,
    wait_for_device,
)
from wire import protocol as p

pytestmark = pytest.mark.anyio


async def still_alive(device: FakeDevice, seq: int) -> None:
    await device.send(p.Ping(seq=seq))
    assert await device.next_message() == p.Pong(seq=seq)


async def expect_error(device: FakeDevice, code: str) -> p.ErrorMessage:
    message = await device.next_message()
    assert isinstance(message, p.ErrorMessage), message
    assert message.code == code, message
    assert not message.fatal
    return message


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims `width` x `height` (a decompression bomb's shape)."""
    out = io.BytesIO()
    Image.new("RGB", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = data.index(b"IHDR")
    struct.pack_into(">II", data, ihdr + 4, width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    struct.pack_into(">I", data, ihdr + 17, crc)
    return bytes(data)


async def refused(
    url: str,
    first: str | None,
    *,
    token: str = "tok-1",  # noqa: S107 - a test token
) -> tuple[p.ErrorMessage, int | None]:
    """Connect, send `first`, and return the fatal error and the close code."""
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        if first is not None:
            await ws.send(first)
        with anyio.fail_after(15):
            message = p.parse_hub_text(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
        assert isinstance(message, p.ErrorMessage) and message.fatal
        return message, ws.close_code


def hello(**changes) -> str:
    fields = {"protocol_version": p.PROTOCOL_VERSION, "device_id": "mac-1", "displays": [MAIN]}
    return p.encode(p.Hello(**(fields | changes)))


async def test_an_unsupported_protocol_version_is_refused_naming_the_side_to_update():
    async with device_hub() as (_, url):
        newer, _ = await refused(url, hello(protocol_version=p.PROTOCOL_VERSION + 1))
        older, _ = await refused(url, hello(protocol_version=p.PROTOCOL_VERSION - 1))
    assert newer.code == "unsupported_version" and "update the server" in newer.message
    assert older.code == "unsupported_version" and "update the capture client" in older.message


async def test_anything_before_hello_is_out_of_order():
    async with device_hub() as (_, url):
        error, _ = await refused(url, p.encode(p.Ping()))
    assert error.code == "out_of_order"


async def test_malformed_oversized_and_out_of_order_messages_get_errors_and_the_link_lives():
    async with device_hub() as (hub, url), connect(url) as device:
        await device.send("{not json")
        await expect_error(device, "malformed")
        await device.send('{"type": "ping", "pad": "' + "x" * p.MAX_TEXT_BYTES + '"}')
        await expect_error(device, "too_large")
        await device.send('{"type": "move_pointer", "request_id": "x", "x": 1, "y": 2}')
        await expect_error(device, "invalid")
        await device.send(hello())
        await expect_error(device, "out_of_order")
        await device.send(p.PointerDone(request_id="p999", x=1, y=1))
        error = await expect_error(device, "unknown_request")
        assert error.request_id == "p999"
        await device.send(b"\x00\x01")
        await expect_error(device, "malformed")
        await device.send(frame_message(display_geometry(MAIN), request_id="c999"))
        await expect_error(device, "unknown_request")
        await device.send(frame_message(display_geometry(MAIN), request_id=None, pushed=False))
        await expect_error(device, "out_of_order")
        oversized = b"\0" * (p.MAX_IMAGE_BYTES + 1)
        head = (
            p.FrameHeader(
                request_id=None,
                pushed=True,
                geometry=display_geometry(MAIN),
                mime_type="image/jpeg",
                captured_at=0,
                size=1,
            )
            .model_dump_json()
            .encode()
        )
        await device.send(len(head).to_bytes(4, "big") + head + oversized)
        await expect_error(device, "too_large")
        await still_alive(device, 1)
        assert [d.id for d in hub.devices.connected()] == ["mac-1"]


async def capture_answered_with(device: FakeDevice, relay, data_for) -> BaseException | object:
    """Run a capture that the device answers with `data_for(request)`; returns result or error."""
    outcome: list[object] = []

    async def answer() -> None:
        request = await device.next_message()
        assert isinstance(request, p.Capture)
        await device.send(data_for(request))

    async with anyio.create_task_group() as tg:
        tg.start_soon(answer)
        try:
            outcome.append(await relay.capture(CaptureRequest()))
        except DeviceError as e:
            outcome.append(e)
    return outcome[0]


async def test_a_decompression_bomb_is_refused_and_the_capture_fails_at_once():
    bomb = png_claiming(40_000, 40_000)
    geometry = display_geometry(MAIN).model_copy(update={"image_width": 40_000, "image_height": 40_000})
    async with device_hub(capture_timeout=30) as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)

        def bomb_frame(request: p.Capture) -> bytes:
            header = p.FrameHeader(
                request_id=request.request_id,
                geometry=geometry,
                mime_type="image/png",
                captured_at=0,
                size=len(bomb),
            )
            return p.encode_frame(header, bomb)

        with anyio.fail_after(10):  # refused at once, not after the 30 s capture timeout
            result = await capture_answered_with(device, relay, bomb_frame)
        assert isinstance(result, DeviceError) and "decompression bomb" in str(result)
        error = await expect_error(device, "bad_image")
        assert "decompression bomb" in error.message
        await still_alive(device, 2)


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (jpeg(320, 200), "image is 320x200, its header says 640x400"),  # the right type, the wrong size
        (png_claiming(640, 400), "not a readable JPEG image"),  # a PNG labelled JPEG
    ],
)
async def test_an_image_that_is_not_what_its_header_says_is_refused(image, reason):
    async with device_hub() as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)
        geometry = display_geometry(MAIN)
        assert (geometry.image_width, geometry.image_height) == (640, 400)

        def mismatched(request: p.Capture) -> bytes:
            return frame_message(geometry, request_id=request.request_id, image=image)

        result = await capture_answered_with(device, relay, mismatched)
        assert isinstance(result, DeviceError) and reason in str(result)
        error = await expect_error(device, "bad_image")
        assert reason in error.message
        await still_alive(device, 3)


async def test_frames_for_a_display_that_no_longer_exists_are_refused():
    async with device_hub(capture_timeout=30) as (hub, url), connect(url, displays=[MAIN, LEFT]) as device:
        relay = hub.devices.resolve(None)
        # The left display is unplugged; the client says so, then sends a frame of it anyway.
        await device.send(p.DisplaysChanged(displays=[MAIN], reason="display removed"))
        await device.send(frame_message(display_geometry(LEFT), request_id=None, pushed=True))
        error = await expect_error(device, "unknown_display")
        assert "display 1 does not exist" in error.message
        assert [d.index for d in await relay.list_displays()] == [0]

        def stale(request: p.Capture) -> bytes:
            return frame_message(display_geometry(LEFT), request_id=request.request_id)

        with anyio.fail_after(10):
            result = await capture_answered_with(device, relay, stale)
        assert isinstance(result, DeviceError) and "does not exist" in str(result)
        await expect_error(device, "unknown_display")
        await still_alive(device, 3)


async def test_a_layout_change_drops_frames_of_the_old_layout():
    resized = MAIN.model_copy(update={"width": 1024, "height": 768})
    async with device_hub(capture_timeout=0.3) as (hub, url), connect(url, displays=[MAIN]) as device:
        relay = hub.devices.resolve(None)
        first = await capture_answered_with(
            device, relay, lambda r: frame_message(display_geometry(MAIN), request_id=r.request_id)
        )
        assert not isinstance(first, BaseException)
        await device.send(p.DisplaysChanged(displays=[resized], reason="mode set"))
        # Old-geometry frames are refused now, and no fallback to the old frame is offered.
        await device.send(frame_message(display_geometry(MAIN), request_id=None, pushed=True))
        await expect_error(device, "stale_geometry")
        with pytest.raises(DeviceError, match="did not answer"):
            await relay.capture(CaptureRequest())


async def test_a_silent_device_is_dropped_by_the_heartbeat():
    async with device_hub(device_heartbeat_interval=0.2) as (hub, url), connect(url) as device:
        assert isinstance(device.welcome, p.Welcome) and device.welcome.heartbeat_interval == 0.2
        # The device stops answering: it never reads, so never pongs.
        with anyio.fail_after(10):
            await wait_for_device(hub, "mac-1", present=False)
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await device.ws.recv()
        assert device.ws.close_code == 1011


async def test_a_device_that_answers_pings_stays_connected():
    async with device_hub(device_heartbeat_interval=0.1) as (hub, url), connect(url) as device:
        pings = 0
        with anyio.fail_after(10):
            while pings < 8:  # well past three intervals
                message = p.parse_hub_text(await device.ws.recv())
                if isinstance(message, p.Ping):
                    pings += 1
                    await device.send(p.Pong(seq=message.seq))
        assert [d.id for d in hub.devices.connected()] == ["mac-1"]


async def test_an_answer_of_the_wrong_kind_is_refused_and_the_right_one_still_counts():
    async with device_hub() as (hub, url), connect(url) as device:
        relay = hub.devices.resolve(None)

        async def confused_then_right() -> None:
            request = await device.next_message()
            assert isinstance(request, p.Capture)
            await device.send(p.PointerDone(request_id=request.request_id, x=1, y=1))
            await expect_error(device, "out_of_order")
            await device.send(frame_message(display_geometry(MAIN), request_id=request.request_id))
            moved = await device.next_message()
            assert isinstance(moved, p.MovePointer)
            await device.send(frame_message(display_geometry(MAIN), request_id=moved.request_id))
            await expect_error(device, "out_of_order")
            await device.send(p.PointerDone(request_id=moved.request_id, x=moved.x, y=moved.y))

        async with anyio.create_task_group() as tg:
            tg.start_soon(confused_then_right)
            frame = await relay.capture(CaptureRequest())
            assert frame.geometry == display_geometry(MAIN)
            result = await relay.move_pointer(10, 20)
            assert (result.x, result.y) == (10, 20)
