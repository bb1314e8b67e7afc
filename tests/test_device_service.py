"""The capture client's guarded capture service, in-process over stand-in backends: a screen that
changes shape during a grab (before any platform signal says so) never yields a frame of the old shape."""

from __future__ import annotations

import pytest

from capture_client.cli import _start_x11_signals
from capture_client.client import CapturedFrame, DeviceService
from capture_client.guard import DisplayGuard
from tests.support.standin_backends import StandInScreen, standin_backends
from tests.support.xvnc import running_xvnc, set_mode
from wire import protocol as p

pytestmark = pytest.mark.anyio


async def test_a_resize_during_a_grab_seen_only_by_the_size_probe_keeps_the_frame_back():
    screen = StandInScreen(320, 200)
    service = DeviceService(
        lambda: standin_backends(screen),
        DisplayGuard(quiet_period=0.05),
        layout_probe=lambda: screen.size,  # what ScreenSizeProbe reads on X11: the root window's size
    )
    try:
        await service.start()
        screen.resize_during_next_grab = (640, 400)
        frame = await service.capture(p.Capture(request_id="a", wait=5, max_edge=2000))
        assert isinstance(frame, CapturedFrame), frame
        geometry = frame.header.geometry
        assert (geometry.capture_width, geometry.capture_height) == (640, 400)  # not the 320x200 of before
        assert screen.grabs == 2  # the first grab was thrown away
        assert [(d.width, d.height) for d in service.displays] == [(640, 400)]
    finally:
        await service.aclose()


async def test_the_cli_starts_a_size_probe_that_reads_the_real_screen():
    with running_xvnc(1024, 768) as x:
        sources, probe = _start_x11_signals(DisplayGuard(), x.display)
        try:
            assert probe is not None
            assert probe() == (1024, 768)
            set_mode(x, 800, 600)
            assert probe() == (800, 600)
        finally:
            for source in sources:
                source.stop()
