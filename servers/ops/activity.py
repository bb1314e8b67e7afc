"""What the console shows of each device: its latest frame and the last point or highlight on it.

Kept beside the hub (one `Activity` per hub, looked up weakly) so the tools record with one dict
store and the hub itself needs no new field. One frame per device is kept, never more.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

from servers.ops import metrics


@dataclass(frozen=True, slots=True)
class LatestFrame:
    frame_id: str
    data: bytes
    mime_type: str
    width: int
    height: int
    captured_at: float
    stale: bool


@dataclass(frozen=True, slots=True)
class LastPoint:
    frame_id: str
    x: float
    """Image pixels of `frame_id`."""
    y: float
    label: str | None
    kind: str
    """`point` or `highlight`."""
    at: float


class Activity:
    def __init__(self) -> None:
        self.frames: dict[str, LatestFrame] = {}
        self.points: dict[str, LastPoint] = {}
        self.version = 0
        """Bumped on every change, so the console's stream sends only news."""

    def frame(self, device_id: str, frame_id: str, frame: Any, kind: str) -> None:
        geometry = frame.geometry
        self.frames[device_id] = LatestFrame(
            frame_id,
            frame.data,
            frame.mime_type,
            int(geometry.image_width),
            int(geometry.image_height),
            frame.captured_at,
            frame.stale_reason is not None,
        )
        self.version += 1
        metrics.frame_served(kind, frame.stale_reason is not None)

    def point(
        self, device_id: str, frame_id: str, x: float, y: float, label: str | None, kind: str = "point"
    ) -> None:
        self.points[device_id] = LastPoint(frame_id, x, y, label, kind, time.time())
        self.version += 1


_ACTIVITY: weakref.WeakKeyDictionary[Any, Activity] = weakref.WeakKeyDictionary()


def activity_of(hub: Any) -> Activity:
    found = _ACTIVITY.get(hub)
    if found is None:
        found = _ACTIVITY[hub] = Activity()
    return found
