"""Frame geometry by frame id: what `point_at`, `highlight` and `zoom` map through.

Ids are short random tokens (72 bits), so one caller cannot guess another's frames. Entries live
`frame_ttl` seconds and at most `frame_cache_size` of them are kept; ids that aged out or were
pushed out are remembered a while longer so the error can say "expired" rather than "unknown".
Only geometry is kept here, never pixels.

Each frame also keeps its device's layout epoch from when it was grabbed; once the device's
display layout changes, the frame's geometry maps to places that may be gone or moved, so it is
refused (`check_layout`) before any pointer moves or zoom captures through it.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from servers.hub.device import Device, DeviceError
from wire.geometry import FrameGeometry


class UnknownFrameError(DeviceError):
    """The frame id was never issued here, or its geometry has expired."""


class StaleLayoutError(DeviceError):
    """The frame was taken before its device's display layout changed."""


@dataclass(frozen=True, slots=True)
class StoredFrame:
    frame_id: str
    geometry: FrameGeometry
    device_id: str
    created_at: float
    """`time.monotonic()` when it was stored."""
    layout_epoch: int = 0
    """The device's layout epoch when the frame was grabbed."""


class FrameStore:
    def __init__(self, ttl: float, max_frames: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_frames = max_frames
        self._clock = clock
        self._frames: OrderedDict[str, StoredFrame] = OrderedDict()
        self._gone: OrderedDict[str, str] = OrderedDict()
        """Ids that aged out or were pushed out, with their device."""

    def __len__(self) -> int:
        self._expire()
        return len(self._frames)

    def put(self, geometry: FrameGeometry, device_id: str, layout_epoch: int = 0) -> StoredFrame:
        """Record a frame's geometry (and the layout epoch it was grabbed in); returns it with its new id."""
        self._expire()
        frame_id = "f_" + secrets.token_urlsafe(9)
        stored = StoredFrame(frame_id, geometry, device_id, self._clock(), layout_epoch)
        self._frames[frame_id] = stored
        while len(self._frames) > self.max_frames:
            _, old = self._frames.popitem(last=False)
            self._forget(old)
        return stored

    def get(self, frame_id: str, *, caller: str | None = None) -> StoredFrame:
        """The stored frame, or `UnknownFrameError` with a message the model can act on. `caller`:
        the device the caller's token is bound to (None: no token)."""
        self._expire()
        stored = self._frames.get(frame_id)
        # A token holder sees only its own device's frames; another's answers like an id never issued.
        if stored is not None and caller in (None, stored.device_id):
            return stored
        # Expired only to its own device: to another, "expired" would tell the id once existed.
        if frame_id in self._gone and caller in (None, self._gone[frame_id]):
            raise expired_frame(frame_id, self.ttl, self.max_frames)
        raise unknown_frame(frame_id)

    def _expire(self) -> None:
        cutoff = self._clock() - self.ttl
        while self._frames:
            frame_id, oldest = next(iter(self._frames.items()))
            if oldest.created_at > cutoff:
                break
            del self._frames[frame_id]
            self._forget(oldest)

    def _forget(self, stored: StoredFrame) -> None:
        self._gone[stored.frame_id] = stored.device_id
        while len(self._gone) > 4 * self.max_frames:
            self._gone.popitem(last=False)


def expired_frame(frame_id: str, ttl: float, max_frames: int | None = None) -> UnknownFrameError:
    latest = f", the latest {max_frames}" if max_frames is not None else ""
    return UnknownFrameError(
        f"Frame {frame_id!r} has expired (frames are kept {ttl:g} s{latest}). Call capture_screen for a "
        "new frame and use its frame_id."
    )


def unknown_frame(frame_id: str) -> UnknownFrameError:
    return UnknownFrameError(
        f"Frame {frame_id!r} is unknown. Use the frame_id that capture_screen or zoom returned "
        "(call capture_screen for a new one)."
    )


def check_layout(stored: StoredFrame, device: Device) -> None:
    """Refuse a frame taken before `device`'s display layout last changed."""
    if stored.layout_epoch != device.layout_epoch:
        raise StaleLayoutError(
            f"Frame {stored.frame_id!r} was taken before the display layout of device {device.id!r} "
            "changed, so its coordinates no longer match the screen; nothing was done. Capture again "
            "(capture_screen) and use the new frame_id."
        )
