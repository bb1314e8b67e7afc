"""Display and frame geometry shared by the servers and the capture client.

Coordinates come in two spaces only:

* **pointer space**: the OS's global pointer coordinates (points on macOS, pixels on X11), where
  displays left of or above the main one have negative origins;
* **image space**: the pixels of the image the model was sent, origin top-left.

The model only ever speaks image space; `FrameGeometry` maps it back to pointer space.
"""

from __future__ import annotations

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
