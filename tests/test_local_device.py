"""The local device's black-frame fallback, in-process, over stand-in backends whose layout and
pixels a test sets (the real X server paths are in test_screen_capture.py and test_screen_local_xvnc.py)."""

from __future__ import annotations

import pytest

from servers.hub.device import BlackFrameError, CaptureRequest
from servers.hub.local import LocalDevice
from servers.settings import Settings
from tests.support.standin_backends import StandInScreen, standin_backends

pytestmark = pytest.mark.anyio


@pytest.fixture
async def local():
    screen = StandInScreen()
    device = LocalDevice(
        Settings(local_device=True, frame_ttl=300),
        backends=lambda: standin_backends(screen),
    )
    try:
        yield device, screen
    finally:
        await device.aclose()


async def test_a_black_screen_returns_the_last_good_frame_of_the_same_layout_marked_stale(local):
    device, screen = local
    good = await device.capture(CaptureRequest(max_edge=320))
    screen.level = 0
    stale = await device.capture(CaptureRequest(max_edge=320))
    assert stale.data == good.data and stale.layout_epoch == good.layout_epoch
    assert stale.stale_reason and "last good frame" in stale.stale_reason


async def test_a_black_screen_after_a_layout_change_is_an_error_not_the_old_layouts_frame(local):
    device, screen = local
    good = await device.capture(CaptureRequest(max_edge=320))
    screen.size = (640, 400)  # reconfigured (a new monitor mode), and black meanwhile
    screen.level = 0
    with pytest.raises(BlackFrameError, match="No recent good frame"):
        await device.capture(CaptureRequest(max_edge=320))
    assert device.layout_epoch != good.layout_epoch
