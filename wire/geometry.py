"""Display and frame geometry shared by the servers and the capture client.

Coordinates come in two spaces only:

* **pointer space**: the OS's global pointer coordinates (points on macOS, pixels on X11), where
  displays left of or above the main one have negative origins;
* **image space**: the pixels of the image the model was sent, origin top-left.

The model only ever speaks image space; `FrameGeometry` maps it back to pointer space.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field


class Rect(BaseModel):
    """An axis-aligned rectangle."""

    x: float
    y: float
    width: float = Field(gt=0)
    height: float = Field(gt=0)


class DisplayInfo(BaseModel):
    """One display as the OS lays it out."""

    index: int = Field(description="0-based, stable while the layout does not change.")
    x: float = Field(description="Origin in pointer space (may be negative).")
    y: float
    width: float = Field(gt=0, description="Size in pointer space (points on macOS).")
    height: float = Field(gt=0)
    pixel_width: int = Field(gt=0, description="Native pixels (2x the points on Retina).")
    pixel_height: int = Field(gt=0)
    primary: bool = False
    name: str = ""

    @property
    def scale(self) -> float:
        return self.pixel_width / self.width


class FrameGeometry(BaseModel):
    """Where a frame's pixels came from: enough to map image space back to pointer space."""

    display: int | None = Field(description="Display index, or None for a capture of all displays.")
    area: Rect = Field(description="The captured area in pointer space (a display, a region, or all).")
    capture_width: int = Field(gt=0, description="Pixels grabbed from the screen.")
    capture_height: int = Field(gt=0)
    image_width: int = Field(gt=0, description="Pixels of the image sent to the model.")
    image_height: int = Field(gt=0)

    @property
    def scale_x(self) -> float:
        """Pointer units per image pixel, horizontally."""
        return self.area.width / self.image_width

    @property
    def scale_y(self) -> float:
        return self.area.height / self.image_height


# --- mapping -------------------------------------------------------------------------------
#
# Convention: an image coordinate names a pixel, and the pointer goes to that pixel's CENTRE.
# Image pixel (i, j) covers [i, i+1) x [j, j+1) in image space, so (i, j) maps to the pointer
# position of image point (i + 0.5, j + 0.5). Integers are what a model sends; fractions are
# accepted and follow the same rule. Valid points are 0 <= x < image_width, 0 <= y < image_height.
# Mapping to pointer space is linear over the captured area, which covers downscaling, region
# offsets, display origins (negative ones too) and Retina/HiDPI at once: `area` is in pointer
# space (points on macOS) while `capture_*` are pixels, so the image never needs to know the scale.
# Devices whose pointer moves on an integer pixel grid (X11) floor the result (`pixel_at`);
# macOS takes the fractional points as they are.


class GeometryError(ValueError):
    """A point or area that does not fit the frame; the message tells the model the valid range."""


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def image_to_pointer(geometry: FrameGeometry, x: float, y: float) -> tuple[float, float]:
    """The pointer-space position of image pixel (x, y)'s centre; `GeometryError` when out of range."""
    w, h = geometry.image_width, geometry.image_height
    if not _finite(x, y) or not (0 <= x < w and 0 <= y < h):
        raise GeometryError(
            f"Point ({x:g}, {y:g}) is outside the {w}x{h} image: x must be 0..{w - 1} and y 0..{h - 1}, "
            "in the image's own pixels."
        )
    area = geometry.area
    px = area.x + (x + 0.5) * geometry.scale_x
    py = area.y + (y + 0.5) * geometry.scale_y
    # Fractions past the last pixel centre must not leave the captured area.
    return (min(px, area.x + area.width), min(py, area.y + area.height))


def pointer_to_image(geometry: FrameGeometry, px: float, py: float) -> tuple[int, int] | None:
    """The image pixel that shows pointer position (px, py), or None when the frame does not show it.

    `px, py` are continuous positions: on an integer pixel grid pass a pixel's centre (p + 0.5).
    """
    area = geometry.area
    if not _finite(px, py):
        return None
    u = (px - area.x) / geometry.scale_x
    v = (py - area.y) / geometry.scale_y
    if not (0 <= u < geometry.image_width and 0 <= v < geometry.image_height):
        return None
    return (math.floor(u), math.floor(v))


