"""The device boundary: a screen plus a pointer, wherever it lives.

The screen and pointer tools speak only to `Device`; the local display and a relayed capture
client are two implementations, so a new kind of device plugs in without touching the tools.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from wire.geometry import DisplayInfo, FrameGeometry, Rect

ImageFormat = Literal["jpeg", "png", "webp"]
DisplaySelector = int | Literal["all"] | None
"""A display index, "all" for every display at once, or None for the primary display."""


class DeviceError(Exception):
    """A domain failure the model can act on; the message is shown to it as an `isError` result."""


class NoDisplayError(DeviceError):
    """There is no screen to capture (no DISPLAY, no macOS session, no capture client)."""


class DeviceUnavailableError(DeviceError):
    """The device is gone (disconnected) or not known to this caller."""


class CaptureTimeoutError(DeviceError):
    """The device did not answer within the capture timeout."""


class CaptureRequestError(DeviceError):
    """The request names a display or region the device does not have (the message lists what it has)."""


class BlackFrameError(DeviceError):
    """The display came back black (asleep, lid closed, reconfiguring) and no good frame is at hand."""


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    display: DisplaySelector = None
    region: Rect | None = None
    """A region of the display, in global pointer space (not relative to the display's origin); it
    must lie inside the chosen display, or inside the bounding box of all displays for "all"."""
    max_edge: int = 1280
    format: ImageFormat = "jpeg"
    quality: int = 80


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    mime_type: str
    geometry: FrameGeometry
    captured_at: float
    """`time.time()` when the pixels were grabbed."""
    stale_reason: str | None = None
    """Set when this is the last good frame returned in place of a black or failed capture."""
    frame_id: str = field(default="")
    layout_epoch: int = 0
    """The device's `layout_epoch` when the pixels were grabbed."""


@dataclass(frozen=True, slots=True)
class PointerResult:
    x: float
    y: float
    """Where the overlay points (or the pointer went), in pointer space."""
    display: int | None = None
    overlay: bool | None = None
    """Whether the device's overlay shows it (None: a device that predates the overlay)."""
    pointer_moved: bool | None = None
    note: str | None = None
    """Why the overlay is not shown, when it is not."""


_layout_epochs = itertools.count(1)


def new_layout_epoch() -> int:
    """A layout epoch never handed out before in this process, by any device.

    Process-wide rather than per device, so a device that reconnects (a new object under the same
    id) never repeats an epoch of the connection it replaced.
    """
    return next(_layout_epochs)


def reserve_layout_epochs(start: int) -> None:
    """Hand out epochs from `start` on: with several replicas each takes a block of its own (from
    Redis), so no two replicas ever give a device the same epoch."""
    global _layout_epochs
    _layout_epochs = itertools.count(start)


class Device(ABC):
    """A screen plus a pointer."""

    id: str
    kind: Literal["local", "relay"]
    layout_epoch: int = 0
    """Changes whenever the device's display layout changes; frames carry the epoch they were taken
    in, and the hub refuses to map coordinates through a frame of an earlier epoch."""

    @abstractmethod
    async def list_displays(self) -> list[DisplayInfo]:
        """The displays as the device sees them now."""

    @abstractmethod
    async def capture(self, request: CaptureRequest) -> Frame:
        """A fresh, non-black frame, or raise a `DeviceError`."""

    @abstractmethod
    async def move_pointer(
        self, x: float, y: float, *, label: str | None = None, move_cursor: bool = False
    ) -> PointerResult:
        """Show the overlay pointer at (x, y) in pointer space; move the real pointer too only with
        `move_cursor`."""

    @abstractmethod
    async def highlight(self, area: Rect, label: str | None, *, move_cursor: bool = False) -> PointerResult:
        """Mark an area (pointer space) for the user in the overlay; with `move_cursor` the pointer
        goes to its centre."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what the device holds."""
