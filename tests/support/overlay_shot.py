"""The README's overlay picture: a real X server showing a busy UI, the overlay pointing at it,
photographed with `xwd` (so it is the screen's pixels, not the suite's capture, which never shows
the overlay). `scripts/overlay-screenshot.py` writes it to docs/overlay.png; a test makes it too."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from capture_client.overlay.x11 import X11Overlay
from tests.support.xserver import busy_ui_picture, running_xvfb
from tests.support.xwd import screenshot
from wire.geometry import DisplayInfo

WIDTH, HEIGHT = 1280, 800
SPOT = (714, 360)
CROP = (SPOT[0] - 300, SPOT[1] - 120, SPOT[0] + 220, SPOT[1] + 120)


def overlay_screenshot(path: Path, label: str = "Mesh") -> Image.Image:
    picture = busy_ui_picture(WIDTH, HEIGHT)
    with running_xvfb(WIDTH, HEIGHT, picture=picture) as server:
        overlay = X11Overlay(server.display)
        try:
            display = DisplayInfo(
                index=0,
                x=0,
                y=0,
                width=WIDTH,
                height=HEIGHT,
                pixel_width=WIDTH,
                pixel_height=HEIGHT,
                primary=True,
            )
            overlay.point(*SPOT, label, [display])
            shot = screenshot(server.display).crop(CROP)
        finally:
            overlay.close()
    shot.save(path, optimize=True)
    return shot
