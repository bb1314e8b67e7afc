"""macOS: capture and pointer through Quartz (PyObjC). Imported only on macOS.

Pointer space is global points, origin at the top-left of the main display; displays left of or
above it have negative origins. Captures come at native pixels (`kCGWindowImageDefault`), so a
Retina display's image is twice its point size: the frame geometry keeps both, and the model's
image pixels map back to points without anyone multiplying by a scale.
"""

from __future__ import annotations

import threading
from typing import Any

from capture_client.backends.base import (
    BackendError,
    DisplayChangedError,
    NoDisplayError,
    PermissionDeniedError,
    PointerBackend,
    RawCapture,
    ScreenBackend,
)
from wire.geometry import DisplayInfo, Rect

MAX_DISPLAYS = 32

SCREEN_RECORDING_HELP = (
    "macOS is withholding the screen: without Screen Recording permission captures show only the "
    "wallpaper and menu bar. Allow this program (your terminal or Python) in System Settings > "
    "Privacy & Security > Screen Recording, then restart it."
)


def _quartz() -> Any:
    try:
        import Quartz  # type: ignore[import-not-found]  # pyobjc-framework-Quartz
    except ImportError as e:
        raise NoDisplayError(
            "The macOS backend needs PyObjC's Quartz: pip install 'realtime-mcp[macos]'."
        ) from e
    return Quartz


def screen_capture_allowed(quartz: Any) -> bool:
    """Whether Screen Recording is granted (macOS 10.15+); older systems need no grant."""
    preflight = getattr(quartz, "CGPreflightScreenCaptureAccess", None)
    return True if preflight is None else bool(preflight())


class MacScreen(ScreenBackend):
    def __init__(self, *, request_permission: bool = True) -> None:
        self._q = _quartz()
        if not screen_capture_allowed(self._q):
            if request_permission and hasattr(self._q, "CGRequestScreenCaptureAccess"):
                self._q.CGRequestScreenCaptureAccess()  # shows the system prompt once
            raise PermissionDeniedError(SCREEN_RECORDING_HELP)
        self._lock = threading.Lock()

    def _display_ids(self) -> list[int]:
        err, ids, count = self._q.CGGetActiveDisplayList(MAX_DISPLAYS, None, None)
        if err:
            raise DisplayChangedError(f"CGGetActiveDisplayList failed with CGError {err}")
        active = [int(did) for did in (ids or ())][: int(count)]
        if not active:
            raise NoDisplayError("macOS reports no active display (asleep, or no GUI session).")
        return active

    def displays(self) -> list[DisplayInfo]:
        q = self._q
        main = q.CGMainDisplayID()
        out: list[DisplayInfo] = []
        with self._lock:
            for index, did in enumerate(self._display_ids()):
                bounds = q.CGDisplayBounds(did)
                mode = q.CGDisplayCopyDisplayMode(did)
                # CGDisplayPixelsWide answers in points; the mode knows the backing pixels.
                if mode is not None:
                    pw, ph = q.CGDisplayModeGetPixelWidth(mode), q.CGDisplayModeGetPixelHeight(mode)
                else:
                    pw, ph = q.CGDisplayPixelsWide(did), q.CGDisplayPixelsHigh(did)
                out.append(
                    DisplayInfo(
                        index=index,
                        x=bounds.origin.x,
                        y=bounds.origin.y,
                        width=bounds.size.width,
                        height=bounds.size.height,
                        pixel_width=int(pw),
                        pixel_height=int(ph),
                        primary=did == main,
                        name=f"display-{did}",
                    )
                )
        return out

    def grab(self, area: Rect) -> RawCapture:
        q = self._q
        rect = q.CGRectMake(area.x, area.y, area.width, area.height)
        with self._lock:
            image = q.CGWindowListCreateImage(
                rect, q.kCGWindowListOptionOnScreenOnly, q.kCGNullWindowID, q.kCGWindowImageDefault
            )
            if image is None:
                if not screen_capture_allowed(q):
                    raise PermissionDeniedError(SCREEN_RECORDING_HELP)
                raise DisplayChangedError("CGWindowListCreateImage returned no image (display changing?)")
            width, height = q.CGImageGetWidth(image), q.CGImageGetHeight(image)
            stride = q.CGImageGetBytesPerRow(image)
            bits = q.CGImageGetBitsPerPixel(image)
            if bits != 32:
                raise BackendError(f"Unexpected {bits}-bit capture; expected 32-bit BGRA.")
            data = q.CGDataProviderCopyData(q.CGImageGetDataProvider(image))
        # NSData exposes the buffer protocol: no copy until the pipeline converts the pixels.
        return RawCapture(
            pixels=memoryview(data),
            width=int(width),
            height=int(height),
            stride=int(stride),
            pixel_format="BGRX",
            area=area,
        )


class MacPointer(PointerBackend):
    def __init__(self) -> None:
        self._q = _quartz()
        self._lock = threading.Lock()

    def move(self, x: float, y: float) -> tuple[float, float]:
        q = self._q
        point = (float(x), float(y))
        with self._lock:
            # Warping needs no Accessibility grant; the posted move lets apps show hover states.
            err = q.CGWarpMouseCursorPosition(point)
            if err:
                raise BackendError(f"CGWarpMouseCursorPosition failed with CGError {err}")
            # A warp suppresses local mouse events for a moment; re-associating ends that at once.
            q.CGAssociateMouseAndMouseCursorPosition(True)
            event = q.CGEventCreateMouseEvent(None, q.kCGEventMouseMoved, point, q.kCGMouseButtonLeft)
            if event is not None:
                q.CGEventPost(q.kCGHIDEventTap, event)
        return self.position()

    def position(self) -> tuple[float, float]:
        q = self._q
        location = q.CGEventGetLocation(q.CGEventCreate(None))
        return (float(location.x), float(location.y))
