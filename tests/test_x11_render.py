"""X11 captures halved by the X server (RENDER): the same frames as Pillow's reduce of the full grab
(to within rounding), child windows included, odd edges and offsets exact, X resources not leaked,
and today's path whenever the server cannot (no RENDER, no shared memory)."""

from __future__ import annotations

import io
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from PIL import Image, ImageChops

from capture_client import pipeline
from capture_client.backends.base import DisplayChangedError, RawCapture, ScreenBackend
from capture_client.backends.x11 import X11Screen, open_xlib_display
from capture_client.backends.x11_render import format_for_visual, half_size, halving_passes
from tests.support.standin_backends import StandInScreen
from tests.support.xserver import (
    XServer,
    busy_ui_picture,
    running_xvfb,
    show_picture,
    start_x_server,
    xvfb_command,
)
from wire.geometry import Rect

pytestmark = pytest.mark.timeout(60)

WIDTH, HEIGHT = 1280, 800
CHILD = (301, 177, 257, 133)  # x, y, width, height: odd, so its edges fall inside 2x2 blocks
CHILD_COLOUR = 0xD02050
DARK_PANE = (701, 421, 1101, 701)  # left, top, right, bottom: black on a lit screen


class FullResolution(X11Screen):
    """Today's path: the backend offers no reduce, the pipeline reduces in Pillow."""

    def grab_reduced(self, area: Rect, factor: int) -> RawCapture | None:
        return None


class Counting(X11Screen):
    def __init__(self, display: str) -> None:
        super().__init__(display)
        self.reduced = 0

    def grab_reduced(self, area: Rect, factor: int) -> RawCapture | None:
        raw = super().grab_reduced(area, factor)
        self.reduced += raw is not None
        return raw


@contextmanager
def child_window(display: str, box: tuple[int, int, int, int], colour: int) -> Iterator[None]:
    """A mapped window over the root's picture: a capture must show it (the root's picture includes
    its children)."""
    from Xlib import X

    d = open_xlib_display(display)
    try:
        screen = d.screen()
        window = screen.root.create_window(
            *box, 0, screen.root_depth, X.InputOutput, X.CopyFromParent, background_pixel=colour
        )
        window.map()
        d.sync()
        yield
    finally:
        d.close()


@pytest.fixture(scope="module")
def xserver() -> Iterator[XServer]:
    picture = busy_ui_picture(WIDTH, HEIGHT)
    picture.paste((0, 0, 0), DARK_PANE)
    with (
        running_xvfb(WIDTH, HEIGHT, picture=picture) as server,
        child_window(server.display, CHILD, CHILD_COLOUR),
    ):
        yield server


def decoded(frame: pipeline.EncodedFrame) -> Image.Image:
    return Image.open(io.BytesIO(frame.data)).convert("RGB")


def max_difference(a: Image.Image, b: Image.Image) -> int:
    assert a.size == b.size
    return max(high for _, high in ImageChops.difference(a, b).getextrema())  # type: ignore[misc]


# --- pure -----------------------------------------------------------------------------------


def sampled(step, i: int, j: int) -> tuple[set[int], set[int]]:
    """The source columns and rows a bilinear sample of destination pixel (i, j) reads with weight."""

    def axis(scale: int, offset: int, n: int) -> set[int]:
        centre = scale * (n + 0.5) + offset  # source coordinates; pixel c spans [c, c + 1)
        low = int(centre - 0.5)
        return {low} if centre - 0.5 == low else {low, low + 1}

    return axis(step.scale_x, step.offset_x, i), axis(step.scale_y, step.offset_y, j)


@pytest.mark.parametrize(
    ("left", "top", "width", "height"),
    [(0, 0, 8, 6), (3, 5, 7, 6), (1, 2, 8, 5), (5, 7, 9, 11), (4, 4, 1, 1), (0, 9, 1, 6)],
)
def test_halving_passes_tile_the_half_image_each_pixel_from_its_own_block(left, top, width, height):
    covered: dict[tuple[int, int], tuple[set[int], set[int]]] = {}
    for step in halving_passes(left, top, width, height):
        for i in range(step.dst_x, step.dst_x + step.width):
            for j in range(step.dst_y, step.dst_y + step.height):
                assert (i, j) not in covered
                covered[(i, j)] = sampled(step, i, j)
    cols, rows = half_size(width, height)
    assert set(covered) == {(i, j) for i in range(cols) for j in range(rows)}
    for (i, j), (xs, ys) in covered.items():
        # Pillow's reduce(2): the block's pixels that lie inside the area, nothing outside it.
        assert xs == {left + 2 * i, left + 2 * i + 1} & set(range(left, left + width))
        assert ys == {top + 2 * j, top + 2 * j + 1} & set(range(top, top + height))


def test_an_even_area_is_one_composite_with_the_area_origin_in_its_transform():
    (step,) = halving_passes(37, 21, 2560, 1600)
    one = 1 << 16
    assert (step.dst_x, step.dst_y, step.width, step.height) == (0, 0, 1280, 800)
    assert step.matrix() == (2 * one, 0, 37 * one, 0, 2 * one, 21 * one, 0, 0, one)


