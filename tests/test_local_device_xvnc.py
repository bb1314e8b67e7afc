"""The server's own display gets the capture client's display guard: on a real Xvnc resized with
`xrandr`, the RandR event pauses capture (the last good frame stands in, marked, exactly as for a
relayed client), and once the displays are quiet the new layout is read without waiting for a
capture, retiring the old layout's frames."""

from __future__ import annotations

import anyio
import pytest

from capture_client.guard import Phase
from servers.hub.device import CaptureRequest
from servers.hub.local import LocalDevice
from servers.ops import metrics
from servers.settings import Settings
from tests.support.xvnc import running_xvnc, set_mode

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_a_capture_while_the_displays_settle_gets_the_last_good_frame_marked_reconfiguring():
    with running_xvnc(1280, 800) as x:
        # A long quiet period and a short capture wait: the capture lands inside the pause.
        device = LocalDevice(Settings(display=x.display, capture_timeout=1.5), quiet_period=30)
        try:
            good = await device.capture(CaptureRequest(max_edge=320))
            paused = metrics.GUARD_PAUSES.labels("reconfiguring")._value.get()
            set_mode(x, 1024, 768)
            guard = device.guard
            assert guard is not None
            with anyio.fail_after(10):  # the RandR event reaches the guard on its own thread
                while guard.status().phase is not Phase.SETTLING:
                    await anyio.sleep(0.01)
            stale = await device.capture(CaptureRequest(max_edge=320))
            assert stale.data == good.data and stale.layout_epoch == good.layout_epoch
            assert stale.stale_reason is not None
            assert "reconfiguring" in stale.stale_reason and "last good frame" in stale.stale_reason
            assert metrics.GUARD_PAUSES.labels("reconfiguring")._value.get() == paused + 1
        finally:
            await device.aclose()


async def test_a_settled_resize_is_read_without_a_capture_and_retires_the_old_layout():
    with running_xvnc(1280, 800) as x:
        async with anyio.create_task_group() as tasks:
            device = LocalDevice(Settings(display=x.display), quiet_period=0.2, tasks=lambda: tasks)
            try:
                old = await device.capture(CaptureRequest(max_edge=320))
                set_mode(x, 1024, 768)
                with anyio.fail_after(10):
                    while device.layout_epoch == old.layout_epoch:
                        await anyio.sleep(0.02)
                displays = await device.list_displays()
                assert [(d.width, d.height) for d in displays] == [(1024, 768)]
                new = await device.capture(CaptureRequest(max_edge=2000))
                assert (new.geometry.capture_width, new.geometry.capture_height) == (1024, 768)
                assert new.stale_reason is None and new.layout_epoch == device.layout_epoch
            finally:
                await device.aclose()
