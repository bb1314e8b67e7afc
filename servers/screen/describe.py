"""Pure pieces of the screen tools: where a requested region is, and what the model reads."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from capture_client import pipeline
from servers.hub.device import CaptureRequestError, DisplaySelector, Frame
from wire.geometry import DisplayInfo, FrameGeometry, Rect


class CaptureResult(BaseModel):
    """Structured content of `capture_screen` and `zoom`."""

    frame_id: str
    width: int = Field(description="Image width in pixels: x runs 0..width-1.")
    height: int = Field(description="Image height in pixels: y runs 0..height-1.")
    display: int | None = Field(description="Display index, or null for all displays.")
    device: str
    mime_type: str
    stale: bool = Field(False, description="True when this is an older frame shown because capture failed.")
    age_seconds: float = Field(0.0, description="Seconds since the pixels were grabbed.")


class DisplaysResult(BaseModel):
    device: str
    displays: list[DisplayInfo]


def region_on_display(displays: list[DisplayInfo], display: DisplaySelector, region: Rect) -> Rect:
    """A region given relative to the chosen display's top-left (its pointer units) in global
    pointer space; `CaptureRequestError` when it does not fit."""
    try:
        _, whole = pipeline.target_area(displays, display)
    except pipeline.CaptureRequestError as e:
        raise CaptureRequestError(str(e)) from e
    absolute = Rect(x=whole.x + region.x, y=whole.y + region.y, width=region.width, height=region.height)
    if (
        region.x < 0
        or region.y < 0
        or region.x + region.width > whole.width
        or region.y + region.height > whole.height
    ):
        raise CaptureRequestError(
            f"Region {region.width:g}x{region.height:g} at ({region.x:g}, {region.y:g}) does not fit the "
            f"display, which is {whole.width:g}x{whole.height:g}: give x, y from its top-left corner "
            "with x + width and y + height inside that size (see list_displays)."
        )
    return absolute


def where(geometry: FrameGeometry) -> str:
    area = geometry.area
    what = "all displays" if geometry.display is None else f"display {geometry.display}"
    return f"{what} (area {area.width:g}x{area.height:g} at {area.x:g},{area.y:g})"


def capture_text(
    frame_id: str, frame: Frame, *, zoomed_from: str | None = None, now: float | None = None
) -> str:
    """What the model reads beside the image: the frame id, the image size and how to point into it."""
    g = frame.geometry
    w, h = g.image_width, g.image_height
    source = f"a zoom into frame {zoomed_from}, showing part of " if zoomed_from else ""
    lines = [
        f"Frame {frame_id}: a {w}x{h} image of {source}{where(g)}.",
        f"To point at something in it, call point_at with x 0..{w - 1} and y 0..{h - 1} measured in this "
        f"image's own pixels, and frame_id {frame_id!r}; for a sharper look at a part, call zoom with that "
        "frame_id and a rectangle in this image's pixels.",
    ]
    if frame.stale_reason:
        age = (now or time.time()) - frame.captured_at
        lines.insert(0, f"STALE ({age:.0f} s old): {frame.stale_reason}")
    return "\n".join(lines)


def capture_result(frame_id: str, frame: Frame, device_id: str, *, now: float | None = None) -> CaptureResult:
    g = frame.geometry
    return CaptureResult(
        frame_id=frame_id,
        width=g.image_width,
        height=g.image_height,
        display=g.display,
        device=device_id,
        mime_type=frame.mime_type,
        stale=frame.stale_reason is not None,
        age_seconds=round(max(0.0, (now or time.time()) - frame.captured_at), 3),
    )