def test_the_root_visual_s_picture_format_is_found_or_none():
    assert format_for_visual([(0x21, 0x24), (0x22, 0x25)], 0x22) == 0x25
    assert format_for_visual([(0x21, 0x24)], 0x99) is None


# --- on a real X server ---------------------------------------------------------------------

CASES = [
    pytest.param(None, 640, id="whole display"),
    pytest.param(Rect(x=3, y=5, width=701, height=499), 350, id="odd size, odd offset, then a resize"),
    pytest.param(Rect(x=579, y=301, width=701, height=499), 350, id="odd size at the screen's corner"),
    pytest.param(Rect(x=240, y=101, width=400, height=300), 200, id="even size, odd offset"),
    pytest.param(Rect(x=10.5, y=20.25, width=600.5, height=400), 300, id="fractional region"),
]


@pytest.mark.parametrize(("region", "max_edge"), CASES)
def test_a_halved_capture_is_today_s_frame_to_within_rounding(xserver, region, max_edge):
    fast, full = Counting(xserver.display), FullResolution(xserver.display)
    try:
        got = pipeline.capture(fast, region=region, max_edge=max_edge, format="png")
        expected = pipeline.capture(full, region=region, max_edge=max_edge, format="png")
    finally:
        fast.close()
        full.close()
    assert fast.reduced == 1
    assert got.geometry == expected.geometry  # same area, capture size (full resolution) and image size
    assert max_difference(decoded(got), decoded(expected)) <= 1


