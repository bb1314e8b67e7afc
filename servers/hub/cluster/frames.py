"""Frame geometry shared by every replica, so a frame id from one works on all of them.

One key per frame holds its geometry, device and layout epoch, with the wall-clock instant it
stops being usable; the key itself lives `GONE_FACTOR` times longer, so an id that aged out still
answers "expired" (to its own device) rather than "unknown". Never pixels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from servers.hub.cluster.keys import Keys
from servers.hub.frames import StoredFrame, UnknownFrameError, expired_frame, unknown_frame
from wire.geometry import FrameGeometry

GONE_FACTOR = 4


def frame_record(stored: StoredFrame, expires_at: float) -> str:
    return json.dumps(
        {
            "geometry": stored.geometry.model_dump(),
            "device": stored.device_id,
            "epoch": stored.layout_epoch,
            "expires_at": expires_at,
        },
        separators=(",", ":"),
    )


def stored_from(
    frame_id: str, data: bytes | str, *, caller: str | None, ttl: float, now: float, monotonic: float
) -> StoredFrame:
    """The frame as this replica's tools use it, or the error its own FrameStore would raise."""
    value: dict[str, Any] = json.loads(data)
    device = str(value["device"])
    if caller not in (None, device):
        raise unknown_frame(frame_id)  # another device's frame answers like one never issued
    expires_at = float(value["expires_at"])
    if now >= expires_at:
        raise expired_frame(frame_id, ttl)
    return StoredFrame(
        frame_id=frame_id,
        geometry=FrameGeometry.model_validate(value["geometry"]),
        device_id=device,
        created_at=monotonic - (ttl - (expires_at - now)),
        layout_epoch=int(value["epoch"]),
    )


class SharedFrames:
    def __init__(
        self, redis: Redis, keys: Keys, ttl: float, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self._clock = clock

    async def put(self, stored: StoredFrame) -> None:
        record = frame_record(stored, self._clock() + self.ttl)
        await self.redis.set(self.keys.frame(stored.frame_id), record, px=int(self.ttl * GONE_FACTOR * 1000))

    async def get(self, frame_id: str, *, caller: str | None) -> StoredFrame:
        data = await self.redis.get(self.keys.frame(frame_id))
        if data is None:
            raise unknown_frame(frame_id)
        return stored_from(
            frame_id, data, caller=caller, ttl=self.ttl, now=self._clock(), monotonic=time.monotonic()
        )


__all__ = ["SharedFrames", "UnknownFrameError", "frame_record", "stored_from"]
