"""The pointer tools as plain async functions (one implementation behind the MCP server and the
Realtime bridge's function mode). `caller`: the device the caller's token is bound to, or None."""

from __future__ import annotations

from pydantic import BaseModel, Field

from servers.hub.hub import Hub
from servers.hub.tooling import resolve_frame
from servers.ops.activity import activity_of
from wire.geometry import Rect, image_area_to_pointer, image_to_pointer


class PointResult(BaseModel):
    """Structured content of `point_at` and `highlight`."""

    frame_id: str
    device: str
    x: float = Field(description="The point in the frame's image pixels, as given.")
    y: float
    screen_x: float = Field(description="Where the pointer went, in screen (pointer) coordinates.")
    screen_y: float
    display: int | None
    label: str | None = None
    area: Rect | None = Field(
        default=None, description="For highlight: the marked area in screen coordinates."
    )


def _on(label: str | None) -> str:
    return f" ({label})" if label else ""


async def point_at(
    hub: Hub,
    *,
    x: float,
    y: float,
    frame_id: str,
    label: str | None = None,
    device: str | None = None,
    caller: str | None = None,
) -> tuple[PointResult, str]:
    """Where the pointer went, and the sentence the model reads."""
    stored, target = resolve_frame(hub, frame_id, device, caller=caller)
    px, py = image_to_pointer(stored.geometry, x, y)
    moved = await target.move_pointer(px, py)
    result = PointResult(
        frame_id=frame_id,
        device=target.id,
        x=x,
        y=y,
        screen_x=moved.x,
        screen_y=moved.y,
        display=moved.display if moved.display is not None else stored.geometry.display,
        label=label,
    )
    activity_of(hub).point(target.id, frame_id, x, y, label)
    text = (
        f"Pointer moved to ({x:g}, {y:g}) of frame {frame_id}{_on(label)}: screen position "
        f"({moved.x:g}, {moved.y:g})."
    )
    return result, text


async def highlight(
    hub: Hub,
    *,
    x: float,
    y: float,
    width: float,
    height: float,
    frame_id: str,
    label: str | None = None,
    device: str | None = None,
    caller: str | None = None,
) -> tuple[PointResult, str]:
    stored, target = resolve_frame(hub, frame_id, device, caller=caller)
    area = image_area_to_pointer(stored.geometry, x, y, width, height)
    moved = await target.highlight(area, label)
    result = PointResult(
        frame_id=frame_id,
        device=target.id,
        x=x + width / 2,
        y=y + height / 2,
        screen_x=moved.x,
        screen_y=moved.y,
        display=moved.display if moved.display is not None else stored.geometry.display,
        label=label,
        area=area,
    )
    activity_of(hub).point(target.id, frame_id, x + width / 2, y + height / 2, label, "highlight")
    text = (
        f"Highlighted {width:g}x{height:g} at ({x:g}, {y:g}) of frame {frame_id}{_on(label)}: "
        f"screen area {area.width:g}x{area.height:g} at ({area.x:g}, {area.y:g}); pointer at its centre "
        f"({moved.x:g}, {moved.y:g})."
    )
    return result, text