def test_a_child_window_over_the_root_is_in_the_halved_capture(xserver):
    screen = Counting(xserver.display)
    try:
        x, y, width, height = CHILD
        frame = pipeline.capture(screen, max_edge=640, format="png")
    finally:
        screen.close()
    assert screen.reduced == 1
    inside = decoded(frame).crop(((x + 1) // 2, (y + 1) // 2, (x + width) // 2, (y + height) // 2))
    red, green, blue = CHILD_COLOUR >> 16, (CHILD_COLOUR >> 8) & 0xFF, CHILD_COLOUR & 0xFF
    assert inside.getextrema() == ((red, red), (green, green), (blue, blue))


def test_full_resolution_captures_are_not_asked_of_the_server(xserver):
    screen = Counting(xserver.display)
    try:
        region = Rect(x=101, y=357, width=300, height=200)  # clear of the child window
        frame = pipeline.capture(screen, region=region, format="png")  # 300x200 fits: factor 1
        zoomed = pipeline.capture(screen, region=region, max_edge=250, format="png")  # a resize only
    finally:
        screen.close()
    assert screen.reduced == 0
    assert decoded(frame).tobytes() == xserver.shown.convert("RGB").crop((101, 357, 401, 557)).tobytes()
    assert decoded(zoomed).size == (250, 167)


def test_the_multi_monitor_layout_is_halved_per_display_and_whole():
    with running_xvfb(1280, 512, picture=busy_ui_picture(1280, 512)) as server:
        for args in (("left", "640/170x512/135+0+0", "screen"), ("right", "640/170x512/135+640+0", "none")):
            subprocess.run(
                ["xrandr", "-d", server.display, "--setmonitor", *args],
                check=True,
                capture_output=True,
                timeout=15,
            )
        fast, full = Counting(server.display), FullResolution(server.display)
        areas = []
        try:
            cases: list[tuple[pipeline.DisplaySelector, int]] = [(1, 320), ("all", 640)]
            for display, max_edge in cases:
                got = pipeline.capture(fast, display=display, max_edge=max_edge, format="png")
                expected = pipeline.capture(full, display=display, max_edge=max_edge, format="png")
                assert got.geometry == expected.geometry
                assert max_difference(decoded(got), decoded(expected)) <= 1
                areas.append(got.geometry.area)
        finally:
            fast.close()
            full.close()
    assert fast.reduced == 2
    assert areas == [Rect(x=640, y=0, width=640, height=512), Rect(x=0, y=0, width=1280, height=512)]


def server_resources(display: str) -> Counter[str]:
    """Every X client's resources by type (X-Resource), e.g. PIXMAP and PICTURE."""
    d = open_xlib_display(display)
    try:
        counts: Counter[str] = Counter()
        for client in d.res_query_clients().clients:
            for kind in d.res_query_client_resources(client.resource_base).types:
                counts[d.get_atom_name(kind.resource_type)] += kind.count
        return counts
    finally:
        d.close()


def test_changing_sizes_and_resets_leave_no_pixmap_or_picture_behind(xserver):
    screen = X11Screen(xserver.display)
    try:
        assert screen.grab_reduced(Rect(x=0, y=0, width=64, height=64), 2) is not None
        settled = server_resources(xserver.display)
        assert settled["PICTURE"] >= 2 and settled["PIXMAP"] >= 1
        for size in range(100, 1300, 100):  # each bigger than the last: a new pixmap each time
            assert screen.grab_reduced(Rect(x=0, y=0, width=size, height=size * 5 // 8), 2) is not None
            screen.grab_reduced(Rect(x=1, y=1, width=33, height=17), 2)  # smaller: the pixmap is kept
        assert server_resources(xserver.display) == settled
        for _ in range(5):
            screen.reset()
            assert screen.grab_reduced(Rect(x=0, y=0, width=WIDTH, height=HEIGHT), 2) is not None
        assert server_resources(xserver.display) == settled
    finally:
        screen.close()


def test_an_area_off_the_screen_or_a_refused_composite_is_a_display_change(xserver):
    screen = X11Screen(xserver.display)
    try:
        with pytest.raises(DisplayChangedError):
            screen.grab(Rect(x=1200, y=0, width=200, height=100))
        with pytest.raises(DisplayChangedError, match="not inside the screen"):
            screen.grab_reduced(Rect(x=1200, y=0, width=200, height=100), 2)
        screen.reset()
        assert screen.grab_reduced(Rect(x=0, y=0, width=64, height=64), 2) is not None
        # The server forgets the target picture under the scaler (as if the display changed).
        state = screen._half._state  # reaching in: the only way to provoke a BadPicture
        assert state is not None
        state.requests.free_picture(state.impl.conn, state.target).check(state.impl.conn)
        with pytest.raises(DisplayChangedError, match="Capture of 64x64"):
            screen.grab_reduced(Rect(x=0, y=0, width=64, height=64), 2)
        screen.reset()  # what callers do after a DisplayChangedError
        assert screen.grab_reduced(Rect(x=0, y=0, width=64, height=64), 2) is not None
    finally:
        screen.close()


@pytest.mark.parametrize("extension", ["RENDER", "MIT-SHM"])
def test_without_render_or_shared_memory_the_frame_is_reduced_in_process(extension):
    server = start_x_server([*xvfb_command(640, 400), "-extension", extension])
    try:
        show_picture(server, busy_ui_picture(640, 400))
        screen = Counting(server.display)
        try:
            assert screen.grab_reduced(Rect(x=0, y=0, width=640, height=400), 2) is None
            frame = pipeline.capture(screen, max_edge=320, format="png")
        finally:
            screen.close()
    finally:
        server.stop()
    assert screen.reduced == 0
    assert frame.geometry.capture_width == 640 and frame.geometry.image_width == 320
    expected = busy_ui_picture(640, 400).convert("RGB").reduce(2)
    assert decoded(frame).tobytes() == expected.tobytes()


def test_a_dark_region_is_halved_from_its_own_pixels_after_the_whole_display_was_checked(xserver):
    screen = Counting(xserver.display)
    left, top, right, bottom = DARK_PANE
    region = Rect(x=left + 1, y=top + 1, width=right - left - 2, height=bottom - top - 2)
    try:
        # The whole display's grab (lit) lands between the region's two halved grabs in the segment.
        frame = pipeline.capture(screen, region=region, max_edge=199, format="png")
    finally:
        screen.close()
    assert screen.reduced == 2
    image = decoded(frame)
    assert image.size == (199, 139) and image.getextrema() == ((0, 0), (0, 0), (0, 0))


def test_a_black_screen_is_found_black_in_the_halved_capture():
    with running_xvfb(320, 200, picture=Image.new("RGB", (320, 200), (3, 3, 3))) as server:
        screen = Counting(server.display)
        try:
            with pytest.raises(pipeline.BlackFrameError):
                pipeline.capture(screen, max_edge=160)
        finally:
            screen.close()
    assert screen.reduced == 1


class OtherPixelGrid(StandInScreen):
    """A backend whose reduced grab covers more pixels than the layout said (a scale it got wrong)."""

    def grab_reduced(self, area: Rect, factor: int) -> RawCapture | None:
        w, h = int(area.width), int(area.height)
        return RawCapture(
            bytes(w * h * 4), w, h, w * 4, "BGRX", area, reduced_by=2, source_size=(2 * w, 2 * h)
        )


def test_a_reduced_grab_the_image_size_does_not_call_for_is_replaced_by_a_whole_grab():
    screen: ScreenBackend = OtherPixelGrid(640, 400)
    frame = pipeline.capture(screen, max_edge=320, format="png")
    assert isinstance(screen, OtherPixelGrid) and screen.grabs == 1  # the stand-in's pixels: all at 128
    assert frame.geometry.capture_width == 640 and decoded(frame).getextrema()[0] == (128, 128)


def test_a_connection_sets_up_only_the_extensions_it_names(xserver):
    """python-xlib queries every extension it knows at connect unless told which ones are used; the
    narrowing is per connection (the next one sees them all again)."""
    narrow = open_xlib_display(xserver.display, ("RANDR",))
    core = open_xlib_display(xserver.display, ())
    every = open_xlib_display(xserver.display)
    try:
        assert narrow.extensions == ["RANDR"] and narrow.has_extension("RANDR")
        assert core.extensions == [] and core.screen().root.get_geometry().width == WIDTH
        assert {"RANDR", "XTEST", "SHAPE", "RECORD", "Composite", "DAMAGE"} <= set(every.extensions)
    finally:
        for d in (narrow, core, every):
            d.close()
