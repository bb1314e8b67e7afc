"""What the hub checks in a device's frames against the display layout it was told (pure)."""

from __future__ import annotations

from typing import Literal

from wire.geometry import DisplayInfo, FrameGeometry, bounding_box, contains, display_rect

EDGE_SLACK = 1.0
"""Pointer-space rounding allowed at display edges."""

DisplayKey = int | Literal["all"]
"""A display index, or "all" for a capture of every display at once."""


def geometry_problem(displays: list[DisplayInfo], geometry: FrameGeometry) -> tuple[str, str] | None:
    """(error code, message) when a frame's area does not fit the layout, else None."""
    if not displays:
        return ("unknown_display", "the device reported no displays")
    if geometry.display is None:
        bounds = bounding_box(displays)
    else:
        display = next((d for d in displays if d.index == geometry.display), None)
        if display is None:
            return (
                "unknown_display",
                f"display {geometry.display} does not exist (send displays_changed first)",
            )
        bounds = display_rect(display)
    if not contains(bounds, geometry.area, slack=EDGE_SLACK):
        return ("stale_geometry", "the frame's area lies outside the display layout the hub was told")
    return None


def full_key(displays: list[DisplayInfo], geometry: FrameGeometry) -> DisplayKey | None:
    """The display a frame covers whole, or None for a region."""
    if geometry.display is None:
        return "all" if displays and geometry.area == bounding_box(displays) else None
    display = next((d for d in displays if d.index == geometry.display), None)
    if display is not None and geometry.area == display_rect(display):
        return geometry.display
    return None


def requested_key(displays: list[DisplayInfo], display: int | Literal["all"] | None) -> DisplayKey | None:
    """The key a capture request's display selector names: None picks the primary display (else the
    first); None back when it names a display the layout does not have."""
    if display is None:
        primary = next((d.index for d in displays if d.primary), None)
        return primary if primary is not None else (displays[0].index if displays else 0)
    if display != "all" and all(d.index != display for d in displays):
        return None
    return display
