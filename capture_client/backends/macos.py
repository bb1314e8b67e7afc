"""macOS: capture and pointer through Quartz (PyObjC). Imported only on macOS.

Pointer space is global points, origin at the top-left of the main display; displays left of or
above it have negative origins. Captures come at native pixels (`kCGWindowImageDefault`), so a
Retina display's image is twice its point size: the frame geometry keeps both, and the model's
image pixels map back to points without anyone multiplying by a scale.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from PIL import Image

from capture_client.backends.base import (
    BackendError,
    DisplayChangedError,
    NoDisplayError,
    PermissionDeniedError,
    PixelFormat,
    PointerBackend,
    RawCapture,
    ScreenBackend,
)
from wire.geometry import DisplayInfo, Rect

if TYPE_CHECKING:
    from capture_client.overlay.base import Overlay

log = logging.getLogger("realtime_mcp.capture")

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


def ask_for_screen_capture() -> bool:
    """Whether Screen Recording is granted; when not, show the system prompt (once per program).

    The client asks this first, before Input Monitoring: the screen is what it is for.
    """
    q = _quartz()
    if screen_capture_allowed(q):
        return True
    if hasattr(q, "CGRequestScreenCaptureAccess"):
        q.CGRequestScreenCaptureAccess()
    return False


class MacScreen(ScreenBackend):
    """ScreenCaptureKit first (it leaves the overlay's windows out), CoreGraphics when it is missing
    or refuses (the overlay is then taken down for the grab)."""

    def __init__(
        self, *, request_permission: bool = True, overlay: Overlay | None = None, sck: Any | None = None
    ) -> None:
        self._q = _quartz()
        if not screen_capture_allowed(self._q):
            if request_permission and hasattr(self._q, "CGRequestScreenCaptureAccess"):
                self._q.CGRequestScreenCaptureAccess()  # shows the system prompt once
            raise PermissionDeniedError(SCREEN_RECORDING_HELP)
        self._lock = threading.Lock()
        self._overlay = overlay
        from capture_client.backends.macos_sck import SCKUnavailableError, ScreenCaptureKit

        try:
            self._sck: ScreenCaptureKit | None = ScreenCaptureKit(self._q, sck)
        except SCKUnavailableError as e:
            log.info("capturing through CoreGraphics: %s", e)
            self._sck = None

    def reset(self) -> None:
        if self._sck is not None:
            self._sck.reset()

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
        from capture_client.backends.macos_sck import SCKUnavailableError

        with self._lock:
            if self._sck is not None:
                exclude = self._overlay.window_ids() if self._overlay is not None else ()
                try:
                    return self._read(self._sck.capture(area, exclude), area)
                except SCKUnavailableError as e:
                    log.info("ScreenCaptureKit refused (%s); this capture goes through CoreGraphics", e)
            hidden = self._overlay.hidden_for(area) if self._overlay is not None else contextlib.nullcontext()
            with hidden:
                return self._read(self._cg_image(area), area)

    def _cg_image(self, area: Rect) -> Any:
        q = self._q
        rect = q.CGRectMake(area.x, area.y, area.width, area.height)
        image = q.CGWindowListCreateImage(
            rect, q.kCGWindowListOptionOnScreenOnly, q.kCGNullWindowID, q.kCGWindowImageDefault
        )
        if image is None:
            if not screen_capture_allowed(q):
                raise PermissionDeniedError(SCREEN_RECORDING_HELP)
            raise DisplayChangedError("CGWindowListCreateImage returned no image (display changing?)")
        return image

    def _read(self, image: Any, area: Rect) -> RawCapture:
        q = self._q
        width, height = int(q.CGImageGetWidth(image)), int(q.CGImageGetHeight(image))
        stride = int(q.CGImageGetBytesPerRow(image))
        layout = pixel_layout(
            bits_per_pixel=int(q.CGImageGetBitsPerPixel(image)),
            bits_per_component=int(q.CGImageGetBitsPerComponent(image)),
            bitmap_info=int(q.CGImageGetBitmapInfo(image)),
            alpha_info=int(q.CGImageGetAlphaInfo(image)),
        )
        # An NSData proxy (CFData). Its buffer is read in place through memoryview(); its
        # bytes() method would hand out views that leak the proxy (pyobjc#689).
        data = q.CGDataProviderCopyData(q.CGImageGetDataProvider(image))
        pixels = memoryview(data)
        if len(pixels) < stride * (height - 1) + width * (layout.bits // 8):
            raise DisplayChangedError("the captured image is shorter than its rows (display changing?)")
        if layout.convert_from is not None:
            # Rare layouts: one conversion to packed RGB so the pipeline sees a format it knows.
            converted = Image.frombuffer(
                "RGB", (width, height), cast(bytes, pixels), "raw", layout.convert_from, stride, 1
            ).tobytes()
            return RawCapture(
                pixels=converted, width=width, height=height, stride=width * 3, pixel_format="RGB", area=area
            )
        return RawCapture(
            pixels=pixels, width=width, height=height, stride=stride, pixel_format=layout.format, area=area
        )


# CGImage.h: CGImageAlphaInfo in the low 5 bits of CGBitmapInfo, then float, byte-order and
# pixel-format fields.
K_CG_IMAGE_ALPHA_NONE = 0
K_CG_IMAGE_ALPHA_PREMULTIPLIED_LAST = 1
K_CG_IMAGE_ALPHA_PREMULTIPLIED_FIRST = 2
K_CG_IMAGE_ALPHA_LAST = 3
K_CG_IMAGE_ALPHA_FIRST = 4
K_CG_IMAGE_ALPHA_NONE_SKIP_LAST = 5
K_CG_IMAGE_ALPHA_NONE_SKIP_FIRST = 6
K_CG_BITMAP_FLOAT_COMPONENTS = 1 << 8
K_CG_BITMAP_BYTE_ORDER_MASK = 0x7000
K_CG_BITMAP_BYTE_ORDER_DEFAULT = 0
K_CG_BITMAP_BYTE_ORDER_16_LITTLE = 1 << 12
K_CG_BITMAP_BYTE_ORDER_32_LITTLE = 2 << 12
K_CG_BITMAP_BYTE_ORDER_16_BIG = 3 << 12
K_CG_BITMAP_BYTE_ORDER_32_BIG = 4 << 12
K_CG_IMAGE_PIXEL_FORMAT_MASK = 0xF0000

_ALPHA_FIRST = {
    K_CG_IMAGE_ALPHA_PREMULTIPLIED_FIRST,
    K_CG_IMAGE_ALPHA_FIRST,
    K_CG_IMAGE_ALPHA_NONE_SKIP_FIRST,
}
_ALPHA_LAST = {K_CG_IMAGE_ALPHA_PREMULTIPLIED_LAST, K_CG_IMAGE_ALPHA_LAST, K_CG_IMAGE_ALPHA_NONE_SKIP_LAST}


@dataclass(frozen=True, slots=True)
class PixelLayout:
    bits: int
    """Bits per pixel."""
    format: PixelFormat
    """What the pipeline is told; `RGB` when the pixels are converted first."""
    convert_from: str | None = None
    """Pillow raw mode of the captured bytes when they need converting to packed RGB."""


def pixel_layout(
    *, bits_per_pixel: int, bits_per_component: int, bitmap_info: int, alpha_info: int
) -> PixelLayout:
    """How a captured CGImage's bytes are laid out in memory, or `BackendError` for one this does not read.

    Screen captures are normally 32-bit little-endian with alpha first (bytes B, G, R, A); the
    rest of the 8-bit RGB layouts are converted, anything else (16-bit or float components,
    packed 10-bit) is refused rather than sent with wrong colours.
    """
    order = bitmap_info & K_CG_BITMAP_BYTE_ORDER_MASK
    described = (
        f"{bits_per_pixel}-bit pixels, {bits_per_component}-bit components, bitmap info {bitmap_info:#x}, "
        f"alpha info {alpha_info}"
    )
    if (
        bits_per_component != 8
        or bitmap_info & K_CG_BITMAP_FLOAT_COMPONENTS
        or bitmap_info & K_CG_IMAGE_PIXEL_FORMAT_MASK
        or order in (K_CG_BITMAP_BYTE_ORDER_16_LITTLE, K_CG_BITMAP_BYTE_ORDER_16_BIG)
    ):
        raise BackendError(f"Unsupported capture pixel layout ({described}); expected 8-bit RGB components.")
    little = order == K_CG_BITMAP_BYTE_ORDER_32_LITTLE
    if bits_per_pixel == 32:
        if alpha_info in _ALPHA_FIRST:  # A R G B as a 32-bit word
            return PixelLayout(32, "BGRX") if little else PixelLayout(32, "RGB", "XRGB")
        if alpha_info in _ALPHA_LAST:  # R G B A as a 32-bit word
            return PixelLayout(32, "RGB", "XBGR") if little else PixelLayout(32, "RGBX")
    if bits_per_pixel == 24 and alpha_info == K_CG_IMAGE_ALPHA_NONE and not little:
        return PixelLayout(24, "RGB")
    raise BackendError(f"Unsupported capture pixel layout ({described}).")


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
