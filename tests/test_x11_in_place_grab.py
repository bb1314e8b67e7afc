"""X11 grabs read mss's shared-memory segment in place: the same pixels as mss's copying grab,
no copy, each view let go by the next grab, and a reset that copes with a frame still mapped."""

from __future__ import annotations

import io
import mmap
from collections.abc import Iterator

import mss
import pytest
from PIL import Image

from capture_client import pipeline
from capture_client.backends.x11 import X11Screen
from tests.support.xserver import XServer, busy_ui_picture, running_xvfb
from tests.support.xvnc import x_client_count
from wire.geometry import Rect

pytestmark = pytest.mark.timeout(60)

WIDTH, HEIGHT = 640, 400


@pytest.fixture(scope="module")
def xserver() -> Iterator[XServer]:
    picture = busy_ui_picture(WIDTH, HEIGHT)
    picture.paste((0, 0, 0), (100, 100, 300, 200))  # a dark pane: a black region of a lit screen
    with running_xvfb(WIDTH, HEIGHT, picture=picture) as server:
        yield server


def bytes_like(pixels: bytes | bytearray | memoryview) -> bytes:
    return pixels  # type: ignore[return-value]  # Pillow maps any buffer; its stubs name bytes


def mss_pixels(display: str, left: int, top: int, width: int, height: int) -> bytes:
    with mss.MSS(display=display) as sct:
        return bytes(sct.grab({"left": left, "top": top, "width": width, "height": height}).raw)


def test_grabs_after_the_first_are_views_of_the_shared_segment_with_mss_pixels(xserver):
    screen = X11Screen(xserver.display)
    try:
        whole = Rect(x=0, y=0, width=WIDTH, height=HEIGHT)
        screen.grab(whole)  # mss's own grab: it finds out that shared memory works here
        raw = screen.grab(whole)
        assert isinstance(raw.pixels, memoryview) and isinstance(raw.pixels.obj, mmap.mmap)
        assert bytes(raw.pixels) == mss_pixels(xserver.display, 0, 0, WIDTH, HEIGHT)
        expected = xserver.shown.convert("RGB").tobytes("raw", "BGRX")
        # The X padding byte is not defined: compare B, G, R.
        got = bytes(raw.pixels)
        assert [got[i::4] for i in range(3)] == [expected[i::4] for i in range(3)]

        part = screen.grab(Rect(x=37, y=50, width=101, height=33))
        assert isinstance(part.pixels, memoryview) and len(part.pixels) == 101 * 33 * 4
        assert (part.width, part.height, part.stride) == (101, 33, 404)
        assert bytes(part.pixels) == mss_pixels(xserver.display, 37, 50, 101, 33)
    finally:
        screen.close()


def test_the_next_grab_lets_go_of_the_last_view_so_stale_pixels_cannot_be_read(xserver):
    screen = X11Screen(xserver.display)
    try:
        area = Rect(x=0, y=0, width=64, height=64)
        screen.grab(area)
        old = screen.grab(area)
        screen.grab(area)
        with pytest.raises(ValueError, match="released"):
            bytes(old.pixels)
    finally:
        screen.close()


def test_a_reset_while_an_image_still_maps_the_frame_closes_the_x_connection(xserver):
    before = x_client_count(xserver)
    screen = X11Screen(xserver.display)
    area = Rect(x=0, y=0, width=WIDTH, height=HEIGHT)
    screen.grab(area)
    raw = screen.grab(area)
    pixels = bytes_like(raw.pixels)
    mapped = Image.frombuffer("RGBX", (raw.width, raw.height), pixels, "raw", "RGBX", raw.stride, 1)
    screen.reset()  # the segment cannot be unmapped under `mapped`; the X connection still closes
    assert x_client_count(xserver) == before
    assert mapped.getpixel((0, 0)) is not None  # still readable: nothing was unmapped under it
    screen.grab(area)  # a new mss instance, its own segment
    again = screen.grab(area)
    assert bytes(again.pixels) == mss_pixels(xserver.display, 0, 0, WIDTH, HEIGHT)
    screen.close()
    assert x_client_count(xserver) == before


def test_a_dark_region_is_encoded_from_its_own_pixels_after_the_whole_display_was_checked(xserver):
    screen = X11Screen(xserver.display)
    try:
        screen.grab(Rect(x=0, y=0, width=8, height=8))  # shared memory in use from here on
        frame = pipeline.capture(screen, region=Rect(x=120, y=120, width=100, height=50), format="png")
    finally:
        screen.close()
    image = Image.open(io.BytesIO(frame.data)).convert("RGB")
    assert image.size == (100, 50) and image.getextrema() == ((0, 0), (0, 0), (0, 0))
