"""Push-to-talk frames on a relay device, in-process with the hub's clock under the test's control:
a pushed frame answers the next capture only within PUSH_WINDOW (30 s) of its arrival."""

from __future__ import annotations

import pytest

from servers.hub.device import CaptureRequest
from servers.hub.relay import PUSH_WINDOW, RelayDevice
from tests.support.fake_device import MAIN, display_geometry, frame_message, jpeg
from wire import protocol as p

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def relay_with_a_push(clock: Clock) -> tuple[RelayDevice, list[p.HubMessage]]:
    """A relay whose device answers every capture at once with a fresh (blue) frame."""
    sent: list[p.HubMessage] = []
    geometry = display_geometry(MAIN)
    relay: RelayDevice

    async def device_side(message: p.HubMessage) -> None:
        sent.append(message)
        if isinstance(message, p.Capture):
            fresh = frame_message(geometry, request_id=message.request_id, image=jpeg(640, 400, (0, 0, 255)))
            await relay.handle_binary(fresh)

    hello = p.Hello(protocol_version=p.PROTOCOL_VERSION, device_id="mac-1", displays=[MAIN], can_push=True)
    relay = RelayDevice(hello, device_side, device_id="mac-1", capture_timeout=5, clock=clock)
    await relay.handle_binary(frame_message(geometry, request_id=None, pushed=True))
    return relay, sent


def test_the_window_is_thirty_seconds():
    assert PUSH_WINDOW == 30.0


async def test_a_push_answers_a_capture_within_its_window():
    clock = Clock()
    relay, sent = await relay_with_a_push(clock)
    clock.now += PUSH_WINDOW - 1
    frame = await relay.capture(CaptureRequest())
    assert frame.data == jpeg(640, 400)
    assert frame.stale_reason and f"push-to-talk {PUSH_WINDOW - 1:.1f} s ago" in frame.stale_reason
    assert not any(isinstance(m, p.Capture) for m in sent)  # the device was not asked


async def test_a_push_older_than_its_window_is_not_used_and_the_device_is_asked():
    clock = Clock()
    relay, sent = await relay_with_a_push(clock)
    clock.now += PUSH_WINDOW + 1
    frame = await relay.capture(CaptureRequest())
    assert frame.data == jpeg(640, 400, (0, 0, 255)) and frame.stale_reason is None
    assert [type(m) for m in sent] == [p.Capture]
