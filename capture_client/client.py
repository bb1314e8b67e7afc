"""What a capture client does for the hub: guarded captures, pointer moves, pushed frames.

`DeviceService` knows nothing about WebSockets: it turns protocol requests into backend calls run
off the event loop and answers with protocol replies. Every frame passes the display guard, so a
black frame or one of a layout that is gone never leaves this machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import current_token

from capture_client import pipeline
from capture_client.backends.base import (
    BackendError,
    Backends,
    DisplayChangedError,
    NoDisplayError,
    PermissionDeniedError,
)
from capture_client.guard import DisplayGuard, Phase
from capture_client.overlay import pointing
from capture_client.single_thread import SingleThreadRunner, call_soon
from wire import protocol as p
from wire.geometry import DisplayInfo, display_at

log = logging.getLogger("realtime_mcp.capture")

ANSWER_MARGIN = 0.5
"""Seconds kept back from the hub's wait so a failure still reaches it before it gives up."""
PUSH_WAIT = 2.0
"""How long a push-to-talk capture may wait for a settling display."""

OnDisplaysChanged = Callable[[list[DisplayInfo], str], Awaitable[None]]
T = TypeVar("T")


def layout_of(displays: list[DisplayInfo]) -> tuple:
    """What the guard compares: every display's place, size and pixel size."""
    return tuple((d.x, d.y, d.width, d.height, d.pixel_width, d.pixel_height, d.primary) for d in displays)


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """A frame that passed the guard, ready to send."""

    header: p.FrameHeader
    data: bytes

    def message(self) -> bytes:
        return p.encode_frame(self.header, self.data)


