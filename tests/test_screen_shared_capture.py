"""Callers asking one device for the same capture at the same moment share one: directly on the
single-flight table with a device whose captures the test releases, then end to end over HTTP
(a relayed capture client that answers when told, and a real Xvfb under 25 concurrent callers)."""

from __future__ import annotations

import base64
import io
from typing import Any, Literal

import anyio
import anyio.lowlevel
import pytest
from mcp import Client
from mcp_types import ImageContent, TextContent
from PIL import Image
from pydantic import SecretStr

from servers.app import create_app
from servers.hub.device import (
    BlackFrameError,
    CaptureRequest,
    Device,
    DeviceError,
    Frame,
    PointerResult,
)
from servers.hub.endpoint import DEVICE_PATH
from servers.hub.shared_capture import SharedCaptures, request_key
from servers.settings import Settings
from tests.support.fake_device import MAIN, connect, display_geometry, frame_message, jpeg
from tests.support.http import serve
from tests.support.xserver import running_xvfb
from wire import protocol as p
from wire.geometry import DisplayInfo, Rect

pytestmark = pytest.mark.anyio

GEOMETRY = display_geometry(MAIN)


class HeldDevice(Device):
    """Captures that finish only when the test says so; counts what was asked and what was cancelled."""

    kind: Literal["local", "relay"] = "relay"

    def __init__(self, device_id: str = "dev-1", *, stubborn: bool = False) -> None:
        self.id = device_id
        self.asked: list[CaptureRequest] = []
        self.cancelled = 0
        self.release = anyio.Event()
        self.error: Exception | None = None
        self.stubborn = stubborn
        """Finish a capture already under way even when cancelled (as a grab on a screen thread does)."""

    async def capture(self, request: CaptureRequest) -> Frame:
        self.asked.append(request)
        number = len(self.asked)
        try:
            with anyio.CancelScope(shield=self.stubborn), anyio.fail_after(10):  # a test that hangs fails
                await self.release.wait()
            await anyio.lowlevel.checkpoint()
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return Frame(data=b"frame %d" % number, mime_type="image/jpeg", geometry=GEOMETRY, captured_at=0.0)

    async def list_displays(self) -> list[DisplayInfo]:
        return [MAIN]

    async def move_pointer(
        self, x: float, y: float, *, label: str | None = None, move_cursor: bool = False
    ) -> PointerResult:
        raise NotImplementedError

    async def highlight(self, area: Rect, label: str | None, *, move_cursor: bool = False) -> PointerResult:
        raise NotImplementedError


