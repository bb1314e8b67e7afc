"""A relayed device: a capture client connected over the device WebSocket.

`RelayDevice` is the hub's side of one connection. The screen and pointer tools call it like any
`Device`; it turns each call into a protocol request, waits a bounded time for the answer, and
falls back to the device's latest good (or pushed) frame when the device cannot deliver a fresh
one. The endpoint feeds it every message the client sends (`handle_text` / `handle_binary`); bad
messages get an `error` message back and change nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Literal

import anyio

from servers.hub.device import (
    BlackFrameError,
    CaptureRequest,
    CaptureTimeoutError,
    Device,
    DeviceError,
    DeviceUnavailableError,
    Frame,
    PointerResult,
    new_layout_epoch,
)
from servers.hub.received_image import BadImageError, check_image
from servers.log_safety import RateLimit, safe_text
from servers.ops import metrics
from wire import protocol as p
from wire.geometry import DisplayInfo, FrameGeometry, Rect, bounding_box, contains

log = logging.getLogger("realtime_mcp.relay")

PUSH_WINDOW = 30.0
"""Seconds a pushed (push-to-talk) frame answers the next capture instead of a fresh grab."""
POINTER_TIMEOUT = 3.0
"""Seconds to wait for a pointer acknowledgement (capped by the capture timeout)."""
_EDGE_SLACK = 1.0  # pointer-space rounding at display edges
REFUSALS_LOGGED, REFUSAL_LOG_WINDOW = 5, 60.0
"""Refused messages (and error reports) of one link logged per window; the rest are counted."""

CAPTURE_PREFIX, POINTER_PREFIX = "c", "p"
"""Request ids say what answer they expect, so a frame cannot answer a pointer move or vice versa."""

DisplayKey = int | Literal["all"]
SendText = Callable[[str], Awaitable[None]]


class _Failed(Exception):
    """The client answered `request_failed`."""

    def __init__(self, reply: p.RequestFailed) -> None:
        super().__init__(reply.message)
        self.reply = reply


def _display_rect(display: DisplayInfo) -> Rect:
    return Rect(x=display.x, y=display.y, width=display.width, height=display.height)


class RelayDevice(Device):
    """A capture client's screen and pointer, reached through its WebSocket."""

    kind = "relay"

    def __init__(
        self,
        hello: p.Hello,
        send_text: SendText,
        *,
        device_id: str,
        capture_timeout: float,
        fallback_max_age: float = 300.0,
        clock: Callable[[], float] = time.time,
        on_push: Callable[[Frame], None] | None = None,
        on_talk: Callable[[Literal["press", "release"]], None] | None = None,
    ) -> None:
        """`on_push` / `on_talk`: who hears of a pushed frame and of hotkey presses (the bridge,
        through the hub's device events); called inline, they must not block."""
        self.id = device_id
        self.client_version = hello.client_version
        self.platform = hello.platform
        self.can_push = hello.can_push
        self._displays = list(hello.displays)
        # A new connection is a new epoch even under a known id: what changed while the device was
        # away is unknown, so frames of the connection it replaces are not trusted.
        self.layout_epoch = new_layout_epoch()
        self._send = send_text
        self._capture_timeout = capture_timeout
        self._fallback_max_age = fallback_max_age
        self._clock = clock
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[object]] = {}
        self._expired: deque[str] = deque(maxlen=64)
        self._latest: dict[DisplayKey, Frame] = {}
        self._pushed: Frame | None = None
        self._closed: str | None = None
        self._on_push = on_push
        self._on_talk = on_talk
        self._closed_event = asyncio.Event()
        self._refusals = RateLimit(burst=REFUSALS_LOGGED, window=REFUSAL_LOG_WINDOW)
        self._reports = RateLimit(burst=REFUSALS_LOGGED, window=REFUSAL_LOG_WINDOW)
        self.last_seen = clock()
        self.pushed_at: float | None = None
        """When the client last pushed a frame (push-to-talk), on the hub's clock."""

    # --- Device -----------------------------------------------------------------------

    async def list_displays(self) -> list[DisplayInfo]:
        self._check_open()
        return list(self._displays)

    async def capture(self, request: CaptureRequest) -> Frame:
        self._check_open()
        key = self._key_for(request.display)
        pushed = self._take_push(key, request)
        if pushed is not None:
            return pushed
        message = p.Capture(
            request_id=self._new_id(CAPTURE_PREFIX),
            display=request.display,
            region=request.region,
            max_edge=request.max_edge,
            format=request.format,
            quality=request.quality,
            wait=self._capture_timeout,
        )
        try:
            reply = await self._ask(message, self._capture_timeout)
        except TimeoutError as e:
            why = f"the device did not answer within {self._capture_timeout:g} s"
            return self._fallback(key, request, why, CaptureTimeoutError(f"No frame: {why}."), cause=e)
        except _Failed as e:
            why = f"the device could not capture ({e.reply.code}: {e.reply.message})"
            error_type = BlackFrameError if e.reply.code in ("black", "reconfiguring") else DeviceError
            if error_type is BlackFrameError:
                metrics.GUARD_PAUSES.labels(e.reply.code).inc()
                metrics.FRAMES_BLACK_WITHHELD.inc()
            retry = f" Try again in {e.reply.retry_after:.1f} s." if e.reply.retry_after else ""
            return self._fallback(key, request, why, error_type(f"No frame: {why}.{retry}"), cause=e)
        assert isinstance(reply, Frame)
        return reply

    async def move_pointer(
        self, x: float, y: float, *, label: str | None = None, move_cursor: bool = False
    ) -> PointerResult:
        self._check_open()
        if not any(
            contains(_display_rect(d), Rect(x=x, y=y, width=1e-6, height=1e-6), slack=_EDGE_SLACK)
            for d in self._displays
        ):
            raise DeviceError(
                f"({x:g}, {y:g}) is outside every display of device {self.id!r}: the display layout "
                "changed since that frame was taken. Capture the screen again and point at the new frame."
            )
        return await self._pointer(
            p.MovePointer(
                request_id=self._new_id(POINTER_PREFIX), x=x, y=y, label=label, move_cursor=move_cursor
            )
        )

    async def highlight(self, area: Rect, label: str | None, *, move_cursor: bool = False) -> PointerResult:
        self._check_open()
        return await self._pointer(
            p.Highlight(
                request_id=self._new_id(POINTER_PREFIX), area=area, label=label, move_cursor=move_cursor
            )
        )

    async def aclose(self) -> None:
        self.close("the hub is shutting down")

    # --- connection state -------------------------------------------------------------

    def silence(self) -> float:
        """Seconds since the client last sent anything."""
        return self._clock() - self.last_seen

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    def close(self, reason: str) -> None:
        """The connection is gone: every pending call fails now with `reason`."""
        if self._closed is None:
            self._closed = reason
        self._closed_event.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    DeviceUnavailableError(f"Device {self.id!r} disconnected ({reason}); nothing was done.")
                )
        self._pending.clear()

    # --- messages from the client -----------------------------------------------------

    async def handle_text(self, text: str | bytes) -> None:
        self.last_seen = self._clock()
        try:
            message = p.parse_client_text(text)
        except p.ProtocolError as e:
            await self._error(e.code, str(e))
            return
        match message:
            case p.Ping(seq=seq):
                await self._send_quietly(p.encode(p.Pong(seq=seq)))
            case p.Pong():
                pass
            case p.PointerDone(request_id=rid) if not rid.startswith(POINTER_PREFIX):
                await self._error("out_of_order", f"{rid!r} is not a pointer request", request_id=rid)
            case p.PointerDone(request_id=rid) | p.RequestFailed(request_id=rid):
                if not self._resolve(rid, message):
                    await self._unknown_request(rid)
            case p.Talk(state=state):
                if self._on_talk is not None:
                    self._on_talk(state)
            case p.DisplaysChanged(displays=displays, reason=reason):
                self._displays_changed(displays, reason)
            case p.ErrorMessage(request_id=rid, code=code, message=text_):
                allowed, held = self._reports.allow()
                if allowed:
                    log.warning(
                        "device %s reported %s: %s%s",
                        self.id,
                        safe_text(code, 64),
                        safe_text(text_),
                        f" (and {held} more reports before this one)" if held else "",
                    )
                if rid is not None:
                    self._resolve(rid, p.RequestFailed(request_id=rid, code="error", message=text_[:2000]))
            case p.Hello():
                await self._error("out_of_order", "hello was already received on this connection")

    async def handle_binary(self, data: bytes) -> None:
        self.last_seen = self._clock()
        try:
            header, image = p.parse_frame(data)
        except p.ProtocolError as e:
            await self._error(e.code, str(e))
            return
        rid = header.request_id
        if rid is not None and not rid.startswith(CAPTURE_PREFIX):
            await self._error("out_of_order", f"{rid!r} is not a capture request", request_id=rid)
            return
        late = rid is not None and rid in self._expired
        if rid is not None and rid not in self._pending and not late:
            await self._unknown_request(rid)
            return
        if rid is None and not header.pushed:
            await self._error("out_of_order", "a frame needs a request_id unless it is pushed")
            return
        problem = self._geometry_problem(header.geometry)
        if problem is None:
            try:
                check_image(
                    image, header.mime_type, header.geometry.image_width, header.geometry.image_height
                )
            except BadImageError as e:
                problem = ("bad_image", str(e))
        if problem is not None:
            code, text = problem
            await self._error(code, text, request_id=rid)
            if rid is not None:
                self._resolve(
                    rid, p.RequestFailed(request_id=rid, code="error", message=f"frame refused: {text}")
                )
            return
        # Ages are measured on the hub's clock: the client's may be skewed, and frames are sent
        # the moment they are grabbed.
        frame = Frame(
            data=image,
            mime_type=header.mime_type,
            geometry=header.geometry,
            captured_at=self._clock(),
            layout_epoch=self.layout_epoch,
        )
        self._remember(frame)
        if header.pushed:
            self._pushed = frame
            self.pushed_at = frame.captured_at
            if self._on_push is not None:
                self._on_push(frame)
        if rid is not None:
            self._resolve(rid, frame)

    # --- internals --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed is not None:
            raise DeviceUnavailableError(f"Device {self.id!r} is not connected ({self._closed}).")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    async def _ask(self, message: p.Capture | p.MovePointer | p.Highlight, wait: float) -> object:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        text = p.encode(message)  # outside the try: a bad message is a bug, not a broken link
        self._pending[message.request_id] = future
        try:
            with anyio.fail_after(wait):  # the send too: a device that stops reading blocks it
                try:
                    await self._send(text)
                except Exception as e:  # whatever the transport raises; chained for the log
                    raise DeviceUnavailableError(
                        f"Device {self.id!r} could not be reached: the link broke."
                    ) from e
                result = await future
        except TimeoutError:
            self._expired.append(message.request_id)
            raise
        finally:
            self._pending.pop(message.request_id, None)
        if isinstance(result, p.RequestFailed):
            raise _Failed(result)
        return result

    async def _pointer(self, message: p.MovePointer | p.Highlight) -> PointerResult:
        timeout = min(POINTER_TIMEOUT, self._capture_timeout)
        try:
            reply = await self._ask(message, timeout)
        except TimeoutError as e:
            raise CaptureTimeoutError(
                f"Device {self.id!r} did not confirm the pointer move within {timeout:g} s."
            ) from e
        except _Failed as e:
            raise DeviceError(f"The pointer did not move: {e.reply.message}") from e
        assert isinstance(reply, p.PointerDone)
        return PointerResult(
            x=reply.x,
            y=reply.y,
            display=reply.display,
            overlay=reply.overlay,
            pointer_moved=reply.pointer_moved,
            note=reply.note,
        )

    def _resolve(self, rid: str, result: object) -> bool:
        future = self._pending.get(rid)
        if future is None:
            return rid in self._expired
        if not future.done():
            future.set_result(result)
        return True

    async def _unknown_request(self, rid: str) -> None:
        await self._error("unknown_request", f"no request {rid!r} is waiting for an answer", request_id=rid)

    async def _error(self, code: str, text: str, *, request_id: str | None = None) -> None:
        # A peer decides how many refusals there are: a few lines per link, then a count.
        allowed, held = self._refusals.allow()
        if allowed:
            log.info(
                "device %s: refused a message (%s): %s%s",
                self.id,
                safe_text(code, 64),
                safe_text(text),
                f" (and {held} more refused before this one)" if held else "",
            )
        await self._send_quietly(p.error(code, text, request_id=request_id))

    async def _send_quietly(self, text: str) -> None:
        # A reply to a message is best effort: a broken link is noticed by the reader and heartbeat.
        try:
            await self._send(text)
        except Exception as e:
            log.debug("device %s: reply not sent (%s)", self.id, type(e).__name__)

    def _key_for(self, display: int | Literal["all"] | None) -> DisplayKey:
        if display is None:
            primary = next((d.index for d in self._displays if d.primary), None)
            return primary if primary is not None else (self._displays[0].index if self._displays else 0)
        if display != "all" and all(d.index != display for d in self._displays):
            indexes = ", ".join(str(d.index) for d in self._displays) or "none"
            raise DeviceError(f"Device {self.id!r} has no display {display} (displays: {indexes}).")
        return display

    def _geometry_problem(self, geometry: FrameGeometry) -> tuple[str, str] | None:
        if not self._displays:
            return ("unknown_display", "the device reported no displays")
        if geometry.display is None:
            bounds = bounding_box(self._displays)
        else:
            display = next((d for d in self._displays if d.index == geometry.display), None)
            if display is None:
                return (
                    "unknown_display",
                    f"display {geometry.display} does not exist (send displays_changed first)",
                )
            bounds = _display_rect(display)
        if not contains(bounds, geometry.area, slack=_EDGE_SLACK):
            return ("stale_geometry", "the frame's area lies outside the display layout the hub was told")
        return None

    def _full_key(self, geometry: FrameGeometry) -> DisplayKey | None:
        """The display a frame covers whole, or None for a region."""
        if geometry.display is None:
            return "all" if geometry.area == bounding_box(self._displays) else None
        display = next((d for d in self._displays if d.index == geometry.display), None)
        if display is not None and geometry.area == _display_rect(display):
            return geometry.display
        return None

    def _remember(self, frame: Frame) -> None:
        key = self._full_key(frame.geometry)
        if key is not None:
            self._latest[key] = frame

    def _take_push(self, key: DisplayKey, request: CaptureRequest) -> Frame | None:
        pushed, self._pushed = self._pushed, None
        if pushed is None or request.region is not None:
            return None
        age = self._clock() - pushed.captured_at
        if age > PUSH_WINDOW or self._full_key(pushed.geometry) != key:
            return None
        return replace(
            pushed,
            stale_reason=f"the frame the user sent with push-to-talk {age:.1f} s ago, as they began speaking",
        )

    def _fallback(
        self, key: DisplayKey, request: CaptureRequest, why: str, error: DeviceError, *, cause: Exception
    ) -> Frame:
        frame = self._latest.get(key) if request.region is None else None
        # As on the local device: a frame older than frame_ttl is no picture of the screen now.
        if frame is None or self._clock() - frame.captured_at > self._fallback_max_age:
            raise error from cause
        return replace(frame, stale_reason=f"{why}; this is its last good frame")

    def _displays_changed(self, displays: list[DisplayInfo], reason: str) -> None:
        if list(displays) == self._displays:
            return  # the same layout again: frames taken in it still map correctly
        log.info("device %s: display layout changed (%s)", self.id, reason or "no reason given")
        self._displays = list(displays)
        # Frames of the old layout would map pointer moves onto displays that are gone or moved:
        # they are refused from now on, so none is offered as a fallback either.
        self.layout_epoch = new_layout_epoch()
        self._latest.clear()
        self._pushed = None
