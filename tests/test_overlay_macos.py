"""The macOS overlay and ScreenCaptureKit capture against PyObjC stand-ins (tests/support/pyobjc.py):
window level, collection behaviour, click-through, one window per screen, AppKit's flipped
coordinates, everything on the main run loop; the SCK filter leaves our windows out; CoreGraphics
takes over when SCK is missing, refuses or does not answer."""

from __future__ import annotations

import io
import sys

import pytest
from PIL import Image

from capture_client import pipeline
from capture_client.backends import get_backends, macos_sck
from capture_client.backends.macos import MacScreen
from capture_client.overlay import macos as mac_overlay
from capture_client.overlay import pointing
from capture_client.overlay.macos import COLLECTION_BEHAVIOUR, MacOverlay
from tests.support.pyobjc import MainRunLoop, overlay_parts, run_main_loop_while, screen_capture_kit
from tests.test_backends_macos import FakeImage, make_quartz
from wire.geometry import DisplayInfo, Rect

# The layout of test_backends_macos: a 1440x900-point Retina main display and a 1920x1080 display
# left of and above it (pointer space origin (-1920, -300); AppKit origin y = 900 - (-300) - 1080).
MAIN = DisplayInfo(
    index=0, x=0, y=0, width=1440, height=900, pixel_width=2880, pixel_height=1800, primary=True
)
LEFT = DisplayInfo(index=1, x=-1920, y=-300, width=1920, height=1080, pixel_width=1920, pixel_height=1080)
SCREENS = [((0, 0, 1440, 900), 2.0), ((-1920, 120, 1920, 1080), 1.0)]
SCK_DISPLAYS = [(69733378, (0, 0, 1440, 900)), (4280324, (-1920, -300, 1920, 1080))]
PURPLE = (120, 40, 160)


@pytest.fixture
def loop() -> MainRunLoop:
    return MainRunLoop()


def test_one_click_through_window_per_screen_above_everything_on_every_space(loop):
    parts = overlay_parts(loop, SCREENS)
    overlay = MacOverlay(modules=parts)
    run_main_loop_while(loop, lambda: overlay.point(100, 100, "Save", [MAIN, LEFT]))
    windows = list(parts["AppKit"].server.windows.values())
    assert len(windows) == 2 and [w.rect.origin.x for w in windows] == [0, -1920]
    for w in windows:
        s = w.settings
        assert s["Level"] == 1000  # NSScreenSaverWindowLevel: above full-screen apps
        assert s["IgnoresMouseEvents"] is True and s["Opaque"] is False and s["HasShadow"] is False
        assert s["BackgroundColor"] == "clearColor" and w.style == 0 and w.backing == 2
        assert s["CollectionBehavior"] == COLLECTION_BEHAVIOUR == (1 | 16 | 256)
        assert w.ordered_in
    assert overlay.window_ids() == sorted(parts["AppKit"].server.windows)


def test_the_pointer_layer_is_placed_in_appkit_coordinates_on_the_right_screen(loop):
    parts = overlay_parts(loop, SCREENS)
    overlay = MacOverlay(modules=parts)

    def point_twice():
        overlay.point(100, 100, None, [MAIN, LEFT])
        first = overlay.view
        overlay.point(-1000, -200, None, [MAIN, LEFT])
        return first, overlay.view

    first, second = run_main_loop_while(loop, point_twice)
    main_window, left_window = parts["AppKit"].server.windows.values()
    main_layer, left_layer = main_window.content.root.sublayers[0], left_window.content.root.sublayers[0]
    assert main_layer.props["GeometryFlipped"] is True
    # The second point is on the left screen: only its window shows the layer.
    assert main_layer.props["Hidden"] is True and left_layer.props["Hidden"] is False
    box = second.box
    # Pointer space y down from the main screen's top; AppKit y up from its bottom (900 high).
    appkit_y = 900 - box.y - box.height
    (x, y), (w, h) = left_layer.props["Frame"]
    assert (x, y) == (box.x + 1920, appkit_y - 120) and (w, h) == (box.width, box.height)
    tip = second.sprite.arrow[0]
    assert (box.x + tip[0], box.y + tip[1]) == (-1000, -200)
    arrow = left_layer.sublayers[0]
    assert arrow.props["Path"][0] == ("move", *tip) and arrow.props["ContentsScale"] == 1.0
    assert first.at == (100, 100)


def test_without_the_cocoa_event_loop_the_overlay_says_so_and_nothing_moves(loop, monkeypatch):
    monkeypatch.setattr(mac_overlay, "MAIN_WAIT", 0.2)
    parts = overlay_parts(loop, SCREENS)
    q = make_quartz()
    monkeypatch.setitem(sys.modules, "Quartz", q)
    backends = get_backends(platform="darwin", overlay=False)
    backends = type(backends)(backends.screen, backends.pointer, "macos", MacOverlay(modules=parts))
    done = pointing.point(backends, [MAIN, LEFT], 100, 100)  # nobody runs the main run loop
    assert done.overlay is False and done.pointer_moved is False
    assert done.note is not None and "Cocoa event loop" in done.note
    assert q.state["pointer"] == (0.0, 0.0)


