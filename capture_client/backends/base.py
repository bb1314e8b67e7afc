"""The small interface every platform backend implements: read displays, grab pixels, move the pointer.

Backends are blocking (callers run them off the event loop) and know nothing about MCP or the
hub, so the local device in the server and the capture client share them unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from wire.geometry import DisplayInfo, Rect

if TYPE_CHECKING:
    from capture_client.overlay.base import Overlay

PixelFormat = Literal["BGRX", "RGBX", "RGB"]


class BackendError(Exception):
    """A capture or pointer operation failed; the message says what the user can do."""


class NoDisplayError(BackendError):
    """There is no display to talk to (no DISPLAY, X server gone, no macOS GUI session)."""


class PermissionDeniedError(BackendError):
    """The OS withholds the screen or the pointer (macOS Screen Recording or Accessibility)."""


class DisplayChangedError(BackendError):
    """The layout changed under the backend; `reset()` and read the displays again."""


@dataclass(frozen=True, slots=True)
class RawCapture:
    """Pixels straight from the screen, not yet converted or copied."""

    pixels: bytes | bytearray | memoryview
    width: int
    height: int
    stride: int
    """Bytes per row (rows may be padded)."""
    pixel_format: PixelFormat
    area: Rect
    """What was grabbed, in pointer space (the requested area snapped to the device's pixel grid)."""
    reduced_by: int = 1
    """Each pixel is the average of a `reduced_by` x `reduced_by` block of the display's pixels
    (`ScreenBackend.grab_reduced`); 1: the display's own pixels."""
    source_size: tuple[int, int] | None = None
    """The area's size in the display's pixels when reduced (None: width x height)."""

    @property
    def source_width(self) -> int:
        """The area's width in the display's own pixels, however many were read."""
        return self.source_size[0] if self.source_size is not None else self.width

    @property
    def source_height(self) -> int:
        return self.source_size[1] if self.source_size is not None else self.height


class ScreenBackend(ABC):
    """Reads the display layout and grabs pixels."""

    @abstractmethod
    def displays(self) -> list[DisplayInfo]:
        """The displays now, index 0.. in the OS's order, sizes in pointer space and in pixels."""

    @abstractmethod
    def grab(self, area: Rect) -> RawCapture:
        """The pixels of `area` (pointer space, inside the displays) at the display's native resolution.

        The pixels may be valid only until the next grab on this backend (X11 hands out a view of
        the shared memory the X server writes every frame into): read them, or copy them, first.
        """

    def grab_reduced(self, area: Rect, factor: int) -> RawCapture | None:
        """`grab(area)` box-reduced by `factor` (as Pillow's `reduce(factor)` does, to within
        rounding) where the pixels lie, or None: this backend cannot (then `grab` and reduce).

        The capture's `source_size` is the full-resolution size of the area, `reduced_by` the
        factor. The pixels may be valid only until the next grab, as with `grab`.
        """
        return None

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget cached layout and capture state (call after a display change)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection to the display."""


class PointerBackend(ABC):
    """Moves the pointer in pointer space."""

    @abstractmethod
    def move(self, x: float, y: float) -> tuple[float, float]:
        """Move the pointer to (x, y); returns where it is afterwards, as the OS reports it."""

    @abstractmethod
    def position(self) -> tuple[float, float]:
        """Where the pointer is now."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection to the display."""


@dataclass(frozen=True, slots=True)
class Backends:
    screen: ScreenBackend
    pointer: PointerBackend
    platform: str
    overlay: Overlay | None = None
    """Where pointing is drawn without moving the user's mouse (None: this platform has none)."""

    def close(self) -> None:
        try:
            if self.overlay is not None:
                self.overlay.close()
        finally:
            try:
                self.screen.close()
            finally:
                self.pointer.close()  # even when the screen's close fails: each holds an X connection
