"""Image space <-> pointer space, on synthetic geometries no test machine has (Retina, negative origins)."""

import math

import pytest

from capture_client.pipeline import CaptureRequestError, target_area
from wire.geometry import (
    DisplayInfo,
    FrameGeometry,
    GeometryError,
    Rect,
    bounding_box,
    contains,
    image_area_to_pointer,
    image_to_pointer,
    pixel_at,
    pixel_rect,
    pointer_to_image,
    scaled_size,
)


def geometry(
    area: Rect, capture: tuple[int, int], image: tuple[int, int], display: int | None = 0
) -> FrameGeometry:
    return FrameGeometry(
        display=display,
        area=area,
        capture_width=capture[0],
        capture_height=capture[1],
        image_width=image[0],
        image_height=image[1],
    )


# A 1440x900-point Retina display (2880x1800 pixels) captured and sent at 1280x800.
RETINA = geometry(Rect(x=0, y=0, width=1440, height=900), (2880, 1800), (1280, 800))
# Left of the main display and above it: origin (-1920, -300), 1920x1080, sent at 1280x720.
LEFT = geometry(Rect(x=-1920, y=-300, width=1920, height=1080), (1920, 1080), (1280, 720), display=1)
LAYOUT = [
    DisplayInfo(index=0, x=0, y=0, width=1440, height=900, pixel_width=2880, pixel_height=1800, primary=True),
    DisplayInfo(index=1, x=-1920, y=-300, width=1920, height=1080, pixel_width=1920, pixel_height=1080),
    DisplayInfo(index=2, x=1440, y=0, width=1080, height=1920, pixel_width=1080, pixel_height=1920),
]


def test_retina_frame_maps_image_pixels_to_points_not_pixels():
    # The image is 1280 wide for 1440 points: 1.125 points per image pixel; Retina's 2x never shows.
    assert image_to_pointer(RETINA, 0, 0) == (0.5625, 0.5625)
    assert image_to_pointer(RETINA, 640, 400) == (720.5625, 450.5625)
    x, y = image_to_pointer(RETINA, 1279, 799)
    assert 1438 < x < 1440 and 898 < y < 900


def test_full_resolution_retina_zoom_maps_to_half_points():
    # A zoom at native pixels: 2 image pixels per point, so neighbouring pixels are half a point apart.
    zoom = geometry(Rect(x=100, y=50, width=200, height=100), (400, 200), (400, 200))
    assert image_to_pointer(zoom, 0, 0) == (100.25, 50.25)
    assert image_to_pointer(zoom, 1, 0) == (100.75, 50.25)
    assert image_to_pointer(zoom, 399, 199) == (299.75, 149.75)


def test_negative_origin_display_left_of_and_above_main():
    assert image_to_pointer(LEFT, 0, 0) == (-1920 + 0.75, -300 + 0.75)
    x, y = image_to_pointer(LEFT, 640, 360)
    assert (x, y) == (-960 + 0.75, 240 + 0.75)
    assert pixel_at(x, y, LEFT.area) == (-960, 240)


def test_all_displays_bounding_box_and_mapping():
    box = bounding_box(LAYOUT)
    assert box == Rect(x=-1920, y=-300, width=1920 + 1440 + 1080, height=1920 + 300)
    frame = geometry(box, (4440, 2220), (1280, 640), display=None)
    # Image pixel 0 is the top-left of the leftmost display, far into negative pointer space.
    x, y = image_to_pointer(frame, 0, 0)
    assert x < -1915 and y < -295
    assert target_area(LAYOUT, "all") == (None, box)


def test_pixel_centre_convention_on_a_2x_downscale():
    frame = geometry(Rect(x=0, y=0, width=2560, height=1600), (2560, 1600), (1280, 800))
    for i in (0, 1, 639, 640, 1279):
        x, _ = image_to_pointer(frame, i, 0)
        # Image pixel i covers screen pixels 2i and 2i+1; the centre is their shared edge, 2i+1.
        assert x == 2 * i + 1
        assert pixel_at(x, 0, frame.area)[0] == 2 * i + 1


def test_odd_sizes_round_trip_through_integer_pixels():
    # 1366x767 downscaled to 1000x562: factors that are not integers in either direction.
    frame = geometry(Rect(x=7, y=-3, width=1366, height=767), (1366, 767), (1000, 562))
    for i in (0, 1, 333, 500, 998, 999):
        for j in (0, 1, 280, 561):
            px, py = pixel_at(*image_to_pointer(frame, i, j), frame.area)
            assert 7 <= px < 7 + 1366 and -3 <= py < -3 + 767
            # The pointer's pixel, read back through its centre, shows in the same image pixel.
            assert pointer_to_image(frame, px + 0.5, py + 0.5) == (i, j)


def test_edge_points_stay_inside_the_captured_area():
    frame = geometry(Rect(x=0, y=0, width=1001, height=601), (1001, 601), (500, 300))
    x, y = image_to_pointer(frame, 499.99, 299.99)  # fractions past the last centre
    assert x <= 1001 and y <= 601
    assert pixel_at(x, y, frame.area) == (1000, 600)
    assert pixel_at(-5, 10_000, frame.area) == (0, 600)