async def until(condition, timeout: float = 5.0) -> None:
    """Until `condition()` holds, letting the other tasks run; bounded."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.001)


async def test_callers_asking_the_same_at_once_share_one_capture():
    shared, device = SharedCaptures(), HeldDevice()
    frames: list[Frame] = []

    async def call() -> None:
        frames.append(await shared.capture(device, CaptureRequest()))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(call)
        await until(lambda: shared.waiting("dev-1") == 10)
        device.release.set()
    assert len(device.asked) == 1 and shared.started == 1
    assert len(frames) == 10 and all(f is frames[0] for f in frames)
    assert len(shared) == 0  # nothing left in flight


async def test_a_caller_after_the_capture_finished_gets_a_fresh_one():
    shared, device = SharedCaptures(), HeldDevice()
    device.release.set()
    first = await shared.capture(device, CaptureRequest())
    second = await shared.capture(device, CaptureRequest())
    assert (first.data, second.data) == (b"frame 1", b"frame 2")


async def test_different_requests_devices_and_layouts_are_not_shared():
    shared, one, two = SharedCaptures(), HeldDevice("dev-1"), HeldDevice("dev-2")
    requests = [
        (one, CaptureRequest()),
        (one, CaptureRequest(max_edge=640)),
        (one, CaptureRequest(format="png")),
        (one, CaptureRequest(region=Rect(x=0, y=0, width=10, height=10))),
        (one, CaptureRequest(region=Rect(x=0, y=0, width=10, height=20))),
        (two, CaptureRequest()),
    ]
    async with anyio.create_task_group() as tg:
        for device, request in requests:
            tg.start_soon(shared.capture, device, request)
        await until(lambda: len(one.asked) + len(two.asked) == len(requests))
        # The layout changed: a frame of the old layout must not be handed to a new caller.
        one.layout_epoch += 1
        tg.start_soon(shared.capture, one, CaptureRequest())
        await until(lambda: len(one.asked) == len(requests))
        one.release.set()
        two.release.set()
    assert shared.started == len(requests) + 1


def test_equal_requests_have_equal_keys():
    region = Rect(x=1, y=2, width=3, height=4)
    assert request_key(CaptureRequest(region=region)) == request_key(
        CaptureRequest(region=Rect(x=1, y=2, width=3, height=4))
    )
    assert request_key(CaptureRequest(quality=80)) != request_key(CaptureRequest(quality=81))


async def test_a_failed_capture_fails_every_caller_with_the_same_error():
    shared, device = SharedCaptures(), HeldDevice()
    device.error = BlackFrameError("The screen came back black.")
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await shared.capture(device, CaptureRequest())
        except DeviceError as e:
            errors.append(e)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(call)
        await until(lambda: shared.waiting("dev-1") == 5)
        device.release.set()
    assert len(device.asked) == 1
    assert len(errors) == 5
    assert all(type(e) is BlackFrameError and str(e) == "The screen came back black." for e in errors)
    assert len({id(e) for e in errors}) == 5  # each caller raises its own exception object
    # The table is clear: the next caller asks the device again.
    device.error = None
    assert (await shared.capture(device, CaptureRequest())).data == b"frame 2"


async def test_cancelling_the_first_caller_leaves_the_capture_to_the_others():
    shared, device = SharedCaptures(), HeldDevice()
    frames: list[Frame] = []
    cancelled_first = anyio.Event()

    async def first(scope_box: list[anyio.CancelScope]) -> None:
        with anyio.CancelScope() as scope:
            scope_box.append(scope)
            await shared.capture(device, CaptureRequest())
        cancelled_first.set()

    async def other() -> None:
        frames.append(await shared.capture(device, CaptureRequest()))

    async with anyio.create_task_group() as tg:
        box: list[anyio.CancelScope] = []
        tg.start_soon(first, box)
        await until(lambda: shared.waiting("dev-1") == 1)
        tg.start_soon(other)
        tg.start_soon(other)
        await until(lambda: shared.waiting("dev-1") == 3)
        box[0].cancel()
        await until(lambda: shared.waiting("dev-1") == 2)
        device.release.set()
        with anyio.fail_after(5):
            await cancelled_first.wait()
    assert device.cancelled == 0 and len(device.asked) == 1
    assert len(frames) == 2 and frames[0].data == b"frame 1"


async def test_cancelling_one_of_the_others_changes_nothing_for_the_rest():
    shared, device = SharedCaptures(), HeldDevice()
    frames: list[Frame] = []

    async def call() -> None:
        frames.append(await shared.capture(device, CaptureRequest()))

    async with anyio.create_task_group() as outer:
        outer.start_soon(call)
        await until(lambda: shared.waiting("dev-1") == 1)
        async with anyio.create_task_group() as doomed:
            doomed.start_soon(call)
            await until(lambda: shared.waiting("dev-1") == 2)
            doomed.cancel_scope.cancel()
        assert shared.waiting("dev-1") == 1
        device.release.set()
    assert device.cancelled == 0 and [f.data for f in frames] == [b"frame 1"]


async def test_when_every_caller_is_gone_the_capture_is_cancelled():
    shared, device = SharedCaptures(), HeldDevice()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(shared.capture, device, CaptureRequest())
        await until(lambda: shared.waiting("dev-1") == 3)
        tg.cancel_scope.cancel()
    assert device.cancelled == 1 and len(shared) == 0
    # A new caller does not join the cancelled capture: it starts its own.
    device.release.set()
    assert (await shared.capture(device, CaptureRequest())).data == b"frame 2"


async def test_nobody_joins_a_capture_that_is_being_cancelled():
    shared, device = SharedCaptures(), HeldDevice(stubborn=True)
    late: list[Frame] = []

    async def callers_who_give_up() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(shared.capture, device, CaptureRequest())
            await until(lambda: shared.waiting("dev-1") == 3)
            tg.cancel_scope.cancel()

    async def late_caller() -> None:
        late.append(await shared.capture(device, CaptureRequest()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(callers_who_give_up)
        # Everyone left, but the device is still finishing the grab they asked for.
        await until(lambda: len(device.asked) == 1 and shared.waiting("dev-1") == 0)
        tg.start_soon(late_caller)
        await until(lambda: len(device.asked) == 2)
        device.release.set()
    assert [f.data for f in late] == [b"frame 2"]  # its own capture, not the abandoned one


# --- end to end ----------------------------------------------------------------------------


def relay_suite() -> Any:
    settings = Settings(
        auth=False,
        local_device=False,
        device_tokens={"mac-1": SecretStr("tok-1")},
        servers=["screen"],
        skills_reload=False,
        capture_timeout=10.0,
    )
    return create_app(settings)


async def concurrent_captures(url: str, callers: int, **arguments: Any) -> list[Any]:
    """`callers` MCP clients, each with its own session, calling capture_screen at once."""
    results: list[Any] = [None] * callers

    async def call(i: int) -> None:
        async with Client(f"{url}/screen/mcp") as client:
            results[i] = await client.call_tool("capture_screen", arguments)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for i in range(callers):
                tg.start_soon(call, i)
    return results


def image_bytes(result: Any) -> bytes:
    (image,) = [c for c in result.content if isinstance(c, ImageContent)]
    return base64.b64decode(image.data)


async def test_relayed_device_captures_once_for_simultaneous_callers_over_http():
    app = relay_suite()
    hub = app.state.hub
    async with serve(app) as url, connect(url.replace("http://", "ws://") + DEVICE_PATH) as device:
        picture = jpeg(640, 400, (10, 200, 30))

        async def answer_once() -> None:
            request = await device.next_message()
            assert isinstance(request, p.Capture)
            # Answered only once every caller waits on this one capture.
            await until(lambda: hub.captures.waiting("mac-1") == 8, timeout=30)
            await device.send(frame_message(GEOMETRY, request_id=request.request_id, image=picture))

        results: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(answer_once)
            results = await concurrent_captures(url, 8, device="mac-1")
        assert all(not r.is_error for r in results), [r.content for r in results if r.is_error]
        frame_ids = [r.structured_content["frame_id"] for r in results]
        assert len(set(frame_ids)) == 8  # one frame, eight frame ids
        assert all(image_bytes(r) == picture for r in results)
        assert hub.captures.started == 1
        # Each id is a frame of its own that point-mapping tools accept.
        for frame_id in frame_ids:
            assert hub.frames.get(frame_id).geometry == GEOMETRY

        # One more caller afterwards: the device is asked again.
        after: list[Any] = []
        async with anyio.create_task_group() as tg:

            async def answer_next() -> None:
                request = await device.next_message()
                assert isinstance(request, p.Capture)
                await device.send(frame_message(GEOMETRY, request_id=request.request_id))

            tg.start_soon(answer_next)
            after = await concurrent_captures(url, 1, device="mac-1")
        assert not after[0].is_error and hub.captures.started == 2


async def test_a_failed_shared_capture_fails_every_caller_over_http():
    app = relay_suite()
    hub = app.state.hub
    async with serve(app) as url, connect(url.replace("http://", "ws://") + DEVICE_PATH) as device:

        async def fail_once() -> None:
            request = await device.next_message()
            assert isinstance(request, p.Capture)
            await until(lambda: hub.captures.waiting("mac-1") == 5, timeout=30)
            await device.send(
                p.RequestFailed(request_id=request.request_id, code="black", message="display asleep")
            )

        results: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(fail_once)
            results = await concurrent_captures(url, 5, device="mac-1")
    texts = {"\n".join(c.text for c in r.content if isinstance(c, TextContent)) for r in results}
    assert all(r.is_error for r in results)
    assert len(texts) == 1 and "black" in next(iter(texts)).lower()
    assert hub.captures.started == 1


@pytest.mark.slow
async def test_25_concurrent_callers_of_a_real_display_share_grabs_and_get_their_own_frames():
    with running_xvfb(1280, 800) as xserver:
        app = create_app(Settings(display=xserver.display, servers=["screen"], skills_reload=False))
        async with serve(app) as url:
            results = await concurrent_captures(url, 25)
        hub = app.state.hub
        started = hub.captures.started
        await hub.aclose()
    assert all(not r.is_error for r in results), [r.content for r in results if r.is_error]
    frame_ids = {r.structured_content["frame_id"] for r in results}
    assert len(frame_ids) == 25
    for r in results:
        image = Image.open(io.BytesIO(image_bytes(r)))
        assert image.size == (r.structured_content["width"], r.structured_content["height"])
    # Callers that arrived while a grab was under way joined it instead of queueing for their own.
    assert started < 25
