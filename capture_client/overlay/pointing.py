"""Pointing on a device: draw it in the overlay, and move the user's mouse only when asked.

Shared by the capture client and the server's local device, so both answer the same way. Blocking
(callers run it on a worker thread).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from capture_client.backends.base import Backends
from capture_client.overlay.base import OverlayError
from wire.geometry import DisplayInfo, Rect

log = logging.getLogger("realtime_mcp.overlay")

NO_OVERLAY = "this platform has no overlay"


@dataclass(frozen=True, slots=True)
class Pointed:
    x: float
    y: float
    """Where the overlay points (or the pointer went, when it moved), in pointer space."""
    overlay: bool
    """Whether the overlay shows it."""
    pointer_moved: bool
    note: str | None = None
    """Why the overlay is not shown, when it is not."""


def point(
    backends: Backends,
    displays: list[DisplayInfo],
    x: float,
    y: float,
    *,
    label: str | None = None,
    move_cursor: bool = False,
) -> Pointed:
    """Show the overlay pointer at (x, y); move the real pointer there too only with `move_cursor`.

    Raises `BackendError` only when a requested pointer move fails; an overlay that cannot be shown
    is reported in `note` and never stops the call.
    """
    shown, note = _draw(backends, lambda o: o.point(x, y, label, displays))
    if move_cursor:
        mx, my = backends.pointer.move(x, y)
        return Pointed(mx, my, shown, True, note)
    return Pointed(x, y, shown, False, note)


def highlight(
    backends: Backends,
    displays: list[DisplayInfo],
    area: Rect,
    *,
    label: str | None = None,
    move_cursor: bool = False,
) -> Pointed:
    """Draw a frame around `area`; with `move_cursor` the real pointer goes to its centre."""
    cx, cy = area.x + area.width / 2, area.y + area.height / 2
    shown, note = _draw(backends, lambda o: o.highlight(area, label, displays))
    if move_cursor:
        mx, my = backends.pointer.move(cx, cy)
        return Pointed(mx, my, shown, True, note)
    return Pointed(cx, cy, shown, False, note)


def _draw(backends: Backends, draw) -> tuple[bool, str | None]:
    overlay = backends.overlay
    if overlay is None:
        return False, NO_OVERLAY
    try:
        draw(overlay)
    except OverlayError as e:
        log.info("overlay unavailable: %s", e)
        return False, str(e)
    return True, None
