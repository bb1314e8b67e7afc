"""Frames as the model is shown them: pixels in a format `input_image` takes, with their caption."""

from __future__ import annotations

import io

from PIL import Image

from servers.bridge.events import IMAGE_MIME_TYPES, FrameImage
from servers.hub.device import Frame
from servers.hub.hub import Hub
from servers.hub.pixels import PixelCache
from servers.screen.describe import capture_text


def showable(data: bytes, mime_type: str) -> tuple[bytes, str]:
    """JPEG and PNG pass as they are; anything else (WebP) is re-encoded as JPEG."""
    if mime_type in IMAGE_MIME_TYPES:
        return data, mime_type
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue(), "image/jpeg"


def frame_image(frame_id: str, data: bytes, mime_type: str, caption: str) -> FrameImage:
    data, mime_type = showable(data, mime_type)
    return FrameImage(frame_id=frame_id, data=data, mime_type=mime_type, caption=caption)


def cached_frame(pixels: PixelCache, frame_id: str, device_id: str) -> FrameImage | None:
    """A recent frame's pixels, only when it was taken on `device_id`."""
    entry = pixels.get(frame_id, device_id=device_id)
    if entry is None:
        return None
    caption = entry.caption or f"Frame {frame_id}: the screen image you asked for."
    return frame_image(frame_id, entry.data, entry.mime_type, caption)


async def pushed_frame(hub: Hub, device_id: str, frame: Frame) -> FrameImage:
    """A push-to-talk frame gets a frame id of its own (on every replica), so the model can point into it."""
    stored = await hub.put_frame(frame.geometry, device_id, frame.layout_epoch)
    caption = (
        "The user pressed the push-to-talk key: this is their screen as they began speaking.\n"
        + capture_text(stored.frame_id, frame)
    )
    return frame_image(stored.frame_id, frame.data, frame.mime_type, caption)
