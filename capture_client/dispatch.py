"""What the capture client does with each message from the hub, whatever carries it.

The WebSocket session (`connection.Session`) and the server's in-process link for its own display
both hand every hub message to `handle`, which asks the `DeviceService` and sends the answer
through an `Outbox`: encoded onto the WebSocket (`EncodingOutbox`), or handed over as protocol
objects in memory. A fatal `error` from the hub is the carrier's to act on (`refusal`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from capture_client.client import CapturedFrame, DeviceService
from wire import protocol as p

log = logging.getLogger("realtime_mcp.capture")


class Outbox(Protocol):
    """Where the client's answers go."""

    async def send_frame(self, frame: CapturedFrame) -> None: ...

    async def send_message(self, message: p.ClientMessage) -> None: ...


class EncodingOutbox:
    """Answers encoded for a WebSocket: frames as one binary message, the rest as JSON text."""

    def __init__(self, send: Callable[[str | bytes], Awaitable[None]]) -> None:
        self._send = send

    async def send_frame(self, frame: CapturedFrame) -> None:
        await self._send(frame.message())

    async def send_message(self, message: p.ClientMessage) -> None:
        await self._send(p.encode(message))


def refusal(message: p.HubMessage) -> str | None:
    """Why the hub refused this client for good (a fatal `error`), else None."""
    if isinstance(message, p.ErrorMessage) and message.fatal:
        return f"{message.code}: {message.message}"
    return None


async def handle(service: DeviceService, message: p.HubMessage, out: Outbox) -> None:
    """Do what one hub message asks and send the answer. A request the service fails on with a bug
    is still answered (`request_failed`), so the hub need not wait out its timeout; what `out`
    raises (the link is gone) propagates to the carrier."""
    match message:
        case p.Capture():
            try:
                result = await service.capture(message)
            except Exception as e:  # a bug: answered, and logged with its traceback
                result = _internal_failure(message.request_id, e)
            if isinstance(result, CapturedFrame):
                await out.send_frame(result)
            else:
                await out.send_message(result)
        case p.MovePointer() | p.Highlight():
            try:
                if isinstance(message, p.MovePointer):
                    reply = await service.move_pointer(message)
                else:
                    reply = await service.highlight(message)
            except Exception as e:  # a bug: answered, and logged with its traceback
                reply = _internal_failure(message.request_id, e)
            await out.send_message(reply)
        case p.Ping(seq=seq):
            await out.send_message(p.Pong(seq=seq))
        case p.ErrorMessage(code=code, message=text, fatal=False):
            log.warning("hub refused a message (%s): %s", code, text)
        case p.ErrorMessage() | p.Pong() | p.Welcome():
            pass


def _internal_failure(request_id: str, error: Exception) -> p.RequestFailed:
    log.exception("request %s failed", request_id, exc_info=error)
    return p.RequestFailed(
        request_id=request_id,
        code="error",
        message=f"the capture client failed ({type(error).__name__}); see its log",
    )
