"""A screen backend whose grabs never contain the overlay: for platforms where the capture cannot
exclude a window (X11 without a compositor composes everything into the root's pixels)."""

from __future__ import annotations

from capture_client.backends.base import RawCapture, ScreenBackend
from capture_client.overlay.base import Overlay
from wire.geometry import DisplayInfo, Rect


class OverlayHidingScreen(ScreenBackend):
    """Takes the overlay down for a grab it overlaps, then puts it back; grabs elsewhere cost nothing."""

    def __init__(self, screen: ScreenBackend, overlay: Overlay) -> None:
        self.inner = screen
        self.overlay = overlay

    def displays(self) -> list[DisplayInfo]:
        return self.inner.displays()

    def grab(self, area: Rect) -> RawCapture:
        with self.overlay.hidden_for(area):
            return self.inner.grab(area)

    def grab_reduced(self, area: Rect, factor: int) -> RawCapture | None:
        with self.overlay.hidden_for(area):
            return self.inner.grab_reduced(area, factor)

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()