def sck_image(config) -> FakeImage:
    return FakeImage(Image.new("RGB", (config.values["Width"], config.values["Height"]), PURPLE))


def colour_of(screen, region: Rect) -> tuple[int, int, int]:
    frame = pipeline.capture(screen, display=1 if region.x < 0 else 0, region=region, format="png")
    return Image.open(io.BytesIO(frame.data)).convert("RGB").getpixel((2, 2))  # type: ignore[return-value]


def test_screencapturekit_comes_first_and_leaves_the_overlay_windows_out(loop, monkeypatch):
    q = make_quartz()
    monkeypatch.setitem(sys.modules, "Quartz", q)
    parts = overlay_parts(loop, SCREENS)
    overlay = MacOverlay(modules=parts)
    sc = screen_capture_kit(SCK_DISPLAYS, parts["AppKit"].server, sck_image)
    screen = MacScreen(overlay=overlay, sck=sc)
    assert colour_of(screen, Rect(x=10, y=10, width=100, height=50)) == PURPLE  # before any overlay
    run_main_loop_while(loop, lambda: overlay.point(100, 100, "Save", [MAIN, LEFT]))
    region = Rect(x=-1000, y=-200, width=300, height=100)
    assert colour_of(screen, region) == PURPLE
    _, content_filter, config = sc.calls[-1]  # type: ignore[attr-defined]
    assert sorted(content_filter.excluded) == overlay.window_ids() and len(overlay.window_ids()) == 2
    assert content_filter.display.displayID() == 4280324
    # The source rectangle is display-local points; the size is the display's pixels.
    source = config.values["SourceRect"]
    assert (source.origin.x, source.origin.y, source.size.width, source.size.height) == (920, 100, 300, 100)
    assert (config.values["Width"], config.values["Height"]) == (300, 100)
    assert config.values["ShowsCursor"] is False and config.values["PixelFormat"] == 0x42475241
    screen.grab(Rect(x=0, y=0, width=100, height=50))
    _, _, retina = sc.calls[-1]  # type: ignore[attr-defined]
    assert (retina.values["Width"], retina.values["Height"]) == (200, 100)  # 2x on the Retina display
    assert not [c for c in q.calls if c[0] == "CGWindowListCreateImage"]


@pytest.mark.parametrize("answer", ["error", "never"])
def test_when_screencapturekit_refuses_or_hangs_coregraphics_takes_the_frame(monkeypatch, answer):
    monkeypatch.setattr(macos_sck, "WAIT", 0.2)
    q = make_quartz()
    monkeypatch.setitem(sys.modules, "Quartz", q)
    sc = screen_capture_kit(SCK_DISPLAYS, None, sck_image, answer=answer)
    screen = MacScreen(sck=sc)
    screen._sck._wait = 0.2  # type: ignore[union-attr]  # bounded, whatever the default
    assert colour_of(screen, Rect(x=10, y=10, width=100, height=50)) == (200, 30, 30)  # CG's red
    assert [c[0] for c in q.calls].count("CGWindowListCreateImage") == 1


def test_without_screencapturekit_coregraphics_is_used(monkeypatch):
    q = make_quartz()
    monkeypatch.setitem(sys.modules, "Quartz", q)
    monkeypatch.setitem(sys.modules, "ScreenCaptureKit", None)  # `import ScreenCaptureKit` fails
    screen = get_backends(platform="darwin").screen
    assert colour_of(screen, Rect(x=10, y=10, width=100, height=50)) == (200, 30, 30)


def test_the_macos_extra_pins_screencapturekit_like_the_other_pyobjc_packages():
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    extra = {
        Requirement(line).name.lower(): Requirement(line)
        for line in project["optional-dependencies"]["macos"]
    }
    sck = extra["pyobjc-framework-screencapturekit"]
    assert str(sck.specifier) == str(extra["pyobjc-framework-quartz"].specifier)
    assert sck.marker is not None and sck.marker.evaluate({"sys_platform": "darwin"})


def test_a_new_screen_layout_gets_new_windows(loop):
    parts = overlay_parts(loop, SCREENS)
    overlay = MacOverlay(modules=parts)
    run_main_loop_while(loop, lambda: overlay.point(100, 100, None, [MAIN, LEFT]))
    first = overlay.window_ids()
    # The left display is unplugged: AppKit now reports the main screen only.
    parts["AppKit"].NSScreen.screens = lambda: [parts["AppKit"].NSScreen_main]
    run_main_loop_while(loop, lambda: overlay.point(100, 100, None, [MAIN]))
    assert len(overlay.window_ids()) == 1 and not set(overlay.window_ids()) & set(first)
    assert sorted(parts["AppKit"].server.windows) == overlay.window_ids()  # the old ones ordered out
