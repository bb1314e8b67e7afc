"""The user's side of an X screen, for overlay tests: where xdotool says the mouse is, a click sent
through xdotool, and a window that records the clicks it receives."""

from __future__ import annotations

import select
import subprocess
import time
from typing import Any

from PIL import Image

from wire.geometry import Rect


def mouse_location(display: str) -> tuple[int, int]:
    out = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
        env={"DISPLAY": display},
    ).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["X"]), int(values["Y"])


def click_at(display: str, x: int, y: int) -> None:
    subprocess.run(
        ["xdotool", "mousemove", "--sync", str(x), str(y), "click", "1"],
        capture_output=True,
        timeout=10,
        check=True,
        env={"DISPLAY": display},
    )


class ClickRecorder:
    """A plain X window (python-xlib, its own connection) that records the button presses it gets."""

    def __init__(self, display: str, area: Rect, colour: int = 0xF0F0F0) -> None:
        from Xlib import X

        from capture_client.backends.x11 import open_xlib_display

        self._d: Any = open_xlib_display(display)
        root = self._d.screen().root
        self.window = root.create_window(
            int(area.x),
            int(area.y),
            int(area.width),
            int(area.height),
            0,
            self._d.screen().root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixel=colour,
            override_redirect=True,  # no window manager here: placed exactly where asked
            event_mask=X.ButtonPressMask | X.StructureNotifyMask,
        )
        self.window.map()
        self._d.flush()
        self._next(X.MapNotify, 10)

    def _next(self, kind: int, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            while self._d.pending_events():
                event = self._d.next_event()
                if event.type == kind:
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no X event of type {kind} within {timeout} s")
            select.select([self._d.fileno()], [], [], left)
            # Reading the socket happens in pending_events(); select only waits for bytes.

    def wait_click(self, timeout: float = 10) -> tuple[int, int]:
        from Xlib import X

        event = self._next(X.ButtonPress, timeout)
        return event.root_x, event.root_y

    def close(self) -> None:
        self.window.destroy()
        self._d.close()

    def __enter__(self) -> ClickRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def colour_box(
    image: Image.Image,
    colour: tuple[int, int, int],
    within: tuple[int, int, int, int] | None = None,
    tol: int = 24,
) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom inclusive) of the pixels close to `colour`."""
    part = image.convert("RGB").crop(within) if within else image.convert("RGB")
    ox, oy = (within[0], within[1]) if within else (0, 0)
    r, g, b = colour
    pixels = part.load()
    assert pixels is not None
    xs, ys = [], []
    for y in range(part.height):
        for x in range(part.width):
            pr, pg, pb = pixels[x, y]  # type: ignore[misc]
            if abs(pr - r) <= tol and abs(pg - g) <= tol and abs(pb - b) <= tol:
                xs.append(x)
                ys.append(y)
    if not xs:
        return None
    return ox + min(xs), oy + min(ys), ox + max(xs), oy + max(ys)