@pytest.mark.parametrize(("x", "y"), [(-1, 0), (0, -0.01), (1280, 0), (0, 800), (math.nan, 1), (1, math.inf)])
def test_out_of_range_points_are_refused_with_the_valid_range(x, y):
    with pytest.raises(GeometryError, match=r"x must be 0\.\.1279 and y 0\.\.799"):
        image_to_pointer(RETINA, x, y)


def test_pointer_to_image_reports_none_outside_the_frame():
    assert pointer_to_image(LEFT, 10, 10) is None  # on the main display, not this one
    assert pointer_to_image(LEFT, -1920, -300) == (0, 0)
    assert pointer_to_image(RETINA, 720.5625, 450.5625) == (640, 400)


def test_zoom_area_maps_edges_not_centres():
    area = image_area_to_pointer(RETINA, 640, 400, 128, 80)
    assert area == Rect(x=720, y=450, width=144, height=90)
    area = image_area_to_pointer(LEFT, 0, 0, 1280, 720)
    assert area == LEFT.area


@pytest.mark.parametrize(
    ("x", "y", "w", "h", "match"),
    [
        (0, 0, 0, 10, "positive"),
        (0, 0, 10, -1, "positive"),
        (-1, 0, 10, 10, "does not fit"),
        (1200, 0, 100, 10, "does not fit"),
        (0, 790, 10, 11, "does not fit"),
    ],
)
def test_bad_zoom_areas_are_refused(x, y, w, h, match):
    with pytest.raises(GeometryError, match=match):
        image_area_to_pointer(RETINA, x, y, w, h)


def test_scaled_size_keeps_aspect_and_never_upscales():
    assert scaled_size(2560, 1600, 1280) == (1280, 800)
    assert scaled_size(2880, 1800, 1568) == (1568, 980)
    assert scaled_size(1080, 1920, 1280) == (720, 1280)
    assert scaled_size(400, 200, 1280) == (400, 200)
    assert scaled_size(5000, 3, 100) == (100, 1)


def test_target_area_picks_primary_and_checks_regions():
    assert target_area(LAYOUT) == (0, Rect(x=0, y=0, width=1440, height=900))
    assert target_area(LAYOUT, 1)[1].x == -1920
    region = Rect(x=-1000, y=0, width=100, height=100)
    assert target_area(LAYOUT, 1, region) == (1, region)
    with pytest.raises(CaptureRequestError, match="There is no display 3"):
        target_area(LAYOUT, 3)
    with pytest.raises(CaptureRequestError, match="not inside"):
        target_area(LAYOUT, 0, Rect(x=1400, y=0, width=100, height=100))


def test_contains_takes_the_edges_and_a_rounding_error_but_nothing_beyond():
    outer = Rect(x=-1920, y=-300, width=1920, height=1080)
    assert contains(outer, outer)  # a region that is the whole display
    tiny = 1e-9  # what float arithmetic leaves behind, well inside the slack
    for dx, dy, dw, dh in [(-tiny, 0, 0, 0), (0, -tiny, 0, 0), (0, 0, tiny, 0), (0, 0, 0, tiny)]:
        nudged = Rect(x=outer.x + dx, y=outer.y + dy, width=outer.width + dw, height=outer.height + dh)
        assert contains(outer, nudged), (dx, dy, dw, dh)
    past = 1e-3
    for dx, dy, dw, dh in [(-past, 0, 0, 0), (0, -past, 0, 0), (0, 0, past, 0), (0, 0, 0, past)]:
        beyond = Rect(x=outer.x + dx, y=outer.y + dy, width=outer.width + dw, height=outer.height + dh)
        assert not contains(outer, beyond), (dx, dy, dw, dh)
    # A small rectangle in the bottom-right corner, and the same one a pixel lower.
    assert contains(outer, Rect(x=-10, y=770, width=10, height=10))
    assert not contains(outer, Rect(x=-10, y=771, width=10, height=10))


def test_display_at_finds_the_display_under_a_point_edges_by_the_pixel_rule():
    from wire.geometry import DisplayInfo, display_at

    main = DisplayInfo(
        index=0, x=0, y=0, width=100, height=50, pixel_width=100, pixel_height=50, primary=True
    )
    left = DisplayInfo(index=1, x=-80, y=0, width=80, height=50, pixel_width=80, pixel_height=50)
    displays = [main, left]
    assert display_at(displays, 0, 0) is main and display_at(displays, 99.9, 49.9) is main
    assert display_at(displays, -1, 10) is left and display_at(displays, -80, 0) is left
    assert display_at(displays, 100, 10) is None and display_at(displays, 10, 50) is None
    # With slack (pointer-space rounding), a point just past the edge still lands on the display.
    assert display_at(displays, 100.5, 10, slack=1.0) is main
    assert display_at(displays, 101.5, 10, slack=1.0) is None


def test_pixel_rect_snaps_an_area_outwards_to_whole_device_pixels():
    assert pixel_rect(Rect(x=10, y=20, width=30, height=40)) == (10, 20, 30, 40)
    assert pixel_rect(Rect(x=10.5, y=20.25, width=30, height=0.5)) == (10, 20, 31, 1)
    assert pixel_rect(Rect(x=-3.5, y=0, width=1, height=1)) == (-4, 0, 2, 1)
    assert pixel_rect(Rect(x=10.5, y=20.25, width=30, height=40), 2.0) == (21, 40, 60, 81)
    assert pixel_rect(Rect(x=5.25, y=5.25, width=0.5, height=0.5)) == (5, 5, 1, 1)  # inside one pixel
