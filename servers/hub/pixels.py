"""The pixels of recent frames, by frame id, kept a short while for the Realtime bridge.

OpenAI's hosted MCP client passes only a tool result's text to the model; the text carries the
frame id, and the bridge looks the pixels up here to show that frame to the call that asked for it.
Bounded in count, bytes and age; entries are never logged. The device id is kept so the bridge can
refuse a frame of another device.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pixels:
    frame_id: str
    device_id: str
    data: bytes
    mime_type: str
    stored_at: float
    caption: str = ""
    """What the model reads beside the image (frame id, size, how to point)."""


class PixelCache:
    def __init__(
        self,
        *,
        ttl: float = 60.0,
        max_frames: int = 16,
        max_bytes: int = 32 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, Pixels] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def put(self, frame_id: str, device_id: str, data: bytes, mime_type: str, caption: str = "") -> None:
        self._expire()
        if len(data) > self.max_bytes:
            return  # one frame larger than the whole budget is simply not kept
        self._drop(frame_id)
        self._entries[frame_id] = Pixels(frame_id, device_id, data, mime_type, self._clock(), caption)
        self._bytes += len(data)
        while len(self._entries) > self.max_frames or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def get(self, frame_id: str, *, device_id: str) -> Pixels | None:
        """The frame's pixels if still kept AND taken on `device_id`; else None."""
        self._expire()
        entry = self._entries.get(frame_id)
        if entry is None or entry.device_id != device_id:
            return None
        return entry

    def _drop(self, frame_id: str) -> None:
        entry = self._entries.pop(frame_id, None)
        if entry is not None:
            self._bytes -= len(entry.data)

    def _expire(self) -> None:
        cutoff = self._clock() - self.ttl
        while self._entries:
            frame_id, oldest = next(iter(self._entries.items()))
            if oldest.stored_at > cutoff:
                break
            self._drop(frame_id)
