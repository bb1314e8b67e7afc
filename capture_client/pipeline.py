"""The capture hot path: grab -> black check -> downscale -> RGB -> encode, plus its geometry.

Shared by the server's local device and the capture client; blocking (run it off the event loop).
When the image needs the capture halved (2560x1600 sent at 1280x800, the default), backends that
can do it where the pixels lie are asked to (`grab_reduced`: on X11 the X server composites the
root into a half-size pixmap with RENDER and a quarter of the pixels is read back); the rest is
reduced by Pillow. Time at 2560x1600 on the 2-core dev box (`just bench-screen`, load 3-4),
halved by the X server: grab and halve ~4-5 ms (the composite ~2.5-3 ms of the X server's CPU, the
read-back ~0.8), black check ~0.2 ms, channel order ~1.1-1.6 ms, JPEG q80 at 1280x800 ~4 ms; the
full-resolution fallback: grab ~3.5 ms (read in place, no copy), reduce(2) and channel order
~8-11 ms.
The black check and the downscale both read the grabbed buffer where it lies (`frombuffer`): no
full-size copy or conversion is made.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import sys
import threading
import time
from dataclasses import dataclass
from typing import Literal, cast

from PIL import Image

from capture_client.backends.base import BackendError, RawCapture, ScreenBackend
from wire.geometry import DisplayInfo, FrameGeometry, Rect, bounding_box, contains, pixel_rect, scaled_size

ImageFormat = Literal["jpeg", "png", "webp"]
DisplaySelector = int | Literal["all"] | None

MIME_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

BLACK_LEVEL = 12
"""A frame whose every sampled channel is at or below this is treated as black (asleep, off)."""
HALVED = 2
"""The one reduce asked of backends (`grab_reduced`): exact to rounding in one pass on the X server."""
_QUICK_SAMPLE = (64, 40)
_CONFIRM_SAMPLE = (320, 200)


class CaptureRequestError(ValueError):
    """The request names a display or region that does not exist; the message lists what does."""


class BlackFrameError(BackendError):
    """The screen came back black: asleep, locked, lid closed or reconfiguring."""


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    data: bytes
    mime_type: str
    geometry: FrameGeometry
    captured_at: float
    """`time.time()` when the pixels were grabbed."""


_allocator_tuned = threading.Event()


def tune_allocator() -> None:
    """Keep big frame buffers in the heap instead of fresh mmaps (glibc only; once per process, at
    start-up: `realtime-mcp serve` with a local device and `realtime-mcp capture` call it).

    Every capture allocates a few buffers of width x height x 4 bytes. glibc serves those with new
    mmaps by default, and touching 16 MB of fresh pages costs more than the whole pipeline's
    arithmetic (measured: 28 ms per 2560x1600 frame, 12 ms with this). Raising the mmap and trim
    thresholds lets freed buffers be reused; the process keeps up to ~128 MB it could have returned.
    """
    if _allocator_tuned.is_set():
        return
    _allocator_tuned.set()
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc (musl has no mallopt): slower, still correct
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 * 1024 * 1024)
    mallopt(m_trim_threshold, 128 * 1024 * 1024)


def _describe(displays: list[DisplayInfo]) -> str:
    return "; ".join(
        f"{d.index}: {d.width:g}x{d.height:g} at ({d.x:g}, {d.y:g}){' primary' if d.primary else ''}"
        for d in displays
    )


def target_area(
    displays: list[DisplayInfo], display: DisplaySelector = None, region: Rect | None = None
) -> tuple[int | None, Rect]:
    """Which display a request means and the pointer-space area to grab.

    `display`: an index, "all" (the bounding box of every display) or None (the primary one).
    `region`: a part of it in global pointer space; it must lie inside the display.
    """
    if not displays:
        raise CaptureRequestError("No displays are active.")
    index: int | None
    if display == "all":
        index, whole = None, bounding_box(displays)
    else:
        if display is None:
            chosen = next((d for d in displays if d.primary), displays[0])
        else:
            chosen = next((d for d in displays if d.index == display), None)
            if chosen is None:
                raise CaptureRequestError(
                    f"There is no display {display}. Displays: {_describe(displays)}. Use an index, "
                    "'all', or leave it out for the primary display."
                )
        index, whole = chosen.index, Rect(x=chosen.x, y=chosen.y, width=chosen.width, height=chosen.height)
    if region is None:
        return index, whole
    if not contains(whole, region):
        raise CaptureRequestError(
            f"Region {region.width:g}x{region.height:g} at ({region.x:g}, {region.y:g}) is not inside "
            f"the captured area {whole.width:g}x{whole.height:g} at ({whole.x:g}, {whole.y:g})."
        )
    return index, region


def _buffer(raw: RawCapture) -> bytes:
    # Pillow reads any buffer-protocol object (bytearray from mss, NSData's memoryview on macOS).
    return cast(bytes, raw.pixels)


def _mapped(raw: RawCapture) -> Image.Image:
    """The raw buffer as a Pillow image without copying it (4-byte pixels map directly)."""
    if raw.pixel_format == "RGB":
        return Image.frombuffer("RGB", (raw.width, raw.height), _buffer(raw), "raw", "RGB", raw.stride, 1)
    # Channels stay in buffer order (B, G, R, X for BGRX); swapped later on the small image.
    return Image.frombuffer("RGBX", (raw.width, raw.height), _buffer(raw), "raw", "RGBX", raw.stride, 1)


def _max_channel(image: Image.Image) -> int:
    extrema = image.getextrema()
    bands = extrema[:3] if isinstance(extrema[0], tuple) else (extrema,)
    return max(int(high) for _, high in bands)  # type: ignore[misc]


def is_black(raw: RawCapture, *, level: int = BLACK_LEVEL) -> bool:
    """A cheap sparse sample first (~0.02 ms); a denser one confirms before a frame is called black."""
    image = _mapped(raw)
    for size in (_QUICK_SAMPLE, _CONFIRM_SAMPLE):
        sample = image.resize((min(size[0], raw.width), min(size[1], raw.height)), Image.Resampling.NEAREST)
        if _max_channel(sample) > level:
            return False
    return True


def reduce_factor(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The largest integer box-reduce that does not go below `target` (a resize does the rest)."""
    factor = max(1, max(size) // max(target))
    # reduce(f) makes ceil(n / f) pixels; rounding in `target` may need a smaller f on the short edge.
    while factor > 1 and (-(-size[0] // factor) < target[0] or -(-size[1] // factor) < target[1]):
        factor -= 1
    return factor


def to_rgb_scaled(raw: RawCapture, max_edge: int) -> Image.Image:
    """The capture as an RGB image with its long edge at most `max_edge` of its source size.

    A 4-byte capture is box-reduced where it lies (`frombuffer` maps it without a copy), channels
    still in buffer order, and only the small result is put in R, G, B order: every step works per
    channel, so this is the same image as unpacking to RGB first, without the full-size unpack into
    a fresh 16 MB image. A capture the backend already reduced (`reduced_by`) counts as that much of
    the reduce. A resize finishes off non-integer ratios. Splitting the reduce into bands on two
    threads was measured too: slower on two busy cores.
    """
    source = (raw.source_width, raw.source_height)
    target = scaled_size(*source, max_edge)
    factor = max(1, reduce_factor(source, target) // raw.reduced_by)
    if raw.pixel_format == "BGRX" and factor == 1 and (raw.width, raw.height) == target:
        # Nothing to scale: unpacked straight to R, G, B (a new image, one pass over the buffer).
        return Image.frombuffer("RGB", target, _buffer(raw), "raw", "BGRX", raw.stride, 1)
    image = _mapped(raw)
    if factor >= 2:
        image = image.reduce(factor)
    if image.size != target:
        image = image.resize(target, Image.Resampling.BILINEAR)
    if raw.pixel_format == "BGRX":
        blue, green, red, _ = image.split()
        return Image.merge("RGB", (red, green, blue))
    # Either way a new image, also when nothing was scaled: the result never shares the capture's
    # buffer (3-byte RGB is unpacked by `frombuffer`, RGBX is converted).
    return image if image.mode == "RGB" else image.convert("RGB")


def _source_size(area: Rect, displays: list[DisplayInfo]) -> tuple[int, int]:
    """How many display pixels `area` covers, snapped outwards to whole pixels (as backends grab)."""
    scale = max((d.pixel_width / d.width for d in displays if d.width > 0), default=1.0)
    _, _, width, height = pixel_rect(area, scale)
    return width, height


def grab_for(screen: ScreenBackend, area: Rect, max_edge: int, displays: list[DisplayInfo]) -> RawCapture:
    """`area`'s pixels for an image of at most `max_edge`: reduced by the backend where the pixels
    lie when the reduce the image needs is one it offers (`grab_reduced`: X11 halves on the X
    server, so a quarter of the pixels is read back), else at full resolution."""
    source = _source_size(area, displays)
    factor = reduce_factor(source, scaled_size(*source, max_edge))
    if factor == HALVED:
        raw = screen.grab_reduced(area, factor)
        if raw is not None:
            grabbed = (raw.source_width, raw.source_height)
            if reduce_factor(grabbed, scaled_size(*grabbed, max_edge)) == raw.reduced_by:
                return raw
            # The backend's pixel grid is not what the layout said: grab again, whole.
    return screen.grab(area)


def encode(image: Image.Image, format: ImageFormat, quality: int) -> bytes:
    buffer = io.BytesIO()
    if format == "jpeg":
        image.save(buffer, "JPEG", quality=quality)
    elif format == "png":
        # Level 1: most of level 9's size on screen content at a fraction of the time.
        image.save(buffer, "PNG", compress_level=1)
    elif format == "webp":
        image.save(buffer, "WEBP", quality=quality, method=0)
    else:
        raise CaptureRequestError(f"Unknown image format {format!r}: use jpeg, png or webp.")
    return buffer.getvalue()


def _whole_is_black(screen: ScreenBackend, displays: list[DisplayInfo], display: DisplaySelector) -> bool:
    # A black region may be dark content (a terminal, a dark-mode pane): only a black display
    # means asleep or reconfiguring. One more grab, paid only when a region came back black.
    _, whole = target_area(displays, display)
    return is_black(screen.grab(whole))


def capture(
    screen: ScreenBackend,
    *,
    display: DisplaySelector = None,
    region: Rect | None = None,
    max_edge: int = 1280,
    format: ImageFormat = "jpeg",
    quality: int = 80,
    displays: list[DisplayInfo] | None = None,
) -> EncodedFrame:
    """Grab, check, scale and encode one frame. Raises `BlackFrameError` for a black screen,
    `CaptureRequestError` for a display or region that does not exist, `BackendError` otherwise."""
    if format not in MIME_TYPES:
        raise CaptureRequestError(f"Unknown image format {format!r}: use jpeg, png or webp.")
    if displays is None:
        displays = screen.displays()
    index, area = target_area(displays, display, region)
    captured_at = time.time()
    raw = grab_for(screen, area, max_edge, displays)
    if is_black(raw):
        if region is None or _whole_is_black(screen, displays, display):
            raise BlackFrameError(
                "The screen came back black (display asleep, locked, lid closed or reconfiguring)."
            )
        # A grab's pixels may live only until the next grab (X11 reads its shared memory in
        # place), and checking the whole display grabbed again: the region, once more.
        raw = grab_for(screen, area, max_edge, displays)
    image = to_rgb_scaled(raw, max_edge)
    data = encode(image, format, quality)
    geometry = FrameGeometry(
        display=index,
        area=raw.area,
        capture_width=raw.source_width,
        capture_height=raw.source_height,
        image_width=image.width,
        image_height=image.height,
    )
    return EncodedFrame(data=data, mime_type=MIME_TYPES[format], geometry=geometry, captured_at=captured_at)
