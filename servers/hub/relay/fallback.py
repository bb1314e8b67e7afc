"""A device's last good frames: what a capture falls back to when the device cannot deliver one.

The latest whole-display frame of each display (and of "all"), and the frame the user pushed with
push-to-talk, which answers the next capture of its display within `PUSH_WINDOW`. All of it is of
the current display layout: a layout change forgets it (frames of a layout that is gone would map
pointer moves onto displays that moved or are no more).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from servers.hub.device import DeviceError, Frame
from servers.hub.relay.checks import DisplayKey

PUSH_WINDOW = 30.0
"""Seconds a pushed (push-to-talk) frame answers the next capture instead of a fresh grab."""


class FrameFallback:
    def __init__(self, *, max_age: float, clock: Callable[[], float]) -> None:
        self._max_age = max_age
        self._clock = clock
        self._latest: dict[DisplayKey, Frame] = {}
        self._pushed: tuple[DisplayKey | None, Frame] | None = None

    def remember(self, key: DisplayKey | None, frame: Frame, *, pushed: bool = False) -> None:
        """A frame the device sent; `key`: the display it covers whole (None for a region)."""
        if key is not None:
            self._latest[key] = frame
        if pushed:
            self._pushed = (key, frame)

    def take_push(self, key: DisplayKey, *, region: bool) -> Frame | None:
        """The pushed frame, once, if it answers a capture of `key` (a whole display) now."""
        pushed, self._pushed = self._pushed, None
        if pushed is None or region:
            return None
        pushed_key, frame = pushed
        age = self._clock() - frame.captured_at
        if age > PUSH_WINDOW or pushed_key != key:
            return None
        return replace(
            frame,
            stale_reason=f"the frame the user sent with push-to-talk {age:.1f} s ago, as they began speaking",
        )

    def stand_in(
        self, key: DisplayKey, *, region: bool, why: str, error: DeviceError, cause: Exception
    ) -> Frame:
        """The last good frame of `key` marked stale, or raise `error` when there is none recent."""
        frame = self._latest.get(key) if not region else None
        # As old as frame_ttl, a frame is no picture of the screen now.
        if frame is None or self._clock() - frame.captured_at > self._max_age:
            raise error from cause
        return replace(frame, stale_reason=f"{why}; this is its last good frame")

    def forget(self) -> None:
        """The layout changed: nothing remembered maps onto it any more."""
        self._latest.clear()
        self._pushed = None
