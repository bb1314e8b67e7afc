"""A device held by another replica: every call goes to that replica over Redis and back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from servers.hub.cluster import codec
from servers.hub.cluster.bus import Bus
from servers.hub.device import CaptureRequest, Device, DeviceUnavailableError, Frame, PointerResult
from servers.hub.frames import StaleLayoutError
from wire.geometry import DisplayInfo, Rect

TRANSIT_MARGIN = 2.0
"""Seconds added to a device timeout for the trip through Redis and the other replica."""
POINTER_TIMEOUT = 3.0
"""The relay's own pointer timeout (capped by the capture timeout), mirrored here."""


class RemoteDevice(Device):
    """Stands in for a device whose WebSocket another replica (`owner`) holds."""

    kind: Literal["local", "relay"] = "relay"

    def __init__(
        self,
        device_id: str,
        owner: str,
        layout_epoch: int,
        bus: Bus,
        *,
        capture_timeout: float,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """`on_failure`: told the device id when a request fails for want of the device or its
        replica (the cached record of where it is may be stale)."""
        self.id = device_id
        self.owner = owner
        self.layout_epoch = layout_epoch
        self._bus = bus
        self._capture_timeout = capture_timeout
        self._pointer_timeout = min(POINTER_TIMEOUT, capture_timeout)
        self._on_failure = on_failure

    async def _ask(self, op: str, body: dict[str, object], limit: float, what: str) -> codec.Message:
        try:
            return await self._bus.request(
                self.owner, op, {"device": self.id, **body}, limit=limit + TRANSIT_MARGIN, what=what
            )
        except (DeviceUnavailableError, StaleLayoutError):
            if self._on_failure is not None:
                self._on_failure(self.id)
            raise

    async def list_displays(self) -> list[DisplayInfo]:
        reply = await self._ask("displays", {}, self._pointer_timeout, "listing the displays")
        return codec.displays_from(reply.header["body"]["displays"])

    async def capture(self, request: CaptureRequest) -> Frame:
        reply = await self._ask(
            "capture", {"request": codec.capture_request_body(request)}, self._capture_timeout, "the capture"
        )
        return codec.frame_from(reply.header["body"], reply.payload)

    async def move_pointer(
        self, x: float, y: float, *, label: str | None = None, move_cursor: bool = False
    ) -> PointerResult:
        body = {"x": x, "y": y, "label": label, "move_cursor": move_cursor, "epoch": self.layout_epoch}
        reply = await self._ask("point", body, self._pointer_timeout, "pointing")
        return codec.pointer_from(reply.header["body"])

    async def highlight(self, area: Rect, label: str | None, *, move_cursor: bool = False) -> PointerResult:
        body = {
            "area": area.model_dump(),
            "label": label,
            "move_cursor": move_cursor,
            "epoch": self.layout_epoch,
        }
        reply = await self._ask("highlight", body, self._pointer_timeout, "the highlight")
        return codec.pointer_from(reply.header["body"])
