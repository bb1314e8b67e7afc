"""The macOS backends against a stand-in `Quartz` module (macOS APIs cannot run here).

The stand-in checks what PyObjC would: function names, argument order and types (CGRect, point
tuples, output parameters passed as None) and answers in PyObjC's shapes (tuples for output
parameters, objects with `.origin`/`.size`, NSData-like buffers with padded rows). The layout is a
1440x900-point Retina main display (2880x1800 pixels) and a 1920x1080 display left of and above it.
"""

from __future__ import annotations

import io
import sys
import types
from dataclasses import dataclass

import pytest
from PIL import Image

from capture_client import pipeline
from capture_client.backends import (
    BackendError,
    NoDisplayError,
    PermissionDeniedError,
    RawCapture,
    get_backends,
)
from tests.support.pyobjc import NSDataProxy
from wire.geometry import Rect, image_to_pointer

pytestmark = pytest.mark.anyio


@dataclass
class CGPoint:
    x: float
    y: float


@dataclass
class CGSize:
    width: float
    height: float


@dataclass
class CGRect:
    origin: CGPoint
    size: CGSize


@dataclass
class Display:
    did: int
    bounds: tuple[float, float, float, float]
    scale: int
    picture: Image.Image


BGRA_LITTLE = (2 << 12) | 2  # kCGBitmapByteOrder32Little | kCGImageAlphaPremultipliedFirst: screens
RAW_MODES = {  # (bitmap info, bits per pixel) -> how Pillow writes those bytes
    (BGRA_LITTLE, 32): "BGRX",
    ((2 << 12) | 6, 32): "BGRX",  # little-endian, alpha skipped first
    ((4 << 12) | 5, 32): "RGBX",  # big-endian, alpha skipped last: bytes R G B X
    (1, 32): "RGBX",  # default order (big), premultiplied last
    ((4 << 12) | 2, 32): "XRGB",  # big-endian, alpha first: bytes X R G B
    ((2 << 12) | 1, 32): "XBGR",  # little-endian, alpha last: bytes X B G R
    (0, 24): "RGB",  # no alpha, 24-bit
}


class FakeImage:
    def __init__(
        self, pixels: Image.Image, *, bitmap_info: int = BGRA_LITTLE, bits: int = 32, component_bits: int = 8
    ) -> None:
        self.width, self.height = pixels.size
        self.bits, self.component_bits, self.bitmap_info = bits, component_bits, bitmap_info
        self.stride = self.width * bits // 8 + 64  # CoreGraphics pads rows
        raw_mode = RAW_MODES.get((bitmap_info, bits), "BGRX")
        packed = _pack(pixels.convert("RGB"), raw_mode)
        row = self.width * bits // 8
        padded = NSDataProxy(self.stride * self.height)  # each row copied once, its padding left zero
        source = memoryview(packed)
        for y in range(self.height):
            padded[y * self.stride : y * self.stride + row] = source[y * row : (y + 1) * row]
        self.data = padded


