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


class BrokenScreen(StandInScreen):
    def grab(self, area):
        raise RuntimeError("a bug in a backend")


class Collected:
    """A `dispatch.Outbox` that keeps what the client sends."""

    def __init__(self) -> None:
        self.frames: list[CapturedFrame] = []
        self.messages: list[p.ClientMessage] = []

    async def send_frame(self, frame: CapturedFrame) -> None:
        self.frames.append(frame)

    async def send_message(self, message: p.ClientMessage) -> None:
        self.messages.append(message)


async def test_the_dispatch_answers_each_request_and_a_bug_still_gets_an_answer(caplog):
    from capture_client import dispatch

    screen = StandInScreen(320, 200)
    service = DeviceService(lambda: standin_backends(screen), DisplayGuard(quiet_period=0.05))
    out = Collected()
    try:
        await service.start()
        await dispatch.handle(service, p.Capture(request_id="c1", wait=5, max_edge=160), out)
        await dispatch.handle(service, p.MovePointer(request_id="p2", x=10, y=10), out)
        await dispatch.handle(service, p.Ping(seq=7), out)
        assert [f.header.request_id for f in out.frames] == ["c1"]
        done = out.messages[0]
        assert isinstance(done, p.PointerDone)
        assert (done.request_id, done.x, done.y, done.display, done.pointer_moved) == ("p2", 10, 10, 0, False)
        assert out.messages[1] == p.Pong(seq=7)
        screen.__class__ = BrokenScreen  # the next grab hits a bug
        await dispatch.handle(service, p.Capture(request_id="c3", wait=5), out)
        failed = out.messages[2]
        assert isinstance(failed, p.RequestFailed) and (failed.request_id, failed.code) == ("c3", "error")
        assert "RuntimeError" in failed.message and "a bug in a backend" not in failed.message
        assert "request c3 failed" in caplog.text
    finally:
        await service.aclose()


def test_a_fatal_hub_error_is_a_refusal_and_a_plain_one_is_not():
    from capture_client import dispatch

    assert dispatch.refusal(p.ErrorMessage(code="token_expired", message="mint a new one", fatal=True)) == (
        "token_expired: mint a new one"
    )
    assert dispatch.refusal(p.ErrorMessage(code="malformed", message="bad")) is None
    assert dispatch.refusal(p.Ping()) is None


async def test_the_guard_follower_reads_a_settled_change_and_announces_it_without_a_capture():
    import anyio

    screen = StandInScreen(320, 200)
    service = DeviceService(lambda: standin_backends(screen), DisplayGuard(quiet_period=0.05))
    announced: list[tuple[list, str]] = []
    changed = anyio.Event()

    async def on_displays_changed(displays, reason: str) -> None:
        announced.append((displays, reason))
        changed.set()

    service.on_displays_changed = on_displays_changed
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.follow_guard)  # before start(): it waits for it
                await service.start()
                screen.size = (640, 400)
                service.guard.signal("randr: screen now 640x400")  # as the RandR thread would
                await changed.wait()
                tg.cancel_scope.cancel()
        assert [(d.width, d.height) for d in announced[0][0]] == [(640, 400)]
        assert announced[0][1] == "randr: screen now 640x400" and screen.grabs == 0
    finally:
        await service.aclose()
