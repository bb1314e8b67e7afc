"""The screen tools as plain async functions: one implementation behind two front doors (the MCP
server in `servers.screen.server`, and the Realtime bridge's function mode in `servers.bridge`).

Captures go through `hub.captures`: callers asking one device for the same capture at the
same moment share one grab and encode, each still getting its own frame id.

Who is calling is an explicit argument (`caller`): the device a token is bound to, or None when no
token is involved (auth off). Domain failures raise `DeviceError` / `GeometryError`; each front
door turns them into its own error shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from servers.hub.device import CaptureRequest, Device, Frame
from servers.hub.hub import Hub
from servers.hub.tooling import resolve_frame
from servers.ops.activity import activity_of
from servers.screen.describe import (
    CaptureResult,
    DisplaysResult,
    capture_result,
    capture_text,
    region_on_display,
)
from servers.settings import Settings
from wire.geometry import Rect, image_area_to_pointer


@dataclass(frozen=True, slots=True)
class Captured:
    """A frame handed to a caller: its id, pixels, what the model reads beside it, and its facts."""

    frame_id: str
    frame: Frame
    device_id: str
    text: str
    result: CaptureResult


async def _captured(hub: Hub, device: Device, frame: Frame, *, zoomed_from: str | None = None) -> Captured:
    stored = await hub.put_frame(frame.geometry, device.id, frame.layout_epoch)
    # The pixels are kept briefly too: the Realtime bridge shows this frame to the call whose
    # hosted-MCP client asked for it, and that client only passes the text on.
    text = capture_text(stored.frame_id, frame, zoomed_from=zoomed_from)
    await hub.keep_pixels(stored.frame_id, device.id, frame.data, frame.mime_type, text)
    activity_of(hub).frame(device.id, stored.frame_id, frame, device.kind)
    return Captured(
        frame_id=stored.frame_id,
        frame=frame,
        device_id=device.id,
        text=text,
        result=capture_result(stored.frame_id, frame, device.id),
    )


async def list_displays(hub: Hub, *, device: str | None = None, caller: str | None = None) -> DisplaysResult:
    target = await hub.devices.find(device, caller=caller)
    return DisplaysResult(device=target.id, displays=await target.list_displays())


async def capture_screen(
    hub: Hub,
    settings: Settings,
    *,
    display: int | Literal["all"] | None = None,
    region: Rect | None = None,
    max_edge: int | None = None,
    format: Literal["jpeg", "png", "webp"] | None = None,
    quality: int | None = None,
    device: str | None = None,
    caller: str | None = None,
) -> Captured:
    target = await hub.devices.find(device, caller=caller)
    area = None
    if region is not None:
        area = region_on_display(await target.list_displays(), display, region)
    request = CaptureRequest(
        display=display,
        region=area,
        max_edge=max_edge or settings.max_edge,
        format=format or settings.image_format,
        quality=quality or settings.image_quality,
    )
    frame = await hub.captures.capture(target, request)
    return await _captured(hub, target, frame)


async def zoom(
    hub: Hub,
    settings: Settings,
    *,
    frame_id: str,
    x: float,
    y: float,
    width: float,
    height: float,
    max_edge: int | None = None,
    device: str | None = None,
    caller: str | None = None,
) -> Captured:
    stored, target = await resolve_frame(hub, frame_id, device, caller=caller)
    area = image_area_to_pointer(stored.geometry, x, y, width, height)
    display = stored.geometry.display
    request = CaptureRequest(
        display="all" if display is None else display,
        region=area,
        max_edge=max_edge or settings.max_edge,
        format=settings.image_format,
        quality=settings.image_quality,
    )
    frame = await hub.captures.capture(target, request)
    return await _captured(hub, target, frame, zoomed_from=frame_id)