def _pack(image: Image.Image, raw_mode: str) -> bytes:
    if raw_mode in ("XRGB", "XBGR"):  # Pillow packs these only as RGBX/BGRX: rotate the bytes
        data = image.tobytes("raw", "RGBX" if raw_mode == "XRGB" else "BGRX")
        rotated = bytearray(len(data))  # slice assignment: a Python loop over 5 M pixels takes ~10 s
        rotated[0::4] = b"\xff" * (len(data) // 4)
        for channel in range(3):
            rotated[channel + 1 :: 4] = data[channel::4]
        return bytes(rotated)
    return image.tobytes("raw", raw_mode)


def make_quartz(
    *, allowed: bool = True, bitmap_info: int = BGRA_LITTLE, bits: int = 32, component_bits: int = 8
) -> types.ModuleType:
    q = types.ModuleType("Quartz")
    q.calls = []  # type: ignore[attr-defined]
    main_picture = Image.new("RGB", (2880, 1800), (200, 30, 30))
    main_picture.paste((30, 30, 200), (1440, 0, 2880, 1800))  # right half blue
    main_picture.paste((30, 200, 30), (200, 200, 220, 220))  # a green 10x10-point square at (100, 100)
    displays = [
        Display(69733378, (0, 0, 1440, 900), 2, main_picture),
        Display(4280324, (-1920, -300, 1920, 1080), 1, Image.new("RGB", (1920, 1080), (240, 240, 40))),
    ]
    state = {"pointer": (0.0, 0.0), "allowed": allowed}
    q.state = state  # type: ignore[attr-defined]
    constants = {
        "kCGWindowListOptionOnScreenOnly": 1,
        "kCGNullWindowID": 0,
        "kCGWindowImageDefault": 0,
        "kCGWindowImageNominalResolution": 16,
        "kCGEventMouseMoved": 5,
        "kCGMouseButtonLeft": 0,
        "kCGHIDEventTap": 0,
    }
    for name, value in constants.items():
        setattr(q, name, value)

    def record(name, *args):
        q.calls.append((name, args))  # type: ignore[attr-defined]

    def CGPreflightScreenCaptureAccess():
        return state["allowed"]

    def CGRequestScreenCaptureAccess():
        record("CGRequestScreenCaptureAccess")
        return False

    def CGGetActiveDisplayList(max_displays, active_displays, display_count):
        # PyObjC: output parameters are passed as None and come back in a tuple with the CGError first.
        assert isinstance(max_displays, int) and active_displays is None and display_count is None
        ids = tuple(d.did for d in displays)[:max_displays]
        return (0, ids, len(ids))

    def by_id(did):
        return next(d for d in displays if d.did == did)

    def CGMainDisplayID():
        return displays[0].did

    def CGDisplayBounds(did):
        x, y, w, h = by_id(did).bounds
        return CGRect(CGPoint(x, y), CGSize(w, h))

    class Mode:
        def __init__(self, display):
            self.display = display

    def CGDisplayCopyDisplayMode(did):
        return Mode(by_id(did))

    def CGDisplayModeGetPixelWidth(mode):
        assert isinstance(mode, Mode)
        return int(mode.display.bounds[2] * mode.display.scale)

    def CGDisplayModeGetPixelHeight(mode):
        assert isinstance(mode, Mode)
        return int(mode.display.bounds[3] * mode.display.scale)

    def CGDisplayPixelsWide(did):  # points, as the real one (the backend must not trust it for pixels)
        return int(by_id(did).bounds[2])

    def CGDisplayPixelsHigh(did):
        return int(by_id(did).bounds[3])

    def CGDisplayIsAsleep(did):
        return False

    def CGRectMake(x, y, w, h):
        return CGRect(CGPoint(x, y), CGSize(w, h))

    def CGWindowListCreateImage(rect, list_option, window_id, image_option):
        assert isinstance(rect, CGRect), "first argument is the screen rectangle in global points"
        assert list_option == q.kCGWindowListOptionOnScreenOnly and window_id == q.kCGNullWindowID
        # kCGWindowImageNominalResolution would halve a Retina capture: native pixels are wanted.
        assert image_option == q.kCGWindowImageDefault
        record("CGWindowListCreateImage", rect)
        if not state["allowed"]:
            return None
        for d in displays:
            x, y, w, h = d.bounds
            left, top = rect.origin.x - x, rect.origin.y - y
            if left >= 0 and top >= 0 and left + rect.size.width <= w and top + rect.size.height <= h:
                box = [
                    round(v * d.scale) for v in (left, top, left + rect.size.width, top + rect.size.height)
                ]
                return FakeImage(
                    d.picture.crop((box[0], box[1], box[2], box[3])),
                    bitmap_info=bitmap_info,
                    bits=bits,
                    component_bits=component_bits,
                )
        raise AssertionError(f"rectangle {rect} spans displays; not modelled")

    def CGImageGetWidth(image):
        return image.width

    def CGImageGetHeight(image):
        return image.height

    def CGImageGetBytesPerRow(image):
        return image.stride

    def CGImageGetBitsPerPixel(image):
        return image.bits

    def CGImageGetBitsPerComponent(image):
        return image.component_bits

    def CGImageGetBitmapInfo(image):
        return image.bitmap_info

    def CGImageGetAlphaInfo(image):
        return image.bitmap_info & 0x1F  # kCGBitmapAlphaInfoMask

    def CGImageGetDataProvider(image):
        return ("provider", image)

    def CGDataProviderCopyData(provider):
        assert provider[0] == "provider"
        return provider[1].data  # an NSData proxy, as PyObjC returns CFData

    def CGWarpMouseCursorPosition(point):
        # A CGPoint argument: PyObjC takes a 2-tuple of floats.
        assert isinstance(point, tuple) and len(point) == 2 and all(isinstance(v, float) for v in point)
        record("CGWarpMouseCursorPosition", point)
        state["pointer"] = point
        return 0

    def CGAssociateMouseAndMouseCursorPosition(connected):
        assert connected is True
        return 0

    def CGEventCreateMouseEvent(source, event_type, point, button):
        assert source is None and event_type == q.kCGEventMouseMoved and button == q.kCGMouseButtonLeft
        assert isinstance(point, tuple) and len(point) == 2
        return ("mouse-event", point)

    def CGEventPost(tap, event):
        assert tap == q.kCGHIDEventTap and event[0] == "mouse-event"
        record("CGEventPost", event[1])

    def CGEventCreate(source):
        assert source is None
        return ("event",)

    def CGEventGetLocation(event):
        return CGPoint(*state["pointer"])

    for name, value in list(locals().items()):
        if name.startswith("CG"):
            setattr(q, name, value)
    return q


@pytest.fixture
def quartz(monkeypatch):
    q = make_quartz()
    monkeypatch.setitem(sys.modules, "Quartz", q)
    return q


def test_displays_report_points_and_retina_pixels(quartz):
    backends = get_backends(platform="darwin")
    assert backends.platform == "macos"
    main, left = backends.screen.displays()
    assert (main.x, main.y, main.width, main.height) == (0, 0, 1440, 900)
    assert (main.pixel_width, main.pixel_height, main.primary, main.scale) == (2880, 1800, True, 2)
    assert (left.index, left.x, left.y, left.width, left.pixel_width, left.primary) == (
        1,
        -1920,
        -300,
        1920,
        1920,
        False,
    )


def test_retina_capture_is_native_pixels_and_maps_back_to_points(quartz):
    screen = get_backends(platform="darwin").screen
    frame = pipeline.capture(screen, format="png")
    g = frame.geometry
    assert (g.area.width, g.area.height) == (1440, 900)
    assert (g.capture_width, g.capture_height) == (2880, 1800)
    assert (g.image_width, g.image_height) == (1280, 800)
    image = Image.open(io.BytesIO(frame.data)).convert("RGB")
    # The green square at points (100..110, 100..110) is at image pixels (89..97, 89..97).
    r, gr, _ = image.getpixel((93, 93))  # type: ignore[misc]
    assert gr > 150 and r < 100
    assert image.getpixel((10, 10))[0] > 150 and image.getpixel((1270, 10))[2] > 150  # type: ignore[index]
    x, y = image_to_pointer(g, 93, 93)
    assert 100 <= x < 110 and 100 <= y < 110


def test_region_on_the_negative_origin_display(quartz):
    screen = get_backends(platform="darwin").screen
    region = Rect(x=-1000, y=-200, width=300, height=100)
    frame = pipeline.capture(screen, display=1, region=region)
    assert frame.geometry.display == 1 and frame.geometry.area == region
    assert (frame.geometry.image_width, frame.geometry.image_height) == (300, 100)
    assert quartz.calls[-1][0] == "CGWindowListCreateImage"
    assert quartz.calls[-1][1][0].origin == CGPoint(-1000, -200)


def test_the_capture_reads_the_nsdata_in_place(quartz):
    NSDataProxy.leaked_views = 0
    raw = get_backends(platform="darwin").screen.grab(Rect(x=0, y=0, width=100, height=50))
    assert isinstance(raw.pixels, memoryview) and isinstance(raw.pixels.obj, NSDataProxy)  # no copy
    assert NSDataProxy.leaked_views == 0  # NSData.bytes() views leak the proxy (pyobjc#689)
    assert (raw.width, raw.height, raw.stride, raw.pixel_format) == (200, 100, 200 * 4 + 64, "BGRX")


def test_a_read_only_buffer_goes_through_the_pipeline(quartz):
    """PyObjC's memoryview of an NSData is read-only (its test_nsdata.py); the stand-in's is not."""
    raw = get_backends(platform="darwin").screen.grab(Rect(x=0, y=0, width=100, height=50))
    frozen = RawCapture(
        pixels=raw.pixels.toreadonly(),  # type: ignore[union-attr]
        width=raw.width,
        height=raw.height,
        stride=raw.stride,
        pixel_format=raw.pixel_format,
        area=raw.area,
    )
    assert not pipeline.is_black(frozen)
    assert pipeline.to_rgb_scaled(frozen, 100).getpixel((10, 10)) == (200, 30, 30)


@pytest.mark.parametrize(("bitmap_info", "bits"), sorted(RAW_MODES))
def test_every_8_bit_rgb_layout_gives_the_right_colours(monkeypatch, bitmap_info, bits):
    q = make_quartz(bitmap_info=bitmap_info, bits=bits)
    monkeypatch.setitem(sys.modules, "Quartz", q)
    frame = pipeline.capture(get_backends(platform="darwin").screen, format="png")
    image = Image.open(io.BytesIO(frame.data)).convert("RGB")
    assert image.getpixel((10, 10)) == (200, 30, 30)  # red left half
    assert image.getpixel((1270, 10)) == (30, 30, 200)  # blue right half
    assert image.getpixel((93, 93)) == (30, 200, 30)  # the green square


@pytest.mark.parametrize(
    ("bitmap_info", "bits", "component_bits"),
    [
        ((1 << 12) | 5, 64, 16),  # 16-bit components (wide colour)
        ((2 << 12) | (1 << 8) | 2, 128, 32),  # float components (HDR)
        ((2 << 12) | (3 << 16) | 6, 32, 10),  # packed 10-bit RGB
        (BGRA_LITTLE, 16, 8),  # 16 bits per pixel
    ],
)
def test_a_layout_it_cannot_read_is_refused_not_sent_in_wrong_colours(
    monkeypatch, bitmap_info, bits, component_bits
):
    q = make_quartz(bitmap_info=bitmap_info, bits=bits, component_bits=component_bits)
    monkeypatch.setitem(sys.modules, "Quartz", q)
    screen = get_backends(platform="darwin").screen
    with pytest.raises(BackendError, match="Unsupported capture pixel layout") as refused:
        screen.grab(Rect(x=0, y=0, width=10, height=10))
    assert f"{bitmap_info:#x}" in str(refused.value)


def test_pointer_warps_in_points_and_posts_a_move(quartz):
    pointer = get_backends(platform="darwin").pointer
    assert pointer.move(-1500.25, 120) == (-1500.25, 120.0)
    names = [c[0] for c in quartz.calls]
    assert names[-2:] == ["CGWarpMouseCursorPosition", "CGEventPost"]
    assert quartz.calls[-2][1] == ((-1500.25, 120.0),)
    assert pointer.position() == (-1500.25, 120.0)


def test_missing_screen_recording_permission_is_explained(monkeypatch):
    q = make_quartz(allowed=False)
    monkeypatch.setitem(sys.modules, "Quartz", q)
    with pytest.raises(PermissionDeniedError, match="Privacy & Security > Screen Recording"):
        get_backends(platform="darwin")
    assert [c[0] for c in q.calls] == ["CGRequestScreenCaptureAccess"]


def test_without_pyobjc_the_backend_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "Quartz", None)  # makes `import Quartz` fail
    with pytest.raises(NoDisplayError, match=r"realtime-mcp\[macos\]"):
        get_backends(platform="darwin")


