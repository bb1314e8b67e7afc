"""Device events across replicas: a pushed frame or hotkey press on the replica that holds the
device reaches the replica that holds the device's call, and so do the pixels of a frame captured
on a third replica for that call (hosted MCP). Published only while some replica listens (PUBSUB
NUMSUB), never persisted. Pure encoding here; the `Cluster` does the I/O."""

from __future__ import annotations

from servers.hub.cluster import codec
from servers.hub.device_events import DeviceEvent, FramePushed, TalkChanged


def event_message(event: DeviceEvent, origin: str) -> bytes:
    if isinstance(event, FramePushed):
        body, data = codec.frame_body(event.frame)
        return codec.encode("pushed", data, origin=origin, device=event.device_id, frame=body)
    return codec.encode("talk", origin=origin, device=event.device_id, state=event.state)


def pixels_message(
    origin: str, frame_id: str, device_id: str, data: bytes, mime_type: str, caption: str
) -> bytes:
    return codec.encode(
        "pixels",
        data,
        origin=origin,
        device=device_id,
        frame_id=frame_id,
        mime_type=mime_type,
        caption=caption,
    )


def event_from(message: codec.Message) -> DeviceEvent | None:
    """The device event a message carries (None: it carries pixels, or is not an event)."""
    header = message.header
    device = str(header.get("device"))
    if message.kind == "pushed":
        return FramePushed(device, codec.frame_from(header["frame"], message.payload))
    if message.kind == "talk" and header.get("state") in ("press", "release"):
        return TalkChanged(device, header["state"])
    return None
