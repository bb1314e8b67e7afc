"""The pointer tools as plain async functions (one implementation behind the MCP server and the
Realtime bridge's function mode). `caller`: the device the caller's token is bound to, or None.

Pointing is drawn in the device's overlay; the user's own pointer moves only when the caller asks
(`move_cursor`) or the `move_cursor` setting says so.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from servers.hub.device import PointerResult
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
    screen_x: float = Field(description="Where the overlay points, in screen (pointer) coordinates.")
    screen_y: float
    display: int | None
    label: str | None = None
    area: Rect | None = Field(
        default=None, description="For highlight: the marked area in screen coordinates."
    )
    overlay: bool | None = Field(
        default=None, description="Whether the overlay shows it on the user's screen (None: unknown)."
    )
    pointer_moved: bool = Field(default=False, description="Whether the user's own pointer moved.")
    note: str | None = Field(default=None, description="Why the overlay is not shown, when it is not.")


def _on(label: str | None) -> str:
    return f" ({label})" if label else ""


def _wants_move(hub: Hub, move_cursor: bool | None) -> bool:
    return hub.settings.move_cursor if move_cursor is None else move_cursor


def _pointer_moved(moved: PointerResult) -> bool:
    # A device that predates the overlay answers without saying: it moved the pointer.
    return moved.pointer_moved if moved.pointer_moved is not None else moved.overlay is None


def _what_the_user_sees(moved: PointerResult, shown: str) -> str:
    pointer_moved = _pointer_moved(moved)
    if moved.overlay:
        tail = " The user's pointer moved there too." if pointer_moved else " The user's mouse did not move."
        return f"{shown} is shown on the user's screen.{tail}"
    if moved.overlay is None:
        return "The user's pointer moved there (this device draws no overlay)."
    why = f" ({moved.note})" if moved.note else ""
    if pointer_moved:
        return f"The overlay could not be shown{why}; the user's pointer moved there instead."
    return (
        f"The overlay could not be shown{why}, so the user sees nothing there and their mouse did not "
        "move; describe the place in words, or call again with move_cursor true to move their pointer."
    )


async def point_at(
    hub: Hub,
    *,
    x: float,
    y: float,
    frame_id: str,
    label: str | None = None,
    move_cursor: bool | None = None,
    device: str | None = None,
    caller: str | None = None,
) -> tuple[PointResult, str]:
    """Where the overlay points, and the sentence the model reads."""
    stored, target = await resolve_frame(hub, frame_id, device, caller=caller)
    px, py = image_to_pointer(stored.geometry, x, y)
    moved = await target.move_pointer(px, py, label=label, move_cursor=_wants_move(hub, move_cursor))
    result = PointResult(
        frame_id=frame_id,
        device=target.id,
        x=x,
        y=y,
        screen_x=moved.x,
        screen_y=moved.y,
        display=moved.display if moved.display is not None else stored.geometry.display,
        label=label,
        overlay=moved.overlay,
        pointer_moved=_pointer_moved(moved),
        note=moved.note,
    )
    activity_of(hub).point(target.id, frame_id, x, y, label)
    text = (
        f"Pointing at ({x:g}, {y:g}) of frame {frame_id}{_on(label)}: screen position "
        f"({moved.x:g}, {moved.y:g}). {_what_the_user_sees(moved, 'An overlay cursor')}"
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
    move_cursor: bool | None = None,
    device: str | None = None,
    caller: str | None = None,
) -> tuple[PointResult, str]:
    stored, target = await resolve_frame(hub, frame_id, device, caller=caller)
    area = image_area_to_pointer(stored.geometry, x, y, width, height)
    moved = await target.highlight(area, label, move_cursor=_wants_move(hub, move_cursor))
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
        overlay=moved.overlay,
        pointer_moved=_pointer_moved(moved),
        note=moved.note,
    )
    activity_of(hub).point(target.id, frame_id, x + width / 2, y + height / 2, label, "highlight")
    text = (
        f"Highlighted {width:g}x{height:g} at ({x:g}, {y:g}) of frame {frame_id}{_on(label)}: "
        f"screen area {area.width:g}x{area.height:g} at ({area.x:g}, {area.y:g}). "
        f"{_what_the_user_sees(moved, 'A frame around it')}"
    )
    return result, text