def test_unsupported_platform_is_refused():
    with pytest.raises(NoDisplayError, match="No capture backend for platform 'win32'"):
        get_backends(platform="win32")


async def test_point_at_on_a_retina_frame_through_the_tools(quartz, monkeypatch):
    """The whole path on the stand-in: capture_screen and point_at through the suite's tools (an
    in-process MCP client), mapped to points."""
    from mcp import Client

    from servers.hub import local
    from servers.settings import Settings
    from tests.support.inproc import in_process

    # The server's own process runs no Cocoa event loop, so no overlay here: the setting moves the pointer.
    monkeypatch.setattr(
        local, "get_backends", lambda **options: get_backends(platform="darwin", overlay=False)
    )
    async with in_process(Settings(servers=["screen", "pointer"], move_cursor=True)) as servers:
        async with Client(servers["screen"]) as client:
            captured = await client.call_tool("capture_screen", {"display": 1})
        assert captured.structured_content is not None, captured.content
        frame_id = captured.structured_content["frame_id"]
        assert (captured.structured_content["width"], captured.structured_content["height"]) == (1280, 720)
        async with Client(servers["pointer"]) as client:
            pointed = await client.call_tool("point_at", {"x": 640, "y": 360, "frame_id": frame_id})
    assert not pointed.is_error
    # 1920x1080 points at (-1920, -300) sent as 1280x720: 1.5 points per image pixel, centre +0.75.
    assert quartz.state["pointer"] == (-1920 + 960.75, -300 + 540.75)


def test_the_macos_extra_requires_pyobjc_whose_event_loop_stops_without_ending_the_process():
    """PyObjC < 10.3.2 ends the process when the client's event loop stops (pyobjc#593)."""
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    extra = [Requirement(line) for line in project["optional-dependencies"]["macos"]]
    pyobjc = {canonicalize_name(r.name): r for r in extra if canonicalize_name(r.name).startswith("pyobjc")}
    # Quartz for capture, pointer and the hotkey tap; Cocoa for AppKit and PyObjCTools.AppHelper.
    assert {"pyobjc-core", "pyobjc-framework-quartz", "pyobjc-framework-cocoa"} <= set(pyobjc)
    for name, requirement in pyobjc.items():
        assert not requirement.specifier.contains("10.3.1"), name
        assert requirement.specifier.contains("10.3.2") and requirement.specifier.contains("12.0"), name
        assert requirement.marker is not None and requirement.marker.evaluate({"sys_platform": "darwin"})
    # pynput's macOS listener can abort the process (keyboard-layout calls off the main thread).
    assert "pynput" not in {canonicalize_name(r.name) for r in extra}
