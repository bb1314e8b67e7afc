"""X connections on a real Xvnc: backend resets and display changes leave none behind.

Xvnc refuses every new client once ~256 are open ("Maximum number of clients reached"), so one
leaked connection per reset takes the display down within minutes of display changes.
"""

from __future__ import annotations

import contextlib

import pytest

from capture_client.backends import BackendError
from capture_client.backends.x11 import X11Screen
from capture_client.x11_signals import RandrSignals
from servers.hub.device import CaptureRequest, DeviceError
from servers.hub.local import LocalDevice
from servers.settings import Settings
from tests.support.xvnc import output_off, running_xvnc, set_mode, x_client_count
from wire.geometry import Rect

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

MODES = [(1280, 800), (1024, 768), (1680, 1050)]


@pytest.mark.slow  # fifty resets against a real server
def test_fifty_screen_backend_resets_and_display_changes_leave_no_x_connection_open():
    with running_xvnc(1280, 800) as x:
        before = x_client_count(x)
        screen = X11Screen(x.display)
        screen.displays()
        opened = x_client_count(x)
        assert opened == before + 1
        for i in range(50):
            if i % 10 == 5:
                set_mode(x, *MODES[i % len(MODES)])
            elif i % 10 == 9:
                output_off(x)
            screen.reset()
            with contextlib.suppress(BackendError):  # a grab of the old rectangle may fail
                screen.grab(Rect(x=0, y=0, width=32, height=32))
            screen.displays()
            if i % 10 == 9:
                set_mode(x, 1280, 800)
        assert x_client_count(x) == opened
        screen.close()
        assert x_client_count(x) == before


def test_a_randr_watcher_that_fails_to_start_closes_its_connection(monkeypatch):
    from Xlib.display import Display

    def refuse(self, *args, **kwargs):
        raise RuntimeError("select input refused")

    with running_xvnc(1024, 768) as x:
        before = x_client_count(x)
        monkeypatch.setattr(Display, "sync", refuse)
        for _ in range(5):
            with pytest.raises(RuntimeError):
                RandrSignals(_NoSink(), x.display)
        monkeypatch.undo()
        assert x_client_count(x) == before


@pytest.mark.slow
async def test_the_local_device_keeps_its_x_connections_flat_across_display_changes():
    with running_xvnc(1280, 800) as x:
        before = x_client_count(x)
        device = LocalDevice(Settings(display=x.display, skills_reload=False), quiet_period=0.05)
        try:
            await device.capture(CaptureRequest(max_edge=320))
            settled = x_client_count(x)  # screen, pointer and the RandR watcher
            for i in range(50):
                if i % 5 == 0:
                    set_mode(x, *MODES[(i // 5) % len(MODES)])
                elif i % 5 == 3:
                    output_off(x)
                with contextlib.suppress(DeviceError):  # black while the output is off
                    await device.capture(CaptureRequest(max_edge=320))
                if i % 5 == 3:
                    set_mode(x, 1280, 800)
            assert x_client_count(x) <= settled
        finally:
            await device.aclose()
        assert x_client_count(x) == before


class _NoSink:
    def signal(self, reason: str) -> None:
        pass
