"""`RelayDevice`: the hub's side of one capture client's link, the one `Device` for frames and
pointer commands.

The screen and pointer tools call it like any `Device`; it turns each call into a protocol request,
waits a bounded time for the answer, and falls back to the device's latest good (or pushed) frame
when the device cannot deliver a fresh one. Whoever carries the link feeds it every message the
client sends: the WebSocket endpoint as text and bytes (`handle_text` / `handle_binary`), the
server's own in-process capture client as protocol objects (`handle_message` / `handle_frame`).
Bad messages get an `error` message back and change nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import anyio

from servers.hub.device import (
    BlackFrameError,
    CaptureRequest,
    CaptureRequestError,
    CaptureTimeoutError,
    Device,
    DeviceError,
    DeviceUnavailableError,
    Frame,
    NoDisplayError,
    PointerResult,
    new_layout_epoch,
)
from servers.hub.received_image import BadImageError, check_image
from servers.hub.relay.checks import EDGE_SLACK, full_key, geometry_problem, requested_key
from servers.hub.relay.fallback import FrameFallback
from servers.hub.relay.pending import CAPTURE_PREFIX, POINTER_PREFIX, PendingRequests
from servers.log_safety import RateLimit, safe_text
from servers.ops import metrics
from wire import protocol as p
from wire.geometry import DisplayInfo, Rect, display_at

log = logging.getLogger("realtime_mcp.relay")

POINTER_TIMEOUT = 3.0
"""Seconds to wait for a pointer acknowledgement (capped by the capture timeout)."""
REFUSALS_LOGGED, REFUSAL_LOG_WINDOW = 5, 60.0
"""Refused messages (and error reports) of one link logged per window; the rest are counted."""

SendMessage = Callable[[p.HubMessage], Awaitable[None]]
"""How the relay reaches the client: encoded onto a WebSocket, or handed over in memory. A link that
is gone raises `DeviceUnavailableError` (the link's own errors chained); anything else is a bug."""


class _Failed(Exception):
    """The client answered `request_failed`."""

    def __init__(self, reply: p.RequestFailed) -> None:
        super().__init__(reply.message)
        self.reply = reply


def capture_failure(failed: p.RequestFailed) -> DeviceError:
    """The hub's error for a capture the client could not carry out: a client's failure codes
    become `DeviceError`s here (and, for pointer moves, in `RelayDevice._pointer`) only."""
    retry = f" Try again in {failed.retry_after:.1f} s." if failed.retry_after else ""
    match failed.code:
        case "bad_request":
            return CaptureRequestError(failed.message)
        case "black":
            return BlackFrameError(
                f"No frame: the display came back black ({failed.message}), and no recent good frame "
                "is at hand. Wake the display (move the mouse or press a key, open the lid) and capture "
                f"again in a few seconds.{retry}"
            )
        case "reconfiguring":
            return BlackFrameError(f"No frame: the device paused capture ({failed.message}).{retry}")
        case "no_display":
            return NoDisplayError(f"No frame: there is no display ({failed.message}).")
        case _:
            return DeviceError(f"No frame: the device could not capture ({failed.code}: {failed.message}).")


class RelayDevice(Device):
    """A capture client's screen and pointer, reached through its link."""

    kind = "relay"

    def __init__(
        self,
        hello: p.Hello,
        send: SendMessage,
        *,
        device_id: str,
        capture_timeout: float,
        fallback_max_age: float = 300.0,
        clock: Callable[[], float] = time.time,
        on_push: Callable[[Frame], None] | None = None,
        on_talk: Callable[[Literal["press", "release"]], None] | None = None,
        decode_check: bool = True,
    ) -> None:
        """`on_push` / `on_talk`: who hears of a pushed frame and of hotkey presses (the bridge,
        through the hub's device events); called inline, they must not block. `decode_check`: read
        each image's header to check it is what its frame header says (~0.1-0.2 ms a frame); off
        only for the in-process client, whose images come from this process's own encoder."""
        self.id = device_id
        self.client_version = hello.client_version
        self.platform = hello.platform
        self.can_push = hello.can_push
        self._displays = list(hello.displays)
        # A new connection is a new epoch even under a known id: what changed while the device was
        # away is unknown, so frames of the connection it replaces are not trusted.
        self.layout_epoch = new_layout_epoch()
        self._send = send
        self._capture_timeout = capture_timeout
        self._clock = clock
        self._pending = PendingRequests()
        self._frames = FrameFallback(max_age=fallback_max_age, clock=lambda: self._clock())
        self._closed: str | None = None
        self._on_push = on_push
        self._on_talk = on_talk
        self._decode_check = decode_check
        self._closed_event = anyio.Event()
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
        key = requested_key(self._displays, request.display)
        if key is None:
            indexes = ", ".join(str(d.index) for d in self._displays) or "none"
            raise CaptureRequestError(
                f"There is no display {request.display} (displays: {indexes}) on device {self.id!r}: "
                "use an index, 'all', or leave it out for the primary display."
            )
        region = request.region is not None
        pushed = self._frames.take_push(key, region=region)
        if pushed is not None:
            return pushed
        message = p.Capture(
            request_id=self._pending.new_id(CAPTURE_PREFIX),
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
            error = CaptureTimeoutError(f"No frame: {why}.")
            return self._frames.stand_in(key, region=region, why=why, error=error, cause=e)
        except _Failed as e:
            failed = e.reply
            error = capture_failure(failed)
            if isinstance(error, BlackFrameError):
                metrics.GUARD_PAUSES.labels(failed.code).inc()
                metrics.FRAMES_BLACK_WITHHELD.inc()
            if isinstance(error, (CaptureRequestError, NoDisplayError)):
                # A bad request has no stand-in; nor has a display that is gone (its last frame
                # shows no screen there is now).
                raise error from e
            why = f"the device could not capture ({failed.code}: {failed.message})"
            return self._frames.stand_in(key, region=region, why=why, error=error, cause=e)
        assert isinstance(reply, Frame)
        return reply

    async def move_pointer(
        self, x: float, y: float, *, label: str | None = None, move_cursor: bool = False
    ) -> PointerResult:
        self._check_open()
        if display_at(self._displays, x, y, slack=EDGE_SLACK) is None:
            raise DeviceError(
                f"({x:g}, {y:g}) is outside every display of device {self.id!r}: the display layout "
                "changed since that frame was taken. Capture the screen again and point at the new frame."
            )
        return await self._pointer(
            p.MovePointer(
                request_id=self._pending.new_id(POINTER_PREFIX),
                x=x,
                y=y,
                label=label,
                move_cursor=move_cursor,
            )
        )

    async def highlight(self, area: Rect, label: str | None, *, move_cursor: bool = False) -> PointerResult:
        self._check_open()
        return await self._pointer(
            p.Highlight(
                request_id=self._pending.new_id(POINTER_PREFIX),
                area=area,
                label=label,
                move_cursor=move_cursor,
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
        device_id = self.id
        self._pending.fail_all(
            lambda: DeviceUnavailableError(f"Device {device_id!r} disconnected ({reason}); nothing was done.")
        )

    # --- messages from the client -----------------------------------------------------

    async def handle_text(self, text: str | bytes) -> None:
        """A JSON control message off the WebSocket."""
        self.last_seen = self._clock()
        try:
            message = p.parse_client_text(text)
        except p.ProtocolError as e:
            await self._error(e.code, str(e))
            return
        await self.handle_message(message)

    async def handle_binary(self, data: bytes) -> None:
        """A binary frame message off the WebSocket."""
        self.last_seen = self._clock()
        try:
            header, image = p.parse_frame(data)
        except p.ProtocolError as e:
            await self._error(e.code, str(e))
            return
        await self.handle_frame(header, image)

    async def handle_message(self, message: p.ClientMessage) -> None:
        """A control message, parsed (the in-process client hands them over as they are)."""
        self.last_seen = self._clock()
        match message:
            case p.Ping(seq=seq):
                await self._send_quietly(p.Pong(seq=seq))
            case p.Pong():
                pass
            case p.PointerDone(request_id=rid) if not rid.startswith(POINTER_PREFIX):
                await self._error("out_of_order", f"{rid!r} is not a pointer request", request_id=rid)
            case p.PointerDone(request_id=rid) | p.RequestFailed(request_id=rid):
                if not self._pending.resolve(rid, message):
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
                    self._pending.resolve(
                        rid, p.RequestFailed(request_id=rid, code="error", message=text_[:2000])
                    )
            case p.Hello():
                await self._error("out_of_order", "hello was already received on this connection")

    async def handle_frame(self, header: p.FrameHeader, image: bytes) -> None:
        """A frame, split from its header (the in-process client hands them over as they are)."""
        self.last_seen = self._clock()
        rid = header.request_id
        if rid is not None and not rid.startswith(CAPTURE_PREFIX):
            await self._error("out_of_order", f"{rid!r} is not a capture request", request_id=rid)
            return
        late = rid is not None and self._pending.is_expired(rid)
        if rid is not None and not self._pending.is_waiting(rid) and not late:
            await self._unknown_request(rid)
            return
        if rid is None and not header.pushed:
            await self._error("out_of_order", "a frame needs a request_id unless it is pushed")
            return
        problem = geometry_problem(self._displays, header.geometry)
        if problem is None and self._decode_check:
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
                self._pending.resolve(
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
        self._frames.remember(full_key(self._displays, frame.geometry), frame, pushed=header.pushed)
        if header.pushed:
            self.pushed_at = frame.captured_at
            if self._on_push is not None:
                self._on_push(frame)
        if rid is not None:
            self._pending.resolve(rid, frame)

    # --- internals --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed is not None:
            raise DeviceUnavailableError(f"Device {self.id!r} is not connected ({self._closed}).")

    async def _ask(self, message: p.Capture | p.MovePointer | p.Highlight, wait: float) -> object:
        with self._pending.expect(message.request_id) as answer, anyio.fail_after(wait):
            await self._send(message)  # bounded too: a device that stops reading blocks it
            result = await answer.wait()
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
            error_type = NoDisplayError if e.reply.code == "no_display" else DeviceError
            raise error_type(f"The pointer did not move: {e.reply.message}") from e
        assert isinstance(reply, p.PointerDone)
        return PointerResult(
            x=reply.x,
            y=reply.y,
            display=reply.display,
            overlay=reply.overlay,
            pointer_moved=reply.pointer_moved,
            note=reply.note,
        )

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
        await self._send_quietly(p.ErrorMessage(code=code[:64], message=text[:2000], request_id=request_id))

    async def _send_quietly(self, message: p.HubMessage) -> None:
        # A reply to a message is best effort: a broken link is noticed by the reader and heartbeat.
        try:
            await self._send(message)
        except DeviceUnavailableError as e:
            log.debug("device %s: reply not sent (%s)", self.id, e)

    def _displays_changed(self, displays: list[DisplayInfo], reason: str) -> None:
        if list(displays) == self._displays:
            return  # the same layout again: frames taken in it still map correctly
        log.info("device %s: display layout changed (%s)", self.id, reason or "no reason given")
        self._displays = list(displays)
        # Frames of the old layout would map pointer moves onto displays that are gone or moved:
        # they are refused from now on, so none is offered as a fallback either.
        self.layout_epoch = new_layout_epoch()
        self._frames.forget()
