"""The local device is the capture client running in-process, linked to a `RelayDevice` in memory:
in-process here, over stand-in backends whose layout and pixels a test sets (the real X server
paths, RandR and xrandr included, are in test_screen_local_xvnc.py and test_x11_connections_xvnc.py)."""

from __future__ import annotations

import pytest

from capture_client.backends import NoDisplayError as BackendNoDisplay
from capture_client.guard import Phase
from servers.hub.device import BlackFrameError, CaptureRequest, DeviceError, NoDisplayError
from servers.hub.local import HOW_TO_GET_FRAMES, LocalDevice
from servers.hub.relay import RelayDevice
from servers.ops import metrics
from servers.settings import Settings
from tests.support.standin_backends import StandInScreen, standin_backends
from wire.geometry import Rect

pytestmark = pytest.mark.anyio

QUIET = 0.05


@pytest.fixture
async def local():
    screen = StandInScreen()
    device = LocalDevice(
        Settings(local_device=True, frame_ttl=300, capture_timeout=2),
        backends=lambda: standin_backends(screen),
        quiet_period=QUIET,
    )
    try:
        yield device, screen
    finally:
        await device.aclose()


async def test_frames_and_pointer_moves_go_through_a_relay_device(local):
    device, _ = local
    assert device.relay is None  # nothing opens before the first use
    frame = await device.capture(CaptureRequest(max_edge=160))
    assert isinstance(device.relay, RelayDevice) and device.relay.id == "local"
    assert (frame.geometry.image_width, frame.geometry.image_height) == (160, 100)
    assert frame.layout_epoch == device.layout_epoch == device.relay.layout_epoch
    moved = await device.move_pointer(10, 20)
    assert (moved.x, moved.y, moved.display) == (10, 20, 0)
    # The relay's own checks apply: a point on no display is refused before the client is asked.
    with pytest.raises(DeviceError, match="outside every display"):
        await device.move_pointer(5000, 20)


async def test_a_black_screen_returns_the_last_good_frame_of_the_same_layout_marked_stale(local):
    device, screen = local
    good = await device.capture(CaptureRequest(max_edge=320))
    withheld = metrics.FRAMES_BLACK_WITHHELD._value.get()
    screen.level = 0
    stale = await device.capture(CaptureRequest(max_edge=320))
    assert stale.data == good.data and stale.layout_epoch == good.layout_epoch
    assert stale.stale_reason and "black" in stale.stale_reason and "last good frame" in stale.stale_reason
    assert metrics.FRAMES_BLACK_WITHHELD._value.get() == withheld + 1
    assert device.guard is not None and device.guard.status().phase is not Phase.STEADY  # paused


async def test_a_black_screen_after_a_layout_change_is_an_error_not_the_old_layouts_frame(local):
    device, screen = local
    good = await device.capture(CaptureRequest(max_edge=320))
    screen.size = (640, 400)  # reconfigured (a new monitor mode), and black meanwhile
    screen.level = 0
    with pytest.raises(BlackFrameError, match=r"No frame: .*black"):
        await device.capture(CaptureRequest(max_edge=320))
    assert device.layout_epoch != good.layout_epoch
    assert [(d.width, d.height) for d in await device.list_displays()] == [(640, 400)]


async def test_the_screen_back_after_black_gives_fresh_frames_again(local):
    device, screen = local
    await device.capture(CaptureRequest(max_edge=320))
    screen.level = 0
    assert (await device.capture(CaptureRequest(max_edge=320))).stale_reason
    screen.level = 128
    fresh = await device.capture(CaptureRequest(max_edge=320))
    assert fresh.stale_reason is None


async def test_no_display_is_a_clear_error_and_a_display_that_appears_later_is_used():
    screen = StandInScreen()
    present = False

    def backends():
        if not present:
            raise BackendNoDisplay("No X display: DISPLAY is not set.")
        return standin_backends(screen)

    device = LocalDevice(Settings(local_device=True), backends=backends, quiet_period=QUIET)
    try:
        with pytest.raises(NoDisplayError) as refused:
            await device.capture(CaptureRequest())
        assert "DISPLAY is not set" in str(refused.value) and HOW_TO_GET_FRAMES in str(refused.value)
        assert device.relay is None
        present = True
        frame = await device.capture(CaptureRequest(max_edge=320))
        assert frame.stale_reason is None
    finally:
        await device.aclose()


class VanishingScreen(StandInScreen):
    gone = False

    def grab(self, area: Rect):
        if self.gone:
            raise BackendNoDisplay("X display :9 went away")
        return super().grab(area)


async def test_a_display_that_goes_away_is_a_clear_error_and_is_reopened_on_the_next_call():
    screen = VanishingScreen()
    opened = []

    def backends():
        opened.append(1)
        return standin_backends(screen)

    device = LocalDevice(Settings(local_device=True), backends=backends, quiet_period=QUIET)
    try:
        await device.capture(CaptureRequest(max_edge=320))
        first = device.relay
        screen.gone = True
        with pytest.raises(NoDisplayError, match="went away") as refused:
            await device.capture(CaptureRequest(max_edge=320))
        assert HOW_TO_GET_FRAMES in str(refused.value)
        assert first is not None and first.closed and device.relay is None
        screen.gone = False
        await device.capture(CaptureRequest(max_edge=320))
        assert len(opened) == 2 and device.relay is not first
    finally:
        await device.aclose()