def pixel_at(px: float, py: float, area: Rect) -> tuple[int, int]:
    """The integer pixel holding a continuous position, kept inside `area` (for X11-style grids)."""
    left, top = math.ceil(area.x), math.ceil(area.y)
    right = max(left, math.ceil(area.x + area.width) - 1)
    bottom = max(top, math.ceil(area.y + area.height) - 1)
    return (min(max(math.floor(px), left), right), min(max(math.floor(py), top), bottom))


def image_area_to_pointer(geometry: FrameGeometry, x: float, y: float, width: float, height: float) -> Rect:
    """The pointer-space rectangle an image-space rectangle covers (edges, not centres).

    Used for `zoom` (the area to re-capture) and `highlight`. The rectangle must lie inside the image.
    """
    w, h = geometry.image_width, geometry.image_height
    if not _finite(x, y, width, height) or width <= 0 or height <= 0:
        raise GeometryError(f"Area {width:g}x{height:g} must have a positive width and height.")
    if x < 0 or y < 0 or x + width > w or y + height > h:
        raise GeometryError(
            f"Area at ({x:g}, {y:g}) size {width:g}x{height:g} does not fit the {w}x{h} image: "
            f"keep x >= 0, y >= 0, x + width <= {w}, y + height <= {h} (image pixels)."
        )
    area = geometry.area
    return Rect(
        x=area.x + x * geometry.scale_x,
        y=area.y + y * geometry.scale_y,
        width=width * geometry.scale_x,
        height=height * geometry.scale_y,
    )


def pixel_rect(area: Rect, scale: float = 1.0) -> tuple[int, int, int, int]:
    """The device pixels covering `area` (pointer space, `scale` pixels per point), snapped outwards
    to whole pixels as backends grab: left, top, width, height, at least 1x1."""
    left, top = math.floor(area.x * scale), math.floor(area.y * scale)
    width = max(1, math.ceil((area.x + area.width) * scale) - left)
    height = max(1, math.ceil((area.y + area.height) * scale) - top)
    return left, top, width, height


def scaled_size(width: int, height: int, max_edge: int) -> tuple[int, int]:
    """The image size for a capture of width x height pixels with its long edge at most `max_edge`.

    Never upscales; keeps the aspect ratio; at least 1x1.
    """
    long_edge = max(width, height)
    if long_edge <= max_edge:
        return (width, height)
    factor = max_edge / long_edge
    # Halves round up (not to even), so 2560x1600 at 500 is 500x313 on every platform.
    return (max(1, math.floor(width * factor + 0.5)), max(1, math.floor(height * factor + 0.5)))


def bounding_box(displays: list[DisplayInfo]) -> Rect:
    """The pointer-space rectangle holding every display (the area of an all-displays capture)."""
    if not displays:
        raise GeometryError("No displays to bound.")
    left = min(d.x for d in displays)
    top = min(d.y for d in displays)
    right = max(d.x + d.width for d in displays)
    bottom = max(d.y + d.height for d in displays)
    return Rect(x=left, y=top, width=right - left, height=bottom - top)


def contains(outer: Rect, inner: Rect, *, slack: float = 1e-6) -> bool:
    return (
        inner.x >= outer.x - slack
        and inner.y >= outer.y - slack
        and inner.x + inner.width <= outer.x + outer.width + slack
        and inner.y + inner.height <= outer.y + outer.height + slack
    )


def display_rect(display: DisplayInfo) -> Rect:
    """A display's area in pointer space."""
    return Rect(x=display.x, y=display.y, width=display.width, height=display.height)


def contains_point(area: Rect, x: float, y: float, *, slack: float = 0.0) -> bool:
    """Whether (x, y) lies in `area`: left and top edges in, right and bottom out (a pixel grid's
    rule), or anywhere within `slack` of the area when a slack is given (pointer-space rounding)."""
    if slack:
        return (
            area.x - slack <= x <= area.x + area.width + slack
            and area.y - slack <= y <= area.y + area.height + slack
        )
    return area.x <= x < area.x + area.width and area.y <= y < area.y + area.height


def display_at(displays: list[DisplayInfo], x: float, y: float, *, slack: float = 0.0) -> DisplayInfo | None:
    """The first display holding pointer position (x, y) (see `contains_point`), or None."""
    return next((d for d in displays if contains_point(display_rect(d), x, y, slack=slack)), None)
