"""What the screen and pointer tools share: the device a frame belongs to, and domain errors as
`isError` results."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from servers.hub.device import Device, DeviceError, DeviceUnavailableError
from servers.hub.frames import StoredFrame, check_layout
from servers.hub.hub import Hub
from servers.hub.registry import DeviceRegistry
from wire.geometry import GeometryError

DeviceParam = Annotated[
    str | None,
    Field(
        description="Which device (a capture client's id). Leave it out: the only connected device, "
        "else this server's own display.",
        max_length=64,
    ),
]
FrameIdParam = Annotated[
    str, Field(description="The frame_id that capture_screen or zoom returned.", min_length=1, max_length=64)
]


@contextmanager
def domain_errors() -> Iterator[None]:
    """Device and geometry failures reach the model as `isError` results with their message."""
    try:
        yield
    except (DeviceError, GeometryError) as e:
        raise ToolError(str(e)) from e


async def device_for_frame(
    devices: DeviceRegistry, frame: StoredFrame, requested: str | None, *, caller: str | None = None
) -> Device:
    """The device a frame was captured on, if the frame still matches its display layout; naming a
    different device is an error, not a silent switch."""
    if requested and requested != frame.device_id:
        raise DeviceUnavailableError(
            f"Frame {frame.frame_id!r} was captured on device {frame.device_id!r}, not {requested!r}: "
            "capture on that device first, or leave `device` out."
        )
    device = await devices.find(frame.device_id, caller=caller)
    check_layout(frame, device)
    return device


async def resolve_frame(
    hub: Hub, frame_id: str, requested: str | None, *, caller: str | None = None
) -> tuple[StoredFrame, Device]:
    """The frame a tool was given and the device it was captured on (see `device_for_frame`)."""
    stored = await hub.get_frame(frame_id, caller=caller)
    return stored, await device_for_frame(hub.devices, stored, requested, caller=caller)
