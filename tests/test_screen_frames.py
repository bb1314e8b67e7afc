"""The frame store (ids, TTL, count) and the capture pipeline's pure steps, on synthetic pixels."""

import base64
import io

import pytest
from PIL import Image, ImageChops

from capture_client.backends.base import PixelFormat, RawCapture
from capture_client.pipeline import encode, is_black, reduce_factor, to_rgb_scaled
from servers.hub.frames import FrameStore, UnknownFrameError
from tests.support.xserver import busy_ui_picture
from wire.geometry import FrameGeometry, Rect, scaled_size

GEOMETRY = FrameGeometry(
    display=0,
    area=Rect(x=0, y=0, width=100, height=50),
    capture_width=100,
    capture_height=50,
    image_width=100,
    image_height=50,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_frame_ids_are_unguessable_short_tokens():
    store = FrameStore(ttl=60, max_frames=1000)
    ids = {store.put(GEOMETRY, "local").frame_id for _ in range(500)}
    assert len(ids) == 500
    assert all(i.startswith("f_") and 12 <= len(i) <= 20 for i in ids)
    stored = store.get(next(iter(ids)))
    assert stored.geometry == GEOMETRY and stored.device_id == "local"


def test_frames_expire_after_the_ttl_and_say_so():
    clock = Clock()
    store = FrameStore(ttl=30, max_frames=10, clock=clock)
    old = store.put(GEOMETRY, "local").frame_id
    clock.now += 29
    assert store.get(old).frame_id == old
    clock.now += 2
    with pytest.raises(UnknownFrameError, match=r"has expired \(frames are kept 30 s"):
        store.get(old)
    assert len(store) == 0


def test_only_the_latest_frames_are_kept():
    store = FrameStore(ttl=300, max_frames=3)
    ids = [store.put(GEOMETRY, "local").frame_id for _ in range(5)]
    assert len(store) == 3
    for gone in ids[:2]:
        with pytest.raises(UnknownFrameError, match="expired"):
            store.get(gone)
    assert store.get(ids[-1]).frame_id == ids[-1]


def test_an_id_never_issued_is_unknown():
    store = FrameStore(ttl=300, max_frames=3)
    with pytest.raises(UnknownFrameError, match=r"is unknown\. Use the frame_id"):
        store.get("f_made_up")


def test_a_frame_of_an_earlier_layout_epoch_is_refused_with_what_to_do():
    from servers.hub.device import Device, new_layout_epoch
    from servers.hub.frames import StaleLayoutError, check_layout

    class Screen(Device):
        id = "mac-1"
        kind = "relay"

        async def list_displays(self):
            raise NotImplementedError

        async def capture(self, request):
            raise NotImplementedError

        async def move_pointer(self, x, y, *, label=None, move_cursor=False):
            raise NotImplementedError

        async def highlight(self, area, label, *, move_cursor=False):
            raise NotImplementedError

    device = Screen()
    device.layout_epoch = new_layout_epoch()
    store = FrameStore(ttl=300, max_frames=10)
    current = store.put(GEOMETRY, "mac-1", device.layout_epoch)
    check_layout(store.get(current.frame_id), device)  # same epoch: usable
    device.layout_epoch = new_layout_epoch()
    assert device.layout_epoch != current.layout_epoch
    with pytest.raises(StaleLayoutError, match=r"taken before the display layout of device 'mac-1' changed"):
        check_layout(store.get(current.frame_id), device)


def raw_from(image: Image.Image, *, pad: int = 0, pixel_format: PixelFormat = "BGRX") -> RawCapture:
    """A buffer like a screen grab's (BGRX by default), optionally with padded rows (macOS does that)."""
    size = 3 if pixel_format == "RGB" else 4
    row = image.width * size + pad
    data = bytearray()
    pixels = image.convert("RGB").tobytes("raw", pixel_format)
    for y in range(image.height):
        data += pixels[y * image.width * size : (y + 1) * image.width * size] + b"\x07" * pad
    return RawCapture(
        pixels=data,
        width=image.width,
        height=image.height,
        stride=row,
        pixel_format=pixel_format,
        area=Rect(x=0, y=0, width=image.width, height=image.height),
    )


def unpacked_then_scaled(image: Image.Image, max_edge: int) -> Image.Image:
    """The plain way: the whole capture as RGB first, then box-reduce and resize to the target."""
    target = scaled_size(image.width, image.height, max_edge)
    factor = reduce_factor(image.size, target)
    scaled = image.convert("RGB").reduce(factor) if factor >= 2 else image.convert("RGB")
    return scaled if scaled.size == target else scaled.resize(target, Image.Resampling.BILINEAR)


@pytest.mark.parametrize("pixel_format", ["BGRX", "RGBX", "RGB"])
@pytest.mark.parametrize("size", [(1000, 700), (997, 613), (37, 21)])
@pytest.mark.parametrize("max_edge", [1280, 500, 333, 64])
def test_the_downscale_is_the_image_unpacking_first_would_give(pixel_format, size, max_edge):
    # Reduced in buffer order and reordered small, the result must be the very same pixels.
    image = busy_ui_picture(1000, 700).crop((0, 0, *size))
    raw = raw_from(image, pad=8, pixel_format=pixel_format)
    scaled = to_rgb_scaled(raw, max_edge)
    assert scaled.mode == "RGB"
    assert scaled.tobytes() == unpacked_then_scaled(image, max_edge).tobytes()
    # The image is the caller's own: the next grab may reuse the buffer.
    before = scaled.tobytes()
    raw.pixels[:] = bytes(len(raw.pixels))  # type: ignore[index]
    assert scaled.tobytes() == before


def test_black_frames_are_detected_and_content_is_not():
    assert is_black(raw_from(Image.new("RGB", (2560, 1600), (3, 3, 5))))
    # One small bright window on a black screen: the sparse sample may miss it, the denser one must not.
    lit = Image.new("RGB", (2560, 1600))
    lit.paste((200, 200, 200), (1001, 701, 1025, 720))
    assert not is_black(raw_from(lit))
    assert not is_black(raw_from(Image.new("RGB", (64, 40), (0, 0, 40))))  # dark blue is not black


def test_bgrx_with_padded_rows_converts_to_the_right_colours():
    image = Image.new("RGB", (33, 7), (250, 10, 20))
    image.paste((0, 128, 255), (0, 0, 10, 7))
    rgb = to_rgb_scaled(raw_from(image, pad=12), max_edge=1000)
    assert rgb.size == (33, 7)
    assert rgb.getpixel((0, 0)) == (0, 128, 255)
    assert rgb.getpixel((32, 6)) == (250, 10, 20)


@pytest.mark.parametrize(
    ("size", "max_edge", "expected"),
    [((2560, 1600), 1280, (1280, 800)), ((2879, 1799), 1280, (1280, 800)), ((1001, 601), 500, (500, 300))],
)
def test_downscale_hits_the_exact_target_size(size, max_edge, expected):
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    assert to_rgb_scaled(raw_from(image), max_edge).size == expected


@pytest.mark.parametrize(("fmt", "pil_format"), [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
def test_encodings_decode_back(fmt, pil_format):
    image = Image.linear_gradient("L").convert("RGB")
    decoded = Image.open(io.BytesIO(encode(image, fmt, 80)))
    assert decoded.format == pil_format and decoded.size == image.size


def test_odd_sizes_reduce_by_whole_blocks_exactly():
    image = Image.effect_mandelbrot((2560, 1601), (-2, -1.2, 1, 1.2), 60).convert("RGB")
    scaled = to_rgb_scaled(raw_from(image, pad=8), 1280)
    assert scaled.size == (1280, 801)
    assert ImageChops.difference(scaled, image.reduce(2)).getbbox() is None


@pytest.mark.parametrize(
    ("size", "target", "factor"),
    [
        ((2560, 1601), (1280, 801), 2),
        ((2560, 1600), (1280, 800), 2),
        ((2880, 1800), (1568, 980), 1),
        ((5120, 2880), (1280, 720), 4),
        ((1001, 601), (500, 300), 2),
        ((100, 50), (100, 50), 1),
    ],
)
def test_reduce_factor_never_undershoots_the_target(size, target, factor):
    assert reduce_factor(size, target) == factor


def test_capture_regions_are_relative_to_the_chosen_display():
    from servers.hub.device import CaptureRequestError
    from servers.screen.describe import region_on_display
    from wire.geometry import DisplayInfo

    layout = [
        DisplayInfo(
            index=0, x=0, y=0, width=1440, height=900, pixel_width=2880, pixel_height=1800, primary=True
        ),
        DisplayInfo(index=1, x=-1920, y=-300, width=1920, height=1080, pixel_width=1920, pixel_height=1080),
    ]
    region = Rect(x=10, y=20, width=100, height=50)
    assert region_on_display(layout, 1, region) == Rect(x=-1910, y=-280, width=100, height=50)
    assert region_on_display(layout, None, region) == region  # the primary display starts at 0, 0
    assert region_on_display(layout, "all", region) == Rect(x=-1910, y=-280, width=100, height=50)
    with pytest.raises(CaptureRequestError, match="does not fit the display, which is 1440x900"):
        region_on_display(layout, 0, Rect(x=1400, y=0, width=100, height=50))
    with pytest.raises(CaptureRequestError, match="There is no display 7"):
        region_on_display(layout, 7, region)


def test_capture_code_imports_no_server_code_and_no_platform_library_up_front():
    import subprocess
    import sys

    probe = (
        "import sys, capture_client.pipeline, capture_client.backends, capture_client.backends.x11, "
        "capture_client.backends.macos\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('servers', 'Xlib', 'mss', 'Quartz')]\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == ""


def test_callers_of_one_frame_share_its_base64_text():
    from servers.screen.server import _Base64Memo

    memo = _Base64Memo(size=2)
    frames = [bytes([i]) * 1000 for i in range(3)]
    first = memo(frames[0])
    assert base64.b64decode(first) == frames[0]
    assert memo(frames[0]) is first  # encoded once for every caller of the same capture
    memo(frames[1])
    memo(frames[2])  # pushes the first out: kept only for the last few frames
    again = memo(frames[0])
    assert again == first and again is not first