class DeviceService:
    """One machine's screen and pointer, behind the display guard.

    The backends are made and used on ONE thread (a `SingleThreadRunner`): some capture libraries (mss's Xlib
    backend, which Xvnc needs) bind their connection to the thread that opened it.
    """

    def __init__(
        self,
        make_backends: Callable[[], Backends],
        guard: DisplayGuard,
        *,
        layout_probe: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`layout_probe`: a cheap read of the screen's shape, compared before and after each grab
        so a change the platform has not signalled yet still keeps the frame back."""
        self._make_backends = make_backends
        self._probe = layout_probe or (lambda: None)
        self._probe_value: object = None
        self._backends: Backends | None = None
        self.guard = guard
        self._clock = clock
        self._displays: list[DisplayInfo] = []
        self._capture_lock = anyio.Lock()
        self._screen_thread = SingleThreadRunner("screen")
        self._wake = anyio.Event()
        self._started = anyio.Event()
        self.on_displays_changed: OnDisplaysChanged | None = None

    async def on_screen_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await self._screen_thread.run(function, *args)

    @property
    def backends(self) -> Backends:
        if self._backends is None:
            raise RuntimeError("DeviceService.start() has not run")
        return self._backends

    async def aclose(self) -> None:
        backends, self._backends = self._backends, None
        with anyio.CancelScope(shield=True):
            try:
                if backends is not None:
                    await self.on_screen_thread(backends.close)
            finally:
                await self._screen_thread.aclose()

    @property
    def displays(self) -> list[DisplayInfo]:
        return list(self._displays)

    async def start(self) -> list[DisplayInfo]:
        """Open the backends and read the displays (the guard starts out asking for it)."""
        if self._backends is None:
            self._backends = await self.on_screen_thread(self._make_backends)
        async with self._capture_lock:
            await self._reset()
        self._started.set()
        return self.displays

    # --- requests from the hub --------------------------------------------------------

    async def capture(self, request: p.Capture) -> CapturedFrame | p.RequestFailed:
        """A fresh frame that passed the guard, or why there is none within the hub's wait."""
        deadline = self._clock() + max(0.0, request.wait - ANSWER_MARGIN)
        result = await self._guarded_capture(
            deadline,
            display=request.display,
            region=request.region,
            max_edge=request.max_edge,
            format=request.format,
            quality=request.quality,
        )
        if isinstance(result, p.RequestFailed):
            return result.model_copy(update={"request_id": request.request_id})
        header = result.header.model_copy(update={"request_id": request.request_id})
        return CapturedFrame(header, result.data)

    async def push_frame(self) -> CapturedFrame | None:
        """A frame of the primary display for push-to-talk, or None when none can be had now."""
        result = await self._guarded_capture(self._clock() + PUSH_WAIT)
        if isinstance(result, p.RequestFailed):
            log.info("push-to-talk: no frame (%s)", result.message)
            return None
        return CapturedFrame(result.header.model_copy(update={"pushed": True}), result.data)

    async def move_pointer(self, request: p.MovePointer) -> p.PointerDone | p.RequestFailed:
        """The overlay points at (x, y); the user's pointer moves only when the request says so."""
        return await self._point(
            request.request_id,
            request.x,
            request.y,
            lambda displays: pointing.point(
                self.backends,
                displays,
                request.x,
                request.y,
                label=request.label,
                move_cursor=request.move_cursor,
            ),
        )

    async def highlight(self, request: p.Highlight) -> p.PointerDone | p.RequestFailed:
        area = request.area
        return await self._point(
            request.request_id,
            area.x + area.width / 2,
            area.y + area.height / 2,
            lambda displays: pointing.highlight(
                self.backends, displays, area, label=request.label, move_cursor=request.move_cursor
            ),
        )

    async def follow_guard(self) -> None:
        """Until cancelled: once a sign of change (a RandR event, a sleep) has settled, re-read the
        displays without waiting for the next capture, so the hub hears `displays_changed`, and
        retires frames of the old layout, as soon as the displays are quiet again. Waits for
        `start()` first (whoever runs the service starts it)."""
        await self._started.wait()
        token = current_token()
        # Signals come on the platform's threads; the wake-up is set on this loop's thread, so it
        # always reaches the event this loop is waiting on.
        stop = self.guard.subscribe(lambda _reason: call_soon(token, lambda: self._wake.set()))
        try:
            while True:
                self._wake = anyio.Event()
                status = self.guard.status()
                if status.needs_reset:
                    async with self._capture_lock:
                        if self.guard.status().needs_reset:  # a capture may have done it meanwhile
                            await self._reset_or_signal()
                    continue
                if status.phase is Phase.SETTLING and status.settle_at is not None:
                    with anyio.move_on_after(max(0.0, status.settle_at - self._clock())):
                        await self._wake.wait()
                    continue
                await self._wake.wait()  # steady, verifying or asleep: until the next sign
        finally:
            stop()

    # --- internals --------------------------------------------------------------------

    async def _reset_or_signal(self) -> p.RequestFailed | None:
        """A reset; a failed one is itself a sign (tried again after the quiet period), unless there
        is no display at all any more, which is answered at once."""
        try:
            await self._reset()
        except NoDisplayError as e:
            self.guard.signal(f"display gone: {e}")
            return p.RequestFailed(request_id="pending", code="no_display", message=str(e)[:2000])
        except BackendError as e:
            self.guard.signal(f"display read failed: {e}")
        return None

    async def _reset(self) -> None:
        reason = self.guard.status().reason
        screen = self.backends.screen

        def reread() -> tuple[list[DisplayInfo], object]:
            probed = self._probe()  # before the read: a change in between shows up as a mismatch
            screen.reset()  # a new capture instance: the old one keeps the old rectangles
            return screen.displays(), probed

        displays, self._probe_value = await self.on_screen_thread(reread)
        changed = self.guard.reset_done(layout_of(displays))
        self._displays = displays
        if changed:
            log.info("display layout changed (%s): %d display(s)", reason, len(displays))
            if self.on_displays_changed is not None:
                await self.on_displays_changed(displays, reason)

    async def _guarded_capture(self, deadline: float, **options: object) -> CapturedFrame | p.RequestFailed:
        blacks = 0
        async with self._capture_lock:
            while True:
                status = self.guard.status()
                if status.needs_reset:
                    gone = await self._reset_or_signal()
                    if gone is not None:
                        return gone
                    continue
                ticket = self.guard.begin_capture()
                if ticket is not None:
                    outcome = await self._grab(ticket, options)
                    if outcome is not None:
                        return outcome
                    blacks += self.guard.status().reason == "black frame"
                    continue
                now = self._clock()
                # Still black after a whole quiet period and a fresh capture instance, or asleep:
                # waiting out the hub's budget would only delay its fallback to the last good frame.
                if now >= deadline or blacks >= 2 or status.settle_at is None:
                    return self._paused_reply(status.phase, status.reason, status.settle_at, now)
                wake_at = deadline if status.settle_at is None else min(deadline, status.settle_at)
                # Re-check at the settle time: a newer sign moves it later, and the loop sleeps again.
                await anyio.sleep(max(0.01, wake_at - now))

    async def _grab(self, ticket, options: dict[str, object]) -> CapturedFrame | p.RequestFailed | None:
        """One guarded grab: the frame, a final failure, or None to go round the loop again."""
        displays = self._displays

        def grab() -> tuple[pipeline.EncodedFrame, object]:
            frame = pipeline.capture(self.backends.screen, displays=displays, **options)  # type: ignore[arg-type]
            return frame, self._probe()

        try:
            frame, probed = await self.on_screen_thread(grab)
        except pipeline.BlackFrameError:
            self.guard.admit(ticket, black=True)
            return None
        except pipeline.CaptureRequestError as e:
            return p.RequestFailed(request_id="pending", code="bad_request", message=str(e)[:2000])
        except NoDisplayError as e:
            self.guard.signal(f"display gone: {e}")
            return p.RequestFailed(request_id="pending", code="no_display", message=str(e)[:2000])
        except PermissionDeniedError as e:
            return p.RequestFailed(request_id="pending", code="permission", message=str(e)[:2000])
        except DisplayChangedError as e:
            self.guard.signal(f"capture failed: {e}")
            return None
        except BackendError as e:
            self.guard.signal(f"capture failed: {e}")
            return None
        if probed != self._probe_value:
            self.guard.signal("the screen changed shape during the capture")
            return None
        if not self.guard.admit(ticket, black=False, layout=layout_of(displays)):
            return None
        header = p.FrameHeader(
            request_id=None,
            geometry=frame.geometry,
            mime_type=frame.mime_type,  # type: ignore[arg-type]
            captured_at=frame.captured_at,
            size=len(frame.data),
        )
        return CapturedFrame(header, frame.data)

    def _paused_reply(
        self, phase: Phase, reason: str, settle_at: float | None, now: float
    ) -> p.RequestFailed:
        black = reason == "black frame"
        retry = None if settle_at is None else max(0.1, settle_at - now)
        if settle_at is None:
            message = "the displays are asleep; capture resumes after they wake"
        elif black:
            message = "the screen is black (asleep, locked, lid closed or reconfiguring)"
        else:
            message = f"the displays are reconfiguring ({reason}); waiting for them to settle"
        log.debug("capture refused while %s: %s", phase.value, message)
        return p.RequestFailed(
            request_id="pending",
            code="black" if black else "reconfiguring",
            message=message,
            retry_after=retry,
        )

    async def _point(
        self, request_id: str, x: float, y: float, act: Callable[[list[DisplayInfo]], pointing.Pointed]
    ) -> p.PointerDone | p.RequestFailed:
        if not self.guard.status().may_capture:
            return p.RequestFailed(
                request_id=request_id,
                code="reconfiguring",
                message="the display layout is changing; capture again once it settles, then point",
            )
        displays = self._displays
        display = display_at(displays, x, y)
        if display is None:
            return p.RequestFailed(
                request_id=request_id,
                code="bad_request",
                message=f"({x:g}, {y:g}) is on no display of this machine; capture again, then point",
            )
        try:
            done = await anyio.to_thread.run_sync(act, displays)
        except BackendError as e:
            code = _FAILURE_CODES.get(type(e), "error")
            return p.RequestFailed(request_id=request_id, code=code, message=str(e)[:2000])
        return p.PointerDone(
            request_id=request_id,
            x=done.x,
            y=done.y,
            display=display.index,
            overlay=done.overlay,
            pointer_moved=done.pointer_moved,
            note=done.note[:2000] if done.note else None,
        )


_FAILURE_CODES: dict[type[BackendError], p.FailureCode] = {
    PermissionDeniedError: "permission",
    NoDisplayError: "no_display",
}
